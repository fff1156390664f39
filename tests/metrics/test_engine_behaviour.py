"""The metric engine's behaviour on tiny images written by the tests (fast, no pyiqa network).

What a caller relies on: every input form decodes to 8-bit RGB (and what was converted is noted),
results come back in input order with one problem item recorded and the run going on, batches
never mix sizes nor exceed the batch size, the Y / crop options reach the metric, FR and NR
metrics get what they need, metrics whose weights are missing are dropped with the reason, and
a metric model shared by threads is called by one thread at a time. The learned pyiqa metrics
are replaced by small fakes (``create_pyiqa_metric``); the weight-free PSNR / SSIM / MS-SSIM are
the real fast kernels, checked against ``ggt_hf.metrics.fast`` (itself checked against pyiqa in
``test_fast_small.py`` / ``test_fast.py``). The comparisons with pyiqa's own numbers are in
``test_engine.py``.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("cv2")

from ggt_hf.errors import BadImageError, GGTError, UsageError  # noqa: E402
from ggt_hf.imaging.tensors import to_tensor  # noqa: E402
from ggt_hf.metrics import engine as engine_mod  # noqa: E402
from ggt_hf.metrics import fast, weights  # noqa: E402
from ggt_hf.metrics.engine import MetricEngine, PairItem, load_rgb, load_rgb_noting  # noqa: E402
from ggt_hf.metrics.specs import get_spec  # noqa: E402
from ggt_hf.metrics.weights import MissingWeightsError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _rgb(seed: int, size: tuple[int, int] = (16, 16)) -> np.ndarray:
    """A tiny random 8-bit RGB image (H, W, 3)."""
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def _png(arr: np.ndarray | Image.Image) -> bytes:
    buf = io.BytesIO()
    (arr if isinstance(arr, Image.Image) else Image.fromarray(arr)).save(buf, format="PNG")
    return buf.getvalue()


class FakeModel:
    """Stands in for a pyiqa model: FR = per-image mean |pred − ref|, NR = per-image mean of pred.

    Records each call's tensor shapes (and the tensors themselves) and how many threads were inside
    at once. ``writes_input``: normalise the input tensors in place first, as pyiqa's AFINE does.
    """

    def __init__(self, name: str, pyiqa_id: str, device: str, options: dict) -> None:
        self.name, self.pyiqa_id, self.device, self.options = name, pyiqa_id, device, options
        self.calls: list[tuple] = []
        self.devices: list[tuple[str, ...]] = []
        self.active = self.most_active = 0
        self.pause = 0.0
        self._count = threading.Lock()
        self.entered: threading.Event | None = None
        self.release: threading.Event | None = None
        self.released = False
        self.inputs: list[tuple] = []
        self.writes_input = False

    def __call__(self, pred, *ref):
        with self._count:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        time.sleep(self.pause)
        if self.release is not None:  # hold the call until the test releases it (at most 5 s)
            self.entered.set()
            self.released = self.release.wait(5)
        self.calls.append(tuple(t.shape for t in (pred, *ref)))
        self.inputs.append((pred, *ref))
        if self.writes_input:
            for t in (pred, *ref):
                t.sub_(0.45).div_(0.27)
        self.devices.append(tuple(t.device.type for t in (pred, *ref)))
        if pred.is_meta:  # no data to score (see the device test)
            return torch.zeros(pred.shape[0])
        with self._count:
            self.active -= 1
        if ref:
            return (pred - ref[0]).abs().mean(dim=(1, 2, 3))
        return pred.mean(dim=(1, 2, 3)).reshape(-1, 1)  # pyiqa's NR models return (N, 1)


class Fakes(dict):
    """name -> the :class:`FakeModel` made for it; ``created`` lists every creation."""

    created: list[str]


@pytest.fixture
def fakes(monkeypatch) -> Fakes:
    """Replace pyiqa model creation with :class:`FakeModel`, one model per (id, device, options)
    as :func:`~ggt_hf.metrics.weights.create_pyiqa_metric` caches them for the process."""
    made = Fakes()
    made.created = []
    cache: dict[tuple, FakeModel] = {}

    def create(name, pyiqa_id, device, **options):
        made.created.append(name)
        key = (pyiqa_id, device, tuple(sorted(options.items())))
        model = made[name] = cache.setdefault(key, FakeModel(name, pyiqa_id, device, options))
        return model

    monkeypatch.setattr(engine_mod, "create_pyiqa_metric", create)
    return made


def _score(engine: MetricEngine, items, **kwargs) -> dict[str, dict[str, float] | Exception]:
    return dict(engine.score_pairs(items, progress=False, **kwargs))


def _spy_batches(engine: MetricEngine) -> list[tuple[list[str], tuple, tuple | None]]:
    """Record the metric names and tensor shapes of every batch the engine scores."""
    seen = []
    original = engine._score_batch

    def spy(specs, pred, ref=None):
        seen.append(([s.name for s in specs], tuple(pred.shape), None if ref is None else tuple(ref.shape)))
        return original(specs, pred, ref)

    engine._score_batch = spy
    return seen


# --- decoding: every input form becomes 8-bit RGB, and what was converted is said -----------------


def test_an_rgb_array_is_used_as_it_is():
    arr = _rgb(0)
    got, notes = load_rgb_noting(arr)
    assert got is arr and notes == []
    assert load_rgb(arr) is arr


@pytest.mark.parametrize("shape", [(16, 16), (16, 16, 1)])
def test_a_greyscale_array_becomes_rgb_and_is_noted(shape):
    grey = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    got, notes = load_rgb_noting(grey)
    assert got.shape == (16, 16, 3) and got.dtype == np.uint8
    assert all(np.array_equal(got[..., c], grey.reshape(16, 16)) for c in range(3))
    assert notes == [f"array of shape {shape} and dtype uint8"]


@pytest.mark.parametrize(
    "arr",
    [np.zeros((16, 16, 3), np.float32), np.zeros((16, 16, 3), np.uint16), np.zeros((16, 16, 2), np.uint8)],
)
def test_an_array_that_is_not_an_8bit_image_is_refused_naming_the_item(arr):
    with pytest.raises(BadImageError) as info:
        load_rgb(arr, "k (prediction)")
    assert info.value.item == "k (prediction)"
    assert info.value.reason == (
        f"an array of shape {arr.shape} and dtype {arr.dtype} is not an 8-bit image; "
        "pass uint8 H×W×3 RGB (or H×W greyscale)"
    )


def test_pil_images_convert_to_rgb_and_say_from_which_mode():
    rgb = Image.fromarray(_rgb(2))
    got, notes = load_rgb_noting(rgb)
    assert np.array_equal(got, np.asarray(rgb)) and notes == []
    grey = rgb.convert("L")
    got, notes = load_rgb_noting(grey)
    assert got.shape == (16, 16, 3) and np.array_equal(got[..., 1], np.asarray(grey))
    assert notes == ["L → RGB"]


@pytest.mark.parametrize("kind", ["alpha", "exif_rotation"])
def test_a_pil_image_gets_the_same_pixels_as_its_file(kind):
    """Scores must not depend on whether a caller passes a path or the opened image: a half
    transparent RGBA image is composited onto white and an EXIF-rotated one is turned upright in
    both cases (before, the PIL path dropped the alpha and kept the rotation)."""
    arr = _rgb(5)[:, :12]
    if kind == "alpha":
        img = Image.fromarray(np.dstack([arr, np.full(arr.shape[:2], 100, np.uint8)]))
        buf = io.BytesIO()
        img.save(buf, "PNG")
    else:
        img = Image.fromarray(arr)
        exif = img.getexif()
        exif[0x0112] = 6  # rotated 90°: the stored pixels must be turned to be upright
        buf = io.BytesIO()
        img.save(buf, "PNG", exif=exif)
    data = buf.getvalue()
    opened = Image.open(io.BytesIO(data))
    before = np.asarray(opened).copy()
    from_file, file_notes = load_rgb_noting(data)
    from_pil, pil_notes = load_rgb_noting(opened)
    assert np.array_equal(from_pil, from_file)
    old_way = np.asarray(opened.convert("RGB"))
    assert old_way.shape != from_file.shape or not np.array_equal(old_way, from_file)  # it can tell
    assert np.array_equal(np.asarray(opened), before)  # the caller's image is left as it was
    assert pil_notes[-1] == file_notes[-1]  # the same change named


def test_encoded_bytes_and_paths_decode_and_name_the_stored_mode(tmp_path):
    arr = _rgb(3)
    assert load_rgb_noting(_png(arr))[1] == []
    assert np.array_equal(load_rgb(_png(arr)), arr)
    path = tmp_path / "grey.png"
    path.write_bytes(_png(Image.fromarray(arr).convert("L")))
    for source in (path, str(path), path.read_bytes()):
        got, notes = load_rgb_noting(source)
        assert got.shape == (16, 16, 3)
        assert notes == ["stored as L (PNG), converted to 8-bit RGB"]
    rgba = np.dstack([arr, np.full((16, 16), 128, np.uint8)])
    got, notes = load_rgb_noting(_png(rgba))
    assert notes[0] == "stored as RGBA (PNG), converted to 8-bit RGB" and len(notes) == 2  # + the alpha note


def test_undecodable_bytes_name_the_item():
    with pytest.raises(GGTError) as info:
        load_rgb(b"<html>not an image</html>", "k (reference)")
    assert info.value.item == "k (reference)"
    for load in (load_rgb, load_rgb_noting):
        with pytest.raises(GGTError) as info:
            load(b"<html>not an image</html>")
        assert info.value.item == "<image>"


# --- construction ---------------------------------------------------------------------------


def test_defaults_and_settings_clamped_to_usable_values():
    default = MetricEngine(["psnr"])
    assert (default.batch_size, default.workers, default.crop_border, default.y_channel) == (4, 2, 0, None)
    engine = MetricEngine(["psnr"], device="cpu", batch_size=0, crop_border=-3, workers=0)
    assert (engine.batch_size, engine.crop_border, engine.workers) == (1, 0, 1)
    assert engine.fast_path is True  # the CPU default
    assert MetricEngine(["psnr"], device="cpu", fast_path=False).fast_path is False
    engine = MetricEngine([get_spec("ssim"), "psnr"], batch_size=5, crop_border=2, workers=3, y_channel=False)
    assert [s.name for s in engine.specs] == ["ssim", "psnr"]
    assert (engine.batch_size, engine.crop_border, engine.workers, engine.y_channel) == (5, 2, 3, False)


@pytest.mark.parametrize("device", ["cpu", "cpu:0", torch.device("cpu")])
def test_every_spelling_of_the_cpu_gets_the_cpu_fast_path(device):
    engine = MetricEngine(["psnr"], device=device)
    assert engine.on_cpu is True and engine.fast_path is True
    assert engine._pair_function(get_spec("psnr")) is not None


@pytest.mark.parametrize("device", ["cuda", "cuda:1", "mps"])
def test_an_accelerator_keeps_pyiqa_by_default(monkeypatch, device):
    """No GPU here: the device check is passed over, the engine only reads the name."""
    monkeypatch.setattr("ggt_hf.metrics.engine.resolve_device", lambda d: d)
    engine = MetricEngine(["psnr"], device=device)
    assert engine.on_cpu is False and engine.fast_path is False
    forced = MetricEngine(["psnr"], device=device, fast_path=True)
    assert forced._is_fast(get_spec("psnr")) and forced._pair_function(get_spec("psnr")) is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_this_machine_lacks_is_refused_before_any_model_loads(fakes):
    with pytest.raises(UsageError, match="CUDA is not available on this machine"):
        MetricEngine(["piqe"], device="cuda")
    assert fakes.created == []


def test_metrics_that_are_not_image_metrics_are_refused_by_name():
    with pytest.raises(ValueError) as info:
        MetricEngine(["psnr", "vlm_r"])
    assert str(info.value) == "vlm_r is not an image metric (VLM-R is scored by a judge)"
    other = replace(get_spec("vlm_r"), name="judge2")
    with pytest.raises(ValueError, match=r"^vlm_r, judge2 is not an image metric"):
        MetricEngine(["vlm_r", other])


def test_needs_reference_only_with_a_full_reference_metric(fakes):
    assert MetricEngine(["piqe"]).needs_reference is False
    assert MetricEngine(["piqe", "psnr"]).needs_reference is True


# --- which implementation scores what, with which options -------------------------------------


def test_psnr_and_ssim_on_the_cpu_are_scored_per_pair_without_batches():
    pred, ref = _rgb(4, (20, 24)), _rgb(5, (20, 24))
    engine = MetricEngine(["ssim", "psnr"], device="cpu", batch_size=2)
    seen = _spy_batches(engine)
    got = _score(engine, [PairItem("a", pred, ref), PairItem("b", ref, pred)])
    assert seen == []
    assert list(got["a"]) == ["ssim", "psnr"]  # the engine's order
    p, r = to_tensor([pred]), to_tensor([ref])
    assert got["a"]["psnr"] == pytest.approx(fast.psnr(p, r).item(), abs=1e-4)
    assert got["a"]["ssim"] == pytest.approx(fast.ssim(p, r).item(), abs=1e-5)
    assert got["b"]["psnr"] == pytest.approx(got["a"]["psnr"], abs=1e-9)


@pytest.mark.parametrize("y_channel", [True, False])
def test_y_channel_and_crop_border_reach_the_per_pair_kernels(y_channel):
    pred, ref = _rgb(6, (24, 30)), _rgb(7, (24, 30))
    engine = MetricEngine(
        ["psnr", "ssim", "ssimc", "psnry"], device="cpu", y_channel=y_channel, crop_border=3
    )
    (scores,) = _score(engine, [PairItem("a", pred, ref)]).values()
    p, r = (to_tensor([a])[..., 3:-3, 3:-3] for a in (pred, ref))
    for name in ("psnr", "psnry"):
        assert scores[name] == pytest.approx(fast.psnr(p, r, y_channel=y_channel).item(), abs=1e-4)
    for name in ("ssim", "ssimc"):
        assert scores[name] == pytest.approx(fast.ssim(p, r, y_channel=y_channel).item(), abs=1e-5)


def test_pyiqa_defaults_without_a_y_channel_setting():
    pred, ref = _rgb(8, (24, 30)), _rgb(9, (24, 30))
    engine = MetricEngine(["psnr", "psnry", "ssim", "ssimc"], device="cpu")
    (scores,) = _score(engine, [PairItem("a", pred, ref)]).values()
    p, r = to_tensor([pred]), to_tensor([ref])
    assert scores["psnr"] == pytest.approx(fast.psnr(p, r).item(), abs=1e-4)
    assert scores["psnry"] == pytest.approx(fast.psnr(p, r, y_channel=True).item(), abs=1e-4)
    assert scores["ssim"] == pytest.approx(fast.ssim(p, r).item(), abs=1e-5)
    assert scores["ssimc"] == pytest.approx(fast.ssim(p, r, y_channel=False).item(), abs=1e-5)
    assert scores["psnr"] != pytest.approx(scores["psnry"], abs=1e-3)


@pytest.mark.parametrize("y_channel", [None, False])
def test_ms_ssim_on_the_fast_path_is_batched(y_channel):
    pred, ref = _rgb(10, (161, 163)), _rgb(11, (161, 163))
    engine = MetricEngine(["ms_ssim", "psnr"], device="cpu", batch_size=4, y_channel=y_channel)
    seen = _spy_batches(engine)
    got = _score(engine, [PairItem("a", pred, ref), PairItem("b", ref, pred)])
    assert seen == [(["ms_ssim"], (2, 3, 161, 163), (2, 3, 161, 163))]
    expected = fast.ms_ssim(to_tensor([pred]), to_tensor([ref]), y_channel=y_channel is None)
    assert got["a"]["ms_ssim"] == pytest.approx(expected.item(), abs=1e-9)
    assert list(got["b"]) == ["ms_ssim", "psnr"]


def test_without_opencv_psnr_and_ssim_run_on_batched_tensors(monkeypatch):
    monkeypatch.setattr(engine_mod, "_opencv_available", lambda: False)
    pred, ref = _rgb(12, (20, 24)), _rgb(13, (20, 24))
    engine = MetricEngine(["psnr", "ssim"], device="cpu", crop_border=2)
    seen = _spy_batches(engine)
    (scores,) = _score(engine, [PairItem("a", pred, ref)]).values()
    assert seen == [(["psnr", "ssim"], (1, 3, 20, 24), (1, 3, 20, 24))]
    p, r = (to_tensor([a])[..., 2:-2, 2:-2] for a in (pred, ref))
    assert scores["psnr"] == pytest.approx(fast.psnr(p, r).item(), abs=1e-6)
    assert scores["ssim"] == pytest.approx(fast.ssim(p, r).item(), abs=1e-9)


def test_opencv_missing_is_detected_and_logged(monkeypatch, caplog):
    engine_mod._opencv_available.cache_clear()
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    try:
        with caplog.at_level(logging.INFO, logger="ggt_hf.metrics.engine"):
            assert engine_mod._opencv_available() is False
        assert "OpenCV is not installed" in caplog.text
        monkeypatch.delitem(sys.modules, "cv2")
        assert engine_mod._opencv_available() is False  # decided once per process
    finally:
        engine_mod._opencv_available.cache_clear()
    assert engine_mod._opencv_available() is True


def test_fast_path_off_uses_pyiqa_with_the_y_option_only_where_it_applies(fakes):
    pred, ref = _rgb(14), _rgb(15)
    engine = MetricEngine(["psnr", "gmsd", "piqe"], device="cpu", fast_path=False, y_channel=True)
    _score(engine, [PairItem("a", pred, ref)])
    assert fakes["psnr"].options == {"test_y_channel": True}
    assert fakes["gmsd"].options == {} and fakes["piqe"].options == {}
    assert (fakes["psnr"].pyiqa_id, fakes["psnr"].device) == ("psnr", "cpu")
    plain = MetricEngine(["ssim"], device="cpu", fast_path=False)
    _score(plain, [PairItem("a", pred, ref)])
    assert fakes["ssim"].options == {}  # no y_channel setting: pyiqa's own default


def test_each_metric_is_created_once_and_nr_metrics_get_no_reference(fakes):
    engine = MetricEngine(["gmsd", "piqe"], device="cpu", batch_size=2)
    items = [PairItem(k, _rgb(i), _rgb(i + 10)) for i, k in enumerate("abc")]
    got = _score(engine, items)
    again = _score(engine, items[:1])
    assert again["a"] == got["a"]
    gmsd, piqe = fakes["gmsd"], fakes["piqe"]
    assert engine._function(get_spec("gmsd")) is engine._function(get_spec("gmsd"))
    assert fakes.created == ["gmsd", "piqe"]  # once each, for three batches
    assert gmsd.calls == [((2, 3, 16, 16), (2, 3, 16, 16))] + [((1, 3, 16, 16), (1, 3, 16, 16))] * 2
    assert piqe.calls == [((2, 3, 16, 16),), ((1, 3, 16, 16),), ((1, 3, 16, 16),)]
    for i, k in enumerate("abc"):
        p, r = to_tensor([_rgb(i)]), to_tensor([_rgb(i + 10)])
        assert got[k]["gmsd"] == pytest.approx((p - r).abs().mean().item(), abs=1e-6)
        assert got[k]["piqe"] == pytest.approx(p.mean().item(), abs=1e-6)


def test_batches_are_built_on_the_engines_device(fakes):
    """Images become tensors on the engine's device (CUDA when present), checked here with
    PyTorch's data-less ``meta`` device; the scores come back as floats."""
    engine = MetricEngine(["gmsd", "piqe"], device="meta", batch_size=2)
    got = _score(engine, [PairItem(k, _rgb(i), _rgb(i + 1)) for i, k in enumerate("abc")])
    assert got == {k: {"gmsd": 0.0, "piqe": 0.0} for k in "abc"}
    assert fakes["gmsd"].devices == [("meta", "meta")] * 2  # prediction and reference
    assert fakes["piqe"].devices == [("meta",)] * 2


