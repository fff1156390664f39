"""Which restorer made each output of ``ggt restore``: a small sidecar in the output folder.

``ggt restore`` skips outputs that exist, so re-running resumes. Re-running with ANOTHER model into
the same folder must not keep the first model's files as if they were the second's: every written
output is recorded as one line of ``.ggt_restore.jsonl`` (``{"output": <path relative to the
folder>, "restorer": <identity>}``, the :attr:`~ggt_hf.restore.restorer.Restorer.identity`: the
restorer's name and every option that changes its outputs, see :mod:`ggt_hf.restore.identity`), appended, the last line of an output wins, a torn last line is
ignored) and :func:`mismatches` lists the existing outputs that were made by another restorer (or
by an unknown one: no record) before any work starts.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

SIDECAR = ".ggt_restore.jsonl"


#: Who made an existing output with no record: not ggt restore (the user's, or an older ggt's).
UNRECORDED = "unknown (no record)"


class RestoreProvenance:
    """The sidecar of one output folder."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / SIDECAR
        self.made_by: dict[str, str] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                    self.made_by[entry["output"]] = entry["restorer"]
                except (ValueError, KeyError, TypeError):
                    logger.debug("%s: ignoring an unreadable line", self.path)

    def _key(self, output: Path) -> str:
        return Path(os.path.relpath(output, self.folder)).as_posix()

    def mismatches(self, outputs: Iterable[Path], identity: str) -> dict[Path, str]:
        """Existing ``outputs`` not made by ``identity`` → who made them (``"unknown"`` without a record)."""
        found = {}
        for output in outputs:
            if output.exists():
                maker = self.made_by.get(self._key(output), UNRECORDED)
                if maker != identity:
                    found[output] = maker
        return found

    def record(self, output: Path, identity: str) -> None:
        """Append that ``identity`` made ``output`` (call after the output was written)."""
        key = self._key(output)
        self.made_by[key] = identity
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"output": key, "restorer": identity}) + "\n")
