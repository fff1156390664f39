"""Arena votes: an append-only store and a Bradley–Terry ranking with bootstrap intervals.

**Store.** Each :class:`VoteStore` instance appends to its own shard ``votes-<uid>.jsonl`` (unique per
writer, so two processes or two Space replicas never write the same file) under a file lock (so the
threads of one process never interleave lines), with :func:`ggt_hf.files.io_utils.append_jsonl` (one
``write`` per line, fsync, torn tails repaired). Reading merges every shard.

**Model.** Bradley–Terry: ``P(i beats j) = p_i / (p_i + p_j)``, fitted by maximum likelihood
(Newton's method on the concave log-likelihood; Hunter's 2004 MM algorithm reaches the same optimum
but needs thousands of iterations for close systems, too slow for hundreds of bootstrap refits).
Choices made here:

* a **tie** counts as half a win for each side (``W_i += ½``, ``n_ij += 1``);
* **both_bad** is *excluded* from the fit: it says both outputs failed, not which is better, so
  counting it as a tie would pull good and bad systems together. It is still counted and shown;
* a weak symmetric **prior** (``prior`` virtual ties of every system with a reference of strength 1,
  default 0.5) keeps strengths finite when a system has never won or never lost; ``prior=0`` gives the
  plain maximum-likelihood fit (used by the hand-worked tests);
* ratings are shown on the Elo scale: ``Rating = 1000 + 400·log10(p_i / geometric mean of p)``;
* intervals: percentile bootstrap over votes (resampled with replacement, seeded).
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from filelock import FileLock

from ggt_hf.errors import GGTError
from ggt_hf.files.io_utils import append_jsonl, read_jsonl

logger = logging.getLogger(__name__)

Winner = Literal["a", "b", "tie", "both_bad"]
WINNERS: tuple[str, ...] = ("a", "b", "tie", "both_bad")
RANKING_COLUMNS = [
    "Rank",
    "System",
    "Rating",
    "CI low",
    "CI high",
    "Votes",
    "Wins",
    "Losses",
    "Ties",
    "Both bad",
]


class InvalidVoteError(GGTError):
    """A vote that cannot be recorded (unknown winner, same system twice, unknown token)."""


def _now() -> str:
    from ggt_hf.leaderboard.requests import utc_now

    return utc_now()


def check_record_fields(record: Any, texts: tuple[str, ...]) -> None:
    """Refuse a stored vote record whose ``texts`` fields are not text or whose ``time`` is not an
    ISO 8601 time (:class:`InvalidVoteError` naming its ``pair_id``): a hand-edited shard must not
    crash the listing, the ranking or the vote limit that sort, hash and parse them later."""
    for name in (*texts, "time"):
        if not isinstance(value := getattr(record, name), str):
            raise InvalidVoteError(record.pair_id, f"{name} must be a text, got {value!r}")
    try:
        _seconds(record.time)
    except ValueError:
        raise InvalidVoteError(
            record.pair_id, f"time must be an ISO 8601 time, got {record.time!r}"
        ) from None


@dataclass(frozen=True)
class Vote:
    """One arena judgement of ``system_a`` vs ``system_b`` on the LQ image ``pair_id``.

    Every field is text and ``time`` is ISO 8601 (without an offset: UTC); anything else (e.g. a
    hand-edited record in a shard) raises :class:`InvalidVoteError`, so the store skips it."""

    pair_id: str
    system_a: str
    system_b: str
    winner: str
    user: str = "anonymous"
    time: str = field(default_factory=_now)

    def __post_init__(self) -> None:
        check_record_fields(self, ("pair_id", "system_a", "system_b", "winner", "user"))
        if self.winner not in WINNERS:
            raise InvalidVoteError(self.pair_id, f"winner must be one of {WINNERS}, got {self.winner!r}")
        if self.system_a == self.system_b:
            raise InvalidVoteError(
                self.pair_id, f"a vote needs two different systems, got {self.system_a!r} twice"
            )

    @property
    def battle(self) -> tuple[str, ...]:
        """What one account may judge once: the image and the two systems (in either order)."""
        return (self.pair_id, *sorted((self.system_a, self.system_b)))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Vote:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class VoteStore:
    """Append-only votes in ``folder`` (see the module docstring)."""

    #: Shard file prefix and record type (a subclass stores another kind of vote beside these).
    PREFIX = "votes"
    RECORD: Any = Vote

    def __init__(
        self,
        folder: str | os.PathLike,
        on_write: Callable[[Path], None] | None = None,
        lock: threading.Lock | None = None,
    ) -> None:
        """``on_write`` is called with the shard after each vote; ``lock`` (e.g. a
        ``CommitScheduler.lock``) replaces the in-process lock so an uploader never reads a half line."""
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.shard = self.folder / f"{self.PREFIX}-{uuid.uuid4().hex[:12]}.jsonl"
        self._lock = FileLock(self.folder / f".{self.shard.name}.lock")
        self._thread_lock = lock or threading.Lock()
        self._on_write = on_write

    def add(self, vote: Vote) -> Vote:
        """Append ``vote`` (and publish the shard when the store is mirrored)."""
        with self._thread_lock, self._lock:
            append_jsonl(self.shard, vote.to_json())
            if self._on_write is not None:
                self._on_write(self.shard)
        return vote

    def votes(self) -> list:
        """Every vote of every shard, in time order; malformed records and corrupt lines are skipped
        with a warning naming them, so one damaged shard line never hides the other votes."""
        out = []
        for path in sorted(self.folder.glob(f"{self.PREFIX}-*.jsonl")):
            for record in read_jsonl(path, on_corrupt=_skip_corrupt_line):
                try:
                    out.append(self.RECORD.from_json(record))
                except (TypeError, GGTError) as exc:
                    logger.warning("%s: skipping malformed vote %r (%s)", path, record, exc)
        return sorted(out, key=lambda v: v.time)


def _skip_corrupt_line(message: str) -> None:
    logger.warning("%s: skipping it", message)


class VoteLimitError(InvalidVoteError):
    """A vote past its account's limit (per window, or a second vote on one battle): not counted."""


