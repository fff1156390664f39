"""The Space loads its default path (classical restorer, torch, pyiqa, the NR metric engine) before
its server accepts a request: the first visitor's restore never runs beside those imports (seconds
that hold the GIL; beside them the first restore took up to 3× the library call)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from ggt_hf.pipeline.demo import sample_dir  # noqa: E402
from ggt_hf.space import SpaceConfig  # noqa: E402
from ggt_hf.space.restoration import RestoreService  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")
#: Modules the warm-up loads; none may be imported while the first restore is served (matplotlib:
#: Gradio's event handler imports it on the first event).
WARM_UP_MODULES = re.compile(r"^(ggt_hf|torch|torchvision|pyiqa|timm|cv2|scipy|numpy|PIL|matplotlib)(\.|$)")


def test_warm_up_loads_the_default_path_in_the_calling_thread() -> None:
    service = RestoreService(SpaceConfig(warm_up=False, metrics=["piqe"]))
    assert not service.warm
    threads = threading.active_count()
    service.warm_up()
    assert service.warm and threading.active_count() == threads  # done here, no thread left behind
    assert "classical" in service._restorers
    engine, skipped = service._engine, service._skipped
    assert engine is not None and "piqe" in engine._fns  # created and run once
    service.warm_up()  # idempotent: nothing rebuilt
    assert service._engine is engine and service._skipped is skipped


def test_the_server_accepts_requests_only_once_the_default_path_is_loaded(
    monkeypatch, space_config, store, serve, tmp_path: Path
) -> None:
    """Before: the warm-up ran in a thread started next to the server, which accepted requests at
    once; the first visitor's restore ran beside the warm-up's imports."""
    from ggt_hf.space import restoration

    events: list[str] = []
    launched = threading.Event()
    real_launch, real_make = gr.Blocks.launch, restoration.make_restorer

    def launch(self, *args, **kwargs):
        events.append("server accepts requests")
        launched.set()
        return real_launch(self, *args, **kwargs)

    def slow_make(choice, options):  # a warm-up step that is still running when the server starts?
        launched.wait(2.0)
        events.append(f"warm-up loaded {choice}")
        return real_make(choice, options)

    monkeypatch.setattr(gr.Blocks, "launch", launch)
    monkeypatch.setattr(restoration, "make_restorer", slow_make)
    space_config.warm_up = True
    app, client = serve(space_config, store)
    assert events == ["warm-up loaded classical", "server accepts requests"]
    assert app.ggt_services["restore"].warm
    source = _dark_photo(tmp_path / "dark_chelsea.png")
    _, _, deltas, _ = client.predict(gradio_client.handle_file(str(source)), "classical", api_name="/restore")
    assert [row[0] for row in deltas["data"]] == ["PIQE"]  # the first answer has its deltas
    assert events == ["warm-up loaded classical", "server accepts requests"]  # nothing built in it


def _dark_photo(path: Path) -> Path:
    Image.fromarray(np.asarray(Image.open(sample_dir() / "chelsea.png").convert("RGB")) // 4).save(path)
    return path


@pytest.mark.slow
def test_the_first_restore_after_a_cold_start_imports_nothing_and_is_complete(
    tmp_path: Path, port: int
) -> None:
    """``python spaces/app.py`` (default config, offline) is asked to restore right after its server
    answers: the first answer carries the right image and the NR deltas, and no module of the
    warm-up (ggt_hf, torch, pyiqa, timm, ...) is imported while it is served."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GGT_SPACE_STORE": str(tmp_path / "store"),
        "HF_HUB_OFFLINE": "1",
        "GGT_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    log = tmp_path / "app.log"
    with open(log, "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-X", "importtime", str(REPO / "spaces" / "app.py")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the Space did not start"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        client = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
        source = _dark_photo(tmp_path / "dark_chelsea.png")
        mark = log.stat().st_size
        _, result, deltas, _ = client.predict(
            gradio_client.handle_file(str(source)), "classical", api_name="/restore"
        )
        with open(log) as f:
            f.seek(mark)
            during = [line.rsplit("|", 1)[-1].strip() for line in f if line.startswith("import time:")]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert [m for m in during if WARM_UP_MODULES.match(m)] == []
    expected = (
        RestoreService(SpaceConfig(warm_up=False, metrics=[])).restore(source).output
    )  # the library call
    assert np.array_equal(np.asarray(Image.open(result).convert("RGB")), np.asarray(expected))
    assert [row[0] for row in deltas["data"]] == ["PIQE"]  # the deltas came with the first answer