def test_nr_only_engines_ignore_the_reference(fakes):
    engine = MetricEngine(["piqe"], device="cpu")
    got = _score(engine, [PairItem("a", _rgb(0), b"<html>broken</html>"), PairItem("b", _rgb(1))])
    assert set(got) == {"a", "b"} and all(isinstance(v, dict) for v in got.values())


# --- score_batch ------------------------------------------------------------------------------


def test_score_batch_crops_full_reference_metrics_only(fakes):
    engine = MetricEngine(["gmsd", "piqe"], device="cpu", crop_border=2)
    pred, ref = to_tensor([_rgb(1), _rgb(2)]), to_tensor([_rgb(3), _rgb(4)])
    got = engine.score_batch(pred, ref)
    assert fakes["gmsd"].calls == [((2, 3, 12, 12), (2, 3, 12, 12))]
    assert fakes["piqe"].calls == [((2, 3, 16, 16),)]
    cp, cr = pred[..., 2:-2, 2:-2], ref[..., 2:-2, 2:-2]
    assert got["gmsd"] == pytest.approx((cp - cr).abs().mean(dim=(1, 2, 3)).tolist(), abs=1e-6)
    assert got["piqe"] == pytest.approx(pred.mean(dim=(1, 2, 3)).tolist(), abs=1e-6)
    assert all(isinstance(v, float) for v in got["piqe"])
    uncropped = MetricEngine(["gmsd"], device="cpu").score_batch(pred, ref)
    assert uncropped["gmsd"] == pytest.approx((pred - ref).abs().mean(dim=(1, 2, 3)).tolist(), abs=1e-6)


