"""Ingest a corpus of malformed and unusual files: every file gets exactly one verdict, with the right reason.

The corpus is generated in a temporary folder (category sub-folders, as a user would lay it out) from
real photos (``skimage.data`` and the copies bundled in ``ggt_hf/sample_data``). Each bad file must get
exactly one line in ``rejects.jsonl`` whose reason matches the expected pattern; each good or
merely unusual file must be ingested (with the expected decode warnings) as an 8-bit RGB square.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import skimage.data as skdata
from PIL import Image

from ggt_hf.imaging.images import load_image
from ggt_hf.ingest.normalize import NormalizePolicy, Transform
from ggt_hf.ingest.photos import IngestConfig, IngestSummary, ingest
from ggt_hf.pipeline.demo import sample_dir

SIZE = 256
MAX_PIXELS = 4_000_000
CONFIG = IngestConfig(policy=NormalizePolicy(size=SIZE), min_side=64, max_aspect=4.0, max_pixels=MAX_PIXELS)

#: A file name that is not valid UTF-8 (Latin-1 "é"), as found on old disks and camera cards.
NON_UTF8_NAME = b"hubble-caf\xe9.png"
NON_UTF8_TEXT = "general/hubble-caf\\xe9.png"  # how ingest writes it: the raw byte escaped

try:
    import pillow_heif  # noqa: F401

    _buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(_buf, "HEIF")
    HAVE_HEIF = True
except Exception:  # pragma: no cover - depends on the environment
    HAVE_HEIF = False

# --------------------------------------------------------------------------------------------------
# Expectations: relative path -> reason pattern (rejects) / (warning pattern or None, format) (accepted)
# --------------------------------------------------------------------------------------------------

REJECTS: dict[str, str] = {
    "loose.jpg": r"^no category: use a category sub-folder",
    "misc/orphan.jpg": r"^no category: use a category sub-folder",
    "general/bomb.png": r"^decompression bomb: Image size \(400000000 pixels\) exceeds limit",
    "general/bomb_header.png": r"^decompression bomb: Image size \(400000000 pixels\) exceeds limit",
    "general/over_limit.png": r"^decompression bomb: 2200×2000 = 4,400,000 pixels exceeds the limit of 4,000,000$",
    "general/one_pixel.png": r"^too small: 1×1, short side below the minimum of 64$",
    "general/strip.png": r"^too small: 20000×10, short side below the minimum of 64$",
    "general/too_small.jpg": r"^too small: 50×40, short side below the minimum of 64$",
    "general/panorama.jpg": r"^extreme aspect ratio 1000×100 \(more than 4.0:1\)$",
    "haze/empty.jpg": r"^empty file \(0 bytes\)$",
    "haze/page.jpg": r"^not an image: content is HTML/XML text$",
    "haze/doc.png": r"^not an image: content is a PDF document$",
    "haze/icon.png": r"^unsupported image format ICO$",
    "low_light/gone.jpg": r"^dangling symlink \(points to '.*does-not-exist\.jpg'\)$",
    "low_light/loop.jpg": r"^symlink loop \(points to 'loop\.jpg'\)$",
    "low_light/pipe.jpg": r"^not a regular file$",
    "old_photo/dup_copy.png": r"^exact duplicate of astronaut-[0-9a-f]{8} \(.*/general/astronaut\.png\)$",
    "old_photo/near_dup_q85.jpg": r"^near duplicate of chelsea-[0-9a-f]{8} \(perceptual hash distance [0-4]\)$",
    "old_photo/notes.jpg": r"^not an image: format not recognised$",
    "rain/truncated.jpg": r"^truncated or corrupt image data: image file is truncated",
    "rain/header_cut.jpg": r"^corrupt image header: ",
    "rain/truncated.png": r"^truncated or corrupt image data: image file is truncated",
    "rain/idat_corrupt.png": r"^truncated or corrupt image data: ",
    "rain/truncated.gif": r"^truncated or corrupt image data: image file is truncated",
    # These two used to escape as IndexError / TypeError and abort the whole ingest run.
    "rain/gif_frames_cut.gif": r"^truncated or corrupt image data: index out of range$",
    "rain/tiff_missing_dims.tif": r"^truncated or corrupt image data: Missing dimensions$",
    "snow/data.png": r"^not an image: content looks like JSON text$",
    "snow/noise.webp": r"^not an image: format not recognised$",
    "snow/zero_width.png": r"^not an image: format not recognised$",
    "snow/truncated.heic": r"^truncated or corrupt image data: ",
}

ACCEPTS: dict[str, tuple[str | None, str]] = {
    "general/astronaut.png": (None, "PNG"),
    "general/coffee.png": (None, "PNG"),
    NON_UTF8_TEXT: (None, "PNG"),
    "haze/chelsea.jpg": (None, "JPEG"),
    "haze/cmyk.jpg": (r"^CMYK converted to RGB without a colour profile \(approximate\)$", "JPEG"),
    "haze/grey16.png": (r"^I;16 high-bit-depth image scaled to 8 bits$", "PNG"),
    "haze/grey16.tif": (r"^I;16B? high-bit-depth image scaled to 8 bits$", "TIFF"),
    "low_light/palette_trns.png": (r"^alpha channel composited onto white$", "PNG"),
    "low_light/la.png": (r"^alpha channel composited onto white$", "PNG"),
    "low_light/rgba.png": (r"^alpha channel composited onto white$", "PNG"),
    "low_light/grey_trns.png": (r"^alpha channel composited onto white$", "PNG"),
    "old_photo/animated.gif": (r"^animated/multi-frame image \(3 frames\): first frame used$", "GIF"),
    "old_photo/rotated.jpg": (r"^EXIF orientation applied$", "JPEG"),
    "old_photo/rocket.jpg": (r"^ICC profile 'Adobe RGB \(1998\)' converted to sRGB$", "JPEG"),
    "old_photo/greyscale.jpg": (None, "JPEG"),
    "rain/broken_icc.jpg": (r"^unreadable ICC profile ignored, pixels taken as sRGB", "JPEG"),
    "rain/photo.bmp": (None, "BMP"),
    "snow/photo.heic": (None, "HEIF"),
}

#: Present in the source folder but not image files: discovery must ignore them (no line anywhere).
IGNORED = ["readme.txt", "low_light/folder.jpg", "rain/.hidden.jpg"]

HEIF_ONLY = {"snow/photo.heic", "snow/truncated.heic"}


# --------------------------------------------------------------------------------------------------
# Corpus construction
# --------------------------------------------------------------------------------------------------


def _encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def _png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A complete, valid 1-bit PNG of ``width``×``height`` black pixels: tens of kB on disk."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _patch_png_size(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the IHDR width/height of a real PNG and fix its CRC (the pixel data stays tiny)."""
    assert data[12:16] == b"IHDR"
    ihdr = struct.pack(">II", width, height) + data[24:29]
    return data[:8] + _png_chunk(b"IHDR", ihdr) + data[33:]


