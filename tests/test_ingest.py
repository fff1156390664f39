"""Ingest: categories (folders, manifests, config), records, stable ids, replayable transforms, resumption."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import skimage.data as skdata
from PIL import Image

from ggt_hf.constants import IMAGE_SIZE
from ggt_hf.imaging.images import load_image
from ggt_hf.ingest.normalize import NormalizePolicy, Transform
from ggt_hf.ingest.photos import IngestConfig, discover_sources, ingest, make_id, read_ingested
from ggt_hf.pipeline.demo import sample_dir

SIZE = 256


def _config(**kwargs) -> IngestConfig:
    return IngestConfig(policy=kwargs.pop("policy", NormalizePolicy(size=SIZE)), min_side=64, **kwargs)


def _jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    assert not text or text.endswith("\n"), f"{path} ends with a torn line"
    return [json.loads(line) for line in text.splitlines()]


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.mode == "RGB"
        return np.asarray(img)


#: Distinct real photos (name -> HWC uint8), kept small.
def _photo(name: str) -> np.ndarray:
    return {
        "astronaut": lambda: skdata.astronaut()[::2, ::2],  # 256×256
        "chelsea": skdata.chelsea,  # 451×300
        "coffee": skdata.coffee,  # 600×400
        "immuno": lambda: skdata.immunohistochemistry()[:400, :],  # 512×400
        "hubble": lambda: skdata.hubble_deep_field()[:400, :500],
        "retina": lambda: skdata.retina()[300:700, 300:900],
        "camera": lambda: np.stack([skdata.camera()] * 3, -1),
        "moon": lambda: np.stack([skdata.moon()[:300]] * 3, -1),
    }[name]()


def _save(path: Path, name: str, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_photo(name)).save(path, **kwargs)
    return path


# ------------------------------------------------------------------------------------------ categories


def test_category_from_sub_folder_aliases(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _save(src / "LowLight" / "a.png", "astronaut")
    _save(src / "old-photo" / "b.jpg", "chelsea", quality=95)
    _save(src / "Rainy" / "c.png", "coffee")
    _save(src / "fog" / "d.png", "immuno")
    _save(src / "General" / "trip" / "day1" / "e.png", "hubble")  # deeper levels: first level decides
    _save(src / "holiday" / "f.png", "retina")  # not a category name and no --category
    summary = ingest(src, tmp_path / "out", _config(), progress=False)
    assert (summary.accepted, summary.rejected) == (5, 1)
    records = {Path(r["source_path"]).name: r for r in read_ingested(tmp_path / "out")}
    assert {name: r["category"] for name, r in records.items()} == {
        "a.png": "low_light",
        "b.jpg": "old_photo",
        "c.png": "rain",
        "d.png": "haze",
        "e.png": "general",
    }
    for r in records.values():
        assert r["image"] == f"images/{r['category']}/{r['id']}.png"
        assert (tmp_path / "out" / r["image"]).is_file()
        assert r["source"] == Path(r["source_path"]).parent.name  # default source: the folder
        assert r["license"] is None and r["split"] is None
    (reject,) = _jsonl(tmp_path / "out" / "rejects.jsonl")
    assert reject["path"] == "../src/holiday/f.png"  # relative to the output folder
    assert reject["reason"].startswith("no category") and "holiday/ is not a category" in reject["reason"]
    assert reject["kind"] == "BadImageError"


def _manifest_rows(src: Path) -> list[dict]:
    _save(src / "img" / "a.png", "astronaut")
    _save(src / "img" / "b.png", "chelsea")
    _save(src / "rain" / "c.png", "coffee")  # the folder says rain, the manifest says snow
    _save(src / "img" / "d.png", "immuno")
    return [
        {
            "path": "img/a.png",
            "category": "Low-Light",
            "source": "NASA",
            "license": "public-domain",
            "split": "train",
        },
        {
            "path": "img/b.png",
            "category": "old photo",
            "source": "Stefan",
            "license": "cc0-1.0",
            "split": "test",
        },
        {"path": "rain/c.png", "category": "snow", "source": "Rachel", "license": "cc0-1.0", "split": ""},
        {"path": "img/d.png", "category": "sunny", "source": "x", "license": "y", "split": ""},
        {"path": "img/missing.png", "category": "rain", "source": "x", "license": "y", "split": ""},
    ]


def _check_manifest_ingest(out: Path, src: Path) -> None:
    records = {Path(r["source_path"]).name: r for r in read_ingested(out)}
    assert set(records) == {"a.png", "b.png", "c.png"}
    assert (records["a.png"]["category"], records["a.png"]["source"], records["a.png"]["license"]) == (
        "low_light",
        "NASA",
        "public-domain",
    )
    assert records["a.png"]["split"] == "train"
    assert (records["b.png"]["category"], records["b.png"]["source"], records["b.png"]["license"]) == (
        "old_photo",
        "Stefan",
        "cc0-1.0",
    )
    assert records["b.png"]["split"] == "test"
    assert records["c.png"]["category"] == "snow"
    assert records["c.png"]["image"].startswith("images/snow/")
    rejects = {Path(r["path"]).name: r["reason"] for r in _jsonl(out / "rejects.jsonl")}
    assert rejects == {
        "d.png": "unknown category 'sunny'; expected one of general, rain, haze, snow, low_light, old_photo",
        "missing.png": "file does not exist",
    }


def test_category_from_csv_manifest(tmp_path: Path) -> None:
    src = tmp_path / "src"
    rows = _manifest_rows(src)
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = ingest(src, tmp_path / "out", _config(), manifest=manifest, progress=False)
    assert (summary.accepted, summary.rejected) == (3, 2)
    _check_manifest_ingest(tmp_path / "out", src)


def test_category_from_jsonl_manifest(tmp_path: Path) -> None:
    src = tmp_path / "src"
    rows = _manifest_rows(src)
    rows[0]["path"] = str(src / rows[0]["path"])  # absolute paths work too
    for row in rows:
        if not row["split"]:
            del row["split"]
    manifest = src / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    # src is the manifest itself: paths are relative to its folder.
    summary = ingest(manifest, tmp_path / "out", _config(), manifest=manifest, progress=False)
    assert (summary.accepted, summary.rejected) == (3, 2)
    _check_manifest_ingest(tmp_path / "out", src)


def test_bundled_sample_manifest(tmp_path: Path) -> None:
    with open(sample_dir() / "manifest.csv", newline="") as fh:
        rows = {r["path"]: r for r in csv.DictReader(fh)}
    summary = ingest(
        sample_dir(), tmp_path / "out", _config(), manifest=sample_dir() / "manifest.csv", progress=False
    )
    assert (summary.accepted, summary.rejected) == (len(rows), 0)
    for record in read_ingested(tmp_path / "out"):
        row = rows[Path(record["source_path"]).name]
        assert (record["category"], record["source"], record["license"], record["split"]) == (
            row["category"],
            row["source"],
            row["license"],
            row["split"],
        )


def test_category_from_config(tmp_path: Path) -> None:
    src = tmp_path / "flat"
    _save(src / "a.png", "astronaut")
    _save(src / "b.png", "coffee")
    config = _config(category="Snowy", source="my camera", license="cc-by-4.0")
    summary = ingest(src, tmp_path / "out", config, progress=False)
    assert summary.accepted == 2
    for record in read_ingested(tmp_path / "out"):
        assert (record["category"], record["source"], record["license"]) == ("snow", "my camera", "cc-by-4.0")
    # A single file as the source.
    single = _save(tmp_path / "one" / "c.png", "immuno")
    assert ingest(single, tmp_path / "out1", _config(category="haze"), progress=False).accepted == 1
    assert read_ingested(tmp_path / "out1")[0]["category"] == "haze"
    # A sub-folder category wins over the configured default.
    _save(src / "rain" / "d.png", "hubble")
    ingest(src, tmp_path / "out", config, progress=False)
    assert {r["category"] for r in read_ingested(tmp_path / "out")} == {"snow", "rain"}


def test_unknown_config_category_is_refused_before_any_work(tmp_path: Path) -> None:
    _save(tmp_path / "src" / "a.png", "astronaut")
    with pytest.raises(ValueError, match=r"^unknown category 'sunny'"):
        ingest(tmp_path / "src", tmp_path / "out", _config(category="sunny"), progress=False)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------- ids, records


def test_ids_are_stable_and_content_addressed(tmp_path: Path) -> None:
    src = tmp_path / "src" / "rain"
    _save(src / "My Photo (1).png", "astronaut")
    _save(src / "b.png", "coffee")
    for out in ("out1", "out2"):
        ingest(tmp_path / "src", tmp_path / out, _config(), progress=False)
    first, second = read_ingested(tmp_path / "out1"), read_ingested(tmp_path / "out2")
    assert [r["id"] for r in first] == [r["id"] for r in second]
    assert [r["sha256"] for r in first] == [r["sha256"] for r in second]
    for r in first:
        assert (tmp_path / "out1" / r["image"]).read_bytes() == (tmp_path / "out2" / r["image"]).read_bytes()
        digest = hashlib.sha256((tmp_path / "out1" / r["source_path"]).read_bytes()).hexdigest()
        assert r["source_sha256"] == digest
        assert r["id"] == make_id(Path(r["source_path"]).stem, digest)
    assert re.fullmatch(r"my-photo-1-[0-9a-f]{8}", first[0]["id"])
    # Different content under the same name gives a different id.
    _save(src / "b.png", "immuno")
    ingest(tmp_path / "src", tmp_path / "out3", _config(), progress=False)
    ids3 = {r["id"] for r in read_ingested(tmp_path / "out3")}
    assert first[0]["id"] in ids3 and first[1]["id"] not in ids3


def test_make_id() -> None:
    digest = "0123456789abcdef" * 4
    assert make_id("IMG_0001", digest) == "img-0001-01234567"
    assert make_id("___", digest) == "img-01234567"
    assert make_id("ééé" + "x" * 100, digest) == "x" * 48 + "-01234567"  # slug capped at 48 characters


def test_record_fields(tmp_path: Path) -> None:
    _save(tmp_path / "src" / "haze" / "a.jpg", "chelsea", quality=90)
    ingest(tmp_path / "src", tmp_path / "out", _config(), progress=False)
    (record,) = read_ingested(tmp_path / "out")
    assert record["format"] == "JPEG" and record["stored_mode"] == "RGB"
    assert record["stored_size"] == [451, 300]
    assert record["transform"]["out_size"] == [SIZE, SIZE]
    assert re.fullmatch(r"[0-9a-f]{16}", record["phash"])
    assert record["sha256"] == hashlib.sha256((tmp_path / "out" / record["image"]).read_bytes()).hexdigest()
    assert record["warnings"] == []


def test_default_config_outputs_1024(tmp_path: Path) -> None:
    _save(tmp_path / "src" / "rain" / "a.png", "astronaut")  # 256² → upscaled to 1024²
    summary = ingest(tmp_path / "src", tmp_path / "out", IngestConfig(), progress=False)
    assert summary.accepted == 1
    (record,) = read_ingested(tmp_path / "out")
    assert _pixels(tmp_path / "out" / record["image"]).shape == (IMAGE_SIZE, IMAGE_SIZE, 3)


def _unusual_sources(src: Path) -> None:
    """Photos whose decode does something: EXIF rotation, ICC conversion, alpha, greyscale, CMYK."""
    exif = Image.Exif()
    exif[0x0112] = 8
    _save(src / "rain" / "rotated.jpg", "coffee", quality=92, exif=exif.tobytes())
    shutil.copyfile(sample_dir() / "rocket.jpg", src / "rain" / "rocket.jpg")
    rgba = np.dstack([_photo("retina"), np.tile(np.linspace(0, 255, 600).astype(np.uint8), (400, 1))])
    Image.fromarray(rgba, mode="RGBA").save(src / "rain" / "alpha.png")
    Image.fromarray(skdata.camera()).save(src / "rain" / "grey.png")
    Image.fromarray(_photo("immuno")).convert("CMYK").save(src / "rain" / "cmyk.jpg", quality=95)
    Image.fromarray(np.rot90(_photo("chelsea")).copy()).save(src / "rain" / "portrait.png")  # 300×451


@pytest.mark.parametrize("mode", ["crop", "pad"])
def test_recorded_transform_replays_exactly(tmp_path: Path, mode: str) -> None:
    src = tmp_path / "src"
    _unusual_sources(src)
    policy = NormalizePolicy(size=SIZE, mode=mode, pad_color=(7, 8, 9))
    summary = ingest(src, tmp_path / "out", _config(policy=policy), progress=False)
    assert (summary.accepted, summary.rejected) == (6, 0)
    records = read_ingested(tmp_path / "out")
    assert {Path(r["source_path"]).name for r in records} == {
        "rotated.jpg",
        "rocket.jpg",
        "alpha.png",
        "grey.png",
        "cmyk.jpg",
        "portrait.png",
    }
    for record in records:
        transform = Transform.from_dict(record["transform"])
        decoded = load_image(tmp_path / "out" / record["source_path"])  # relative to the records
        assert list(decoded.image.size) == record["transform"]["src_size"]
        assert list(decoded.stored_size) == record["stored_size"]
        assert decoded.warnings == record["warnings"]
        replayed = np.asarray(transform.apply(decoded.image))
        assert (replayed == _pixels(tmp_path / "out" / record["image"])).all(), record["source_path"]
        if mode == "pad":
            assert transform.crop_box == (0, 0, *transform.resized_size)
    rotated = next(r for r in records if r["source_path"].endswith("rotated.jpg"))
    assert rotated["stored_size"] == [600, 400] and rotated["transform"]["src_size"] == [400, 600]


# ------------------------------------------------------------------------------------ duplicates


def _near_duplicate_pair(src: Path) -> None:
    _save(src / "rain" / "a.jpg", "chelsea", quality=95)
    near = Image.fromarray(_photo("chelsea")).resize((440, 293), Image.Resampling.LANCZOS)
    near.save(src / "rain" / "b.jpg", quality=85)
    _save(src / "rain" / "c.png", "coffee")


def test_near_duplicates_rejected_by_default(tmp_path: Path) -> None:
    _near_duplicate_pair(tmp_path / "src")
    summary = ingest(tmp_path / "src", tmp_path / "out", _config(), progress=False)
    assert (summary.accepted, summary.rejected) == (2, 1)
    (line,) = _jsonl(tmp_path / "out" / "rejects.jsonl")
    assert line["path"].endswith("b.jpg") and line["kind"] == "DuplicateError"
    assert re.fullmatch(r"near duplicate of a-[0-9a-f]{8} \(perceptual hash distance [0-4]\)", line["reason"])


def test_near_duplicate_detection_can_be_disabled(tmp_path: Path) -> None:
    _near_duplicate_pair(tmp_path / "src")
    shutil.copyfile(tmp_path / "src" / "rain" / "a.jpg", tmp_path / "src" / "rain" / "d.jpg")
    summary = ingest(
        tmp_path / "src", tmp_path / "out", _config(near_duplicate_distance=None), progress=False
    )
    assert (summary.accepted, summary.rejected) == (3, 1)  # exact duplicates are still caught
    (line,) = _jsonl(tmp_path / "out" / "rejects.jsonl")
    assert line["path"].endswith("d.jpg") and line["reason"].startswith("exact duplicate of a-")
    # Re-running with detection on does not retroactively reject what was accepted.
    again = ingest(tmp_path / "src", tmp_path / "out", _config(), progress=False)
    assert (again.accepted, again.skipped_done, again.rejected) == (0, 3, 1)


# --------------------------------------------------------------------------------------- webp output


def test_webp_output_is_lossless(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _unusual_sources(src)
    ingest(src, tmp_path / "png", _config(), progress=False)
    ingest(src, tmp_path / "webp", _config(output_format="webp"), progress=False)
    png = {r["id"]: r for r in read_ingested(tmp_path / "png")}
    webp = {r["id"]: r for r in read_ingested(tmp_path / "webp")}
    assert png.keys() == webp.keys() and len(webp) == 6
    for image_id, record in webp.items():
        assert record["image"] == f"images/{record['category']}/{image_id}.webp"
        path = tmp_path / "webp" / record["image"]
        with Image.open(path) as img:
            assert img.format == "WEBP"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == record["sha256"]
        assert (_pixels(path) == _pixels(tmp_path / "png" / png[image_id]["image"])).all()
        assert record["phash"] == png[image_id]["phash"]


# ------------------------------------------------------------------------------------ crash safety


def _three_photos(src: Path) -> None:
    _save(src / "snow" / "a.png", "astronaut")
    _save(src / "snow" / "b.png", "coffee")
    _save(src / "snow" / "c.png", "immuno")


def test_torn_last_record_line_is_recovered(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    _three_photos(src)
    ingest(src, out, _config(), progress=False)
    records_file = out / "ingested.jsonl"
    complete = records_file.read_text()
    lines = complete.splitlines(keepends=True)
    # Simulate a crash while appending the last record: only part of it reached the disk.
    torn_record = json.loads(lines[-1])
    records_file.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    _save(src / "snow" / "d.png", "hubble")  # and a new file arrives meanwhile

    summary = ingest(src, out, _config(), progress=False)
    assert (summary.accepted, summary.skipped_done, summary.rejected) == (2, 2, 0)
    records = _jsonl(records_file)  # every line valid, newline-terminated
    assert [Path(r["source_path"]).name for r in records] == ["a.png", "b.png", "c.png", "d.png"]
    assert records[2] == torn_record  # the lost record is redone identically
    assert (out / torn_record["image"]).is_file()

    # Nothing is lost or duplicated by further runs.
    again = ingest(src, out, _config(), progress=False)
    assert (again.accepted, again.skipped_done) == (0, 4)
    assert _jsonl(records_file) == records


def test_complete_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    _three_photos(src)
    ingest(src, out, _config(), progress=False)
    records_file = out / "ingested.jsonl"
    records_file.write_text(records_file.read_text().rstrip("\n"))  # e.g. edited by hand
    _save(src / "snow" / "d.png", "hubble")
    summary = ingest(src, out, _config(), progress=False)
    assert (summary.accepted, summary.skipped_done) == (1, 3)
    assert [Path(r["source_path"]).name for r in _jsonl(records_file)] == ["a.png", "b.png", "c.png", "d.png"]


def test_torn_reject_line_is_recovered(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    (src / "snow").mkdir(parents=True)
    (src / "snow" / "x.jpg").write_bytes(b"<html></html>")
    (src / "snow" / "y.jpg").write_bytes(b"")
    ingest(src, out, _config(), progress=False)
    rejects_file = out / "rejects.jsonl"
    lines = rejects_file.read_text().splitlines(keepends=True)
    assert len(lines) == 2
    rejects_file.write_text(lines[0] + lines[1][:10])
    ingest(src, out, _config(), progress=False)
    assert [(Path(r["path"]).name, r["reason"]) for r in _jsonl(rejects_file)] == [
        ("x.jpg", "not an image: content is HTML/XML text"),
        ("y.jpg", "empty file (0 bytes)"),
    ]


def test_output_folder_inside_source_is_not_ingested(tmp_path: Path) -> None:
    src = tmp_path / "photos"
    _three_photos(src)
    out = src / "ingested"
    config = _config(category="snow", near_duplicate_distance=None)
    assert ingest(src, out, config, progress=False).accepted == 3
    again = ingest(src, out, config, progress=False)
    assert (again.accepted, again.skipped_done, again.rejected) == (0, 3, 0)
    assert len(read_ingested(out)) == 3
    assert not (out / "rejects.jsonl").exists()


def test_discover_sources_lists_image_files_sorted(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for rel in ["rain/b.png", "rain/a.JPG", "haze/z.webp", "top.png", "rain/notes.txt", ".cache/x.png"]:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(b"x")
    items = discover_sources(src, _config())
    assert [str(i.path.relative_to(src)) for i in items] == [
        "top.png",
        "haze/z.webp",
        "rain/a.JPG",
        "rain/b.png",
    ]
    assert [i.category for i in items] == [None, "haze", "rain", "rain"]
    with pytest.raises(FileNotFoundError):
        discover_sources(tmp_path / "nope", _config())


def test_workers_do_not_change_results(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _unusual_sources(src)
    _near_duplicate_pair(src)
    results = []
    for workers in (1, 3):
        out = tmp_path / f"out{workers}"
        ingest(src, out, _config(workers=workers), progress=False)
        results.append(
            (
                [(r["id"], r["sha256"]) for r in read_ingested(out)],
                [(r["path"], r["reason"]) for r in _jsonl(out / "rejects.jsonl")],
            )
        )
    assert results[0] == results[1]
    assert os.path.basename(results[0][1][0][0]) == "b.jpg"


def test_atomic_writes_get_ordinary_file_permissions(tmp_path):
    """Outputs are readable like any file written with open() (mkstemp alone would give 0o600)."""
    import os
    import stat

    from ggt_hf.files.io_utils import FILE_MODE, atomic_write_text

    atomic_write_text(tmp_path / "a.txt", "x")
    mode = stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode)
    with open(tmp_path / "b.txt", "w") as fh:
        fh.write("x")
    assert mode == FILE_MODE == stat.S_IMODE(os.stat(tmp_path / "b.txt").st_mode)


# ------------------------------------------------------------------ flat folders, auto category, paths


def test_flat_folder_without_category_is_one_error_before_any_work(tmp_path: Path) -> None:
    for name in ("astronaut", "coffee", "chelsea"):
        _save(tmp_path / "flat" / f"{name}.png", name)
    with pytest.raises(ValueError) as info:
        ingest(tmp_path / "flat", tmp_path / "out", _config(), progress=False)
    message = str(info.value)
    assert message.startswith("none of the 3 photo(s) has a category") and "--category auto" in message
    assert "\n" not in message
    assert not (tmp_path / "out").exists()


def test_misspelled_category_folder_is_named(tmp_path: Path) -> None:
    _save(tmp_path / "src" / "rian" / "a.png", "astronaut")
    with pytest.raises(ValueError, match=r"rian/ is not a category \(did you mean rain/\?\)"):
        ingest(tmp_path / "src", tmp_path / "out", _config(), progress=False)


def test_category_auto_picks_with_the_analyser_and_records_its_evidence(tmp_path: Path) -> None:
    from ggt_hf.backends.analysis import analyse
    from ggt_hf.degrade import degrade

    dark = degrade(_photo("coffee"), "low_light", seed=0).image
    Image.fromarray(dark).save(_mkdir(tmp_path / "flat") / "dark.png")
    _save(tmp_path / "flat" / "astronaut.png", "astronaut")
    _save(tmp_path / "flat" / "haze" / "c.png", "chelsea")  # a category folder still decides
    summary = ingest(tmp_path / "flat", tmp_path / "out", _config(category="auto"), progress=False)
    assert (summary.accepted, summary.rejected) == (3, 0)
    records = {Path(r["source_path"]).name: r for r in read_ingested(tmp_path / "out")}
    assert records["c.png"]["category"] == "haze" and records["c.png"]["category_from"] == "folder"
    assert "category_evidence" not in records["c.png"]
    dark_record = records["dark.png"]
    assert dark_record["category"] == "low_light" and dark_record["category_from"] == "auto"
    with Image.open(tmp_path / "out" / dark_record["image"]) as stored:
        expected = analyse(stored.convert("RGB"))
    assert dark_record["category_evidence"]["present"] == expected.present
    assert dark_record["category_evidence"]["score_over_threshold"] == expected.evidence
    assert (
        records["astronaut.png"]["category"]
        == analyse(
            Image.open(tmp_path / "out" / records["astronaut.png"]["image"]).convert("RGB")
        ).dominant_category
    )


def test_undecodable_files_are_rejected_for_what_is_wrong_not_for_a_category(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _save(src / "rain" / "good.png", "astronaut")
    (src / "empty.jpg").write_bytes(b"")
    (src / "notes.png").write_text("not an image")
    good = (src / "rain" / "good.png").read_bytes()
    (src / "cut.png").write_bytes(good[: len(good) // 3])
    summary = ingest(src, tmp_path / "out", _config(), progress=False)
    assert summary.accepted == 1
    reasons = {Path(line["path"]).name: line["reason"] for line in _jsonl(tmp_path / "out" / "rejects.jsonl")}
    assert reasons["empty.jpg"].startswith("empty file")
    assert reasons["notes.png"].startswith("not an image")
    assert "truncated" in reasons["cut.png"].lower() or "corrupt" in reasons["cut.png"].lower()
    assert not any("category" in reason for reason in reasons.values())


def test_records_hold_paths_relative_to_the_output_folder(tmp_path: Path, monkeypatch) -> None:
    _save(tmp_path / "work" / "photos" / "rain" / "a.png", "astronaut")
    monkeypatch.chdir(tmp_path / "work")
    ingest("photos", "ingest", _config(), progress=False)  # relative, as a user types them
    shutil.move(tmp_path / "work", tmp_path / "moved")
    (record,) = read_ingested(tmp_path / "moved" / "ingest")
    assert record["source_path"] == "../photos/rain/a.png"
    assert (tmp_path / "moved" / "ingest" / record["source_path"]).is_file()
    monkeypatch.chdir(tmp_path / "moved")
    assert ingest("photos", "ingest", _config(), progress=False).skipped_done == 1  # resume still matches


def test_cli_flat_folder_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    _save(tmp_path / "flat" / "a.png", "astronaut")
    _save(tmp_path / "flat" / "b.png", "coffee")
    done = subprocess.run(
        [sys.executable, "-m", "ggt_hf.cli", "ingest", "flat", "out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "--category auto" in errors[0], done.stderr


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
