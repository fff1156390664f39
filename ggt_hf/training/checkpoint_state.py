"""The loop's own state in a checkpoint (scheduler, counters, EMA), read back as plain data only.

accelerate's ``register_for_checkpointing`` writes ``custom_checkpoint_<i>.pkl`` and reads it back
with ``torch.load(weights_only=False)``, so a checkpoint folder from elsewhere (a shared drive, a
download, a colleague's run) could run code on resume. These objects are saved and loaded here
instead, as ``loop_state_<i>.pt``: written with ``torch.save``, read with
``torch.load(weights_only=True)``, which builds only tensors, numbers, strings and plain containers
(``dict``, ``list``, ``OrderedDict``, ``Counter``, ...). Any other object is refused with
:class:`~ggt_hf.errors.CheckpointError` naming the file, and nothing of it is executed. A folder
holding a ``custom_checkpoint_*.pkl`` (which accelerate would unpickle) is refused too. Every file is
read before any state is changed.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch

from ggt_hf.errors import CheckpointError

#: The ``index``-th loop object's state in a checkpoint folder.
LOOP_STATE = "loop_state_{index}.pt"
#: accelerate's pickled custom states, which it loads with ``weights_only=False``.
ACCELERATE_PICKLES = "custom_checkpoint_*.pkl"


class Stateful(Protocol):
    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any) -> Any: ...


def state_path(folder: str | Path, index: int) -> Path:
    """Where the ``index``-th object's state lives in checkpoint ``folder``."""
    return Path(folder) / LOOP_STATE.format(index=index)


def save_states(accelerator, folder: str | Path, objects: Sequence[Stateful]) -> None:
    """Write each object's ``state_dict`` into ``folder`` (main process; the others wait)."""
    if accelerator.is_main_process:
        for index, obj in enumerate(objects):
            torch.save(obj.state_dict(), state_path(folder, index))
    accelerator.wait_for_everyone()


def read_state(path: Path) -> Any:
    """One saved state, weights-only; :class:`CheckpointError` naming ``path`` otherwise."""
    if not path.is_file():
        raise CheckpointError(path, "missing: this checkpoint cannot restore the scheduler, counters and EMA")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            path,
            "holds objects other than tensors and plain data (a pickle that could run code): refused "
            "unexecuted; resume from a checkpoint ggt-hf wrote, or start the run over",
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(
            path, f"unreadable ({type(exc).__name__}): not a checkpoint state file"
        ) from None


def read_states(folder: str | Path, count: int) -> list[Any]:
    """The first ``count`` saved states of ``folder``, all read (and checked) before any is applied."""
    pickles = sorted(Path(folder).glob(ACCELERATE_PICKLES))
    if pickles:
        raise CheckpointError(
            pickles[0],
            "a pickled state (accelerate's custom-object format, which it unpickles with "
            "weights_only=False) is never loaded: this checkpoint cannot be resumed safely; resume from "
            "one this version of ggt-hf wrote, or start the run over",
        )
    return [read_state(state_path(folder, index)) for index in range(count)]


def apply_states(objects: Sequence[Stateful], states: Sequence[Any]) -> None:
    """``load_state_dict`` of each object with its state (from :func:`read_states`)."""
    for obj, state in zip(objects, states, strict=True):
        obj.load_state_dict(state)
