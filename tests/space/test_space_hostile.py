"""Hostile-calls drill: M hostile calls to the served Space through gradio_client (server paths,
traversal, oversize and broken uploads, bad ids and tokens) are all refused, nothing leaks, nothing
is queued, and the server still answers a normal restore afterwards. Run with ``-s`` to see the
figure (``hostile drill: M/M refused ...``)."""

from __future__ import annotations

import io
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from gradio_client import handle_file  # noqa: E402

from ggt_hf.space.examples import example_paths  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")

#: What must never appear in an answer (contents of files on the server).
LEAKS = ("root:x:0:0", "hf_SECRET", "BEGIN OPENSSH")


def _huge_png(side: int = 12_000) -> bytes:
    """A valid PNG header declaring side×side pixels (tiny on disk: a decompression bomb)."""
    row = b"\x00" + b"\x00" * side
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def _files(tmp_path: Path) -> dict[str, Path]:
    """Hostile uploads written to disk."""
    server_model = tmp_path / "server-model"
    server_model.mkdir()
    (server_model / "config.json").write_text('{"model_type": "nafnet", "token": "hf_SECRET_x"}')
    (server_model / "model.safetensors").write_bytes(b"\0" * 64)
    out = {"server_model": server_model}
    one = io.BytesIO()
    Image.new("RGB", (1, 1)).save(one, format="PNG")
    full = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(full, format="PNG")
    payloads = {
        "one.png": one.getvalue(),
        "truncated.png": full.getvalue()[:60],
        "script.png": b"#!/bin/sh\ncat /etc/passwd\n",
        "empty.png": b"",
        "bomb.png": _huge_png(),
        "notzip.zip": b"PK\x03\x04 not really a zip",
    }
    for name, data in payloads.items():
        (tmp_path / name).write_bytes(data)
        out[name] = tmp_path / name
    return out


def _hostile_calls(files: dict[str, Path]) -> list[tuple[str, tuple, str]]:
    """(label, predict args, api name) of every hostile call."""
    model_ids = [
        "/etc",
        "/root",
        str(Path.home()),
        str(files["server_model"]),
        "../../etc/passwd",
        "~/.ssh",
        "file:///etc/passwd",
        "http://127.0.0.1:1/model",
        "C:\\Windows\\System32",
        "a/b/c",
        "user/" + "x" * 5000,
        "nafnet",
        "user/name\n/etc",
        "",
    ]
    calls = [(f"submit_model {m[:30]!r}", (m,), "/submit_model") for m in model_ids]
    calls += [
        (f"restore {name}", (handle_file(str(files[name])), "classical"), "/restore")
        for name in ("one.png", "truncated.png", "script.png", "empty.png", "bomb.png")
    ]
    photo = handle_file(example_paths()[0])
    calls += [
        (f"restore restorer {r!r}", (photo, r), "/restore")
        for r in ("model:../../etc", "diffusers:evil/model", "gemini", "classical; rm -rf /")
    ]
    server_file = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}
    calls.append(("restore server path /etc/passwd", (server_file, "classical"), "/restore"))
    calls += [
        (f"request_status {r!r}", (r,), "/request_status")
        for r in ("../../etc/passwd", "/etc/passwd", "..", "")
    ]
    calls.append(
        (
            "submit_predictions not a zip",
            (handle_file(str(files["notzip.zip"])), "m", ""),
            "/submit_predictions",
        )
    )
    calls += [
        ("vote bad token", ("no-such-token", "A"), "/vote"),
        ("vote bad choice", ("x", "DROP TABLE"), "/vote"),
    ]
    return calls


def test_hostile_calls_are_all_refused_and_the_server_keeps_answering(
    space_config, store, serve, tmp_path: Path
) -> None:
    _, client = serve(space_config, store)
    calls = _hostile_calls(_files(tmp_path))
    refused, accepted = [], []
    start = time.perf_counter()
    for label, args, api_name in calls:
        try:
            answer = client.predict(*args, api_name=api_name)
        except Exception as exc:  # AppError (gr.Error) or a refused upload / payload
            message = str(exc)
            assert not any(leak in message for leak in LEAKS), (label, message)
            assert len(message) < 2500, (label, len(message))
            refused.append((label, message.strip().splitlines()[-1][:110] if message.strip() else ""))
        else:
            accepted.append((label, answer))
    seconds = time.perf_counter() - start
    assert accepted == [], accepted
    assert not store.requests("PENDING") and not store.requests("RUNNING")
    # still answering, and a normal restore still works
    assert client.predict(api_name="/restorers")[0] == "classical"
    _, result, _, _ = client.predict(handle_file(example_paths()[0]), "classical", api_name="/restore")
    assert Path(result).is_file()
    print(f"\nhostile drill: {len(refused)}/{len(calls)} refused in {seconds:.1f} s, server still answering")
    for label, reason in refused:
        print(f"  {label}: {reason}")
