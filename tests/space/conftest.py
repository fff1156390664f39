"""Fixtures for the Space tests: a tiny packed test split of real photo crops, a leaderboard store
seeded with real ``evaluate()`` results of three systems, an arena folder of their outputs, zips,
and the app launched in-process on a free port."""

from __future__ import annotations

import io
import os
import socket
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, ImageFilter

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from ggt_hf.backends.base import RestoreRequest  # noqa: E402
from ggt_hf.backends.classical import ClassicalBackend  # noqa: E402
from ggt_hf.constants import CATEGORIES  # noqa: E402
from ggt_hf.hub.pack import PackConfig, pack  # noqa: E402
from ggt_hf.hub.pairs import pairs_from_dir  # noqa: E402
from ggt_hf.metrics.specs import get_spec  # noqa: E402

SIZE = 64
N_IMAGES = 6
#: Systems whose outputs fill the arena and whose real scores seed the leaderboard.
SYSTEMS = ("lq-identity", "classical", "blurred")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def port() -> int:
    """A free TCP port on 127.0.0.1."""
    return free_port()


@dataclass
class SpaceData:
    dataset: Path  # packed folder with the test split
    lq: Path  # lq/<id>.png
    arena: Path  # <system>/<id>.png
    hq: dict[str, Image.Image]
    ids: list[str]


def _system_output(system: str, lq: Image.Image) -> Image.Image:
    if system == "lq-identity":
        return lq.copy()
    if system == "classical":
        return ClassicalBackend().restore(RestoreRequest(lq)).image
    return lq.filter(ImageFilter.GaussianBlur(1.5))


@pytest.fixture(scope="session")
def space_data(tmp_path_factory, photos) -> SpaceData:
    """Six 64² test pairs (real photo crops; LQ = blurred + darkened HQ), packed, and the outputs of
    :data:`SYSTEMS` on them."""
    root = tmp_path_factory.mktemp("space_data")
    hq_images: dict[str, Image.Image] = {}
    for i, photo in enumerate(photos[:N_IMAGES]):
        side = min(photo.size)
        hq = photo.crop((0, 0, side, side)).resize((SIZE, SIZE), Image.Resampling.LANCZOS)
        lq = hq.filter(ImageFilter.GaussianBlur(1.2)).point(lambda v: int(v * 0.75))
        category = CATEGORIES[i % len(CATEGORIES)]
        image_id = f"t{i}"
        hq_images[image_id] = hq
        for side_name, img in (("lq", lq), ("hq", hq)):
            folder = root / "pairs" / side_name / category
            folder.mkdir(parents=True, exist_ok=True)
            img.save(folder / f"{image_id}.png")
        (root / "lq").mkdir(exist_ok=True)
        lq.save(root / "lq" / f"{image_id}.png")
        for system in SYSTEMS:
            (root / "arena" / system).mkdir(parents=True, exist_ok=True)
            _system_output(system, lq).save(root / "arena" / system / f"{image_id}.png")
    records, problems = pairs_from_dir(root / "pairs", split="test")
    pack(records, root / "dataset", PackConfig(), problems=problems, progress=False)
    return SpaceData(root / "dataset", root / "lq", root / "arena", hq_images, sorted(hq_images))


@pytest.fixture(scope="session")
def seeded_results(space_data: SpaceData) -> list[dict]:
    """Real ``evaluate()`` results (PSNR, SSIM, PIQE) of every system on the packed test split."""
    from ggt_hf.evaluation.restorer_eval import evaluate

    specs = [get_spec(m) for m in ("psnr", "ssim", "piqe")]
    return [
        evaluate(
            space_data.arena / s, str(space_data.dataset), metrics=specs, model=s, progress=False
        ).to_json()
        for s in SYSTEMS
    ]


@pytest.fixture
def store(tmp_path: Path, seeded_results: list[dict]):
    """A local leaderboard store holding the seeded results (fresh per test)."""
    from ggt_hf.leaderboard import LeaderboardStore

    store = LeaderboardStore(tmp_path / "store")
    for result in seeded_results:
        store.add_result(result, {"model_type": "predictions", "model_repo": f"ggt-hf/{result['model']}"})
    return store


@pytest.fixture
def space_config(tmp_path: Path, space_data: SpaceData):
    """The Space config of the tests: cheap metrics, the test split and the arena configured."""
    from ggt_hf.space import SpaceConfig

    return SpaceConfig(
        store=str(tmp_path / "store"),
        dataset=str(space_data.dataset),
        arena=str(space_data.arena),
        arena_lq=str(space_data.lq),
        metrics=["piqe"],
        max_side=480,
        rate_limit=50,
        warm_up=False,
    )


@pytest.fixture
def serve() -> Iterator[Callable[..., tuple[object, object]]]:
    """``serve(config, store, hub_api=None)`` launches the Space on 127.0.0.1:<free port>; closed at teardown."""
    from ggt_hf.space import launch_space

    apps = []

    def launch(config, store=None, hub_api=None):
        app = launch_space(
            config,
            host="127.0.0.1",
            port=free_port(),
            store=store,
            hub_api=hub_api,
            prevent_thread_lock=True,
            quiet=True,
        )
        apps.append(app)
        return app, gradio_client.Client(app.local_url, verbose=False)

    yield launch
    for app in apps:
        app.close(verbose=False)


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def make_zip(tmp_path: Path) -> Callable[..., Path]:
    """``make_zip(name, {member: bytes}, symlinks={member: target})`` → a zip file."""

    def make(name: str, members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
        path = tmp_path / "zips" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for member, data in members.items():
                zf.writestr(member, data)
            for member, target in (symlinks or {}).items():
                info = zipfile.ZipInfo(member)
                info.external_attr = (0o120777 << 16) | 0x20  # S_IFLNK: a symlink member
                zf.writestr(info, target)
        return path

    return make


@pytest.fixture
def valid_members(space_data: SpaceData) -> dict[str, bytes]:
    """A complete, valid predictions set: the classical outputs, one PNG per test id."""
    folder = space_data.arena / "classical"
    return {f"{i}.png": (folder / f"{i}.png").read_bytes() for i in space_data.ids}
