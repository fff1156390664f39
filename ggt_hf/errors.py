"""Typed exceptions, one per failure family.

Every error carries the ``item`` it is about (a path, an id, a row) and a human-readable
``reason``. Per-item failures are recorded and the run goes on; only programming errors abort.
"""

from __future__ import annotations

from ggt_hf.files.io_utils import path_text, printable


class GGTError(Exception):
    """Base class of every ggt-hf error about an item."""

    def __init__(self, item: object, reason: str) -> None:
        self.item = path_text(str(item))  # a non-UTF-8 file name is named with its bytes escaped
        self.reason = reason
        # shown with control characters escaped: a name holding a newline cannot forge a line
        super().__init__(f"{printable(self.item)}: {reason}")


class BadImageError(GGTError):
    """A file that cannot be used as an image (corrupt, not an image, too small, a bomb, ...)."""


class UnsafePathError(GGTError):
    """A folder entry refused while walking: a symlink loop or one leaving the folder, a name that is
    not UTF-8, an unreadable folder, a non-regular file (see :mod:`ggt_hf.files.walk`).

    ``path`` keeps the entry as found (``item`` is its printable name)."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path


class DuplicateError(GGTError):
    """An item that duplicates (exactly or perceptually) one already accepted."""


class PairingError(GGTError):
    """An LQ/HQ pair that cannot be formed (missing partner, size mismatch, duplicate id)."""


class LeakageError(GGTError):
    """A test item that also appears (exactly or perceptually) in the train split."""


class DatasetValidationError(GGTError):
    """A packed dataset folder that does not match the GGT schema or its card."""


class UsageError(GGTError):
    """A command-line argument or config value that cannot work; raised before any work is done."""


class ModelConfigError(UsageError):
    """A model config (``config.json``, overrides) with a field or a total size out of its bounds;
    raised before anything is allocated."""


class BadWeightsError(UsageError):
    """A weights file that cannot be what it claims: a safetensors header that is malformed, declares
    more data than the file holds, or tensors that do not match the model (names the tensor and shape)."""


class CheckpointError(UsageError):
    """A training checkpoint that cannot be resumed safely: a state file missing, unreadable, or
    holding more than tensors and plain data (a pickle that could run code is never executed)."""


class UnknownNameError(UsageError, KeyError):
    """A name (metric, restorer, category, ...) that is not in its registry; the reason lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return f"{printable(self.item)}: {self.reason}"


class NetworkUnavailableError(GGTError):
    """A remote service (the Hub, an API) that the command needs cannot be reached."""


class MissingExtraError(ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package!r} is not installed; install it with: pip install 'ggt-hf[{extra}]'")