def _gif_descriptor_offsets(data: bytes) -> list[int]:
    """Offsets of the image descriptors (0x2C) of a GIF, found by walking its block structure."""
    pos, offsets = 13, []
    if data[10] & 0x80:
        pos += 3 * 2 ** ((data[10] & 7) + 1)
    while pos < len(data) and data[pos] != 0x3B:
        if data[pos] == 0x21:  # extension: label, then sub-blocks
            pos += 2
        else:
            assert data[pos] == 0x2C
            offsets.append(pos)
            flags = data[pos + 9]
            pos += 10 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0) + 1  # + LZW code size
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    return offsets


def _tiff_drop_dimensions_of_second_page(data: bytes) -> bytes:
    """Rename the ImageWidth/ImageLength tags of page 2 of a little-endian TIFF to unknown tags."""
    assert data[:2] == b"II"
    first = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[first : first + 2])[0]
    second = struct.unpack("<I", data[first + 2 + 12 * count : first + 6 + 12 * count])[0]
    out = bytearray(data)
    for k in range(struct.unpack("<H", data[second : second + 2])[0]):
        pos = second + 2 + 12 * k
        tag = struct.unpack("<H", out[pos : pos + 2])[0]
        if tag in (256, 257):
            out[pos : pos + 2] = struct.pack("<H", 65000 + tag - 256)
    return bytes(out)


def _grey16_camera() -> np.ndarray:
    """``camera`` scaled to 16 bits, with a 65535 patch and a 32768 patch in the kept centre."""
    arr = skdata.camera().astype(np.uint16) * 257
    arr[100:200, 100:200] = 65535
    arr[300:400, 300:400] = 32768
    return arr


