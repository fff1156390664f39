"""Typed records that outlive a process.

* :class:`PairRecord` — one LQ/HQ pair with everything needed to explain where its HQ came from.
  It is what the pairing step, the build pipeline and ``ggt pack`` pass around, and it maps one to
  one onto the packed dataset's columns (see :mod:`ggt_hf.hub.schema`). JSON lines of these
  records (``PairRecord.to_json`` / ``from_json``) are a valid ``ggt pack`` input.
* :class:`ItemRecord` (with its :class:`AttemptRecord` list) — the state of one item of a build run
  (``items/<id>.json`` in the run folder, see :class:`ggt_hf.files.run_store.RunLayout`): its
  ingested LQ, prompt, every generation attempt with its QC checks, and its final state. Paths in
  it are relative to the run folder, so the folder can be moved.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ggt_hf.constants import parse_category, parse_split


@dataclass
class Provenance:
    """Which system produced the HQ target (or LQ input, for synthetic pairs) and how.

    ``backend`` examples: ``gemini``, ``openai``, ``diffusers``, ``classical``, ``synthetic``
    (clean photo as HQ, :mod:`ggt_hf.degrade` LQ), ``release`` (imported official data).
    Dict-valued fields (``lq_transform``, ``degradation``, ``extra``) are stored as JSON text.
    """

    backend: str | None = None
    model_id: str | None = None
    prompt_strategy: str | None = None
    seed: int | None = None
    attempt: int | None = None
    lq_transform: dict[str, Any] | None = None
    degradation: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None


@dataclass
class QCCheck:
    """One quality-control measurement or verdict.

    ``stage`` is ``metric`` (NR-metric filter), ``judge`` (VLM aspect), ``auto`` (geometry / colour
    checks) or ``human``; ``value`` holds a score where there is one.
    """

    stage: str
    name: str
    passed: bool
    value: float | None = None
    reason: str | None = None


@dataclass
class QCResult:
    """The QC outcome of a pair: overall ``verdict`` (accepted / rejected / pending) and its checks."""

    verdict: str = "pending"
    attempts: int | None = None
    checks: list[QCCheck] = field(default_factory=list)


@dataclass
class PairRecord:
    """One LQ/HQ pair on disk plus its metadata, before packing."""

    id: str
    category: str
    split: str
    lq_path: str
    hq_path: str
    source: str | None = None
    license: str | None = None
    prompt: str | None = None
    provenance: Provenance | None = None
    qc: QCResult | None = None

    def __post_init__(self) -> None:
        self.category = parse_category(self.category)
        self.split = parse_split(self.split)
        if not self.id or "/" in self.id:
            raise ValueError(f"invalid pair id {self.id!r}: must be non-empty and contain no '/'")

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable dict (nested dataclasses become dicts)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PairRecord:
        """Inverse of :meth:`to_json`; unknown keys raise ``TypeError`` naming them."""
        data = dict(data)
        prov = data.pop("provenance", None)
        qc = data.pop("qc", None)
        if isinstance(qc, dict):
            qc = QCResult(
                verdict=qc.get("verdict", "pending"),
                attempts=qc.get("attempts"),
                checks=[QCCheck(**c) for c in qc.get("checks") or []],
            )
        return cls(**data, provenance=Provenance(**prov) if isinstance(prov, dict) else None, qc=qc)


#: Version of the build run's item records. Bump the major number when a field changes meaning or
#: is removed (older code then refuses the run); adding an optional field needs no bump.
RUN_SCHEMA_VERSION = 2

#: Item states; the last three are final.
ITEM_STATES = ("ingested", "prompted", "accepted", "rejected", "failed")
TERMINAL_STATES = ("accepted", "rejected", "failed")


def _known_fields(cls, data: dict[str, Any], what: str) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{what}: unknown field(s) {', '.join(unknown)}")
    return data


@dataclass
class AttemptRecord:
    """One generation attempt of an item: prompt, seed, candidate image (path relative to the run
    folder, ``None`` when the backend returned nothing), QC checks, error and judge feedback."""

    attempt: int
    prompt: str | None
    seed: int | None
    image: str | None = None
    checks: list[QCCheck] = field(default_factory=list)
    error: str | None = None
    feedback: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    accepted: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AttemptRecord:
        data = dict(_known_fields(cls, data, "attempt"))
        data["checks"] = [QCCheck(**c) for c in data.get("checks") or []]
        data["metadata"] = data.get("metadata") or {}
        return cls(**data)


@dataclass
class ItemRecord:
    """The state of one item of a build run (see the module docstring)."""

    id: str
    category: str
    split: str
    lq_path: str
    state: str = "ingested"
    source: str | None = None
    license: str | None = None
    lq_transform: dict[str, Any] | None = None
    prompt: str | None = None
    analysis: dict[str, Any] | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)
    final_attempt: int | None = None
    schema: int = RUN_SCHEMA_VERSION

    @property
    def terminal(self) -> bool:
        """Whether generation + QC has finished for this item."""
        return self.state in TERMINAL_STATES

    def final(self) -> AttemptRecord | None:
        """The accepted attempt, if any."""
        if self.final_attempt is None:
            return None
        return next((a for a in self.attempts if a.attempt == self.final_attempt), None)

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable dict (nested dataclasses become dicts)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ItemRecord:
        """Inverse of :meth:`to_json`. Records written before the schema field existed read as
        version 1 (same fields). Raises ``ValueError`` naming what is wrong."""
        data = dict(_known_fields(cls, data, f"item {data.get('id')!r}"))
        data.setdefault("schema", 1)
        if data.get("state") not in ITEM_STATES:
            raise ValueError(f"item {data.get('id')!r}: unknown state {data.get('state')!r}")
        data["attempts"] = [AttemptRecord.from_json(a) for a in data.get("attempts") or []]
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(f"item {data.get('id')!r}: {exc}") from None
