"""The build configuration: one YAML file per dataset build (``dataset_builder/configs/`` has two).

Example (a ``build.yaml`` of your own)::

    name: my-ggt
    output: runs/my-ggt
    sources:
      - {path: work/ingest}                                  # a `ggt ingest` output folder, used as-is
      - {path: photos/, license: cc0-1.0, split: train}      # category from sub-folders
      - {path: extra.csv, manifest: true}                    # CSV/JSONL manifest
    backend: {name: gemini, model_id: gemini-3-pro-image-preview, rate: 2, concurrency: 8}
    prompt: adaptive:gemini
    vlm: {name: gemini}
    qc: {metric_thresholds: {musiq: 2.0}, judge: gemini, max_attempts: 3, human_review: true}

Every field maps onto a dataclass below; CLI flags override fields with ``key=value`` (dotted
keys for nested ones, e.g. ``backend.name=classical``). Paths written in the YAML file (``output``,
``sources[].path``) are relative to the file's folder; paths given as overrides on the command line
are relative to the working directory, like every other CLI argument.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ggt_hf.constants import MAX_QC_ATTEMPTS
from ggt_hf.files.yaml_config import apply_overrides, from_dict, load_yaml


@dataclass
class SourceConfig:
    """Real LQ photos: a folder of photos, a CSV/JSONL manifest (``manifest: true``), or a
    ``ggt ingest`` output folder (it holds ``ingested.jsonl``), which is used as-is, not re-ingested.
    ``category`` / ``source`` / ``license`` apply to photos without one of their own."""

    path: str
    manifest: bool = False
    category: str | None = None
    source: str | None = None
    license: str | None = None
    split: str = "train"


@dataclass
class BackendConfig:
    """The MFM (or baseline) that generates HQ candidates, and its call discipline."""

    name: str = "classical"
    model_id: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    retries: int = 5
    rate: float | None = None
    concurrency: int = 4
    cache: bool = True
    base_delay: float = 1.0
    cost_per_call: float = 0.0  # USD per paid call, for the cost report (0 = unknown)
    faults: dict[str, Any] | None = None  # FaultPlan fields: inject failures (tests, drills)

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments the backend is made with: ``options`` plus ``model_id`` when set."""
        return {**self.options, **({"model_id": self.model_id} if self.model_id else {})}


@dataclass
class VLMConfig:
    """The VLM client used for adaptive prompts and judging."""

    name: str = "heuristic"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class QCSettings:
    """The three QC stages."""

    # "paper": the paper's NR metrics that have weights (PIQE as the offline fallback), each needing
    # an improvement ≥ its margin ("little" improvement: metric_filter.STAGE1_MARGINS, an assumption
    # — the paper gives no number; metric_margins overrides single metrics, metric_min_improvement
    # sets one margin for all); or explicit {metric: minimum improvement}; null: no stage 1
    metric_thresholds: dict[str, float] | str | None = "paper"
    metric_require: str = "all"
    metric_min_improvement: float | None = None
    metric_margins: dict[str, float] = field(default_factory=dict)
    # a stage-1 failure: "exclude" the item (the paper) or "regenerate" it with a corrective prompt
    metric_on_fail: Literal["exclude", "regenerate"] = "exclude"
    geometry: bool = True
    judge: str | None = "vlm"  # "vlm" = the configured VLM client, None = no judge
    # generations per item, 1 to MAX_QC_ATTEMPTS (the paper's 3); more is refused, not clamped
    max_attempts: int = field(default=MAX_QC_ATTEMPTS, metadata={"minimum": 1, "maximum": MAX_QC_ATTEMPTS})
    human_review: bool = False


