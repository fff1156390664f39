"""The Space shows something on the first click: degraded example photos (one per category, licence
recorded), a built-in arena to vote in with nothing configured (the LQ is the input, never a system),
temp PNGs that do not pile up, and a 1×1 upload refused with its reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from ggt_hf.constants import CATEGORIES  # noqa: E402
from ggt_hf.leaderboard import Arena  # noqa: E402
from ggt_hf.space import SpaceConfig  # noqa: E402
from ggt_hf.space.examples import ARENA_SYSTEMS, EXAMPLES, builtin_arena, example_paths, examples_dir  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")


def test_one_small_degraded_example_per_category_with_its_licence() -> None:
    paths = [Path(p) for p in example_paths()]
    assert sorted(e.category for e in EXAMPLES) == sorted(CATEGORIES) and len(paths) == len(EXAMPLES)
    licence = (examples_dir() / "LICENSE.md").read_text()
    assert "synthetic" in licence and "not photos with a real degradation" in licence
    for example, path in zip(EXAMPLES, paths, strict=True):
        assert path.stat().st_size <= 150_000, path
        with Image.open(path) as img:
            assert img.format == "JPEG" and max(img.size) <= 768
        row = next(line for line in licence.splitlines() if line.startswith(f"| {example.file} |"))
        assert example.source in row and example.licence in row and f"seed={example.seed}" in row


def test_builtin_arena_has_the_baseline_systems_and_no_lq_system(tmp_path: Path) -> None:
    outputs, lq = builtin_arena(tmp_path / "cache")
    assert builtin_arena(tmp_path / "cache") == (outputs, lq)  # built once, then reused
    arena = Arena(outputs, lq)
    assert arena.systems == sorted(ARENA_SYSTEMS) and "lq" not in arena.systems
    assert arena.ids == sorted(Path(p).stem for p in example_paths())
    for image_id in arena.ids:  # the two systems really differ on every example
        a, b = (
            np.asarray(Image.open(outputs / s / f"{image_id}.png"), dtype=np.int16) for s in ARENA_SYSTEMS
        )
        assert np.abs(a - b).mean() > 0.5, image_id


def test_an_lq_folder_inside_the_arena_is_not_a_system(tmp_path: Path) -> None:
    for folder in ("lq", "sys_a", "sys_b"):
        (tmp_path / folder).mkdir()
        Image.new("RGB", (16, 16), (len(folder) * 20, 0, 0)).save(tmp_path / folder / "x.png")
    arena = Arena(tmp_path, tmp_path / "lq")
    assert arena.systems == ["sys_a", "sys_b"]
    pair = arena.sample()
    assert {arena.reveal(pair.token)[0], arena.reveal(pair.token)[1]} == {"sys_a", "sys_b"}


def test_unconfigured_space_restores_the_first_example_and_offers_a_vote(serve, tmp_path: Path) -> None:
    config = SpaceConfig(store=str(tmp_path / "store"), metrics=["piqe"], warm_up=False)
    app, client = serve(config)
    first = config.examples[0]
    assert Path(first).parent == examples_dir()
    _, result, _, notice = client.predict(handle_file(first), "classical", api_name="/restore")
    before = np.asarray(Image.open(first).convert("RGB"), dtype=np.int16)
    after = np.asarray(Image.open(result).convert("RGB"), dtype=np.int16)
    assert np.abs(after - before).mean() > 10 and "nothing to fix" not in notice

    lq, a, b, token, caption = client.predict(api_name="/arena_pair")
    assert (
        Path(lq).is_file()
        and Path(a).is_file()
        and Path(b).is_file()
        and "which restoration is better" in caption
    )
    status, ranking = client.predict(token, "A", api_name="/vote")
    assert "counted" in status and not any(n in status for n in ARENA_SYSTEMS)  # no reveal
    assert {row[ranking["headers"].index("System")] for row in ranking["data"]} <= set(ARENA_SYSTEMS)

    service = app.ggt_services["restore"]
    service.keep_seconds = 0  # each restore drops the previous request's PNGs
    for _ in range(2):
        client.predict(handle_file(first), "classical", api_name="/restore")
    assert len(list(service.output_dir.glob("*.png"))) == 2

    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (1, 1), (9, 9, 9)).save(tiny)
    with pytest.raises(AppError, match=r"tiny\.png: the image is 1×1 px, too small to restore"):
        client.predict(handle_file(str(tiny)), "classical", api_name="/restore")
