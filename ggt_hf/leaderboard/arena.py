"""Blind pairwise comparisons: sample two systems' outputs of one LQ image, record the vote.

Layout read: ``<outputs_dir>/<system>/<id>.<ext>`` (one folder per system) and
``<lq_dir>/<id>.<ext>`` (or ``<lq_dir>/<category>/<id>.<ext>``). The LQ folder may sit inside the
outputs folder (``<outputs_dir>/lq``, the Space's default): it is the pair's input, never a system.
A pair is drawn among the ids that at least two systems have; which system is shown left or right
is random. The token → (id, left system, right system) mapping stays in this object, server-side,
and a token is consumed by its vote (single use, expires after ``ttl_seconds``; at most
``max_pending`` pairs are open at once, the oldest is dropped first).

**Blindness.** The UI receives only a random token and three image paths. Each served image is a
fresh copy (:func:`blind_copy`): decoded, a seeded-random ±1 change applied to about 1 in 64 pixel
values (invisible, PSNR ≈ 66 dB), re-encoded as a metadata-free PNG, so two serves of one output
never share bytes (nor a pixel hash) and hashing the images after one reveal de-anonymises nothing.
Copies live under ``serve_dir/<random folder>/{input,left,right}.png``: no system name in any path.
The store itself (``outputs_dir``) is never handed out, so a server must not serve it (the Space
blocks it).

**Limits.** With a :class:`~ggt_hf.leaderboard.votes.VoteLimit`, each account's votes count at most
``max_votes`` per window and once per battle (image + the two systems); votes past it raise
:class:`~ggt_hf.leaderboard.votes.VoteLimitError` and are not stored. A pair for a known account
avoids battles it has already judged.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ggt_hf.constants import IMAGE_EXTENSIONS
from ggt_hf.leaderboard.votes import InvalidVoteError, Vote, VoteLedger, VoteLimit, VoteStore

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


#: About one pixel value in this many gets a ±1 change in a served copy.
BLIND_STRIDE = 64


def blind_copy(source: Path, target: Path, rng: np.random.Generator | None = None) -> Path:
    """Write ``source`` to ``target`` as a PNG no other serve of it matches byte for byte: RGB, a
    random ±1 change on ~1/:data:`BLIND_STRIDE` of the pixel values (at least one), no metadata."""
    from PIL import Image

    rng = rng or np.random.default_rng(secrets.randbits(64))
    with Image.open(source) as img:
        pixels = np.array(img.convert("RGB"), dtype=np.uint8)
    flat = pixels.reshape(-1)
    count = max(1, flat.size // BLIND_STRIDE)
    where = rng.choice(flat.size, size=min(count, flat.size), replace=False)
    step = rng.choice(np.array([-1, 1], dtype=np.int16), size=where.size)
    values = flat[where].astype(np.int16)
    step = np.where(values == 0, 1, np.where(values == 255, -1, step))
    flat[where] = (values + step).astype(np.uint8)
    target.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(target, format="PNG", compress_level=1)
    return target


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
        vote_limit: VoteLimit | None = None,
        max_pending: int = 256,
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
        if serve_dir is None:  # our own temporary folder: removed with this object
            serve_dir = tempfile.mkdtemp(prefix="ggt-arena-")
            weakref.finalize(self, shutil.rmtree, serve_dir, True)
        self.serve_dir = Path(serve_dir)
        self.vote_limit = vote_limit
        self.max_pending = max(1, max_pending)
        self._ledger: VoteLedger | None = None
        self._pending: dict[str, Any] = {}
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

    def _folder(self, token: str) -> Path:
        """The served copies' folder of ``token`` (derived from it, so it does not reveal it)."""
        return self.serve_dir / hashlib.sha256(token.encode()).hexdigest()[:20]

    def _serve(self, token: str, name: str, source: Path) -> Path:
        """A blind copy of ``source`` under a neutral name (:func:`blind_copy`)."""
        return blind_copy(source, self._folder(token) / f"{name}.png")

    def _drop(self, token: str) -> None:
        self._pending.pop(token, None)
        shutil.rmtree(self._folder(token), ignore_errors=True)

    def _open(self, token: str, pending: Any) -> None:
        """Register a pending pair/round (expiring stale ones, dropping the oldest past the cap)."""
        with self._lock:
            self._expire()
            while len(self._pending) >= self.max_pending:
                self._drop(next(iter(self._pending)))
            self._pending[token] = pending

    def _draw(self, rng: np.random.Generator, user: str | None) -> tuple[str, str, str]:
        ids = self.ids
        for _ in range(32):  # prefer a battle this account has not judged yet
            pair_id = ids[int(rng.integers(len(ids)))]
            left, right = (str(s) for s in rng.choice(self.candidates[pair_id], size=2, replace=False))
            if user is None or not self._judged(user, Vote(pair_id, left, right, "tie", user=user).battle):
                break
        return pair_id, left, right

    def _judged(self, user: str, battle: tuple[str, ...]) -> bool:
        with self._lock:
            ledger = self._ledger_locked()
            return ledger is not None and ledger.judged(user, battle)

    def _ledger_locked(self) -> VoteLedger | None:
        """The vote ledger, built from the stored votes on first use (call under ``_lock``)."""
        if self.vote_limit is None:
            return None
        if self._ledger is None:
            self._ledger = VoteLedger(self.vote_limit)
            for vote in sorted(self.votes.votes() if self.votes is not None else [], key=lambda v: v.time):
                self._ledger.admit(vote)
        return self._ledger

    def _count(self, vote: Any) -> Any:
        """Store ``vote`` if its account may still vote (:class:`VoteLimitError` otherwise)."""
        with self._lock:
            ledger = self._ledger_locked()
            if ledger is not None:
                ledger.check(vote)
                ledger.record(vote)
        if self.votes is not None:
            self.votes.add(vote)
        return vote

    def sample(self, rng: np.random.Generator | None = None, user: str | None = None) -> ArenaPair:
        """A blind pair: a random id, two different random systems in random display order
        (for ``user``, a battle that account has not judged yet when there is one)."""
        if not self.candidates:
            raise InvalidVoteError(self.outputs_dir, "no LQ id has outputs from at least two systems")
        rng = rng or np.random.default_rng()
        pair_id, left, right = self._draw(rng, user)
        token = secrets.token_urlsafe(16)
        self._open(token, _Pending(pair_id, left, right, time.monotonic()))
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
            self._drop(token)

    def close(self) -> None:
        """Forget every open pair and remove their served copies."""
        with self._lock:
            for token in list(self._pending):
                self._drop(token)

    def reveal(self, token: str) -> tuple[str, str]:
        """(left system, right system) of a token not yet voted on (for after-vote display)."""
        with self._lock:
            pending = self._pending.get(token)
        if pending is None:
            raise InvalidVoteError(token, "unknown or expired pair token")
        return pending.left, pending.right

    def vote(self, token: str, choice: str, user: str = "anonymous") -> Vote:
        """Record ``choice`` (``left`` / ``right`` / ``tie`` / ``both_bad``) for the pair of ``token``.

        The token is consumed (also when the vote is past the account's limit and not counted:
        :class:`~ggt_hf.leaderboard.votes.VoteLimitError`); the stored vote names the systems
        (``system_a`` = the left one).
        """
        if choice not in CHOICES:
            raise InvalidVoteError(token, f"choice must be one of {CHOICES}, got {choice!r}")
        with self._lock:
            pending = self._pending.get(token)
            if isinstance(pending, _Pending):
                self._drop(token)
        if not isinstance(pending, _Pending):
            raise InvalidVoteError(token, "unknown, expired or already used pair token")
        winner = {"left": "a", "right": "b"}.get(choice, choice)
        return self._count(Vote(pending.pair_id, pending.left, pending.right, winner, user=user))