@dataclass(frozen=True)
class VoteLimit:
    """Per account: at most ``max_votes`` counted votes within ``window_hours``, and one vote per
    battle (the same image and the same two systems, see ``Vote.battle``)."""

    max_votes: int = 100
    window_hours: float = 24.0

    def __post_init__(self) -> None:
        if not (self.max_votes >= 1 and self.window_hours > 0):  # NaN fails too
            raise ValueError("a vote limit needs max_votes >= 1 and window_hours > 0")


def _seconds(stamp: str) -> float:
    from datetime import datetime, timezone

    value = datetime.fromisoformat(stamp)
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()


class VoteLedger:
    """Which votes count under a :class:`VoteLimit`: fed votes in time order, it admits each one
    its account may still cast. The arena checks every new vote against it, and
    :func:`counted_votes` replays a whole store through one (so votes stored past the limit, e.g.
    before the limit existed, never reach the ranking either)."""

    def __init__(self, limit: VoteLimit) -> None:
        self.limit = limit
        self._times: dict[str, deque[float]] = {}
        self._battles: set[tuple[str, ...]] = set()

    def judged(self, user: str, battle: tuple[str, ...]) -> bool:
        """Whether ``user`` has a counted vote on ``battle``."""
        return (user, *battle) in self._battles

    def check(self, vote: Any) -> None:
        """Raise :class:`VoteLimitError` when ``vote`` would not count."""
        if self.judged(vote.user, vote.battle):
            raise VoteLimitError(vote.pair_id, "not counted: this account has already judged this comparison")
        times = self._times.get(vote.user)
        if times:
            cutoff = _seconds(vote.time) - self.limit.window_hours * 3600
            while times and times[0] <= cutoff:
                times.popleft()
            if len(times) >= self.limit.max_votes:
                raise VoteLimitError(
                    vote.user,
                    f"not counted: vote limit reached ({self.limit.max_votes} votes per account in "
                    f"{self.limit.window_hours:g} h); try again later",
                )

    def record(self, vote: Any) -> None:
        """Count ``vote`` (after :meth:`check` passed)."""
        self._times.setdefault(vote.user, deque()).append(_seconds(vote.time))
        self._battles.add((vote.user, *vote.battle))

    def admit(self, vote: Any) -> bool:
        """Count ``vote`` if it may count; whether it did."""
        try:
            self.check(vote)
        except VoteLimitError:
            return False
        self.record(vote)
        return True


def counted_votes(votes: Sequence[Any], limit: VoteLimit | None) -> list:
    """The votes that count under ``limit`` (all of them when ``limit`` is ``None``), in time order."""
    ordered = sorted(votes, key=lambda v: v.time)
    if limit is None:
        return ordered
    ledger = VoteLedger(limit)
    return [v for v in ordered if ledger.admit(v)]


