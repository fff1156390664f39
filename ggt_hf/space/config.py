"""What the Space serves, from environment variables (a deployed Space) or ``ggt space`` flags.

Every field has an offline default, so ``python spaces/app.py`` with nothing configured serves the
Restore tab on the bundled degraded example photos (one per category,
:mod:`ggt_hf.space.examples`) with the ``classical`` baseline, an (empty) local leaderboard, the
Submit forms and the built-in arena (the baseline's outputs on the examples); the Review tab
appears when a run folder is set.

Environment variables (flags of ``ggt space`` override them):

============================  =====================================================================
``GGT_SPACE_STORE``           leaderboard store root (local folder; default ``~/.cache/ggt-hf/space``)
``GGT_SPACE_REQUESTS_REPO``   Hub dataset repo mirroring the requests (Open LLM Leaderboard pattern)
``GGT_SPACE_RESULTS_REPO``    Hub dataset repo mirroring the results
``GGT_SPACE_DATASET``         packed GGT dataset (folder or Hub id) whose test split submissions match
``GGT_SPACE_MODELS``          restorer weights, ``label=repo_or_folder`` comma-separated
``GGT_SPACE_PIPELINES``       diffusers pipelines, ``model_id[+lora_repo][+controlnet=repo]``, comma-separated
``GGT_SPACE_ARENA``           arena folder: ``<system>/<id>.png`` outputs (LQ in ``GGT_SPACE_ARENA_LQ``,
                              default ``<arena>/lq``, which is never a system)
``GGT_SPACE_BUILTIN_ARENA``   without an arena folder, serve the built-in arena (default ``1``)
``GGT_SPACE_RUN_DIR``         build run folder: mounts the QC review app as a tab
``GGT_SPACE_METRICS``         NR metrics for the restore deltas (default: the paper's NR metrics + PIQE)
``GGT_SPACE_MAX_SIDE``        longer uploads are resized to this side (default 2048)
``GGT_SPACE_TILE``            tile size for registry restorers (default 512; 0 = no tiling)
``GGT_SPACE_TILE_OVERLAP``    overlap of those tiles in pixels (default 32)
``GGT_SPACE_EXAMPLES``        example photos, comma-separated paths (default: the bundled ones)
``GGT_SPACE_DEVICE``          ``cpu``, ``cuda``, ... (default: CUDA when present)
``GGT_SPACE_WARM_UP``         load the restorer and metric engine before serving (default ``1``)
``GGT_SPACE_RATE_LIMIT``      submissions per account per 24 h (default 5)
``GGT_SPACE_VOTE_LIMIT``      counted arena / study votes per account per 24 h (default 100; one
                              per battle)
``GGT_SPACE_SIGN_IN``         require a Hugging Face sign-in to submit and vote (default: on in a
                              Space with ``hf_oauth: true``, off elsewhere; locally ``1`` uses
                              Gradio's mock sign-in, which needs ``hf auth login``)
``GGT_SPACE_ADMINS``          HF account names that may replace any leaderboard row, comma-separated
``GGT_SPACE_TRUSTED_PROXIES`` proxy IPs/networks whose ``X-Forwarded-For`` is believed (default none)
``GGT_SPACE_TEMP_MAX_MB``     bound of the Space's temp folder (uploads, cache, served images;
                              default 1024)
``GGT_SPACE_TEMP_MAX_FILES``  the same bound in files (default 2000)
``GGT_SPACE_UPLOAD_MAX_MB``   largest single upload in MB (default 200, at most the temp bound)
============================  =====================================================================
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ggt_hf.metrics.specs import METRICS

#: NR metrics tried for the restore deltas by default: the paper's (learned, need weights) + PIQE.
DEFAULT_DELTA_METRICS: tuple[str, ...] = (
    *(s.name for s in METRICS.values() if s.mode == "NR" and s.group is not None),
    "piqe",
)

_ENV_PREFIX = "GGT_SPACE_"


def _split_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def parse_models(entries: list[str] | str | None) -> dict[str, str]:
    """``["label=repo_or_folder", ...]`` (or the comma-separated string) → ``{label: source}``.

    A bare entry is its own label (``user/nafnet-ggt`` → ``{"user/nafnet-ggt": "user/nafnet-ggt"}``).
    """
    items = _split_list(entries) if isinstance(entries, str) else list(entries or [])
    out: dict[str, str] = {}
    for item in items:
        label, sep, source = item.partition("=")
        label, source = label.strip(), source.strip()
        if not sep:
            source = label
        if not label or not source:
            raise ValueError(f"restorer weights entry {item!r}: expected label=repo_or_folder")
        out[label] = source
    return out


def oauth_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process runs in a Space with Hugging Face sign-in (``hf_oauth: true``)."""
    env = os.environ if environ is None else environ
    return env.get("SYSTEM") == "spaces" and bool(env.get("OAUTH_CLIENT_ID"))