@dataclass
class Corpus:
    src: Path
    skipped: dict[str, str] = field(default_factory=dict)  # relative path -> why it was not created


def build_corpus(root: Path) -> Corpus:
    """Write the corpus under ``root / "src"``; see ``REJECTS`` and ``ACCEPTS`` for what each file is."""
    src = root / "src"
    for folder in ("general", "haze", "low_light", "misc", "old_photo", "rain", "snow"):
        (src / folder).mkdir(parents=True)
    corpus = Corpus(src)

    def put(rel: str, data: bytes) -> None:
        (src / rel).write_bytes(data)

    astronaut = Image.fromarray(skdata.astronaut())
    coffee = Image.fromarray(skdata.coffee())
    chelsea = Image.fromarray(skdata.chelsea())
    hubble = skdata.hubble_deep_field()

    # --- good photos (and the originals of the duplicates) ---
    put("general/astronaut.png", _encode(astronaut, "PNG"))
    put("general/coffee.png", _encode(coffee, "PNG"))
    (src / "general").joinpath(os.fsdecode(NON_UTF8_NAME)).write_bytes(
        _encode(Image.fromarray(hubble[472:872, 400:1000]), "PNG")
    )
    put("haze/chelsea.jpg", _encode(chelsea, "JPEG", quality=95))

    # --- not files, not images, not usable ---
    put("loose.jpg", _encode(coffee.crop((0, 0, 300, 300)), "JPEG"))
    put("misc/orphan.jpg", _encode(coffee.crop((300, 100, 600, 400)), "JPEG"))
    put("general/bomb.png", _png_bomb())
    put(
        "general/bomb_header.png", _patch_png_size(_encode(astronaut.resize((64, 64)), "PNG"), 20_000, 20_000)
    )
    put("general/over_limit.png", _encode(Image.new("L", (2200, 2000), 128), "PNG"))
    put("general/one_pixel.png", _encode(Image.new("RGB", (1, 1), (200, 30, 30)), "PNG"))
    strip = np.tile(np.linspace(0, 255, 20_000).astype(np.uint8), (10, 1))
    put("general/strip.png", _encode(Image.fromarray(strip), "PNG"))
    put("general/too_small.jpg", _encode(astronaut.crop((200, 200, 250, 240)), "JPEG"))
    put("general/panorama.jpg", _encode(Image.fromarray(hubble[0:100, 0:1000]), "JPEG"))
    put("haze/empty.jpg", b"")
    put("haze/page.jpg", b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>\n")
    put("haze/doc.png", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n")
    put("haze/icon.png", _encode(astronaut.resize((64, 64)), "ICO"))
    (src / "low_light/gone.jpg").symlink_to(src / "low_light/does-not-exist.jpg")
    (src / "low_light/loop.jpg").symlink_to("loop.jpg")
    os.mkfifo(src / "low_light/pipe.jpg")
    put("old_photo/dup_copy.png", (src / "general/astronaut.png").read_bytes())
    near = chelsea.resize((440, 293), Image.Resampling.LANCZOS)
    put("old_photo/near_dup_q85.jpg", _encode(near, "JPEG", quality=85))
    put("old_photo/notes.jpg", b"Holiday notes\n- bring sunscreen\n- photos are on the other card\n")
    jpeg = _encode(astronaut, "JPEG", quality=90)
    put("rain/truncated.jpg", jpeg[: len(jpeg) * 6 // 10])
    put("rain/header_cut.jpg", jpeg[:300])
    png = _encode(coffee.crop((0, 0, 300, 200)), "PNG")
    put("rain/truncated.png", png[: len(png) // 2])
    damaged = bytearray(png)
    damaged[png.find(b"IDAT") + 100] ^= 0xFF
    put("rain/idat_corrupt.png", bytes(damaged))
    horse = skdata.horse().astype(np.uint8) * 255  # 400×328 silhouette
    frames = [Image.fromarray(horse).convert("P"), Image.fromarray(255 - horse).convert("P")]
    gif = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    put("rain/truncated.gif", gif[: len(gif) // 2])
    put("rain/gif_frames_cut.gif", gif[: _gif_descriptor_offsets(gif)[1] + 10])
    coins = Image.fromarray(skdata.coins())
    put(
        "rain/tiff_missing_dims.tif",
        _tiff_drop_dimensions_of_second_page(_encode(coins, "TIFF", save_all=True, append_images=[coins])),
    )
    put("snow/data.png", json.dumps({"images": [{"url": "https://example.org/a.png"}]}).encode())
    put("snow/noise.webp", np.random.default_rng(0).bytes(4096))
    zero = struct.pack(">IIBBBBB", 0, 10, 8, 0, 0, 0, 0)
    put(
        "snow/zero_width.png",
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", zero) + _png_chunk(b"IDAT", zlib.compress(b"")),
    )

    # --- unusual but usable ---
    put(
        "haze/cmyk.jpg",
        _encode(Image.fromarray(skdata.immunohistochemistry()).convert("CMYK"), "JPEG", quality=95),
    )
    put("haze/grey16.png", _encode(Image.fromarray(_grey16_camera()), "PNG"))
    put("haze/grey16.tif", _encode(Image.fromarray(skdata.moon().astype(np.uint16) * 257), "TIFF"))
    # Palette PNG: 63 colours, index 63 (black in the palette) marks a transparent top band.
    pal = Image.fromarray(np.stack([skdata.coins()] * 3, axis=-1)).quantize(63)
    pal_arr = np.asarray(pal).copy()
    pal_arr[:80] = 63
    pal_img = Image.fromarray(pal_arr, mode="P")
    palette = pal.getpalette()[: 63 * 3] + [0, 0, 0] * (256 - 63)
    pal_img.putpalette(palette)
    put("low_light/palette_trns.png", _encode(pal_img, "PNG", transparency=63))
    clock = skdata.clock()
    la_alpha = np.full(clock.shape, 255, np.uint8)
    la_alpha[:60] = 0
    put("low_light/la.png", _encode(Image.fromarray(np.stack([clock, la_alpha], -1), mode="LA"), "PNG"))
    retina = skdata.retina()[300:700, 300:800]
    rgba_alpha = np.full(retina.shape[:2], 255, np.uint8)
    rgba_alpha[:100] = 0
    rgba_alpha[300:] = 128
    rgba = np.dstack([retina, rgba_alpha])
    put("low_light/rgba.png", _encode(Image.fromarray(rgba, mode="RGBA"), "PNG"))
    # Greyscale PNG with a tRNS colour key (value 0): the key colour is transparent.
    micro = np.maximum(skdata.microaneurysms(), 1)
    micro[:30] = 0
    put("low_light/grey_trns.png", _encode(Image.fromarray(micro), "PNG", transparency=0))
    third = Image.fromarray(np.asarray(skdata.text())[:, :400]).resize((400, 328)).convert("P")
    put(
        "old_photo/animated.gif",
        _encode(frames[0], "GIF", save_all=True, append_images=[frames[1], third], duration=100, loop=0),
    )
    gravel = np.stack([skdata.gravel()[:200, :300]] * 3, axis=-1)
    gravel[:100, :100] = (255, 0, 0)  # marker at the *stored* top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    put("old_photo/rotated.jpg", _encode(Image.fromarray(gravel), "JPEG", quality=95, exif=exif.tobytes()))
    shutil.copyfile(sample_dir() / "rocket.jpg", src / "old_photo/rocket.jpg")
    put("old_photo/greyscale.jpg", _encode(Image.fromarray(skdata.page()), "JPEG", quality=95))
    put(
        "rain/broken_icc.jpg",
        _encode(Image.fromarray(skdata.grass()).convert("RGB"), "JPEG", icc_profile=b"not a profile" * 16),
    )
    put("rain/photo.bmp", _encode(Image.fromarray(skdata.brick()), "BMP"))
    if HAVE_HEIF:
        heic = _encode(Image.fromarray(skdata.colorwheel()), "HEIF")
        put("snow/photo.heic", heic)
        put("snow/truncated.heic", heic[: len(heic) // 2])
    else:  # pragma: no cover - depends on the environment
        for rel in HEIF_ONLY:
            corpus.skipped[rel] = "pillow-heif cannot write HEIC here"

    # --- not image files at all: ignored by discovery ---
    put("readme.txt", b"photos from the 2019 trip\n")
    (src / "low_light/folder.jpg").mkdir()
    put("rain/.hidden.jpg", _encode(coffee.crop((0, 0, 100, 100)), "JPEG"))
    return corpus


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def _jsonl(path: Path) -> list[dict]:
    """Every line of a JSONL log; each must be complete (newline-terminated) valid JSON."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    assert not text or text.endswith("\n"), f"{path} ends with a torn line"
    return [json.loads(line) for line in text.splitlines()]


def _rel(src: Path, out: Path, recorded: str) -> str:
    """A recorded source path (relative to the output folder ``out``) relative to ``src``."""
    prefix = os.path.relpath(src, out) + os.sep
    assert recorded.startswith(prefix), recorded
    return recorded[len(prefix) :]


def _snapshot(out: Path) -> dict[str, str]:
    """SHA-256 of every file under ``out``."""
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


@dataclass
class Run:
    corpus: Corpus
    out: Path
    summary: IngestSummary
    records: dict[str, dict]  # relative source path -> record
    rejects: dict[str, list[dict]]  # relative source path -> reject lines


def _run(corpus: Corpus, out: Path) -> Run:
    summary = ingest(corpus.src, out, CONFIG, progress=False)
    records: dict[str, dict] = {}
    for record in _jsonl(out / "ingested.jsonl"):
        rel = _rel(corpus.src, out, record["source_path"])
        assert rel not in records, f"{rel} ingested twice"
        records[rel] = record
    rejects: dict[str, list[dict]] = {}
    for line in _jsonl(out / "rejects.jsonl"):
        rejects.setdefault(_rel(corpus.src, out, line["path"]), []).append(line)
    return Run(corpus, out, summary, records, rejects)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("bad_inputs")
    return _run(build_corpus(root), root / "out")


def _skip_if_missing(run: Run, rel: str) -> None:
    if rel in run.corpus.skipped:
        pytest.skip(f"{rel} not in the corpus: {run.corpus.skipped[rel]}")


# --------------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------------


def test_corpus_is_big_enough() -> None:
    assert len(REJECTS) >= 25
    assert not set(REJECTS) & set(ACCEPTS)


@pytest.mark.parametrize("rel", sorted(REJECTS))
def test_bad_file_rejected_once_with_reason(run: Run, rel: str) -> None:
    _skip_if_missing(run, rel)
    lines = run.rejects.get(rel, [])
    assert len(lines) == 1, f"{rel}: expected exactly one reject line, got {lines}"
    assert re.search(REJECTS[rel], lines[0]["reason"]), f"{rel}: reason {lines[0]['reason']!r}"
    assert lines[0]["kind"] in {"BadImageError", "DuplicateError", "UnsafePathError"}
    assert rel not in run.records


@pytest.mark.parametrize("rel", sorted(ACCEPTS))
def test_usable_file_ingested(run: Run, rel: str) -> None:
    _skip_if_missing(run, rel)
    assert rel not in run.rejects, run.rejects.get(rel)
    record = run.records[rel]
    warning_pattern, fmt = ACCEPTS[rel]
    assert record["format"] == fmt
    if warning_pattern is None:
        assert record["warnings"] == []
    else:
        assert len(record["warnings"]) == 1 and re.search(warning_pattern, record["warnings"][0]), record[
            "warnings"
        ]
    category = rel.split("/")[0]
    assert record["category"] == category
    assert record["image"] == f"images/{category}/{record['id']}.png"
    path = run.out / record["image"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == record["sha256"]
    with Image.open(path) as img:
        assert (img.format, img.mode, img.size) == ("PNG", "RGB", (SIZE, SIZE))
        assert np.asarray(img).dtype == np.uint8


def test_every_file_has_exactly_one_verdict(run: Run) -> None:
    expected = {r for r in [*REJECTS, *ACCEPTS] if r not in run.corpus.skipped}
    assert set(run.records) | set(run.rejects) == expected
    assert not set(run.records) & set(run.rejects)
    for rel in IGNORED:
        assert (run.corpus.src / rel).exists()
        assert rel not in run.records and rel not in run.rejects
    images = {str(p.relative_to(run.out)) for p in (run.out / "images").rglob("*") if p.is_file()}
    assert images == {r["image"] for r in run.records.values()}  # no orphan or temp files


def test_summary_counts(run: Run) -> None:
    n_accept = len([r for r in ACCEPTS if r not in run.corpus.skipped])
    n_reject = len([r for r in REJECTS if r not in run.corpus.skipped])
    assert (run.summary.accepted, run.summary.rejected, run.summary.skipped_done) == (n_accept, n_reject, 0)
    assert sum(run.summary.reasons.values()) == n_reject
    assert run.summary.reasons["decompression bomb"] == 3
    assert run.summary.reasons["too small"] == 3
    assert run.summary.reasons["no category"] == 2
    assert f"{n_accept} new, 0 already done, {n_reject} rejected" in str(run.summary)


def test_non_utf8_file_name_is_ingested(run: Run) -> None:
    record = run.records[NON_UTF8_TEXT]
    assert record["source_path"].endswith("hubble-caf\\xe9.png")
    assert record["id"].startswith("hubble-caf-")
    json.dumps(record).encode("utf-8")  # the whole record is writable as UTF-8


def _output(run: Run, rel: str) -> np.ndarray:
    with Image.open(run.out / run.records[rel]["image"]) as img:
        return np.asarray(img.convert("RGB")).astype(int)


def _replayed(rel_path: Path, record: dict) -> np.ndarray:
    decoded = load_image(rel_path)
    return np.asarray(Transform.from_dict(record["transform"]).apply(decoded.image)).astype(int)


def test_transparent_areas_become_white(run: Run) -> None:
    # Top bands that were fully transparent (alpha 0, palette transparency, tRNS colour key) → white.
    for rel, rows in [
        ("low_light/rgba.png", 56),  # alpha 0 on source rows 0..100, scale 0.64
        ("low_light/la.png", 44),  # alpha 0 on rows 0..60, scale 0.853
        ("low_light/palette_trns.png", 60),  # transparent index on rows 0..80, scale 0.845
        ("low_light/grey_trns.png", 64),  # tRNS key on rows 0..30, scale 2.51
    ]:
        out = _output(run, rel)
        assert (out[:rows] == 255).all(), rel
        assert out[rows + 40 :].mean() < 200, rel  # the rest is the photo, not white
    # Half-transparent band (alpha 128) over the retina photo: lighter than the photo itself.
    decoded = load_image(run.corpus.src / "low_light/rgba.png").image
    retina = skdata.retina()[300:700, 300:800].astype(int)
    got = np.asarray(decoded).astype(int)
    expected = np.rint(retina[300:] * 128 / 255 + 255 * 127 / 255)
    assert np.abs(got[300:] - expected).max() <= 1
    assert (got[:100] == 255).all()
    assert (got[100:300] == retina[100:300]).all()


def test_grey16_scaled_to_8_bits(run: Run) -> None:
    decoded = load_image(run.corpus.src / "haze/grey16.png")
    assert decoded.stored_mode == "I;16"
    arr = np.asarray(decoded.image)
    assert (arr[100:200, 100:200] == 255).all()  # 65535 → 255
    assert (arr[300:400, 300:400] == 128).all()  # 32768 → 128
    camera = skdata.camera()
    assert (arr[..., 0][:100] == camera[:100]).all()  # v·257 → v exactly
    out = _output(run, "haze/grey16.png")  # 512² → 256², scale 0.5, no crop
    assert (out[55:95, 55:95] == 255).all()
    assert (out[155:195, 155:195] == 128).all()


def test_exif_rotated_jpeg_is_upright(run: Run) -> None:
    record = run.records["old_photo/rotated.jpg"]
    assert record["stored_size"] == [300, 200]
    assert record["transform"]["src_size"] == [200, 300]  # portrait after orientation 6
    out = _output(run, "old_photo/rotated.jpg")
    # The stored top-left marker is displayed top-right: 200×300 → 256×384, rows 64.. are kept.
    red = (out[..., 0] > 200) & (out[..., 1] < 60) & (out[..., 2] < 60)
    assert red[5:55, 140:250].mean() > 0.95
    assert red[:, :110].mean() < 0.01 and red[80:].mean() < 0.01


def test_animated_gif_uses_first_frame(run: Run) -> None:
    out = _output(run, "old_photo/animated.gif")
    transform = Transform.from_dict(run.records["old_photo/animated.gif"]["transform"])
    horse = skdata.horse().astype(np.uint8) * 255
    first = np.asarray(transform.apply(Image.fromarray(horse).convert("RGB"))).astype(int)
    second = np.asarray(transform.apply(Image.fromarray(255 - horse).convert("RGB"))).astype(int)
    assert np.abs(out - first).mean() < 2
    assert np.abs(out - second).mean() > 100


def test_icc_profile_is_applied(run: Run) -> None:
    rel = "old_photo/rocket.jpg"
    out = _output(run, rel)
    assert (out == _replayed(run.corpus.src / rel, run.records[rel])).all()
    with Image.open(run.corpus.src / rel) as raw:  # the same pixels with the profile ignored
        ignored = Transform.from_dict(run.records[rel]["transform"]).apply(raw.convert("RGB"))
    assert np.abs(out - np.asarray(ignored).astype(int)).mean() > 2


def test_broken_icc_profile_keeps_pixels(run: Run) -> None:
    rel = "rain/broken_icc.jpg"
    with Image.open(run.corpus.src / rel) as raw:
        assert raw.info["icc_profile"].startswith(b"not a profile")
        plain = Transform.from_dict(run.records[rel]["transform"]).apply(raw.convert("RGB"))
    assert (_output(run, rel) == np.asarray(plain)).all()


def test_max_pixels_guard_follows_config(tmp_path: Path) -> None:
    src = tmp_path / "src" / "general"
    src.mkdir(parents=True)
    Image.fromarray(skdata.coffee()).save(src / "coffee.png")  # 600×400 = 240,000 pixels
    strict = IngestConfig(policy=NormalizePolicy(size=SIZE), min_side=64, max_pixels=200_000)
    summary = ingest(tmp_path / "src", tmp_path / "strict", strict, progress=False)
    assert (summary.accepted, summary.rejected) == (0, 1)
    (line,) = _jsonl(tmp_path / "strict" / "rejects.jsonl")
    assert line["reason"] == "decompression bomb: 600×400 = 240,000 pixels exceeds the limit of 200,000"
    relaxed = IngestConfig(policy=NormalizePolicy(size=SIZE), min_side=64, max_pixels=240_000)
    assert ingest(tmp_path / "src", tmp_path / "relaxed", relaxed, progress=False).accepted == 1


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="running as root: a chmod 000 file is still readable, so 'permission denied' cannot happen "
    "(the FIFO and dangling-symlink cases cover unreadable inputs honestly)",
)
def test_unreadable_file(tmp_path: Path) -> None:  # pragma: no cover - only as non-root
    src = tmp_path / "src" / "rain"
    src.mkdir(parents=True)
    path = src / "locked.jpg"
    Image.fromarray(skdata.coffee()).save(path)
    path.chmod(0)
    try:
        summary = ingest(tmp_path / "src", tmp_path / "out", CONFIG, progress=False)
    finally:
        path.chmod(0o644)
    assert summary.rejected == 1
    (line,) = _jsonl(tmp_path / "out" / "rejects.jsonl")
    assert line["reason"] == "unreadable: permission denied"


def test_rerun_is_idempotent_and_picks_up_new_files(tmp_path: Path) -> None:
    corpus = build_corpus(tmp_path)
    out = tmp_path / "out"
    first = _run(corpus, out)
    before = _snapshot(out)
    first_lines = (out / "ingested.jsonl").read_text().splitlines()

    again = _run(corpus, out)
    assert again.summary.accepted == 0
    assert again.summary.skipped_done == first.summary.accepted
    assert again.summary.rejected == first.summary.rejected  # rejects are re-checked, not re-logged
    assert _snapshot(out) == before  # no new line in either log, no output image rewritten

    new = corpus.src / "snow" / "new-photo.jpg"
    Image.fromarray(skdata.immunohistochemistry()[::-1, ::-1]).save(new, quality=92)
    third = _run(corpus, out)
    assert (third.summary.accepted, third.summary.skipped_done) == (1, first.summary.accepted)
    assert set(third.records) - set(first.records) == {"snow/new-photo.jpg"}
    assert third.rejects == first.rejects
    after = _snapshot(out)
    assert {k: v for k, v in after.items() if k in before and not k.endswith(".jsonl")} == {
        k: v for k, v in before.items() if not k.endswith(".jsonl")
    }
    assert set(after) - set(before) == {third.records["snow/new-photo.jpg"]["image"]}
    lines = (out / "ingested.jsonl").read_text().splitlines()
    assert lines[:-1] == first_lines and json.loads(lines[-1])["id"].startswith("new-photo-")
