"""Blind pairwise comparisons: sample two systems' outputs of one LQ image, record the vote.

Layout read: ``<outputs_dir>/<system>/<id>.<ext>`` (one folder per system) and
``<lq_dir>/<id>.<ext>`` (or ``<lq_dir>/<category>/<id>.<ext>``). The LQ folder may sit inside the
outputs folder (``<outputs_dir>/lq``, the Space's default): it is the pair's input, never a system.
A pair is drawn among the ids that
at least two systems have; which system is shown left or right is random. The UI receives only a
random token and three image paths (copies under neutral names, so not even a file name reveals a
system); the token → (id, left system, right system) mapping stays in this object, server-side, and a
token is consumed by its vote (single use, expires after ``ttl_seconds``).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ggt_hf.constants import IMAGE_EXTENSIONS
from ggt_hf.leaderboard.votes import InvalidVoteError, Vote, VoteStore

logger = logging.getLogger(__name__)

#: What the UI may send as a choice, mapped to the stored winner given the display order.
CHOICES: tuple[str, ...] = ("left", "right", "tie", "both_bad")


@dataclass(frozen=True)
class ArenaPair:
    """What the UI shows: a token and anonymous image paths (no system names)."""

    token: str
    pair_id: str
    lq: Path
    left: Path
    right: Path


@dataclass(frozen=True)
class _Pending:
    pair_id: str
    left: str
    right: str
    created: float


def _images(folder: Path, recursive: bool) -> dict[str, Path]:
    pattern = "**/*" if recursive else "*"
    return {
        p.stem: p
        for p in sorted(folder.glob(pattern))
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    }


class Arena:
    """Blind pair sampler and vote recorder over a folder of systems' outputs."""

    def __init__(
        self,
        outputs_dir: str | os.PathLike,
        lq_dir: str | os.PathLike,
        *,
        votes: VoteStore | None = None,
        ttl_seconds: float = 3600.0,
        serve_dir: str | os.PathLike | None = None,
    ) -> None:
        self.outputs_dir = Path(outputs_dir)
        self.lq = _images(Path(lq_dir), recursive=True)
        lq_folder = Path(lq_dir).resolve()
        self.outputs = {
            d.name: _images(d, recursive=False)
            for d in sorted(self.outputs_dir.iterdir())
            if d.is_dir() and not d.name.startswith(".") and d.resolve() != lq_folder
        }
        self.votes = votes
        self.ttl_seconds = ttl_seconds
        self.serve_dir = Path(serve_dir or tempfile.mkdtemp(prefix="ggt-arena-"))
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        #: id → systems that have an output for it (ids need an LQ image and at least two systems)
        self.candidates = {
            image_id: [s for s, files in self.outputs.items() if image_id in files] for image_id in self.lq
        }
        self.candidates = {i: s for i, s in self.candidates.items() if len(s) >= 2}

    @property
    def systems(self) -> list[str]:
        """The systems with at least one output."""
        return [s for s, files in self.outputs.items() if files]

    @property
    def ids(self) -> list[str]:
        """The LQ ids a pair can be drawn for."""
        return sorted(self.candidates)

    def _serve(self, token: str, name: str, source: Path) -> Path:
        """A copy of ``source`` under a neutral name (the original path names the system)."""
        target = self.serve_dir / token / f"{name}{source.suffix.lower()}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return target

    def sample(self, rng: np.random.Generator | None = None) -> ArenaPair:
        """A blind pair: a random id, two different random systems in random display order."""
        if not self.candidates:
            raise InvalidVoteError(self.outputs_dir, "no LQ id has outputs from at least two systems")
        rng = rng or np.random.default_rng()
        ids = self.ids
        pair_id = ids[int(rng.integers(len(ids)))]
        left, right = (str(s) for s in rng.choice(self.candidates[pair_id], size=2, replace=False))
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._expire()
            self._pending[token] = _Pending(pair_id, left, right, time.monotonic())
        return ArenaPair(
            token=token,
            pair_id=pair_id,
            lq=self._serve(token, "input", self.lq[pair_id]),
            left=self._serve(token, "left", self.outputs[left][pair_id]),
            right=self._serve(token, "right", self.outputs[right][pair_id]),
        )

    def _expire(self) -> None:
        cutoff = time.monotonic() - self.ttl_seconds
        for token in [t for t, p in self._pending.items() if p.created < cutoff]:
            del self._pending[token]
            shutil.rmtree(self.serve_dir / token, ignore_errors=True)

    def reveal(self, token: str) -> tuple[str, str]:
        """(left system, right system) of a token not yet voted on (for after-vote display)."""
        with self._lock:
            pending = self._pending.get(token)
        if pending is None:
            raise InvalidVoteError(token, "unknown or expired pair token")
        return pending.left, pending.right

    def vote(self, token: str, choice: str, user: str = "anonymous") -> Vote:
        """Record ``choice`` (``left`` / ``right`` / ``tie`` / ``both_bad``) for the pair of ``token``.

        The token is consumed; the stored vote names the systems (``system_a`` = the left one).
        """
        if choice not in CHOICES:
            raise InvalidVoteError(token, f"choice must be one of {CHOICES}, got {choice!r}")
        with self._lock:
            pending = self._pending.pop(token, None)
        if pending is None:
            raise InvalidVoteError(token, "unknown, expired or already used pair token")
        shutil.rmtree(self.serve_dir / token, ignore_errors=True)
        winner = {"left": "a", "right": "b"}.get(choice, choice)
        vote = Vote(pending.pair_id, pending.left, pending.right, winner, user=user)
        if self.votes is not None:
            self.votes.add(vote)
        return vote