def test_score_batch_without_a_reference_names_the_full_reference_metric(fakes):
    engine = MetricEngine(["piqe", "gmsd"], device="cpu")
    with pytest.raises(ValueError) as info:
        engine.score_batch(to_tensor([_rgb(0)]))
    assert str(info.value) == "gmsd is a full-reference metric and needs a reference image"
    assert MetricEngine(["piqe"], device="cpu").score_batch(to_tensor([_rgb(0)]))["piqe"] == [
        pytest.approx(to_tensor([_rgb(0)]).mean().item(), abs=1e-6)
    ]


# --- score_pairs: order, batching, per-item problems, progress -----------------------------------


def test_batches_hold_at_most_batch_size_images_of_one_size(fakes):
    engine = MetricEngine(["gmsd"], device="cpu", batch_size=2)
    seen = _spy_batches(engine)
    sizes = [(16, 16)] * 5 + [(12, 16)] + [(16, 16)] * 2
    items = [PairItem(f"k{i}", _rgb(i, s), _rgb(i + 50, s)) for i, s in enumerate(sizes)]
    got = _score(engine, items)
    assert list(got) == [it.key for it in items]
    assert [shape[0] for _, shape, _ in seen] == [2, 2, 1, 1, 2]
    assert [shape[2] for _, shape, _ in seen] == [16, 16, 16, 12, 16]
    for i, item in enumerate(items):
        p, r = to_tensor([item.pred]), to_tensor([item.ref])
        assert got[item.key]["gmsd"] == pytest.approx((p - r).abs().mean().item(), abs=1e-6), i


