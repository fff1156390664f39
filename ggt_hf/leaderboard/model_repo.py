"""Model submissions: a Hub repo id of a registry restorer, pinned to the commit it had when submitted.

Only Hub model repo ids are accepted here (the Space's ``/submit_model`` and the leaderboard worker):
the id is checked with :func:`huggingface_hub.utils.validate_repo_id` and must name a namespace
(``user/name``); nothing about it is ever looked up on the server's own disk, so a submission cannot
probe, read or load server folders. (Scoring a local folder is a CLI job: ``ggt restore`` then
``ggt eval``.)

:func:`pin_model_repo` asks the Hub for the repo's current commit (``HfApi.model_info``), then checks
that commit: ``config.json`` (size-capped, valid JSON, a registry ``model_type``, dimensions within
the restorer's bounds (:mod:`ggt_hf.restorers.config_bounds`), no ``auto_map`` /
``trust_remote_code``) and a ``model.safetensors`` (pickled weights such as ``*.bin`` are refused and
never downloaded). Refusals are :class:`~ggt_hf.leaderboard.submission.InvalidSubmissionError` with a
one-line reason that never quotes the repo's file contents. :func:`fetch_pinned_model` (the worker)
checks the pinned commit again and downloads only ``config.json`` and ``model.safetensors`` of it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ggt_hf.leaderboard.submission import PICKLE_SUFFIXES, SAFE_WEIGHTS, InvalidSubmissionError

if TYPE_CHECKING:
    from huggingface_hub import HfApi

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
#: A restorer's config.json is a few hundred bytes; anything this large is refused unread.
MAX_CONFIG_BYTES = 256 * 1024
#: Longest submitted text quoted back in an error.
_SHOWN = 80


def shown(text: object) -> str:
    """``text`` as quoted in an error: one line, at most a few dozen characters."""
    value = repr(str(text))
    return value if len(value) <= _SHOWN else value[: _SHOWN - 4] + "...'"


@dataclass(frozen=True)
class PinnedModel:
    """A checked model submission: the Hub repo id, its commit sha and the registry model type."""

    repo_id: str
    revision: str
    model_type: str


def parse_repo_id(text: str) -> str:
    """``text`` as a Hub model repo id ``namespace/name``; raises :class:`InvalidSubmissionError`
    for anything else (paths, bare names, URLs, ...). Never touches the filesystem."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    repo_id = (text or "").strip()
    if not repo_id:
        raise InvalidSubmissionError("model", "give a Hub model id (user/name)")
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise InvalidSubmissionError(
            shown(repo_id), "not a Hub model repo id (expected user/name; server paths are not accepted)"
        ) from None
    if "/" not in repo_id:
        raise InvalidSubmissionError(
            shown(repo_id), "give the full Hub model id with its namespace: user/name"
        )
    return repo_id


def _hub_error(repo_id: str, exc: Exception) -> InvalidSubmissionError:
    """A one-line refusal for a Hub lookup that failed."""
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    if isinstance(exc, GatedRepoError):
        reason = "the repo is gated: the leaderboard can only run public models"
    elif isinstance(exc, RepositoryNotFoundError):
        reason = "no such public model repo on the Hub"
    elif isinstance(exc, RevisionNotFoundError):
        reason = "the pinned revision no longer exists in the repo"
    else:
        reason = f"cannot check the repo on the Hub ({type(exc).__name__})"
    return InvalidSubmissionError(repo_id, reason)


def _file_sizes(info: Any) -> dict[str, int | None]:
    return {s.rfilename: getattr(s, "size", None) for s in (getattr(info, "siblings", None) or [])}


def _check_files(repo_id: str, files: dict[str, int | None]) -> None:
    if CONFIG_FILE not in files:
        raise InvalidSubmissionError(
            repo_id, "no config.json (a registry restorer saved with save_pretrained)"
        )
    size = files[CONFIG_FILE]
    if size is not None and size > MAX_CONFIG_BYTES:
        raise InvalidSubmissionError(
            repo_id, f"config.json is {size:,} bytes, over the {MAX_CONFIG_BYTES:,} limit"
        )
    if SAFE_WEIGHTS not in files:
        pickles = sorted(f for f in files if f.lower().endswith(PICKLE_SUFFIXES))
        detail = f" (found pickled weights {', '.join(pickles)}, which are never loaded)" if pickles else ""
        raise InvalidSubmissionError(
            repo_id, f"no {SAFE_WEIGHTS}{detail}; only safetensors weights are accepted"
        )


