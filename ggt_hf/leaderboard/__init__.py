"""The leaderboard and preference arena behind the Gradio Space (its back end).

Everything the Space shows or accepts goes through this package; the UI (``ggt_hf.space``) only
calls these names. Imports are lazy, so ``import ggt_hf.leaderboard`` stays light.

Stores (:mod:`ggt_hf.leaderboard.store`) — the Open LLM Leaderboard *requests/results* pattern:

* ``LeaderboardStore(root)``: a local folder with ``requests/<request_id>.json`` (one file per
  request, status ``PENDING → RUNNING → FINISHED | FAILED`` with its history),
  ``requests/<request_id>/predictions/`` (extracted zip submissions),
  ``results/<model>/results_<time>_<uid>.json`` (``ggt-eval-results`` v1 JSON + a ``leaderboard``
  block) and ``votes/votes-<uid>.jsonl`` (arena votes). Append-only, atomic writes, file locks, unique
  names per entry: concurrent writers never lose a record.
* ``HubLeaderboardStore(root, requests_repo=..., results_repo=..., api=None, token=None,
  private=True, votes_every_minutes=5)``: the same, mirrored to Hub dataset repos (``snapshot_download``
  to pull, ``upload_file`` / ``upload_folder`` per write; votes through a ``CommitScheduler``);
  ``flush_votes()`` and ``close()`` push pending votes.
* ``open_store(root, requests_repo=None, results_repo=None, api=None)`` → the right one.
* Store methods: ``add_result(result_json, meta) -> str``, ``results() -> list[dict]``,
  ``add_request(request) -> Request``, ``get_request(request_id)``, ``requests(status=None)``,
  ``claim_next(worker) -> Request | None`` (atomic), ``finish(request_id, result_file)``,
  ``fail(request_id, reason)``, ``requeue_stale(hours)``, ``request_dir(request_id)``,
  ``votes_store() -> VoteStore`` (call once per process: each instance writes its own shard),
  ``pull()``, ``publish(path)``; errors are ``StoreError`` (a ``GGTError``).
* ``Request`` (dataclass): ``request_id, kind ("predictions" | "model"), model, user, status,
  submitted_at, model_repo, reason, result_file, history``; ``RequestStatus`` constants.

Table (:mod:`ggt_hf.leaderboard.table`) — specs-driven (``ggt_hf.metrics.specs``) pandas frames:

* ``leaderboard_frame(results, *, category="overall", groups=None, model_types=None, query=None,
  complete_only=False, links=True) -> pandas.DataFrame``: one row per model (latest result), columns
  ``Rank, Model, Type, Avg, Fidelity, Perceptual, VLM, <metric title + arrow>..., Images, Complete,
  Submitted``; composite from ``ggt_hf.evaluation.composite`` among the shown rows; Model as a Markdown
  link to its repo when known; sorted by Avg. Group and metric columns with no value are dropped.
* ``category_frame(results, metric) -> DataFrame``: models × categories for one metric.
* ``sort_frame(df, column) -> DataFrame`` (direction from the specs), ``column_datatypes(df) -> list``
  (for ``gr.Dataframe(datatype=...)``), ``TABLE_CATEGORIES`` (``"overall"`` + the categories),
  ``MODEL_TYPES``.

Submissions (:mod:`ggt_hf.leaderboard.submission`):

* ``SubmissionLimits`` (dataclass of size / count / ratio limits), ``InvalidSubmissionError``
  (a ``GGTError``: ``item`` = the member, ``reason``; ``.problems`` lists every problem).
* ``expected_images(dataset, split="test") -> dict[id, (width, height)]``.
* ``check_zip(zip_path, expected, limits=None) -> ZipCheck`` (``.ok``, ``.problems``, ``.members``),
  ``extract_predictions(zip_path, dest, check)`` (safe: only validated members, our own file names).

Model repos (:mod:`ggt_hf.leaderboard.model_repo`) — Hub repo ids only, never server paths:

* ``parse_repo_id(text) -> str`` (``huggingface_hub``'s validator, ``user/name`` required),
  ``pin_model_repo(text, api=None) -> PinnedModel`` (``repo_id, revision`` = the commit sha at
  submission, ``model_type``; refuses pickles, missing safetensors, ``auto_map`` /
  ``trust_remote_code``, oversized or invalid ``config.json`` without quoting it),
  ``fetch_pinned_model(repo_id, revision, api=None) -> (PinnedModel, snapshot folder)`` (the worker).

Queue (:mod:`ggt_hf.leaderboard.queue`):

* ``submit_predictions(store, zip_path, *, model, user, expected, limits=None, rate_limit=None)
  -> Request`` (rate-limit → validate → extract → PENDING), ``submit_model(store, repo_id, *, user,
  rate_limit=None, api=None) -> Request`` (pinned to the repo's commit). Every refusal is recorded as
  a FAILED request and counts against the rate limit.
* ``Worker(store, dataset, split="test", metrics=None, device=None, tile=512, overlap=32,
  stale_hours=None, api=None)`` with ``process(request)``, ``run_once() -> list[Request]``,
  ``run_forever(poll_seconds=30, max_polls=None, report=None)``.

Rate limit (:mod:`ggt_hf.leaderboard.ratelimit`): ``RateLimit(max_requests=5, window_hours=24)``,
``RateLimitError``, ``check_rate_limit(requests, user, limit, now=None)``.

Ownership (:mod:`ggt_hf.leaderboard.ownership`): a row belongs to the account that first submitted
its model name (``model_key``: case/width-insensitive); ``add_request(..., admins=...)`` records the
``owner`` and refuses anyone else but an admin with ``OwnershipError``; rows from before owners
were recorded are admin-only; ``latest_per_model`` shows only results of the row's owner.

Votes and arena (:mod:`ggt_hf.leaderboard.votes`, :mod:`ggt_hf.leaderboard.arena`):

* ``Vote`` (``pair_id, system_a, system_b, winner ("a" | "b" | "tie" | "both_bad"), user, time``),
  ``VoteStore(folder)`` with ``add(vote)``, ``votes() -> list[Vote]``.
* ``VoteLimit(max_votes=100, window_hours=24)`` (per account, and one vote per battle = photo + the
  two systems), ``VoteLedger``, ``counted_votes(votes, limit)``, ``VoteLimitError`` (not counted).
* ``bradley_terry(votes, *, bootstrap=200, seed=0, ...) -> pandas.DataFrame`` ranking with columns
  ``Rank, System, Rating, CI low, CI high, Votes, Wins, Losses, Ties, Both bad``.
* ``Arena(outputs_dir, lq_dir, votes=store.votes_store(), ttl_seconds=3600, serve_dir=None,
  vote_limit=None, max_pending=256)``: ``systems``, ``ids``, ``sample(rng=None, user=None) ->
  ArenaPair`` (``token, pair_id, lq, left, right`` paths only — no system names; each image a fresh
  ``blind_copy``: seeded ±1 on ~1/64 of the values, metadata-free PNG, never byte-identical to
  another serve), ``vote(token, choice ("left" | "right" | "tie" | "both_bad"), user) -> Vote``
  (resolves the server-side mapping; tokens are single use; past the account's limit:
  ``VoteLimitError``, not stored), ``reveal(token)`` (the two system names of a token not yet
  voted on), ``close()``. Bad votes or tokens raise ``InvalidVoteError``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "LeaderboardStore": "store",
    "HubLeaderboardStore": "store",
    "open_store": "store",
    "Request": "store",
    "StoreError": "store",
    "RequestStatus": "store",
    "leaderboard_frame": "table",
    "category_frame": "table",
    "sort_frame": "table",
    "column_datatypes": "table",
    "TABLE_CATEGORIES": "table",
    "MODEL_TYPES": "table",
    "SubmissionLimits": "submission",
    "InvalidSubmissionError": "submission",
    "expected_images": "submission",
    "check_zip": "submission",
    "ZipCheck": "submission",
    "extract_predictions": "submission",
    "parse_repo_id": "model_repo",
    "pin_model_repo": "model_repo",
    "fetch_pinned_model": "model_repo",
    "PinnedModel": "model_repo",
    "submit_predictions": "queue",
    "submit_model": "queue",
    "Worker": "queue",
    "RateLimit": "ratelimit",
    "RateLimitError": "ratelimit",
    "check_rate_limit": "ratelimit",
    "Vote": "votes",
    "VoteStore": "votes",
    "bradley_terry": "votes",
    "InvalidVoteError": "votes",
    "VoteLimit": "votes",
    "VoteLimitError": "votes",
    "counted_votes": "votes",
    "OwnershipError": "ownership",
    "model_key": "ownership",
    "Arena": "arena",
    "ArenaPair": "arena",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the submodule defining ``name`` on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