@pytest.mark.parametrize("metrics", [["gmsd"], ["psnr"], ["psnr", "gmsd"]])
def test_problem_items_are_reported_in_place_and_the_run_goes_on(fakes, metrics):
    engine = MetricEngine(metrics, device="cpu", batch_size=3)
    ok = [(_rgb(i), _rgb(i + 20)) for i in range(4)]
    items = [
        PairItem("ok0", *ok[0]),
        PairItem("ok1", *ok[1]),
        PairItem("small", _rgb(30, (12, 16)), _rgb(31, (16, 20))),
        PairItem("broken", b"<html>", _rgb(32)),
        PairItem("badref", _rgb(33), b"GIF89a-not-really"),
        PairItem("noref", _rgb(34)),
        PairItem("grey", np.zeros((16, 16, 2), np.uint8), _rgb(35)),
        PairItem("ok2", *ok[2]),
        PairItem("ok3", *ok[3]),
    ]
    got = _score(engine, items, errors="return")
    assert list(got) == [it.key for it in items]
    assert str(got["small"]) == (
        "small: prediction is 16×12 but reference is 20×16; full-reference metrics need equal sizes"
    )
    assert isinstance(got["broken"], GGTError) and got["broken"].item == "broken (prediction)"
    assert isinstance(got["badref"], GGTError) and got["badref"].item == "badref (reference)"
    assert str(got["noref"]) == "noref: full-reference metrics requested but no reference given"
    assert isinstance(got["grey"], BadImageError) and got["grey"].item == "grey (prediction)"
    for key, (p, r) in zip(["ok0", "ok1", "ok2", "ok3"], ok, strict=True):
        alone = _score(MetricEngine(metrics, device="cpu"), [PairItem(key, p, r)])[key]
        assert got[key] == pytest.approx(alone, abs=1e-6)
        assert list(got[key]) == metrics
    with pytest.raises(ValueError, match="full-reference metrics need equal sizes"):
        _score(engine, items[:3])
    with pytest.raises(GGTError):
        list(engine.score_pairs(items[3:4], progress=False))


