"""The build report: per-category progress, rejection reasons, attempts, calls paid, problems.

It streams over the run's item records once (memory flat in the number of items) and counts the
review decisions of the append-only log (those its caller already read, or read here), so it stays
cheap at the paper's 100K items.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ggt_hf.files.run_store import RunStore
from ggt_hf.qc.metric_filter import stage1_note
from ggt_hf.qc.review import Decisions, read_decisions
from ggt_hf.records import TERMINAL_STATES, ItemRecord

#: Columns of the per-category table: how many items reached each step, then the final states.
#: ``ingested`` counts every item, ``prompted`` every item with a prompt (whatever came after).
REPORT_COLUMNS = ("ingested", "prompted", *TERMINAL_STATES)


@dataclass
class BuildReport:
    """End-of-run figures (see :func:`report`)."""

    states: dict[str, Counter] = field(default_factory=dict)
    reasons: Counter = field(default_factory=Counter)
    attempts: Counter = field(default_factory=Counter)
    calls: int = 0
    cost_usd: float = 0.0
    review: Counter = field(default_factory=Counter)
    packed: int = 0
    problems: list[str] = field(default_factory=list)
    config_path: str | None = None
    stage1: set[str] = field(default_factory=set)  # the stage-1 metrics the checks used
    excluded: int = 0  # items excluded at stage 1 (little or negative NR-metric improvement)
    margins: dict[str, float] = field(default_factory=dict)  # the stage-1 margins applied
    on_fail: set[str] = field(default_factory=set)  # what a stage-1 failure did: exclude / regenerate
    _cost: Fraction = field(default=Fraction(0), repr=False, compare=False)

    @property
    def failed(self) -> int:
        """Items whose every attempt failed (no candidate at all)."""
        return sum(c.get("failed", 0) for c in self.states.values())

    def add(self, record: ItemRecord) -> None:
        """Count one item record."""
        counts = self.states.setdefault(record.category, Counter())
        counts["ingested"] += 1
        counts["prompted"] += record.prompt is not None
        if record.terminal:
            counts[record.state] += 1
        for attempt in record.attempts:
            usage = attempt.metadata.get("usage", {})
            self.calls += int(usage.get("calls", 0) or 0)
            self._cost += Fraction(float(usage.get("cost_usd", 0.0) or 0.0))  # exact: order-free
            self.cost_usd = float(self._cost)
            self.stage1.update(c.name for c in attempt.checks if c.stage == "metric")
            stage1 = attempt.metadata.get("stage1") or {}
            self.excluded += bool(stage1.get("excluded"))
            self.margins.update(stage1.get("margins") or {})
            self.on_fail.update([stage1["on_fail"]] if "on_fail" in stage1 else [])
            if not attempt.accepted:
                for check in attempt.checks:
                    if not check.passed:
                        self.reasons[f"{check.stage}/{check.name}"] += 1
                if attempt.error:
                    self.reasons[attempt.error.split(":")[0]] += 1
        if record.final_attempt:
            self.attempts[record.final_attempt] += 1

    def top_reasons(self, n: int = 10) -> list[tuple[str, int]]:
        """The ``n`` most frequent rejection reasons, ties by name (whatever order items came in)."""
        return sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:n]

    def markdown(self) -> str:
        rows = ["| category | " + " | ".join(REPORT_COLUMNS) + " |", "|---|" + "---:|" * len(REPORT_COLUMNS)]
        for category, counts in sorted(self.states.items()):
            rows.append(f"| {category} | " + " | ".join(str(counts.get(s, 0)) for s in REPORT_COLUMNS) + " |")
        lines = ["## Build report", "", *rows, ""]
        lines.append(
            "Attempts to acceptance: "
            + (", ".join(f"{k}: {v}" for k, v in sorted(self.attempts.items())) or "none")
        )
        lines.append(
            "Rejection reasons: " + (", ".join(f"{k} ×{v}" for k, v in self.top_reasons()) or "none")
        )
        if self.stage1:
            lines.append(stage1_note(sorted(self.stage1)))
        if self.margins:
            margins = ", ".join(f"{k} ≥ {v:+g}" for k, v in sorted(self.margins.items()))
            if "exclude" in self.on_fail:
                lines.append(
                    f"Excluded at stage 1 (little or negative no-reference improvement, as in the paper; "
                    f"margins {margins}): {self.excluded} item(s); their records say which metric failed"
                )
            if "regenerate" in self.on_fail:
                lines.append(
                    f"Stage 1 margins {margins}; a failure was re-prompted (qc.metric_on_fail: regenerate), "
                    "not excluded as in the paper"
                )
        lines.append(f"Backend calls paid: {self.calls}, cost: ${self.cost_usd:.2f}")
        if self.review:
            lines.append("Human review: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.review.items())))
        lines.append(f"Pairs packed: {self.packed}")
        if self.failed:
            config = self.config_path or "CONFIG"
            lines.append(
                f"Failed items: {self.failed} (every attempt errored: see their records' errors). "
                f"Retry them with: ggt build {config} --retry-failed"
            )
        if self.problems:
            lines.append(f"Problems ({len(self.problems)}):")
            lines += [f"- {p}" for p in self.problems]
        return "\n".join(lines)


def report(run: str | Path, decisions: Decisions | None = None) -> BuildReport:
    """Counts per state and category, rejection reasons, attempts histogram, calls and cost.

    Args:
        run: the run folder.
        decisions: the run's review decisions as the caller already read them (``ggt build`` reads
            ``review.jsonl`` once for its packs and this report, so a bad line is warned about
            once); ``None`` reads them here.
    """
    store = RunStore(run)
    out = BuildReport()
    for record in store.iter_records(ordered=False):  # counts only: no id list at 100K items
        out.add(record)
    out.review = (decisions if decisions is not None else read_decisions(store.layout)).counts()
    return out
