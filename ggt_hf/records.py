"""The pair record: one LQ/HQ pair with everything needed to explain where its HQ came from.

It is what the pairing step, the build pipeline (prompt → generate → QC) and ``ggt pack`` pass
around, and it maps one to one onto the packed dataset's columns (see :mod:`ggt_hf.hub.schema`).
JSON lines of these records (``PairRecord.to_json`` / ``from_json``) are a valid ``ggt pack`` input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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