def test_conversions_are_recorded_per_converted_prediction(fakes):
    engine = MetricEngine(["gmsd"], device="cpu")
    grey = Image.fromarray(_rgb(0)).convert("L")
    items = [
        PairItem("rgb", _rgb(1), _rgb(2)),
        PairItem("grey", grey, _rgb(3)),
        PairItem("ref", _rgb(4), grey),
    ]
    _score(engine, items)
    assert engine.conversions == {"grey": ["L → RGB"]}  # a converted reference is not the model's doing


class _Bar:
    def __init__(self, **kwargs) -> None:
        self.kwargs, self.updates, self.closed = kwargs, [], False
        _Bar.made.append(self)

    def update(self, n: int) -> None:
        self.updates.append(n)

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("metrics", [["gmsd"], ["psnr"]])
def test_progress_counts_every_item_once(fakes, monkeypatch, metrics):
    _Bar.made = []
    monkeypatch.setattr(engine_mod, "tqdm", _Bar)
    engine = MetricEngine(metrics, device="cpu", batch_size=2)
    items = [PairItem(f"k{i}", _rgb(i), _rgb(i + 1)) for i in range(3)]
    items.insert(1, PairItem("bad", b"<html>", _rgb(9)))
    list(engine.score_pairs(items, progress=True, total=4, errors="return"))
    (bar,) = _Bar.made
    assert bar.kwargs == {"total": 4, "desc": "metrics", "unit": "img", "disable": False}
    assert sum(bar.updates) == 4 and bar.closed
    list(engine.score_pairs(items[:1], progress=False))
    assert _Bar.made[1].kwargs["disable"] is True and _Bar.made[1].kwargs["total"] is None


