"""Tiled inference: exactness for pixel-wise models, seams for models with a receptive field, any
size, bounded tiles, dtype handling, and a real restorer on a large real photo."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ggt_hf.imaging.tensors import to_tensor
from ggt_hf.restorers import build_restorer
from ggt_hf.restorers.tiling import feather_weights, restore_image, tile_starts, tiled_forward

pytestmark = pytest.mark.usefixtures("torch_single_thread")


class Recorder(nn.Module):
    """Wraps a module and records the spatial size of every input it sees."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.sizes: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(tuple(x.shape[-2:]))
        return self.inner(x)


def box_blur(radius: int) -> nn.Conv2d:
    """A zero-padded box blur: every output pixel sees a (2r+1)² neighbourhood."""
    conv = nn.Conv2d(3, 3, 2 * radius + 1, padding=radius, bias=False, groups=3)
    nn.init.constant_(conv.weight, 1 / (2 * radius + 1) ** 2)
    return conv


@pytest.fixture
def photo_tensor(photos) -> torch.Tensor:
    return to_tensor([photos[0]])[:, :, :301, :257]  # odd, not a multiple of the tile


@pytest.mark.parametrize(
    ("size", "tile", "overlap"), [(1, 8, 0), (96, 96, 16), (97, 96, 16), (301, 64, 16), (300, 7, 6)]
)
def test_windows_cover_the_axis_and_weights_sum_to_one(size, tile, overlap):
    starts = tile_starts(size, tile, overlap)
    length = min(tile, size)
    assert starts[0] == 0 and starts[-1] + length == size
    assert all(b - a <= tile - overlap for a, b in itertools.pairwise(starts))  # overlap at least `overlap`
    total = torch.zeros(size)
    for start, weight in feather_weights(size, tile, overlap):
        assert weight.shape == (length,) and (weight >= 0).all()
        total[start : start + length] += weight
    torch.testing.assert_close(total, torch.ones(size))


def test_invalid_tiling_is_refused():
    with pytest.raises(ValueError, match="overlap < tile"):
        tile_starts(100, 32, 32)
    with pytest.raises(ValueError, match="tile > 0"):
        tile_starts(100, 0, 0)


def test_pixelwise_model_tiled_equals_untiled(photo_tensor):
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 3, 1)
    with torch.no_grad():
        full = conv(photo_tensor)
    for overlap in (0, 5, 16):
        tiled = tiled_forward(conv, photo_tensor, tile=64, overlap=overlap)
        assert (tiled - full).abs().max() < 1e-5


def test_overlap_removes_the_seams_of_a_receptive_field(photo_tensor):
    blur = box_blur(4)
    with torch.no_grad():
        full = blur(photo_tensor)
    seams = (tiled_forward(blur, photo_tensor, tile=96, overlap=0) - full).abs()
    blended = (tiled_forward(blur, photo_tensor, tile=96, overlap=16) - full).abs()
    assert seams.max() > 0.1  # visible: the zero padding at every tile border darkens it
    assert blended.max() < 1e-4  # margin overlap//4 = 4 covers the blur radius
    # a receptive field wider than the margin still leaves only faint seams
    wide = box_blur(8)
    with torch.no_grad():
        full_wide = wide(photo_tensor)
    faint = (tiled_forward(wide, photo_tensor, tile=96, overlap=16) - full_wide).abs()
    hard = (tiled_forward(wide, photo_tensor, tile=96, overlap=0) - full_wide).abs()
    assert faint.mean() < hard.mean() / 5


def test_the_model_only_sees_tiles(photo_tensor):
    recorder = Recorder(nn.Identity())
    out = tiled_forward(recorder, photo_tensor, tile=64, overlap=8)
    assert set(recorder.sizes) == {(64, 64)}  # device memory depends on the tile, not the image
    assert len(recorder.sizes) == len(tile_starts(301, 64, 8)) * len(tile_starts(257, 64, 8))
    torch.testing.assert_close(out, photo_tensor)
    recorder.sizes.clear()
    tiled_forward(recorder, photo_tensor, tile=None)
    assert recorder.sizes == [(301, 257)]


def test_restore_image_any_size_and_input_type(photos):
    torch.manual_seed(0)
    model = build_restorer("nafnet", width=4, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])
    for w, h in [(5, 7), (1, 1), (130, 67)]:
        crop = photos[1].crop((0, 0, w, h))
        out = restore_image(model, crop, tile=64, overlap=16)
        assert isinstance(out, Image.Image) and out.size == (w, h) and out.mode == "RGB"
    array_out = restore_image(model, np.asarray(photos[1].crop((0, 0, 130, 67))), tile=64, overlap=16)
    assert np.array_equal(np.asarray(array_out), np.asarray(out))


def test_large_photo_with_small_tiles(photos):
    torch.manual_seed(0)
    model = build_restorer("nafnet", width=4, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])
    with torch.no_grad():  # NAFNet blocks start as identities; make them all act
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    big = photos[0].resize((1000, 1024), Image.Resampling.BICUBIC)
    tiled = np.asarray(restore_image(model, big, tile=256, overlap=32), dtype=np.int16)
    whole = np.asarray(restore_image(model, big, tile=None), dtype=np.int16)
    assert tiled.shape == (1024, 1000, 3)
    assert np.abs(whole - np.asarray(big, dtype=np.int16)).mean() > 10  # the model does change the image
    # its channel attention pools globally, so tiles cannot be exact; the blend leaves no seam
    assert np.abs(tiled - whole).max() <= 2


def test_reduced_precision_is_cuda_only(photo_tensor, caplog):
    conv = nn.Conv2d(3, 3, 1)
    with caplog.at_level(logging.WARNING, logger="ggt_hf.restorers.tiling"):
        out = tiled_forward(conv, photo_tensor, tile=64, overlap=8, device="cpu", dtype="bfloat16")
    assert "only used on CUDA" in caplog.text
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, tiled_forward(conv, photo_tensor, tile=64, overlap=8))


def test_a_path_is_refused_with_what_to_do(tmp_path):
    """Issue 23.4: the model card called ``restore_image(model, "photo.jpg")``, which died with
    ``AttributeError: 'str' object has no attribute 'convert'``; the card now opens the file with PIL
    and a path gets a TypeError saying so."""
    model = build_restorer("nafnet", width=4, middle_blk_num=1, enc_blk_nums=[1], dec_blk_nums=[1])
    for path in ("photo.jpg", tmp_path / "photo.jpg"):
        with pytest.raises(TypeError, match=r"not a path|open a file with PIL\.Image\.open"):
            restore_image(model, path)