@dataclass
class BuildConfig:
    """A whole build: sources → prompt → generate → QC → review → pack."""

    name: str = "ggt-build"
    output: str = "runs/ggt-build"
    sources: list[SourceConfig] = field(default_factory=list)
    backend: BackendConfig = field(default_factory=BackendConfig)
    prompt: str = "adaptive:heuristic"
    vlm: VLMConfig = field(default_factory=VLMConfig)
    qc: QCSettings = field(default_factory=QCSettings)
    seed: int = 0
    image_size: int = 1024
    min_side: int = 256
    workers: int = 4
    pretty_name: str | None = None
    license: str = "other"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BuildConfig:
        """Build from a plain dict, rejecting unknown keys with their name and options the backend
        or VLM client does not take (:func:`check_components`), before anything runs."""
        config = from_dict(cls, data, "config")
        check_components(config)
        return config

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | None = None) -> BuildConfig:
        """Load a YAML config; ``overrides`` are ``key=value`` strings (YAML values).

        Relative paths in the file are resolved against its folder (made absolute); paths in
        ``overrides`` stay as given, i.e. relative to the working directory.
        """
        data = _resolve_paths(load_yaml(path), Path(path).parent)
        return cls.from_dict(apply_overrides(data, overrides))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_components(config: BuildConfig) -> None:
    """Refuse, before any work, a prompt strategy that does not exist and options the configured
    backend and VLM client do not take, naming the option, the component and the options it takes
    (a backend whose module cannot be imported here, e.g. a missing SDK, reports that when made).

    Raises:
        ValueError: an unknown prompt strategy (with a "did you mean").
        BackendOptionError: an unknown option (``config.backend.options`` / ``config.vlm.options``).
    """
    from ggt_hf.backends import backend_class, check_options, vlm_class
    from ggt_hf.prompts.strategies import check_strategy

    try:
        check_strategy(config.prompt)
    except ValueError as exc:
        raise ValueError(f"config.prompt: {exc}") from None
    for kind, name, options, load in (
        ("backend", config.backend.name, config.backend.kwargs(), backend_class),
        ("VLM client", config.vlm.name, config.vlm.options, vlm_class),
    ):
        try:
            cls = load(name)
        except (ImportError, ValueError):  # unknown names are reported where they are made
            continue
        where = "config.backend" if kind == "backend" else "config.vlm"
        check_options(cls, options, f"{kind} {name!r}", f"{where}.options")


def called_components(config: BuildConfig) -> list[tuple[str, str, str, dict[str, Any]]]:
    """``(where, kind, name, options)`` of every backend and VLM client the build's generate stage
    calls: the backend, the VLM of an ``adaptive:`` prompt and the judge (``config.vlm`` when they
    name it, as the build shares that client)."""
    found = [("config.backend", "backend", config.backend.name, config.backend.kwargs())]
    vlm = ("config.vlm", "VLM client", config.vlm.name, dict(config.vlm.options))
    prompt_vlm = config.prompt.partition(":")[2] if config.prompt.startswith("adaptive:") else None
    for where, name in (("config.prompt", prompt_vlm), ("config.qc.judge", config.qc.judge)):
        if name == "vlm" or name == config.vlm.name:
            found.append(vlm)
        elif name:
            found.append((where, "VLM client", name, {}))
    return found


def api_endpoints(config: BuildConfig) -> list[tuple[str, Any]]:
    """``(who, ApiEndpoint)`` of every hosted API the build's generate stage calls (see
    :func:`ggt_hf.backends.api_endpoints`), for :func:`ggt_hf.runtime.network.require_apis`."""
    from ggt_hf.backends import api_endpoints as class_endpoints
    from ggt_hf.backends import backend_class, vlm_class

    found: list[tuple[str, Any]] = []
    for where, kind, name, options in called_components(config):
        try:
            cls = backend_class(name) if kind == "backend" else vlm_class(name)
        except (ImportError, ValueError):  # unknown names are reported where they are made
            continue
        who = f"{where} ({kind} {name!r})"
        found += [(who, e) for e in class_endpoints(cls, options) if (who, e) not in found]
    return found


def _resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make the config's relative ``output`` and ``sources[].path`` absolute against ``base``."""

    def resolve(value: Any) -> Any:
        if not isinstance(value, str) or os.path.isabs(value):
            return value
        return os.path.normpath(os.path.join(os.path.abspath(base), value))

    if "output" in data:
        data["output"] = resolve(data["output"])
    for source in data.get("sources") or []:
        if isinstance(source, dict) and "path" in source:
            source["path"] = resolve(source["path"])
    return data