# --- metrics that write to their input, one-image metrics, time spent ------------------------------


@pytest.mark.parametrize("order", [["piqe", "gmsd"], ["gmsd", "piqe"]])
def test_a_metric_writing_to_its_input_changes_no_other_score_nor_the_callers_tensors(fakes, order):
    """pyiqa's AFINE normalises the batch it is given in place: without a copy per network, every
    metric after it scored the normalised pixels, and ``score_batch`` changed the caller's tensors."""
    items = [PairItem(k, _rgb(i), _rgb(i + 10)) for i, k in enumerate("abc")]
    engine = MetricEngine(order, device="cpu", batch_size=2)
    engine.prepare()
    fakes["piqe"].writes_input = True
    got = _score(engine, items)
    for item in items:
        p, r = to_tensor([item.pred]), to_tensor([item.ref])
        assert got[item.key]["gmsd"] == pytest.approx((p - r).abs().mean().item(), abs=1e-6)
    pred, ref = to_tensor([_rgb(1), _rgb(2)]), to_tensor([_rgb(3), _rgb(4)])
    kept = pred.clone(), ref.clone()
    batch = engine.score_batch(pred, ref)
    assert torch.equal(pred, kept[0]) and torch.equal(ref, kept[1])
    assert batch["gmsd"] == pytest.approx((pred - ref).abs().mean(dim=(1, 2, 3)).tolist(), abs=1e-6)


