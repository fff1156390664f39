"""Best-of-N preference study (the paper's "Human" column): per image, pick the best of all outputs.

Each round shows one LQ image and the outputs of every system that restored it, in a random order,
under neutral names (``option1.png``, ...); the UI only gets a random single-use token, the
token → (image id, systems in display order) mapping stays server-side (as in the pairwise
:class:`~ggt_hf.leaderboard.arena.Arena`, whose folder layout and LQ handling this reuses). The
participant picks one option, or ``none`` (no output is acceptable).

Statistic (:func:`vote_shares`): a system's **share** is the fraction of rounds whose pick it was,
among rounds with a pick (``none`` rounds are counted, shown, and left out of the denominator, so
shares sum to 100 % like the paper's). Intervals: percentile bootstrap over rounds (resampled with
replacement, seeded). Shares are only comparable between systems shown in the same rounds; when
systems miss some images, ``Shown`` says in how many rounds each appeared.

Votes are stored beside the pairwise ones as ``study-<uid>.jsonl`` shards (:class:`StudyStore`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ggt_hf.constants import SHARE_FORMAT
from ggt_hf.leaderboard.arena import Arena, _images
from ggt_hf.leaderboard.votes import InvalidVoteError, VoteStore, _now, check_record_fields

#: The pick meaning "none of the outputs is acceptable".
NONE = "none"
SHARE_COLUMNS = ["Rank", "System", "Share", "CI low", "CI high", "Picked", "Shown"]


@dataclass(frozen=True)
class StudyVote:
    """One best-of-N judgement: ``choice`` (a system or ``none``) among ``shown`` on image ``pair_id``."""

    pair_id: str
    shown: tuple[str, ...]
    choice: str
    user: str = "anonymous"
    time: str = field(default_factory=_now)

    def __post_init__(self) -> None:
        if not isinstance(self.shown, (list, tuple)) or not all(isinstance(s, str) for s in self.shown):
            raise InvalidVoteError(self.pair_id, f"shown must be a list of system names, got {self.shown!r}")
        object.__setattr__(self, "shown", tuple(self.shown))
        check_record_fields(self, ("pair_id", "choice", "user"))
        if len(set(self.shown)) != len(self.shown) or len(self.shown) < 2:
            raise InvalidVoteError(
                self.pair_id, f"a round shows two or more distinct systems, got {self.shown}"
            )
        if self.choice != NONE and self.choice not in self.shown:
            raise InvalidVoteError(
                self.pair_id, f"choice {self.choice!r} was not shown ({', '.join(self.shown)})"
            )

    @property
    def battle(self) -> tuple[str, ...]:
        """What one account may judge once: the image and the systems shown."""
        return (self.pair_id, *sorted(self.shown))

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "shown": list(self.shown)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StudyVote:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class StudyStore(VoteStore):
    """Append-only best-of-N votes (``study-<uid>.jsonl`` shards beside the pairwise votes)."""

    PREFIX = "study"
    RECORD = StudyVote


@dataclass(frozen=True)
class StudyRound:
    """What the UI shows: a token, the LQ and anonymous options (no system names)."""

    token: str
    pair_id: str
    lq: Path
    options: tuple[Path, ...]


class StudyArena(Arena):
    """Best-of-N rounds over the same folders as the pairwise arena; votes go to a :class:`StudyStore`.

    A system folder without images of its own but with a ``real/`` sub-folder is read from there:
    that is ``ggt bench-mfm``'s layout (``<out>/outputs/<system>/real/<id>.png``), so a study runs on
    exactly the benchmarked images with ``outputs_dir=<out>/outputs``.
    """

    def __init__(self, outputs_dir, lq_dir, *, subfolder: str = "real", **kwargs: Any) -> None:
        super().__init__(outputs_dir, lq_dir, **kwargs)
        nested = [s for s, f in self.outputs.items() if not f and (self.outputs_dir / s / subfolder).is_dir()]
        for system in nested:
            self.outputs[system] = _images(self.outputs_dir / system / subfolder, recursive=False)
        if nested:
            found = {i: [s for s, files in self.outputs.items() if i in files] for i in self.lq}
            self.candidates = {i: s for i, s in found.items() if len(s) >= 2}

    def sample_round(self, rng: np.random.Generator | None = None, user: str | None = None) -> StudyRound:
        """A blind round: a random image, every system that restored it, in random order (for
        ``user``, an image that account has not judged yet when there is one)."""
        if not self.candidates:
            raise InvalidVoteError(self.outputs_dir, "no LQ id has outputs from at least two systems")
        rng = rng or np.random.default_rng()
        ids = self.ids
        for _ in range(32):
            pair_id = ids[int(rng.integers(len(ids)))]
            if user is None or not self._judged(user, (pair_id, *sorted(self.candidates[pair_id]))):
                break
        systems = [str(s) for s in rng.permutation(self.candidates[pair_id])]
        token = secrets.token_urlsafe(16)
        self._open(token, _Round(pair_id, tuple(systems), time.monotonic()))
        options = tuple(
            self._serve(token, f"option{i + 1}", self.outputs[s][pair_id]) for i, s in enumerate(systems)
        )
        return StudyRound(token, pair_id, self._serve(token, "input", self.lq[pair_id]), options)

    def pick(self, token: str, choice: int | str, user: str = "anonymous") -> StudyVote:
        """Record the pick of a round: an option number (1-based) or ``"none"``; the token is consumed."""
        with self._lock:
            pending = self._pending.get(token)
            if not isinstance(pending, _Round):
                raise InvalidVoteError(token, "unknown, expired or already used round token")
            if choice == NONE:
                system = NONE
            else:
                try:
                    number = int(choice)
                except (TypeError, ValueError):
                    number = 0
                if not 1 <= number <= len(pending.systems):
                    raise InvalidVoteError(
                        token, f"choice must be 1..{len(pending.systems)} or 'none', got {choice!r}"
                    )
                system = pending.systems[number - 1]
            self._drop(token)
        return self._count(StudyVote(pending.pair_id, pending.systems, system, user=user))


@dataclass(frozen=True)
class _Round:
    pair_id: str
    systems: tuple[str, ...]
    created: float


def _shares(picks: np.ndarray, k: int) -> np.ndarray:
    counts = np.bincount(picks[picks >= 0], minlength=k).astype(float)
    total = counts.sum()
    return counts / total if total else np.full(k, np.nan)


def vote_shares(
    votes: Sequence[StudyVote], *, bootstrap: int = 1000, seed: int = 0, confidence: float = 0.95
):
    """Each system's share of best-of-N picks with a percentile bootstrap interval (DataFrame, best first)."""
    import pandas as pd

    systems = sorted({s for v in votes for s in v.shown})
    if not systems:
        return pd.DataFrame(columns=SHARE_COLUMNS)
    index = {s: i for i, s in enumerate(systems)}
    picks = np.array([index.get(v.choice, -1) for v in votes], dtype=np.int64)
    share = _shares(picks, len(systems))
    low = high = np.full(len(systems), np.nan)
    if bootstrap > 0 and len(votes):
        rng = np.random.default_rng(seed)
        samples = np.stack(
            [_shares(picks[rng.integers(0, len(picks), len(picks))], len(systems)) for _ in range(bootstrap)]
        )
        alpha = (1.0 - confidence) / 2
        low, high = np.nanquantile(samples, alpha, axis=0), np.nanquantile(samples, 1 - alpha, axis=0)
    shown = {s: sum(s in v.shown for v in votes) for s in systems}
    frame = pd.DataFrame(
        [
            {
                "System": s,
                "Share": share[i],
                "CI low": low[i],
                "CI high": high[i],
                "Picked": int((picks == i).sum()),
                "Shown": shown[s],
            }
            for i, s in enumerate(systems)
        ]
    )
    frame = frame.sort_values(["Share", "System"], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )
    frame.insert(0, "Rank", range(1, len(frame) + 1))
    return frame[SHARE_COLUMNS]


def shares_json(frame, votes: Sequence[StudyVote]) -> dict[str, Any]:
    """The share table as the JSON ``bench-mfm --human`` reads."""
    return {
        "format": SHARE_FORMAT,
        "rounds": len(votes),
        "none": sum(v.choice == NONE for v in votes),
        "shares": {
            row["System"]: {
                "share": float(row["Share"]),
                "ci_low": float(row["CI low"]),
                "ci_high": float(row["CI high"]),
                "picked": int(row["Picked"]),
                "shown": int(row["Shown"]),
            }
            for row in frame.to_dict("records")
        },
    }
