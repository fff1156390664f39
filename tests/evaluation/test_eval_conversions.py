"""``ggt eval`` says which predictions it converted to 8-bit RGB (greyscale, 16-bit, CMYK, RGBA)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from ggt_hf.cli import main
from ggt_hf.hub.pack import pack
from ggt_hf.hub.pairs import pairs_from_dir


def test_conversions_recorded_per_image_and_summarised(make_pairs_dir, tmp_path, monkeypatch, capsys):
    pairs = make_pairs_dir(n=6, size=64)
    records, _ = pairs_from_dir(pairs, split="test")
    pack(records, tmp_path / "ds", progress=False)
    preds = tmp_path / "preds"
    preds.mkdir()
    hq = {p.stem: Image.open(p).convert("RGB") for p in sorted((pairs / "hq").rglob("*.png"))}
    ids = sorted(hq)
    hq[ids[0]].convert("L").save(preds / f"{ids[0]}.png")
    grey16 = (np.asarray(hq[ids[1]].convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(grey16).save(preds / f"{ids[1]}.png")  # mode I;16
    hq[ids[2]].convert("CMYK").save(preds / f"{ids[2]}.tiff")
    rgba = hq[ids[3]].convert("RGBA")
    rgba.putalpha(200)
    rgba.save(preds / f"{ids[3]}.png")
    for i in ids[4:]:
        hq[i].save(preds / f"{i}.png")

    monkeypatch.chdir(tmp_path)
    args = ["eval", "--pred", "preds", "--dataset", "ds", "--metrics", "psnr", "--out", "r.json"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "converted to 8-bit RGB before scoring: 4 prediction(s)" in out
    data = json.loads((tmp_path / "r.json").read_text())
    notes = {i: " ".join(data["per_image"][i].get("conversions", [])) for i in ids}
    assert "stored as L" in notes[ids[0]]
    assert "I;16" in notes[ids[1]] and "scaled to 8 bits" in notes[ids[1]]
    assert "CMYK" in notes[ids[2]]
    assert "stored as RGBA" in notes[ids[3]] and "alpha channel composited onto white" in notes[ids[3]]
    assert notes[ids[4]] == notes[ids[5]] == ""
    assert sum(data["conversions"].values()) >= 4

    # a re-run served from the cache reports the same conversions
    assert main(args) == 0
    assert json.loads((tmp_path / "r.json").read_text())["per_image"] == data["per_image"]