def test_only_the_last_network_scores_the_engines_own_batch_without_a_copy(fakes, monkeypatch):
    """Every pyiqa network but the last gets a copy of the batch the engine built (copies of a large
    GPU batch cost memory); the last one gets the batch itself, which nobody reads after it."""
    built = []

    def spy_to_tensor(images, device="cpu"):
        built.append(to_tensor(images, device))
        return built[-1]

    monkeypatch.setattr(engine_mod, "to_tensor", spy_to_tensor)
    engine = MetricEngine(["piqe", "fsim", "gmsd"], device="cpu", batch_size=2)
    _score(engine, [PairItem(k, _rgb(i), _rgb(i + 10)) for i, k in enumerate("ab")])
    pred, ref = built
    (piqe_in,), (fsim_in,), (gmsd_in,) = (fakes[m].inputs for m in ("piqe", "fsim", "gmsd"))
    assert piqe_in[0] is not pred and torch.equal(piqe_in[0], pred)
    assert fsim_in[0] is not pred and fsim_in[1] is not ref and torch.equal(fsim_in[1], ref)
    assert gmsd_in[0] is pred and gmsd_in[1] is ref
    alone = MetricEngine(["gmsd"], device="cpu")
    _score(alone, [PairItem("a", _rgb(0), _rgb(10))])
    assert fakes["gmsd"].inputs[-1][0] is built[-2]  # one metric: no copy at all


@pytest.mark.parametrize("batch_size", [2, 4])
def test_a_one_image_metric_gets_the_batch_image_by_image(fakes, batch_size):
    """AFINE's network scores one image per call (a batch of N > 1 fails inside pyiqa): the engine
    hands it each image of a batch, with its own reference, and the other metrics the whole batch."""
    afine_fr = replace(get_spec("afine_nr"), name="afine", mode="FR", pyiqa_id="afine")
    engine = MetricEngine(["afine_nr", afine_fr, "gmsd"], device="cpu", batch_size=batch_size)
    items = [PairItem(k, _rgb(i), _rgb(i + 10)) for i, k in enumerate("abc")]
    got = _score(engine, items)
    one = (1, 3, 16, 16)
    assert fakes["afine_nr"].calls == [(one,)] * 3
    assert fakes["afine"].calls == [(one, one)] * 3
    assert [shapes[0][0] for shapes in fakes["gmsd"].calls] == ([2, 1] if batch_size == 2 else [3])
    for item in items:
        p, r = to_tensor([item.pred]), to_tensor([item.ref])
        assert got[item.key]["afine_nr"] == pytest.approx(p.mean().item(), abs=1e-6)
        assert got[item.key]["afine"] == pytest.approx((p - r).abs().mean().item(), abs=1e-6)
    assert list(got["c"]) == ["afine_nr", "afine", "gmsd"]


class _Clock:
    """``time.perf_counter`` stand-in: each thread's own clock advances 1 s per reading, so every
    timed stage lasts exactly 1 s whatever the threads do, and a stage's sum counts its runs."""

    def __init__(self) -> None:
        self._local = threading.local()

    def perf_counter(self) -> float:
        self._local.now = getattr(self._local, "now", 0.0) + 1.0
        return self._local.now


def test_time_spent_sums_every_stage_of_both_paths(fakes, monkeypatch):
    """Where the time goes: decoding and each per-pair metric once per item, batching and each
    batched metric once per batch, summed over every call of the engine."""
    monkeypatch.setattr(engine_mod, "time", _Clock())
    engine = MetricEngine(["psnr", "gmsd", "piqe"], device="cpu", batch_size=2)
    _score(engine, [PairItem(k, _rgb(i), _rgb(i + 10)) for i, k in enumerate("abc")])
    assert engine.time_spent == {"decode": 3, "psnr": 3, "to_tensor": 2, "gmsd": 2, "piqe": 2}
    _score(engine, [PairItem("d", _rgb(3), _rgb(13))])
    assert engine.time_spent == {"decode": 4, "psnr": 4, "to_tensor": 3, "gmsd": 3, "piqe": 3}
    only_pairs = MetricEngine(["psnr", "ssim"], device="cpu")
    _score(only_pairs, [PairItem("a", _rgb(0), _rgb(1)), PairItem("b", b"<html>", _rgb(1))], errors="return")
    assert only_pairs.time_spent == {"decode": 2, "psnr": 1, "ssim": 1}  # no batch was built
    batch = MetricEngine(["piqe"], device="cpu")
    batch.score_batch(to_tensor([_rgb(0)]))
    assert batch.time_spent == {"piqe": 1}


# --- missing weights ----------------------------------------------------------------------------


def test_prepare_creates_every_metric_and_raises_missing_weights(fakes, monkeypatch):
    MetricEngine(["gmsd", "piqe"], device="cpu").prepare()
    assert set(fakes) == {"gmsd", "piqe"}

    def missing(name, pyiqa_id, device, **options):
        raise MissingWeightsError(name, "weights file 'x.pth' is missing")

    monkeypatch.setattr(engine_mod, "create_pyiqa_metric", missing)
    with pytest.raises(MissingWeightsError, match=r"gmsd: weights file .x\.pth. is missing"):
        MetricEngine(["gmsd"], device="cpu").prepare()


