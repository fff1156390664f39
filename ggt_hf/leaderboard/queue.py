"""The submission queue: submit (validated, rate-limited) → PENDING → RUNNING → FINISHED | FAILED.

* :func:`submit_predictions` checks a zip (:func:`~ggt_hf.leaderboard.submission.check_zip`),
  extracts only its accepted members into the request folder, and queues the request.
* :func:`submit_model` checks a Hub restorer repo id and pins it to its current commit
  (:func:`~ggt_hf.leaderboard.model_repo.pin_model_repo`), then queues it.
* A refused submission (invalid zip, invalid or unusable repo id) is recorded as a FAILED request, so
  every refusal counts against the submitter's rate limit.
* :class:`Worker` claims requests atomically (:meth:`LeaderboardStore.claim_next`), so several
  workers can run on one store; a predictions request is scored as is, a model request is first run
  over the split's LQ images by the restore layer (:func:`ggt_hf.restore.factory.make_restorer`, tiled), then
  scored with :func:`ggt_hf.evaluation.restorer_eval.evaluate`. The worker loads only Hub repos at
  their pinned commit (:func:`~ggt_hf.leaderboard.model_repo.fetch_pinned_model`), never a
  server path. The result JSON goes to the results store and the request becomes FINISHED; any
  exception makes it FAILED with the reason recorded.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from ggt_hf.constants import Col
from ggt_hf.leaderboard.model_repo import fetch_pinned_model, pin_model_repo, shown
from ggt_hf.leaderboard.ownership import OwnershipError
from ggt_hf.leaderboard.store import LeaderboardStore, Request
from ggt_hf.leaderboard.submission import (
    InvalidSubmissionError,
    SubmissionLimits,
    check_zip,
    extract_predictions,
)

if TYPE_CHECKING:
    from huggingface_hub import HfApi

    from ggt_hf.leaderboard.ratelimit import RateLimit
    from ggt_hf.metrics.specs import MetricSpec

logger = logging.getLogger(__name__)

PREDICTIONS_FOLDER = "predictions"
#: The model label of a refused model submission (the submitted text is only quoted in the reason).
REFUSED_MODEL = "(refused model submission)"


def _early_checks(
    store: LeaderboardStore,
    user: str,
    rate_limit: RateLimit | None,
    model: str | None = None,
    admins: Collection[str] = (),
) -> None:
    """Refuse a user with no submissions left, or a model name another account owns, before any
    checking work (``add_request`` re-checks both under the store's lock). A name refusal is
    recorded and counts against the rate limit."""
    requests = store.requests()
    if rate_limit is not None:
        from ggt_hf.leaderboard.ratelimit import check_rate_limit

        check_rate_limit(requests, user, rate_limit)
    if model:
        _check_owner(store, user, rate_limit, model, admins, requests)


def _check_owner(
    store: LeaderboardStore,
    user: str,
    rate_limit: RateLimit | None,
    model: str,
    admins: Collection[str],
    requests: list[Request] | None = None,
    kind: str = "predictions",
) -> None:
    try:
        store.check_owner(model, user, admins, requests=requests)
    except OwnershipError as exc:
        store.add_refusal(Request.new(kind, model[:120], user), str(exc), rate_limit)
        raise


def submit_predictions(
    store: LeaderboardStore,
    zip_path: str | os.PathLike,
    *,
    model: str,
    user: str,
    expected: dict[str, tuple[int, int]],
    limits: SubmissionLimits | None = None,
    rate_limit: RateLimit | None = None,
    model_repo: str | None = None,
    admins: Collection[str] = (),
) -> Request:
    """Validate a predictions zip against ``expected`` (id → size) and queue it.

    Raises:
        InvalidSubmissionError: every problem of the zip (``.problems``), nothing queued (the
            refusal is recorded and counts against the rate limit).
        RateLimitError: the user has no submissions left, nothing queued.
        OwnershipError: ``model`` names a row another account owns (only the owner or one of
            ``admins`` may replace it), nothing queued.
    """
    _early_checks(store, user, rate_limit, model, admins)
    check = check_zip(zip_path, expected, limits)
    try:
        check.raise_if_invalid(Path(zip_path).name)
    except InvalidSubmissionError as exc:
        store.add_refusal(Request.new("predictions", model[:120], user), str(exc)[:2000], rate_limit)
        raise
    request = Request.new("predictions", model, user, model_repo=model_repo)
    folder = store.request_dir(request.request_id) / PREDICTIONS_FOLDER
    # extracted and published before the request file exists, so a worker never sees a PENDING
    # request without its predictions; removed again locally when the locked re-check refuses it
    extract_predictions(zip_path, folder, check)
    store.publish(folder)
    try:
        store.add_request(request, rate_limit=rate_limit, admins=admins)
    except BaseException:
        shutil.rmtree(folder.parent, ignore_errors=True)
        raise
    return request


def submit_model(
    store: LeaderboardStore,
    repo: str,
    *,
    user: str,
    model: str | None = None,
    rate_limit: RateLimit | None = None,
    api: HfApi | None = None,
    admins: Collection[str] = (),
) -> Request:
    """Check a Hub restorer repo id, pin it to its current commit and queue it (local folders are
    refused unread: see :mod:`ggt_hf.leaderboard.model_repo`). The row is named ``model``, else
    the repo id.

    Raises like :func:`submit_predictions`.
    """
    _early_checks(store, user, rate_limit, model, admins)
    try:
        pinned = pin_model_repo(repo, api=api)
    except InvalidSubmissionError as exc:
        store.add_refusal(
            Request.new("model", REFUSED_MODEL, user, model_repo=shown(repo)), str(exc), rate_limit
        )
        raise
    name = model or pinned.repo_id
    if not model:
        _check_owner(store, user, rate_limit, name, admins, kind="model")
    request = Request.new("model", name, user, model_repo=pinned.repo_id, revision=pinned.revision)
    return store.add_request(request, rate_limit=rate_limit, admins=admins)


class Worker:
    """Processes queued requests of ``store`` against ``dataset``'s ``split``.

    Args:
        store: the leaderboard store.
        dataset: packed dataset folder or Hub id the submissions are scored on.
        metrics: metric specs (default: the paper's, skipping those whose weights are missing).
        device: torch device for restorers and metrics (default: auto).
        tile, overlap: tiled inference of model submissions.
        name: worker id recorded in claimed requests (default: host + pid + random).
        stale_hours: before claiming, requeue requests RUNNING for longer than this (a worker that
            died mid-run); ``None`` never requeues.
        api: the ``HfApi`` model submissions are downloaded through (default: a new one).
        push_results: also publish a finished model submission's scores as Hub eval results in its
            model repo (``.eval_results/*.yaml``, a pull request when the worker does not own it);
            needs ``dataset`` to be a Hub id. A failed push is logged, the result is kept.
    """

    def __init__(
        self,
        store: LeaderboardStore,
        dataset: str,
        *,
        split: str = "test",
        metrics: Sequence[MetricSpec] | None = None,
        device: str | None = None,
        tile: int = 512,
        overlap: int = 32,
        name: str | None = None,
        progress: bool | None = None,
        stale_hours: float | None = None,
        api: HfApi | None = None,
        push_results: bool = False,
    ) -> None:
        self.store = store
        self.api = api
        self.push_results = push_results
        self.stale_hours = stale_hours
        self.dataset = dataset
        self.split = split
        self.metrics = list(metrics) if metrics is not None else None
        self.device = device
        self.tile = tile
        self.overlap = overlap
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.progress = progress

    def process(self, request: Request) -> Request:
        """Run one claimed (RUNNING) request to FINISHED or FAILED; never raises for its failures."""
        logger.info(
            "worker %s: running %s (%s %s)", self.name, request.request_id, request.kind, request.model
        )
        try:
            if request.kind == "predictions":
                result = self._score(self.store.request_dir(request.request_id) / PREDICTIONS_FOLDER, request)
            elif request.kind == "model":
                with tempfile.TemporaryDirectory(prefix="ggt-lb-") as tmp:
                    self._predict(request, Path(tmp))
                    result = self._score(Path(tmp), request)
            else:
                raise InvalidSubmissionError(request.request_id, f"unknown request kind {request.kind!r}")
        except Exception as exc:  # recorded in the request file: the queue goes on
            reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
            logger.warning("request %s failed: %s", request.request_id, reason)
            return self.store.fail(request.request_id, reason)
        meta = {
            "request_id": request.request_id,
            "model": request.model,
            "model_type": request.kind,
            "model_repo": request.model_repo,
            "user": request.user,
            "owner": request.owner,
            "submitted_at": request.submitted_at,
        }
        result_file = self.store.add_result(result, meta)
        if self.push_results and request.model_repo:
            self._publish(result, request.model_repo)
        return self.store.finish(request.request_id, result_file)

    def _publish(self, result: dict, model_repo: str) -> None:
        from ggt_hf.hub.eval_results import publish_results

        try:
            publish_results(result, model_repo, self.dataset, api=self.api)
        except Exception as exc:  # the leaderboard result stands even if the Hub refuses the file
            logger.warning("eval results for %s not pushed: %s", model_repo, exc)

    def _predict(self, request: Request, out: Path) -> None:
        """Restore every LQ image of the split with the submitted restorer into ``out/<id>.png``."""
        from ggt_hf.evaluation.references import load_packed_split
        from ggt_hf.imaging.images import decode_image, encode_image
        from ggt_hf.restore.factory import make_restorer, weights_spec
        from ggt_hf.restore.spec import RestorerOptions

        # Hub repos only, at the commit pinned when submitted (checked again, weights-only download)
        _, snapshot = fetch_pinned_model(request.model_repo, request.revision, api=self.api)
        options = RestorerOptions(device=self.device, tile=self.tile, overlap=self.overlap)
        restorer = make_restorer(weights_spec(snapshot), options)
        ds = load_packed_split(self.dataset, self.split)
        for row in tqdm(ds, desc=f"restoring ({request.model})", disable=self.progress is False):
            lq = decode_image(row[Col.LQ]["bytes"], row[Col.ID]).image
            restored = restorer.restore(lq, item_id=row[Col.ID])
            (out / f"{row[Col.ID]}.png").write_bytes(encode_image(restored, "png"))

    def _score(self, pred_dir: Path, request: Request) -> dict:
        from ggt_hf.evaluation.restorer_eval import evaluate

        result = evaluate(
            pred_dir,
            self.dataset,
            split=self.split,
            metrics=self.metrics,
            model=request.model,
            device=self.device,
            progress=self.progress,
        )
        return result.to_json()

    def run_once(self) -> list[Request]:
        """Process every PENDING request (including ones queued meanwhile); returns them, final."""
        if self.stale_hours is not None:
            for request in self.store.requeue_stale(self.stale_hours):
                logger.warning("request %s: %s", request.request_id, request.reason)
        done = []
        while (request := self.store.claim_next(self.name)) is not None:
            done.append(self.process(request))
        return done

    def run_forever(
        self,
        poll_seconds: float = 30.0,
        max_polls: int | None = None,
        report: Callable[[Request], None] | None = None,
    ) -> None:
        """Pull, process what is pending, sleep ``poll_seconds``, repeat (``max_polls`` bounds it);
        ``report`` is called with each finished or failed request."""
        polls = 0
        while max_polls is None or polls < max_polls:
            self.store.pull()
            for request in self.run_once():
                logger.info("request %s: %s", request.request_id, request.status)
                if report is not None:
                    report(request)
            polls += 1
            if max_polls is None or polls < max_polls:
                time.sleep(poll_seconds)
