"""`ggt space export` / `ggt space deploy`: a self-contained Space folder (app, card, wheel, pinned
requirements), the repository's spaces/ folder as its development copy, the deploy calls recorded
against a stand-in HfApi, and (slow) the export installed into a brand-new virtual environment,
started there and restoring a photo through gradio_client."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from ggt_hf.cli import main  # noqa: E402
from ggt_hf.files.output_folders import MARKER, OutputFolderError  # noqa: E402
from ggt_hf.space import export as export_module  # noqa: E402
from ggt_hf.space.examples import example_paths  # noqa: E402
from ggt_hf.space.export import SpaceExportError, deploy_space, export_space, pinned_requirements  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> Path:
    """One export with its wheel (building the wheel is the slow part), shared by the tests."""
    folder = tmp_path_factory.mktemp("space_export") / "space"
    export_space(folder)
    return folder


class RecordingHfApi:
    """Records the calls ``deploy_space`` makes (the Hub is never contacted)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []

    def create_repo(self, *args, **kwargs):
        self.calls.append(("create_repo", args, kwargs))
        return f"https://huggingface.co/spaces/{args[0]}"

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", (), kwargs))
        uploaded = Path(kwargs["folder_path"])
        self.uploaded = {p: (uploaded / p).read_bytes() for p in kwargs["allow_patterns"]}
        return "commit"


def _card_fields(readme: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+): (.+)$", readme.split("---")[1], re.M))


def test_export_into_a_folder_of_user_files_is_refused(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("# my project\n")
    with pytest.raises(OutputFolderError, match=r"README\.md"):
        export_space(project, wheel=False)
    assert [p.name for p in project.iterdir()] == ["README.md"]
    assert (project / "README.md").read_text() == "# my project\n"


def test_export_writes_a_self_contained_space(exported: Path) -> None:
    files = sorted(p.relative_to(exported).as_posix() for p in exported.rglob("*") if p.is_file())
    assert files == [
        MARKER,  # ggt's hidden marker (never uploaded: deploy sends only the files it lists)
        "README.md",
        "app.py",
        "requirements.txt",
        "wheels/ggt_hf-0.1.0-py3-none-any.whl",
    ]
    fields = _card_fields((exported / "README.md").read_text())
    assert fields["sdk"] == "gradio" and fields["app_file"] == "app.py"
    assert fields["sdk_version"] == gr.__version__
    assert fields["python_version"] == f'"{sys.version_info.major}.{sys.version_info.minor}"'
    lines = [
        line for line in (exported / "requirements.txt").read_text().splitlines() if not line.startswith("#")
    ]
    assert lines[0] == "./wheels/ggt_hf-0.1.0-py3-none-any.whl"
    assert "torch==2.14.1" in lines and "gradio>=5" in lines and "pyiqa>=0.1.13" in lines
    assert lines[1:] == pinned_requirements(REPO)
    assert not any("git+" in line for line in lines)


def test_spaces_folder_is_the_development_copy(tmp_path: Path) -> None:
    export_space(tmp_path, wheel=False)
    for name in ("app.py", "README.md", "requirements.txt"):
        assert (REPO / "spaces" / name).read_text() == (tmp_path / name).read_text(), (
            f"spaces/{name} differs from `ggt space export spaces --no-wheel`: regenerate it"
        )
    assert not (tmp_path / "wheels").exists()


def test_deploy_creates_the_space_and_uploads_the_folder(exported: Path, tmp_path: Path, monkeypatch) -> None:
    def reuse_wheel(root, out):  # the wheel was built once for the session
        out.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(next((exported / "wheels").glob("*.whl")), out))

    monkeypatch.setattr(export_module, "build_wheel", reuse_wheel)
    api = RecordingHfApi()
    result, url = deploy_space("alice/ggt-space", private=True, folder=tmp_path / "out", api=api)
    assert url == "https://huggingface.co/spaces/alice/ggt-space"
    (create, args, kwargs), (upload, _, uploaded) = api.calls
    assert create == "create_repo" and args == ("alice/ggt-space",)
    assert kwargs == {"repo_type": "space", "space_sdk": "gradio", "private": True, "exist_ok": True}
    assert upload == "upload_folder" and uploaded["repo_id"] == "alice/ggt-space"
    assert uploaded["repo_type"] == "space" and Path(uploaded["folder_path"]) == tmp_path / "out"
    assert sorted(api.uploaded) == result.files and "wheels/ggt_hf-0.1.0-py3-none-any.whl" in api.uploaded

    with pytest.raises(SpaceExportError, match="not a Hub repo id"):
        deploy_space("../etc", api=api)
    created = []
    monkeypatch.setattr("huggingface_hub.HfApi", lambda *a, **k: created.append(a) or RecordingHfApi())
    assert main(["space", "deploy", "alice/ggt-space", "--dry-run", "--folder", str(tmp_path / "dry")]) == 0
    assert created == [] and (tmp_path / "dry" / "wheels").is_dir()  # exported, nothing uploaded


@pytest.mark.slow
def test_export_installs_into_a_fresh_venv_and_restores(exported: Path, tmp_path: Path, port: int) -> None:
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing from the checkout
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    # heavy dependencies come from the system site-packages; the ggt-hf wheel goes into the venv
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-r", "requirements.txt"],
        cwd=exported,
        env=env,
        check=True,
    )
    where = subprocess.run(
        [str(python), "-c", "import ggt_hf; print(ggt_hf.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout + where.stderr

    env.update(
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
        GGT_SPACE_STORE=str(tmp_path / "store"),
        GGT_SPACE_METRICS="piqe",
        GGT_SPACE_WARM_UP="0",
        HF_HUB_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
    )
    log = (tmp_path / "app.log").open("w")
    server = subprocess.Popen(
        [str(python), "app.py"], cwd=exported, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        client = _connect(f"http://127.0.0.1:{port}/", server, tmp_path / "app.log")
        photo = example_paths()[0]
        _, result, _, notice = client.predict(
            gradio_client.handle_file(photo), "classical", api_name="/restore"
        )
        before = np.asarray(Image.open(photo).convert("RGB"), dtype=np.int16)
        after = np.asarray(Image.open(result).convert("RGB"), dtype=np.int16)
        assert after.shape == before.shape and np.abs(after - before).mean() > 10, notice
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _connect(url: str, server: subprocess.Popen, log: Path, timeout: float = 240.0):
    """A gradio_client for ``url`` once the server answers (fails early if it exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"app.py exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            return gradio_client.Client(url, verbose=False)
        except Exception:
            time.sleep(1.0)
    pytest.fail(f"app.py did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")