def test_drop_unavailable_drops_only_what_cannot_be_built(fakes, monkeypatch):
    unobtainable = {"piqe": "weights file 'p.pth' is not on disk and offline"}
    monkeypatch.setattr(weights, "unobtainable_reason", lambda spec: unobtainable.get(spec.name))
    real_create = engine_mod.create_pyiqa_metric

    def create(name, pyiqa_id, device, **options):
        if name == "vif":
            raise MissingWeightsError(name, "weights file 'v.pth' could not be downloaded")
        return real_create(name, pyiqa_id, device, **options)

    monkeypatch.setattr(engine_mod, "create_pyiqa_metric", create)
    engine = MetricEngine(["gmsd", "piqe", "vif", "fsim"], device="cpu")
    dropped = engine.drop_unavailable()
    assert dropped == {
        "piqe": "weights file 'p.pth' is not on disk and offline",
        "vif": "weights file 'v.pth' could not be downloaded",
    }
    assert [s.name for s in engine.specs] == ["gmsd", "fsim"]
    assert set(fakes) == {"gmsd", "fsim"}  # the unobtainable one was never built
    assert engine.drop_unavailable() == {}


def test_a_metric_already_built_is_kept(fakes, monkeypatch):
    engine = MetricEngine(["piqe"], device="cpu")
    engine.prepare()
    monkeypatch.setattr(weights, "unobtainable_reason", lambda spec: "gone since")
    assert engine.drop_unavailable() == {}
    assert [s.name for s in engine.specs] == ["piqe"]


# --- threads ------------------------------------------------------------------------------------


def test_a_shared_model_is_called_by_one_thread_at_a_time(fakes):
    """Two engines share the process's models (as ``ggt build``'s QC workers do): however many
    threads score, a model is inside one call at a time (pyiqa's PIQE keeps per-call state)."""
    from concurrent.futures import ThreadPoolExecutor

    engines = [MetricEngine(["piqe", "gmsd"], device="cpu") for _ in range(2)]
    for engine in engines:
        engine.prepare()
    assert fakes.created == ["piqe", "gmsd"] * 2 and len({id(m) for m in fakes.values()}) == 2
    for model in fakes.values():
        model.pause = 0.002  # long enough for the threads to overlap without the lock
    x, y = to_tensor([_rgb(0)]), to_tensor([_rgb(1)])
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: engines[i % 2].score_batch(x, y), range(40)))
    assert [m.most_active for m in fakes.values()] == [1, 1]
    assert len(fakes["piqe"].calls) == 40 and all(r == results[0] for r in results)


def test_different_models_are_not_serialised_with_each_other(fakes):
    """The lock belongs to one model: another metric scores while the first one is busy."""
    from concurrent.futures import ThreadPoolExecutor

    piqe_engine, gmsd_engine = MetricEngine(["piqe"], device="cpu"), MetricEngine(["gmsd"], device="cpu")
    piqe_engine.prepare()
    gmsd_engine.prepare()
    piqe = fakes["piqe"]
    piqe.entered, piqe.release = threading.Event(), threading.Event()
    x, y = to_tensor([_rgb(0)]), to_tensor([_rgb(1)])
    with ThreadPoolExecutor(1) as pool:
        busy = pool.submit(piqe_engine.score_batch, x)
        assert piqe.entered.wait(5)
        gmsd_engine.score_batch(x, y)  # with one lock for all models this waits for PIQE's call
        piqe.release.set()
        busy.result()
    assert piqe.released  # released by the line after the GMSD call, not by its 5 s timeout


# --- decode threads and read-ahead ----------------------------------------------------------------


def test_decodes_run_in_at_most_workers_threads(fakes, monkeypatch):
    active, most = [0], [0]
    count = threading.Lock()
    original = MetricEngine._decode

    def decode(self, item):
        with count:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.01)
        with count:
            active[0] -= 1
        return original(self, item)

    monkeypatch.setattr(MetricEngine, "_decode", decode)
    items = [PairItem(f"k{i}", _rgb(i)) for i in range(8)]
    _score(MetricEngine(["piqe"], device="cpu", workers=1), items)
    assert most[0] == 1
    most[0] = 0
    _score(MetricEngine(["piqe"], device="cpu", workers=3), items)
    assert 1 <= most[0] <= 3


def test_read_ahead_is_bounded_by_two_batches(fakes):
    """Items are read (and decoded) ahead of the results, by about two batches: enough to keep
    the decode threads busy, never so many that decoded images pile up in memory."""
    pulled = [0]

    def items():
        for i in range(20):
            pulled[0] += 1
            yield PairItem(f"k{i}", _rgb(i))

    engine = MetricEngine(["piqe"], device="cpu", batch_size=2)
    ahead = [pulled[0] - n for n, _ in enumerate(engine.score_pairs(items(), progress=False), 1)]
    assert max(ahead) <= 2 * 2 + 1  # two batches, plus the one being scored
    assert min(ahead[:-5]) >= 2  # at least a batch ahead until the input runs out