def _matrices(a: np.ndarray, b: np.ndarray, winner: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    score_a = np.select([winner == "a", winner == "b", winner == "tie"], [1.0, 0.0, 0.5], default=np.nan)
    used = ~np.isnan(score_a)
    a, b, score_a = a[used], b[used], score_a[used]
    wins = np.zeros(k * k)
    np.add.at(wins, a * k + b, score_a)
    np.add.at(wins, b * k + a, 1.0 - score_a)
    games = np.zeros(k * k)
    np.add.at(games, a * k + b, 1.0)
    np.add.at(games, b * k + a, 1.0)
    return wins.reshape(k, k), games.reshape(k, k)


def _log_likelihood(theta: np.ndarray, wins: np.ndarray, prior: float) -> float:
    diff = theta[:, None] - theta[None, :]
    value = float(np.sum(wins * -np.logaddexp(0.0, -diff)))
    # prior: half a win and half a loss against a reference of log-strength 0, ``prior`` times
    return value - prior / 2 * float(np.sum(np.logaddexp(0.0, -theta) + np.logaddexp(0.0, theta)))


def fit_strengths(
    wins: np.ndarray, games: np.ndarray, *, prior: float = 0.5, iterations: int = 100, tol: float = 1e-10
) -> np.ndarray:
    """Bradley–Terry log-strengths (mean zero), maximum likelihood from ``wins[i, j]`` / ``games[i, j]``.

    The log-likelihood is concave, so Newton's method with backtracking converges in a few steps (the
    MM algorithm gives the same optimum but needs thousands of iterations for close systems). With
    ``prior > 0`` every system also plays ``prior`` virtual ties against a fixed reference of
    log-strength 0, which keeps the fit finite for undefeated or winless systems.
    """
    k = wins.shape[0]
    theta = np.zeros(k)
    current = _log_likelihood(theta, wins, prior)
    for _ in range(iterations):
        s = 1.0 / (1.0 + np.exp(theta[None, :] - theta[:, None]))  # P(i beats j)
        r = 1.0 / (1.0 + np.exp(-theta))  # P(i beats the reference)
        grad = wins.sum(axis=1) - (games * s).sum(axis=1) + prior * (0.5 - r)
        weight = games * s * (1.0 - s)
        hessian = weight - np.diag(weight.sum(axis=1) + prior * r * (1.0 - r))
        # the fit is shift-invariant without a prior: the minimum-norm step keeps the mean fixed
        step = np.linalg.lstsq(hessian, -grad, rcond=None)[0]
        scale = 1.0
        while scale > 1e-8:
            candidate = theta + scale * step
            value = _log_likelihood(candidate, wins, prior)
            if value >= current - 1e-12:
                break
            scale /= 2
        theta, improvement, current = candidate, value - current, value
        if np.max(np.abs(scale * step)) < tol or improvement < tol * 1e-3:
            break
    return theta - theta.mean()


def to_rating(log_strength: np.ndarray) -> np.ndarray:
    """Log-strengths on the Elo scale (1000 = the geometric-mean system, +400 = 10× the odds)."""
    return 1000.0 + 400.0 * np.asarray(log_strength) / np.log(10.0)


def bradley_terry(
    votes: Sequence[Vote],
    *,
    bootstrap: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
    prior: float = 0.5,
):
    """Rank the systems of ``votes``: a DataFrame with :data:`RANKING_COLUMNS`, best first.

    ``CI low`` / ``CI high`` are the percentile bootstrap interval of the rating (``bootstrap`` vote
    resamples from ``numpy.random.default_rng(seed)``; NaN when ``bootstrap=0``).
    """
    import pandas as pd

    systems = sorted({v.system_a for v in votes} | {v.system_b for v in votes})
    if not systems:
        return pd.DataFrame(columns=RANKING_COLUMNS)
    index = {s: i for i, s in enumerate(systems)}
    k = len(systems)
    a = np.array([index[v.system_a] for v in votes], dtype=np.int64)
    b = np.array([index[v.system_b] for v in votes], dtype=np.int64)
    winner = np.array([v.winner for v in votes])
    rating = to_rating(fit_strengths(*_matrices(a, b, winner, k), prior=prior))

    low = high = np.full(k, np.nan)
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        samples = np.empty((bootstrap, k))
        for r in range(bootstrap):
            pick = rng.integers(0, len(votes), len(votes))
            samples[r] = to_rating(fit_strengths(*_matrices(a[pick], b[pick], winner[pick], k), prior=prior))
        alpha = (1.0 - confidence) / 2
        low, high = np.quantile(samples, alpha, axis=0), np.quantile(samples, 1 - alpha, axis=0)

    stats = {s: {"Votes": 0, "Wins": 0, "Losses": 0, "Ties": 0, "Both bad": 0} for s in systems}
    for vote in votes:
        for me, side in ((vote.system_a, "a"), (vote.system_b, "b")):
            row = stats[me]
            row["Votes"] += 1
            if vote.winner == "tie":
                row["Ties"] += 1
            elif vote.winner == "both_bad":
                row["Both bad"] += 1
            else:
                row["Wins" if vote.winner == side else "Losses"] += 1
    frame = pd.DataFrame(
        [
            {"System": s, "Rating": rating[i], "CI low": low[i], "CI high": high[i], **stats[s]}
            for i, s in enumerate(systems)
        ]
    )
    frame = frame.sort_values(["Rating", "System"], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )
    frame.insert(0, "Rank", range(1, len(frame) + 1))
    return frame[RANKING_COLUMNS]