def check_config(repo_id: str, text: str) -> str:
    """The registry ``model_type`` of a ``config.json`` text; refusals never quote the file."""
    from ggt_hf.restorers import RESTORERS

    try:
        config = json.loads(text)
    except ValueError:
        raise InvalidSubmissionError(repo_id, "config.json is not valid JSON") from None
    if not isinstance(config, dict):
        raise InvalidSubmissionError(repo_id, "config.json is not a JSON object")
    config = config.get("config", config) if isinstance(config.get("config"), dict) else config
    if "auto_map" in config or config.get("trust_remote_code"):
        raise InvalidSubmissionError(
            repo_id, "config asks for remote code (auto_map / trust_remote_code): refused"
        )
    model_type = str(config.get("model_type", "")).strip().lower().replace("-", "_")
    if model_type not in RESTORERS:
        raise InvalidSubmissionError(
            repo_id, f"config.json's model_type is not a registry restorer ({', '.join(sorted(RESTORERS))})"
        )
    _check_bounds(repo_id, model_type, config)
    return model_type


def _check_bounds(repo_id: str, model_type: str, config: dict) -> None:
    """Every size field and the model's total size within the restorer's bounds (nothing allocated)."""
    from ggt_hf.errors import ModelConfigError
    from ggt_hf.restorers import get_restorer_class
    from ggt_hf.restorers.config_bounds import check_restorer_config

    try:
        check_restorer_config(get_restorer_class(model_type), config, CONFIG_FILE)
    except ModelConfigError as exc:
        raise InvalidSubmissionError(repo_id, f"config.json: {exc.reason}") from None


def _check_revision(repo_id: str, revision: str | None, api: HfApi) -> PinnedModel:
    """Look ``repo_id`` up at ``revision`` (``None``: its current head) and check its files."""
    try:
        info = api.model_info(repo_id, revision=revision, files_metadata=True)
        sha = info.sha
        if not sha:
            raise InvalidSubmissionError(repo_id, "the Hub reported no commit sha for the repo")
        _check_files(repo_id, _file_sizes(info))
        config_path = api.hf_hub_download(repo_id=repo_id, filename=CONFIG_FILE, revision=sha)
    except InvalidSubmissionError:
        raise
    except Exception as exc:  # not found, gated, offline, ...: one line naming the cause
        raise _hub_error(repo_id, exc) from None
    config_file = Path(config_path)
    if config_file.stat().st_size > MAX_CONFIG_BYTES:
        raise InvalidSubmissionError(repo_id, f"config.json is over the {MAX_CONFIG_BYTES:,} byte limit")
    model_type = check_config(repo_id, config_file.read_text(encoding="utf-8", errors="replace"))
    return PinnedModel(repo_id, sha, model_type)


def pin_model_repo(text: str, api: HfApi | None = None) -> PinnedModel:
    """Validate a submitted model id and pin it to the repo's current commit (see the module doc)."""
    repo_id = parse_repo_id(text)
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    return _check_revision(repo_id, None, api)


def fetch_pinned_model(
    repo_id: str | None, revision: str | None, api: HfApi | None = None
) -> tuple[PinnedModel, Path]:
    """The worker's side: re-check ``repo_id`` at the pinned ``revision`` and download its
    ``config.json`` and ``model.safetensors`` only; the checked model and the snapshot folder."""
    repo_id = parse_repo_id(repo_id or "")
    if not revision:
        raise InvalidSubmissionError(repo_id, "the request is not pinned to a revision: submit it again")
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    pinned = _check_revision(repo_id, revision, api)
    try:
        folder = api.snapshot_download(
            repo_id=repo_id, revision=pinned.revision, allow_patterns=[CONFIG_FILE, SAFE_WEIGHTS]
        )
    except Exception as exc:
        raise _hub_error(repo_id, exc) from None
    return pinned, Path(folder)


__all__ = [
    "MAX_CONFIG_BYTES",
    "PinnedModel",
    "check_config",
    "fetch_pinned_model",
    "parse_repo_id",
    "pin_model_repo",
    "shown",
]