def check_trusted_proxies(entries: Sequence[str]) -> list[str]:
    """The trusted proxy list, each an IP address or network; ``*`` and names are refused."""
    out = []
    for entry in entries:
        text = entry.strip()
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(
                f"trusted proxy {entry!r}: give IP addresses or networks (e.g. 10.0.0.1, 10.0.0.0/8)"
            ) from None
        out.append(text)
    return out


@dataclass
class SpaceConfig:
    """Everything :func:`ggt_hf.space.app.build_app` needs (see the module docstring)."""

    store: str = field(default_factory=lambda: str(Path.home() / ".cache" / "ggt-hf" / "space"))
    requests_repo: str | None = None
    results_repo: str | None = None
    dataset: str | None = None
    models: dict[str, str] = field(default_factory=dict)
    pipelines: list[str] = field(default_factory=list)
    arena: str | None = None
    arena_lq: str | None = None
    run_dir: str | None = None
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_DELTA_METRICS))
    max_side: int = 2048
    tile: int = 512
    tile_overlap: int = 32
    rate_limit: int = 5
    #: counted votes per account per 24 h (arena and study; one per battle)
    vote_limit: int = 100
    #: require an HF sign-in to submit and vote (``None``: on in a Space with ``hf_oauth: true``)
    sign_in: bool | None = None
    #: HF accounts that may replace any leaderboard row (also rows from before rows had owners)
    admins: list[str] = field(default_factory=list)
    #: proxy IPs / networks whose ``X-Forwarded-For`` is believed (default: none, the TCP peer)
    trusted_proxies: list[str] = field(default_factory=list)
    #: bounds of the Space's temp folder (oldest files evicted first)
    temp_max_mb: int = 1024
    temp_max_files: int = 2000
    #: largest single upload (Gradio's ``max_file_size``; never more than ``temp_max_mb``)
    upload_max_mb: int = 200
    examples: list[str] = field(default_factory=list)
    #: Without ``arena``, serve the built-in arena (the baseline's outputs on the example photos).
    builtin_arena: bool = True
    device: str | None = None
    #: Load the default path (classical restorer, torch, pyiqa, the NR metric engine) before the
    #: server accepts requests, so the first restore is as fast as the next ones (the cold start is
    #: longer by as much).
    warm_up: bool = True

    def __post_init__(self) -> None:
        if self.max_side < 64:
            raise ValueError(f"max_side must be ≥ 64, got {self.max_side}")
        if self.tile and self.tile <= 2 * self.tile_overlap:
            raise ValueError(f"tile ({self.tile}) must exceed twice the overlap ({self.tile_overlap})")
        for name in ("rate_limit", "vote_limit", "temp_max_mb", "temp_max_files", "upload_max_mb"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if self.sign_in is None:
            self.sign_in = oauth_configured()
        self.trusted_proxies = check_trusted_proxies(self.trusted_proxies)
        if not self.examples:
            from ggt_hf.space.examples import example_paths

            self.examples = example_paths()

    @property
    def arena_lq_dir(self) -> str | None:
        """Folder of the arena's LQ images (``arena_lq``, else ``<arena>/lq``)."""
        if not self.arena:
            return None
        return self.arena_lq or str(Path(self.arena) / "lq")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> SpaceConfig:
        """The config from ``GGT_SPACE_*`` variables; ``overrides`` that are not ``None`` win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(_ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if isinstance(values.get("models"), (str, list)):
            values["models"] = parse_models(values["models"])
        return cls(**values)

    def with_(self, **changes: Any) -> SpaceConfig:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)


def _convert(name: str, raw: str) -> Any:
    if name in {
        "max_side",
        "tile",
        "tile_overlap",
        "rate_limit",
        "vote_limit",
        "temp_max_mb",
        "temp_max_files",
        "upload_max_mb",
    }:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{_ENV_PREFIX}{name.upper()} must be an integer, got {raw!r}") from None
    if name in {"warm_up", "builtin_arena", "sign_in"}:
        return raw.strip().lower() in {"1", "true", "yes"}
    if name == "models":
        return parse_models(raw)
    if name in {"pipelines", "metrics", "examples", "admins", "trusted_proxies"}:
        return _split_list(raw)
    return raw
