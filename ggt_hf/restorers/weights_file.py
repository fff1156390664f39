"""Checking a ``model.safetensors`` header against its own size and the model, before loading.

A safetensors file starts with an 8-byte little-endian header length and a JSON header mapping
each tensor name to ``dtype``, ``shape`` and ``data_offsets``. A header can claim anything (a shape
of 10^14, offsets past the end of the file); :func:`check_weights_file` reads only the header and
refuses, as a :class:`~ggt_hf.errors.BadWeightsError` naming the file, the tensor and its shape,
a header that is malformed, declares more data than the file holds, or does not match the model
it is meant for. Nothing is allocated for the tensors before that check passes.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ggt_hf.errors import BadWeightsError

#: The safetensors format caps its header at 100 MB; a restorer's is a few hundred kB.
MAX_HEADER_BYTES = 100_000_000

#: Bytes per element of each safetensors dtype.
DTYPE_BYTES: dict[str, int] = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
    "C64": 8,
}


@dataclass(frozen=True)
class TensorEntry:
    """One tensor as its header declares it."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


def _shape(value: object) -> tuple[int, ...] | None:
    if not isinstance(value, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in value):
        return None
    return tuple(value) if all(d >= 0 for d in value) else None


def _entry(path: str, name: str, raw: object, data_bytes: int) -> TensorEntry:
    """One header entry, checked on its own: dtype, shape, offsets within the data."""
    if not isinstance(raw, dict):
        raise BadWeightsError(path, f"tensor {name!r}: its header entry is not an object")
    dtype, shape, offsets = raw.get("dtype"), _shape(raw.get("shape")), raw.get("data_offsets")
    if dtype not in DTYPE_BYTES:
        raise BadWeightsError(path, f"tensor {name!r}: unknown dtype {str(dtype)[:20]!r}")
    if shape is None:
        raise BadWeightsError(
            path, f"tensor {name!r}: shape {str(raw.get('shape'))[:60]} is not a list of sizes"
        )
    ok = isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
    if not ok or not 0 <= offsets[0] <= offsets[1]:
        raise BadWeightsError(path, f"tensor {name!r}: data_offsets {str(offsets)[:60]} are not [start, end]")
    nbytes = math.prod(shape) * DTYPE_BYTES[dtype]
    if nbytes > data_bytes or offsets[1] > data_bytes:
        raise BadWeightsError(
            path,
            f"tensor {name!r} declares shape {list(shape)} ({dtype}, {nbytes:,} bytes) but the file "
            f"holds {data_bytes:,} bytes of data: not a valid weights file",
        )
    if offsets[1] - offsets[0] != nbytes:
        raise BadWeightsError(
            path,
            f"tensor {name!r}: shape {list(shape)} ({dtype}) needs {nbytes:,} bytes, its offsets span "
            f"{offsets[1] - offsets[0]:,}",
        )
    return TensorEntry(name, dtype, shape, offsets[0], offsets[1])


def read_header(path: str | os.PathLike[str]) -> dict[str, TensorEntry]:
    """The tensors a safetensors file declares, each checked against the file's size."""
    path = os.fspath(path)
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        prefix = fh.read(8)
        if len(prefix) < 8:
            raise BadWeightsError(path, f"{size} bytes: too short for a safetensors file")
        (length,) = struct.unpack("<Q", prefix)
        if length > min(MAX_HEADER_BYTES, size - 8):
            raise BadWeightsError(
                path,
                f"header length {length:,} is past the end of the file or over {MAX_HEADER_BYTES:,} bytes",
            )
        try:
            header = json.loads(fh.read(length))
        except (ValueError, UnicodeDecodeError):
            raise BadWeightsError(path, "the safetensors header is not valid JSON") from None
    if not isinstance(header, dict):
        raise BadWeightsError(path, "the safetensors header is not a JSON object")
    data_bytes = size - 8 - length
    return {
        name: _entry(path, name, raw, data_bytes) for name, raw in header.items() if name != "__metadata__"
    }


def check_weights_file(
    path: str | os.PathLike[str], expected: Mapping[str, Sequence[int]] | None = None, strict: bool = True
) -> dict[str, TensorEntry]:
    """Check ``path``'s header (see the module doc); with ``expected`` (name → shape, e.g. a meta
    model's ``state_dict``), every tensor the model has must have its shape, and with ``strict`` the
    file may hold no tensor the model lacks (missing ones, e.g. tied weights saved once, are left to
    the loader). Returns the declared tensors."""
    entries = read_header(path)
    if expected is None:
        return entries
    for name, entry in entries.items():
        want = expected.get(name)
        if want is not None and tuple(want) != entry.shape:
            raise BadWeightsError(
                path, f"tensor {name!r} has shape {list(entry.shape)}, the model's is {list(want)}"
            )
    unexpected = sorted(set(entries) - set(expected))
    if strict and unexpected:
        more = f" and {len(unexpected) - 3} more" if len(unexpected) > 3 else ""
        raise BadWeightsError(
            os.fspath(path),
            f"tensors {', '.join(map(repr, unexpected[:3]))}{more} are not in this model (its config.json "
            "does not match the weights)",
        )
    return entries
