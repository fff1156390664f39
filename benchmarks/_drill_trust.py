"""The fault drill's trust cases of issue 21 (``--only trust``): points 1-13 and the attacker's
findings A1-A10. Each ``case_*`` performs one attack for real and returns its figures (see
:mod:`_drill_common`); ``TRUST_CASES`` lists them in table order."""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import yaml
from _drill_common import (
    REPO,
    Case,
    Figure,
    Run,
    child_env,
    error_line,
    fresh,
    ggt,
    last_line,
    line_naming,
    lost,
    make_pairs,
    measured,
    png,
    snapshot,
)
from PIL import Image

from ggt_hf.pipeline.demo import sample_dir


def case_pack_into_user_folder(work: Path) -> list[Figure]:
    """Point 1: ``ggt pack pairs userout`` where userout holds the user's README.md and assets/."""
    cwd = fresh(work, "pack-user-folder")
    make_pairs(cwd / "pairs", [f"p{i}" for i in range(4)], seed=1)
    (cwd / "userout" / "assets").mkdir(parents=True)
    (cwd / "userout" / "README.md").write_text("mine\n")
    (cwd / "userout" / "assets" / "logo.png").write_text("x\n")
    before = snapshot(cwd / "userout")
    proc = ggt(cwd, "pack", "pairs", "userout")
    note = f"exit {proc.returncode}: `{last_line(proc)}`"
    return [(f"user files lost in `userout` (of {len(before)})", lost(before, cwd / "userout"), "0", note)]


def case_repack_keeps_user_files(work: Path) -> list[Figure]:
    """Point 1: a re-pack must keep a note and a backup folder the user put in data/rain/."""
    cwd = fresh(work, "repack-user-files")
    make_pairs(cwd / "pairs", [f"p{i}" for i in range(4)], seed=2)
    first = ggt(cwd, "pack", "pairs", "ds")
    rain = cwd / "ds" / "data" / "rain"
    (rain / "notes.txt").write_text("n\n")
    (rain / "backup").mkdir()
    (rain / "backup" / "old.txt").write_text("b\n")
    before = {k: v for k, v in snapshot(cwd / "ds").items() if k.endswith(".txt")}
    second = ggt(cwd, "pack", "pairs", "ds")
    note = f"exits {first.returncode}, {second.returncode}"
    return [
        (
            f"user files lost in `ds/data/rain/` on re-pack (of {len(before)})",
            lost(before, cwd / "ds"),
            "0",
            note,
        )
    ]


def case_overlapping_source_output(work: Path) -> list[Figure]:
    """Point 1: pack a source inside the output (and ``ggt pack pairs pairs``); the source must stay."""
    cwd = fresh(work, "pack-overlap")
    make_pairs(cwd / "pairs", [f"p{i}" for i in range(4)], seed=3)
    ggt(cwd, "pack", "pairs", "X")
    src = cwd / "X" / "data" / "rain" / "src"
    src.mkdir(parents=True)
    for side in ("lq", "hq"):
        shutil.copytree(cwd / "pairs" / side, src / side)
    inside = snapshot(src)
    same = snapshot(cwd / "pairs")
    attacks = [
        ggt(cwd, "pack", "X/data/rain/src", "X", "--category", "rain"),
        ggt(cwd, "pack", "pairs", "pairs"),
        ggt(cwd, "pack", "pairs", "pairs/lq"),
    ]
    files_lost = lost(inside, src) + lost(same, cwd / "pairs")
    note = f"exits {[a.returncode for a in attacks]}: `{last_line(attacks[0])}`"
    return [
        (f"source files lost or changed (of {len(inside) + len(same)})", files_lost, "0", note),
        (
            f"overlapping packs accepted (exit 0, of {len(attacks)})",
            sum(a.returncode == 0 for a in attacks),
            "0",
            "",
        ),
    ]


def _split_rows(ds: Path, split: str) -> list[tuple[str, str]]:
    """(LQ sha256, HQ sha256) of every row of ``split`` in the packed dataset ``ds``."""
    import pyarrow.parquet as pq

    rows = []
    for shard in sorted(ds.glob(f"data/*/{split}-*.parquet")):
        table = pq.read_table(shard, columns=["lq", "hq"]).to_pylist()
        rows += [
            tuple(hashlib.sha256(row[side]["bytes"]).hexdigest() for side in ("lq", "hq")) for row in table
        ]
    return rows


def leaked_pairs(ds: Path) -> int:
    """Test pairs of ``ds`` whose LQ or HQ image (by content) is also in the train split."""
    train = {h for row in _split_rows(ds, "train") for h in row}
    return sum(lq in train or hq in train for lq, hq in _split_rows(ds, "test"))


def flagged_leaks(check: Run) -> set[str]:
    """Ids of the test pairs ``ggt validate`` flagged as leaking from train (identical or near
    duplicate LQ or HQ)."""
    pattern = r"\(id '([^']+)'\): (?:test )?[LH]Q (?:identical|near-duplicate)"
    return set(re.findall(pattern, check.stdout + check.stderr))


def case_two_packs_at_once(work: Path, rounds: int = 3, n: int = 40) -> list[Figure]:
    """Point 2: ``ggt pack train ds --split train`` and ``ggt pack test ds --split test`` started
    together, where test holds copies of the train pairs; then the refused one run again alone."""
    leaked, both_ok, retried_ok, outcomes = 0, 0, 0, []
    for r in range(rounds):
        cwd = fresh(work, f"two-packs-{r}")
        make_pairs(cwd / "train", [f"p{i}" for i in range(n)], seed=10 + r)
        for side in ("lq", "hq"):
            for i in range(n):
                dst = cwd / "test" / side / "rain" / f"t{i}.png"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(cwd / "train" / side / "rain" / f"p{i}.png", dst)
        procs = [
            subprocess.Popen(
                [shutil.which("ggt") or "ggt", "pack", split, "ds", "--split", split],
                cwd=cwd,
                env=child_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for split in ("train", "test")
        ]
        codes = [p.wait(timeout=300) for p in procs]
        for p in procs:
            p.communicate()
        both_ok += codes == [0, 0]
        outcomes.append(codes)
        for split, code in zip(("train", "test"), codes, strict=True):
            if code != 0:
                retried_ok += ggt(cwd, "pack", split, "ds", "--split", split).returncode == 0
        leaked += leaked_pairs(cwd / "ds")
    # both splits forced in (the leak check may have refused either), so validate has leaks to find
    forced = [ggt(cwd, "pack", split, "ds", "--split", split, "--force") for split in ("train", "test")]
    check = ggt(cwd, "validate", "ds")
    kept = leaked_pairs(cwd / "ds")
    flagged = len(flagged_leaks(check))
    return [
        (
            f"leaked test pairs in `ds` after {rounds} rounds of two concurrent packs ({n} copies each)",
            leaked,
            "0",
            f"exit codes (train, test) per round {outcomes}; 1: refused, folder in use; 2: refused, test pairs leak",
        ),
        ("rounds where both concurrent packs exited 0", both_ok, "0", ""),
        (
            "refused pack re-run alone afterwards and accepted (exit 0)",
            retried_ok,
            "0",
            "the leak check sees the other split",
        ),
        (
            f"`ggt validate` after `--force` kept {kept} leaks: leaked pairs flagged",
            flagged,
            str(kept),
            f"validate exit {check.returncode}, pack exits {[r.returncode for r in forced]}",
        ),
    ]


def case_restore_onto_input(work: Path) -> list[Figure]:
    """Point 3: ``ggt restore`` with the output on (or inside, or around) its own input."""
    cwd = fresh(work, "restore-overlap")
    rng = np.random.default_rng(4)
    (cwd / "in").mkdir()
    for name in ("in/p0.png", "in/p1.png", "photo.png"):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(cwd / name)
    before = snapshot(cwd)
    attacks = [
        ggt(cwd, "restore", "--model", "classical", *pair)
        for pair in (
            ("photo.png", "photo.png", "--overwrite"),
            ("photo.png", "photo.png"),
            ("in", "in"),
            ("in", "."),
            (".", "in/out"),
        )
    ]
    offered = sum("--overwrite" in a.stderr + a.stdout for a in attacks[1:2])
    return [
        (
            f"source files changed (of {len(before)})",
            lost(before, cwd),
            "0",
            f"exits {[a.returncode for a in attacks]}",
        ),
        (
            f"overlapping restores that exit 0 (of {len(attacks)})",
            sum(a.returncode == 0 for a in attacks),
            "0",
            f"`{last_line(attacks[2])}`",
        ),
        ("restore onto its source that suggests `--overwrite`", offered, "0", ""),
    ]


BAD_NAME = os.fsdecode(b"bad\xff.png")  # a file name that is not UTF-8


def _row_count(ds: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in ds.glob("data/*/*.parquet"))


def case_bad_name_in_pack_and_eval(work: Path) -> list[Figure]:
    """Point 4: a file whose name is not UTF-8 beside good pairs, in ``ggt pack`` and in the
    predictions of ``ggt eval`` (scored against a clean pack of the same pairs)."""
    cwd = fresh(work, "bad-name")
    make_pairs(cwd / "pairs", [f"p{i}" for i in range(4)], seed=40)
    ggt(cwd, "pack", "pairs", "clean", "--split", "test")
    shutil.copytree(cwd / "pairs" / "hq", cwd / "pred")
    for side in ("lq", "hq"):
        shutil.copyfile(cwd / "pairs" / side / "rain" / "p0.png", cwd / "pairs" / side / "rain" / BAD_NAME)
    shutil.copyfile(cwd / "pred" / "rain" / "p0.png", cwd / "pred" / "rain" / BAD_NAME)
    packed = ggt(cwd, "pack", "pairs", "ds", "--split", "test")
    scored = ggt(
        cwd,
        "eval",
        "--pred",
        "pred",
        "--dataset",
        "clean",
        "--split",
        "test",
        "--metrics",
        "psnr",
        "--out",
        "res.json",
    )
    named = sum("bad\\xff.png" in run.stdout + run.stderr for run in (packed, scored))
    return [
        (
            "good pairs not packed (of 4)",
            4 - _row_count(cwd / "ds") if (cwd / "ds").is_dir() else 4,
            "0",
            f"pack exit {packed.returncode}: `{last_line(packed)}`",
        ),
        (
            "runs aborted (pack exit 2, eval without res.json)",
            int(packed.returncode == 2) + int(not (cwd / "res.json").is_file()),
            "0",
            f"eval exit {scored.returncode}: `{last_line(scored)}`",
        ),
        ("runs naming the bad file (of 2)", named, "2", ""),
    ]


def case_symlink_loop_in_restore(work: Path) -> list[Figure]:
    """Point 4: ``ggt restore`` of a folder holding a symlink loop and a link to /etc/passwd."""
    cwd = fresh(work, "restore-links")
    for i in range(2):
        png(cwd / "in" / f"a{i}.png", 50 + i)
    (cwd / "in" / "loop.png").symlink_to("loop.png")
    (cwd / "in" / "passwd.png").symlink_to("/etc/passwd")
    run = ggt(cwd, "restore", "--model", "classical", "in", "out")
    made = {p.name for p in (cwd / "out").glob("*.png")} if (cwd / "out").is_dir() else set()
    return [
        (
            "run aborted (exit 2 or a good image not restored, of 2)",
            int(run.returncode == 2 or not {"a0.png", "a1.png"} <= made),
            "0",
            f"exit {run.returncode}: `{last_line(run)}`",
        ),
        ("outputs made from the links", len(made & {"loop.png", "passwd.png"}), "0", ""),
    ]


def _zip_with_big_member(path: Path, pairs: dict[str, bytes], big: str, size: int) -> None:
    """A zip whose member ``big`` holds ``size`` zero bytes (deflated to about size/1000)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in pairs.items():
            z.writestr(name, data)
        with z.open(big, "w", force_zip64=True) as member:
            block = bytes(1 << 24)
            for _ in range(size // len(block)):
                member.write(block)


def _tar(path: Path, members: dict[str, bytes], links: dict[str, tuple[bytes, str]] | None = None) -> None:
    """A tar of ``members`` plus link members ``{name: (tarfile.SYMTYPE or LNKTYPE, target)}``."""
    import io
    import tarfile

    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            link = tarfile.TarInfo(name)
            link.type, link.linkname = kind, target
            tar.addfile(link)


def case_hostile_release_archives(work: Path, big_mib: int = 1024) -> list[Figure]:
    """Point 4: release pack (``ggt pack release ds``) of 3 good pairs in ``Rain.tar`` beside, in one
    release, ``Haze.tar`` whose LQ is a symlink member to /etc/passwd and GT a hard link member, and
    in another ``Snow.zip`` whose LQ member is 1 GiB of zeros (a 1 MiB zip); then ``ggt validate``."""
    import io
    import tarfile

    cwd = fresh(work, "release-archives")
    pngs = {}
    for i in range(4):
        for role in ("LQ", "GT"):
            buf = io.BytesIO()
            rng = np.random.default_rng(60 + 2 * i + (role == "GT"))
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, format="PNG")
            pngs[f"{role}/{i:04d}.png"] = buf.getvalue()
    good = {k: v for k, v in pngs.items() if "0003" not in k}
    for release in ("release", "release2"):
        (cwd / release / "train").mkdir(parents=True)
        _tar(cwd / release / "train" / "Rain.tar", good)
    links = {"LQ/0003.png": (tarfile.SYMTYPE, "/etc/passwd"), "GT/0003.png": (tarfile.LNKTYPE, "GT/0000.png")}
    _tar(cwd / "release" / "train" / "Haze.tar", {"GT/0000.png": pngs["GT/0000.png"]}, links)
    snow = cwd / "release2" / "train" / "Snow.zip"
    _zip_with_big_member(snow, {"GT/0003.png": pngs["GT/0003.png"]}, "LQ/0003.png", big_mib << 20)
    zip_mib = snow.stat().st_size / 2**20
    linked = ggt(cwd, "pack", "release", "ds")
    big = ggt(cwd, "pack", "release2", "ds2")
    figures = []
    for label, run, ds in (
        ("tar link members", linked, cwd / "ds"),
        ("zip member too big", big, cwd / "ds2"),
    ):
        check = ggt(cwd, "validate", ds.name)
        empty = 0
        if ds.is_dir():
            import pyarrow.parquet as pq

            empty = sum(pq.ParquetFile(p).metadata.num_rows == 0 for p in ds.glob("data/*/*.parquet"))
        figures += [
            (
                f"{label}: good pairs not packed (of 3)",
                3 - (_row_count(ds) if ds.is_dir() else 0),
                "0",
                f"exit {run.returncode}: `{last_line(run)}`",
            ),
            (f"{label}: shards with 0 rows written", empty, "0", ""),
            (f"{label}: dataset card missing", int(not (ds / "README.md").is_file()), "0", ""),
            (
                f"{label}: `ggt validate` fails on the output",
                int(check.returncode != 0),
                "0",
                last_line(check),
            ),
        ]
    figures.append(
        (
            f"peak RSS of the pack, MiB ({big_mib} MiB member in a {zip_mib:.1f} MiB zip)",
            round(big.peak_mib),
            "-",
            f"{big.seconds:.1f} s",
        )
    )
    return figures


def case_push_follows_links(work: Path) -> list[Figure]:
    """Point 7: a packed dataset holding ``notes.txt -> /etc/passwd``; ``ggt push --dry-run`` and
    ``ggt validate``."""
    cwd = fresh(work, "push-links")
    make_pairs(cwd / "pairs", [f"p{i}" for i in range(2)], seed=70)
    ggt(cwd, "pack", "pairs", "ds")
    (cwd / "ds" / "notes.txt").symlink_to("/etc/passwd")
    (cwd / "ds" / "extra").symlink_to("/etc")
    push = ggt(cwd, "push", "ds", "someone/ds", "--dry-run", "--no-check", env={"HF_HUB_OFFLINE": "1"})
    check = ggt(cwd, "validate", "ds")
    listed = [line for line in push.stdout.splitlines() if "notes.txt" in line or "extra/" in line]
    return [
        (
            "files outside the folder listed for upload",
            len(listed),
            "0",
            f"push exit {push.returncode}: `{last_line(push)}`",
        ),
        (
            "`ggt validate` says OK with the links",
            int(check.returncode == 0),
            "0",
            f"validate exit {check.returncode}: `{last_line(check)}`",
        ),
    ]


def case_hostile_torch_module(work: Path) -> list[Figure]:
    """Point 8: a ``torch.py`` (and ``numpy.py``) beside ``my_models.py`` when running
    ``ggt restore --model my_models:restore``."""
    cwd = fresh(work, "user-code")
    png(cwd / "in" / "a.png", 80)
    for name in ("torch", "numpy", "PIL"):
        (cwd / f"{name}.py").write_text(f"open({('MARKER-' + name)!r}, 'w').write('executed')\n")
    (cwd / "my_models.py").write_text(
        "import numpy, torch\n\ndef restore(image, prompt=None):\n    return image\n"
    )
    run = ggt(cwd, "restore", "--model", "my_models:restore", "in", "out")
    executed = sorted(p.name for p in cwd.glob("MARKER-*"))
    return [
        (
            "hostile modules executed (torch.py, numpy.py, PIL.py)",
            len(executed),
            "0",
            f"exit {run.returncode}: `{last_line(run)}` {executed or ''}",
        ),
        ("image restored by the user's function", int((cwd / "out" / "a.png").is_file()), "1", ""),
    ]


def case_oversized_config(work: Path) -> list[Figure]:
    """Point 9: a tiny NAFNet's ``save_pretrained`` folder whose ``config.json`` says
    ``width=200000`` / ``12000`` (weights unchanged); and (point 10) a safetensors header declaring a
    1e14-element tensor. ``ggt restore --model FOLDER a.png out``."""
    import json
    import struct

    from ggt_hf.restorers import build_restorer

    cwd = fresh(work, "oversized-config")
    png(cwd / "a.png", 90, size=32)
    tiny = build_restorer("nafnet", width=4, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])
    tiny.save_pretrained(cwd / "tiny")
    base = ggt(cwd, "restore", "--model", "tiny", "a.png", "out_tiny")
    figures = [
        (
            "the tiny model itself: seconds / peak RSS MiB",
            f"{base.seconds:.1f} / {base.peak_mib:.0f}",
            "-",
            f"exit {base.returncode}",
        )
    ]
    config = json.loads((cwd / "tiny" / "config.json").read_text())
    for width in (200_000, 12_000):
        folder = cwd / f"w{width}"
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({**config, "width": width}))
        shutil.copyfile(cwd / "tiny" / "model.safetensors", folder / "model.safetensors")
        run = ggt(cwd, "restore", "--model", f"w{width}", "a.png", f"out{width}", timeout=120)
        figures.append(
            (
                f"`width={width}`: seconds / peak RSS MiB to refusal",
                f"{run.seconds:.1f} / {run.peak_mib:.0f}",
                "-",
                f"exit {run.returncode}: `{last_line(run)}`",
            )
        )
        figures.append((f"`width={width}` accepted (exit 0)", int(run.returncode == 0), "0", ""))
    folder = cwd / "huge"
    folder.mkdir()
    shutil.copyfile(cwd / "tiny" / "config.json", folder / "config.json")
    header = json.dumps(
        {"intro.weight": {"dtype": "F32", "shape": [10**14], "data_offsets": [0, 4 * 10**14]}}
    )
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header.encode() + bytes(16))
    run = ggt(cwd, "restore", "--model", "huge", "a.png", "out_huge", timeout=120)
    figures.append(
        (
            "1e14-element safetensors shape reported as an internal bug (exit 1, not 2)",
            int(run.returncode != 2),
            "0",
            f"exit {run.returncode}: `{last_line(run)}`",
        )
    )
    return figures


BILLION_LAUGHS = """\
output: run
sources:
  - {path: photos/}
backend:
  name: classical
  options:
    l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]
    l1: &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]
    l2: &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]
    l3: &l3 [*l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2]
    l4: &l4 [*l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3]
    l5: &l5 [*l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4]
    l6: &l6 [*l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5]
    l7: &l7 [*l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6]
    l8: &l8 [*l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7]
    l9: &l9 [*l8, *l8, *l8, *l8, *l8, *l8, *l8, *l8, *l8]
"""


def case_billion_laughs(work: Path, timeout: float = 60) -> list[Figure]:
    """Point 10: ``ggt build`` of a 700-byte config whose ``backend.options`` expand to 9^10 strings."""
    cwd = fresh(work, "billion-laughs")
    png(cwd / "photos" / "rain" / "a.png", 100)
    (cwd / "laughs.yaml").write_text(BILLION_LAUGHS)
    run = ggt(cwd, "build", "laughs.yaml", timeout=timeout)
    return [
        (
            "seconds to refusal / peak RSS MiB",
            f"{run.seconds:.1f} / {run.peak_mib:.0f}",
            "-",
            f"exit {run.returncode}"
            + (" (killed at the timeout)" if run.returncode == -9 else "")
            + f": `{last_line(run)}`",
        ),
        ("config accepted (exit 0)", int(run.returncode == 0), "0", ""),
    ]


def _sparse_png(path: Path, size: int, side: int = 100) -> None:
    """A valid PNG header (``side``² RGB) followed by ``size`` bytes of holes: a sparse file."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk)
        f.truncate(size)


def case_huge_sparse_png(work: Path, gib: int = 3) -> list[Figure]:
    """Point 11: a 3 GiB sparse ``huge.png`` (a valid header, then holes) beside a good photo, through
    ``ggt ingest photos ing`` and ``ggt restore --model classical photos out``."""
    cwd = fresh(work, "huge-png")
    png(cwd / "photos" / "a.png", 110, size=128)
    _sparse_png(cwd / "photos" / "huge.png", gib << 30)
    ingest = ggt(
        cwd, "ingest", "photos", "ing", "--category", "rain", "--size", "64", "--min-side", "32", timeout=180
    )
    rejects = (cwd / "ing" / "rejects.jsonl").read_text() if (cwd / "ing" / "rejects.jsonl").is_file() else ""
    restore = ggt(cwd, "restore", "--model", "classical", "photos", "out", timeout=180)
    return [
        (
            f"`ggt ingest`: peak RSS MiB with a {gib} GiB sparse png",
            round(ingest.peak_mib),
            "-",
            f"{ingest.seconds:.1f} s, exit {ingest.returncode}: `{last_line(ingest)}`",
        ),
        ("`ggt ingest`: huge.png not listed as rejected", int("huge.png" not in rejects), "0", ""),
        (
            f"`ggt restore`: peak RSS MiB with a {gib} GiB sparse png",
            round(restore.peak_mib),
            "-",
            f"{restore.seconds:.1f} s, exit {restore.returncode}: `{last_line(restore)}`",
        ),
        (
            "`ggt restore`: good image not restored (of 1)",
            int(not (cwd / "out" / "a.png").is_file()),
            "0",
            "",
        ),
    ]


def _test_split(cwd: Path, n: int = 4) -> tuple[Path, dict[str, bytes]]:
    """A packed 4-pair test split (``ggt pack``) and a valid predictions set: its HQ images."""
    make_pairs(cwd / "pairs", [f"t{i}" for i in range(n)], seed=120)
    ggt(cwd, "pack", "pairs", "lb_split", "--split", "test")
    return cwd / "lb_split", {p.name: p.read_bytes() for p in sorted((cwd / "pairs" / "hq").rglob("*.png"))}


def case_rows_rewritten(work: Path) -> list[Figure]:
    """Point 5 (library): teama owns ``TeamA-NAFNet``; mallory submits under 3 variants of the name
    (case, full width, trailing space) linking to her repo, and slips a mallory-owned result into the
    store (another replica, a copied file). Rows rewritten = mallory's accepted requests + table rows
    linking to her repo."""
    from ggt_hf.errors import GGTError
    from ggt_hf.leaderboard import LeaderboardStore, leaderboard_frame, submit_predictions
    from ggt_hf.leaderboard.ratelimit import RateLimit
    from ggt_hf.leaderboard.submission import expected_images

    cwd = fresh(work, "rows-rewritten")
    ds, members = _test_split(cwd)
    zipped = cwd / "sub.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    store, limit, expected = (
        LeaderboardStore(cwd / "lb"),
        RateLimit(max_requests=10),
        expected_images(str(ds)),
    )

    def submit(model: str, user: str, repo: str):
        return submit_predictions(
            store, zipped, model=model, user=user, expected=expected, rate_limit=limit, model_repo=repo
        )

    def finish(request, psnr: float, owner: str | None) -> None:  # what the worker writes
        result = {
            "format": "ggt-eval-results",
            "version": 1,
            "model": request.model,
            "overall": {"psnr": psnr},
        }
        meta = {"model": request.model, "model_repo": request.model_repo, "user": request.user}
        store.add_result(result, {**meta, "owner": owner})

    finish(submit("TeamA-NAFNet", "teama", "teama/nafnet"), 30.0, "teama")
    accepted, reasons = 0, []
    for name in ("teama-nafnet", "ＴｅａｍＡ-NAFNet", "TeamA-NAFNet "):
        try:
            finish(submit(name, "mallory", "mallory/evil"), 99.0, "mallory")
            accepted += 1
        except GGTError as exc:
            reasons.append(str(exc))
    slipped = type("Request", (), {"model": "TeamA-NAFNet", "model_repo": "mallory/evil", "user": "mallory"})
    finish(slipped, 99.0, "mallory")
    table = leaderboard_frame(store.results())
    linking = sum("mallory/evil" in str(cell) for cell in table["Model"])
    return [
        (
            "rows rewritten by another account",
            accepted + linking,
            "0",
            f"{accepted} accepted, {linking} shown; " + (f"`{reasons[0][:150]}`" if reasons else ""),
        ),
        ("rows in the table for TeamA-NAFNet", len(table), "1", ""),
    ]


def _arena_folders(cwd: Path, ids: int = 10) -> tuple[Path, Path]:
    """``out/<system>/p<i>.png`` for 3 systems and ``lq/p<i>.png``: 32² crops of real photos."""
    names = ["astronaut.png", "camera.png", "chelsea.png", "coffee.png", "rocket.jpg"]
    photos = [Image.open(sample_dir() / n).convert("RGB").resize((32, 32)) for n in names]
    for i in range(ids):
        base = photos[i % len(photos)].rotate(i * 7)
        (cwd / "lq").mkdir(parents=True, exist_ok=True)
        base.save(cwd / "lq" / f"p{i}.png")
        for k, system in enumerate(("strong", "weak", "mid")):
            (cwd / "out" / system).mkdir(parents=True, exist_ok=True)
            base.rotate(5 * (k + 1)).save(cwd / "out" / system / f"p{i}.png")
    return cwd / "out", cwd / "lq"


def case_vote_flood(work: Path, votes: int = 150, limit: int = 10) -> list[Figure]:
    """Points 5 and 6 (library): an Arena over 10 ids x 3 systems with a vote limit of 10 per
    account; mallory asks for 150 pairs and always votes for "weak". Every served image is hashed."""
    from ggt_hf.errors import GGTError
    from ggt_hf.leaderboard.arena import Arena
    from ggt_hf.leaderboard.votes import VoteLimit, VoteStore

    cwd = fresh(work, "vote-flood")
    out, lq = _arena_folders(cwd)
    store = VoteStore(cwd / "votes")
    arena = Arena(
        out, lq, votes=store, vote_limit=VoteLimit(max_votes=limit, window_hours=24), serve_dir=cwd / "serve"
    )
    rng = np.random.default_rng(0)
    digests, served, named = set(), 0, 0
    for _ in range(votes):
        pair = arena.sample(rng, user="mallory")
        for path in (pair.left, pair.right):
            digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
            served += 1
            named += any(s in str(path) for s in ("strong", "weak", "mid"))
        left, right = arena.reveal(pair.token)
        with contextlib.suppress(GGTError):
            arena.vote(
                pair.token,
                "left" if left == "weak" else "right" if right == "weak" else "tie",
                user="mallory",
            )
    counted = len(store.votes())
    return [
        (
            f"votes counted past the limit ({votes} from one account, limit {limit})",
            max(0, counted - limit),
            "0",
            f"{counted} counted",
        ),
        (f"byte-identical served arena images (of {served})", served - len(digests), "0", ""),
        ("served paths naming a system", named, "0", ""),
    ]


SPACE_CHILD = (
    "import sys\nfrom ggt_hf.space import SpaceConfig, launch_space\n"
    "launch_space(SpaceConfig.from_env(), '127.0.0.1', int(sys.argv[1]))\n"
)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_served(url: str, tries: int = 600) -> None:
    """Wait (up to ``tries`` × 0.2 s) until the app at ``url`` answers ``/config``."""
    import httpx

    for _ in range(tries):
        try:
            if httpx.get(url + "config").status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)


def _usage(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    return len(files), sum(p.stat().st_size for p in files)


def case_space_served(work: Path, calls: int = 100, max_files: int = 60) -> list[Figure]:
    """Points 5, 6 and 12 (served app): the Space in a subprocess on 127.0.0.1 with TMPDIR a fresh
    folder (its store and arena outside), rate limit 3, temp bound 60 files. 3 submissions, then 5
    with a forged ``X-Forwarded-For``; direct file URLs into the arena's store; 100 ``/arena_pair``
    calls, every served image hashed; SIGTERM."""
    import httpx
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    cwd = fresh(work, "space")
    tmp = cwd / "tmp"
    tmp.mkdir()
    arena, lq = _arena_folders(cwd)
    port = _free_port()
    env = {
        **child_env(),
        "TMPDIR": str(tmp),
        "GGT_SPACE_STORE": str(cwd / "store"),
        "GGT_SPACE_WARM_UP": "0",
        "GGT_SPACE_RATE_LIMIT": "3",
        "GGT_SPACE_TEMP_MAX_FILES": str(max_files),
        "GGT_SPACE_ARENA": str(arena),
        "GGT_SPACE_ARENA_LQ": str(lq),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", SPACE_CHILD, str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_served(url)
        downloads = cwd / "downloads"  # what the visitor receives, outside the Space's TMPDIR
        client = Client(url, verbose=False, download_files=str(downloads))
        targets = [arena / system / "p0.png" for system in ("strong", "weak", "mid")] + [lq / "p0.png"]
        file_urls = sum(httpx.get(f"{url}gradio_api/file={t}").status_code == 200 for t in targets)
        for _ in range(3):
            with contextlib.suppress(AppError):
                client.predict("nafnet", api_name="/submit_model")
        past = 0
        for i in range(5):
            try:
                forged = {"X-Forwarded-For": f"203.0.113.{i + 1}"}
                Client(url, headers=forged, verbose=False, download_files=str(downloads)).predict(
                    "nafnet", api_name="/submit_model"
                )
                past += 1
            except AppError as exc:
                past += "rate limit reached" not in str(exc)
        digests, served = set(), 0
        for _ in range(calls):
            _, left, right, _, _ = client.predict(api_name="/arena_pair")
            digests |= {hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in (left, right)}
            served += 2
        files, size = _usage(tmp)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    left_files, left_bytes = _usage(tmp)
    folders = len(list(tmp.glob("ggt-space-*")) + list(tmp.glob("ggt-arena-*")))
    return [
        ("submissions accepted past the limit (5 with forged X-Forwarded-For)", past, "0", ""),
        (
            f"arena store files served by direct URL (of {len(targets)})",
            file_urls,
            "0",
            "`/gradio_api/file=<arena>/...`",
        ),
        (f"byte-identical served arena images (of {served})", served - len(digests), "0", ""),
        (
            f"temp files / bytes after {calls} `/arena_pair` calls",
            f"{files} / {size:,}",
            f"≤ {max_files} files",
            "",
        ),
        ("temp files / bytes left after SIGTERM", f"{left_files} / {left_bytes:,}", "0 / 0", f"exit {code}"),
        ("`ggt-space-*` / `ggt-arena-*` folders left after SIGTERM", folders, "0", ""),
    ]


class _Hostile:
    """Unpickling it runs code: it writes ``marker`` (the attack planted in a checkpoint)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('executed')",))


def case_hostile_checkpoint(work: Path) -> list[Figure]:
    """Point 13: a real tiny NAFNet training run (``training/train_restorer.py``, the tiny CPU
    recipe, 3 steps), a pickle planted in its last checkpoint as ``custom_checkpoint_0.pkl`` (and,
    in a second try, as ``loop_state_0.pt``), then ``--resume_from_checkpoint latest``."""
    import torch

    cwd = fresh(work, "hostile-checkpoint")
    make_pairs(cwd / "pairs", [f"p{i}" for i in range(4)], seed=130)
    recipe = yaml.safe_load((REPO / "training" / "recipes" / "nafnet" / "tiny_cpu.yaml").read_text())
    recipe["train"].update(output_dir="run", max_steps=3, checkpointing_steps=3, log_with=None)
    (cwd / "tiny.yaml").write_text(yaml.safe_dump(recipe))
    script = str(REPO / "training" / "train_restorer.py")
    first = measured([sys.executable, script, "--config", "tiny.yaml"], cwd, 600)
    if first.returncode != 0:
        raise RuntimeError(f"the first training run failed (exit {first.returncode}): {last_line(first)}")
    figures = []
    for name in ("custom_checkpoint_0.pkl", "loop_state_0.pt"):
        latest = max(
            (cwd / "run" / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])
        )
        planted, marker = latest / name, cwd / f"MARKER-{name}"
        kept = planted.read_bytes() if planted.exists() else None
        torch.save({"step": _Hostile(str(marker))}, planted)
        steps = int(latest.name.split("-")[1]) + 3
        run = measured(
            [
                sys.executable,
                script,
                "--config",
                "tiny.yaml",
                f"train.max_steps={steps}",
                "--resume_from_checkpoint",
                "latest",
            ],
            cwd,
            600,
        )
        figures.append(
            (
                f"hostile pickle executed on resume (`{latest.name}/{name}`)",
                int(marker.exists()),
                "0",
                f"exit {run.returncode}: `{last_line(run)}`",
            )
        )
        if kept is None:
            planted.unlink()
        else:
            planted.write_bytes(kept)
    return figures


# ---------------------------------------------------------------------------------------------
# The attacker's findings against the first round of fixes (ATTACK.md, findings A1-A10): each one
# performed again the way it was reported, counted the same way as the cases above.


def case_yaml_text_bomb(work: Path, copies: int = 300) -> list[Figure]:
    """A1 (point 10 bypassed): a 300 MiB-expanding YAML: one 1 MiB string anchor reused through
    ``copies`` aliases under ``backend.options`` (a 1 MiB file), then
    ``ggt build build.yaml --stage ingest``. The text must be refused at load: no run folder and no
    ``build_config.json`` written."""
    cwd = fresh(work, "yaml-text-bomb")
    png(cwd / "photos" / "rain" / "a.png", 200)
    aliases = ", ".join(["*a"] * copies)
    (cwd / "build.yaml").write_text(
        "output: run\nsources:\n  - {path: photos/, license: cc0-1.0}\nbackend:\n  name: classical\n"
        f'  options:\n    blob: &a "{"x" * (1 << 20)}"\n    many: [{aliases}]\n'
    )
    run = ggt(cwd, "build", "build.yaml", "--stage", "ingest", timeout=120)
    recorded = cwd / "run" / "build_config.json"
    return [
        (
            f"seconds / peak RSS MiB ({(cwd / 'build.yaml').stat().st_size / 2**20:.1f} MiB file, "
            f"1 MiB anchor × {copies})",
            f"{run.seconds:.1f} / {run.peak_mib:.0f}",
            "-",
            f"exit {run.returncode}"
            + (" (killed at the timeout)" if run.returncode == -9 else "")
            + f": `{last_line(run)}`",
        ),
        (
            "bytes of `run/build_config.json` written",
            recorded.stat().st_size if recorded.is_file() else 0,
            "0",
            f"run folder created: {(cwd / 'run').exists()}",
        ),
        ("config accepted (exit 0)", int(run.returncode == 0), "0", ""),
    ]


def _pixel_digest(data: bytes) -> str:
    import io

    with Image.open(io.BytesIO(data)) as img:
        return hashlib.sha256(np.asarray(img.convert("RGB")).tobytes()).hexdigest()


def _near_hq_leaks(ds: Path) -> int:
    """Test rows of ``ds`` whose HQ decodes to pixels within 1 grey level of a train HQ (the same
    picture re-saved with a tiny change)."""
    import io

    import pyarrow.parquet as pq

    def hqs(split: str) -> list[np.ndarray]:
        out = []
        for shard in sorted(ds.glob(f"data/*/{split}-*.parquet")):
            for row in pq.read_table(shard, columns=["hq"]).to_pylist():
                with Image.open(io.BytesIO(row["hq"]["bytes"])) as img:
                    out.append(np.asarray(img.convert("RGB"), dtype=np.int16))
        return out

    train = hqs("train")
    return sum(any(t.shape == h.shape and np.abs(t - h).max() <= 1 for h in train) for t in hqs("test"))


def case_test_pairs_reuse_train_hq(work: Path, n: int = 4) -> list[Figure]:
    """A2 (point 2 defeated): train = ``p1``; the test pairs ``p1x`` reuse each train HQ with a
    fresh degradation, LQ = ``(0.35*hq+130)[:, ::-1]`` (the normal GGT case). ``ggt pack p1 lk
    --split train``, ``ggt pack p1x lk --split test``; then one HQ pixel changed by 1 in each test
    HQ (re-saved), packed with ``--force`` and ``ggt validate lk``."""
    cwd = fresh(work, "reused-hq")
    make_pairs(cwd / "p1", [f"p{i}" for i in range(n)], seed=210)
    for i in range(n):
        hq = np.asarray(Image.open(cwd / "p1" / "hq" / "rain" / f"p{i}.png"))
        for side, image in (("hq", hq), ("lq", (0.35 * hq + 130).astype(np.uint8)[:, ::-1])):
            (cwd / "p1x" / side / "rain").mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(cwd / "p1x" / side / "rain" / f"x{i}.png")
    train = ggt(cwd, "pack", "p1", "lk", "--split", "train")
    test = ggt(cwd, "pack", "p1x", "lk", "--split", "test")
    packed = _near_hq_leaks(cwd / "lk")
    for i in range(n):
        path = cwd / "p1x" / "hq" / "rain" / f"x{i}.png"
        pixels = np.array(Image.open(path))
        pixels[0, 0, 0] ^= 1
        Image.fromarray(pixels).save(path)
    forced = ggt(cwd, "pack", "p1x", "lk", "--split", "test", "--force")
    kept = _near_hq_leaks(cwd / "lk")
    check = ggt(cwd, "validate", "lk")
    flagged = len(flagged_leaks(check) & {f"x{i}" for i in range(n)})
    return [
        (
            f"leaked test pairs packed (train HQ reused, fresh LQ; of {n})",
            packed,
            "0",
            f"exits train {train.returncode}, test {test.returncode}: `{last_line(test)}`",
        ),
        (
            f"`ggt validate` after `--force` with one HQ pixel changed: leaks flagged (of {kept} kept)",
            flagged,
            str(kept),
            f"pack exit {forced.returncode}, validate exit {check.returncode}: `{last_line(check)}`",
        ),
    ]


def case_shard_bomb(work: Path, cell_mib: int = 700) -> list[Figure]:
    """A3 (point 11, new route): a packed shard rewritten so one row's ``lq.bytes`` is ``cell_mib``
    MiB of zeros (zstd: a ~100 KB file), then ``ggt validate vds``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cwd = fresh(work, "shard-bomb")
    make_pairs(cwd / "pairs", [f"p{i}" for i in range(2)], seed=220)
    ggt(cwd, "pack", "pairs", "vds", "--split", "test")
    shard = next((cwd / "vds" / "data" / "rain").glob("test-*.parquet"))
    table = pq.read_table(shard)
    lq = table.column("lq").to_pylist()
    lq[0] = {**lq[0], "bytes": bytes(cell_mib << 20)}
    index = table.schema.get_field_index("lq")
    table = table.set_column(
        index, table.schema.field(index), pa.array(lq, type=table.schema.field(index).type)
    )
    pq.write_table(table, shard, compression="zstd")
    del table, lq
    size = shard.stat().st_size
    run = ggt(cwd, "validate", "vds", timeout=180)
    return [
        (
            f"`ggt validate`: peak RSS MiB ({cell_mib} MiB zero cell in a {size:,}-byte shard)",
            round(run.peak_mib),
            "-",
            f"{run.seconds:.1f} s, exit {run.returncode}: `{last_line(run)}`",
        ),
        ("the bomb shard passed as OK (exit 0)", int(run.returncode == 0), "0", ""),
        (
            "reported as an internal bug",
            int("GGT_DEBUG" in run.stderr or run.returncode == -9),
            "0",
            "",
        ),
    ]


UPLOAD_CHILD = (
    "import sys\nfrom ggt_hf.space import SpaceConfig, launch_space\n"
    "launch_space(SpaceConfig(store=sys.argv[2], sign_in=False, warm_up=False, builtin_arena=False,\n"
    "    temp_max_mb=int(sys.argv[3]), temp_max_files=50), '127.0.0.1', int(sys.argv[1]))\n"
)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def case_space_uploads(work: Path, uploads: int = 15, mib: int = 20, bound_mb: int = 64) -> list[Figure]:
    """A4 (point 12): the Space (``temp_max_mb=64``, no sign-in, no arena) served on 127.0.0.1 with
    TMPDIR a fresh folder holding a stale ``ggt-space-*`` folder of a dead pid (ggt's marker) and a
    user's unmarked ``ggt-space-mine``; 15 × 20 MiB uploads to ``/gradio_api/upload``, 5 at a time,
    while the temp folder's size is sampled every 20 ms."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from ggt_hf.space import temp as space_temp

    marker = getattr(space_temp, "MARKER", ".ggt-owner")  # (the name the fix gave it; old code: none)
    cwd = fresh(work, "space-uploads")
    tmp = cwd / "tmp"
    stale, mine = tmp / "ggt-space-stale1", tmp / "ggt-space-mine"
    for folder in (stale, mine):
        folder.mkdir(parents=True)
        (folder / "data.bin").write_bytes(bytes(1 << 20))
    (stale / marker).write_text(f"ggt-temp pid={_dead_pid()}\n")
    port = _free_port()
    env = {**child_env(), "TMPDIR": str(tmp), "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen(
        [sys.executable, "-c", UPLOAD_CHILD, str(port), str(cwd / "store"), str(bound_mb)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    peak, stop = [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                size = sum(
                    p.stat().st_size
                    for p in tmp.rglob("*")
                    if p.is_file() and not p.is_symlink() and mine not in p.parents
                )
                peak[0] = max(peak[0], size)
            time.sleep(0.02)

    def upload(i: int) -> int:
        body = bytes([i]) * (mib << 20)
        try:
            return httpx.post(
                url + "gradio_api/upload", files={"files": (f"x{i}.png", body)}, timeout=120
            ).status_code
        except httpx.HTTPError:
            return -1

    try:
        _wait_served(url)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        with ThreadPoolExecutor(5) as pool:
            codes = list(pool.map(upload, range(uploads)))
        time.sleep(0.5)
        stop.set()
        sampler.join()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    accepted = collections.Counter(codes)
    return [
        (
            f"peak temp bytes during {uploads} × {mib} MiB uploads (5 at a time)",
            f"{peak[0]:,}",
            f"≤ {bound_mb << 20} ({bound_mb} MiB)",
            "statuses " + ", ".join(f"{k}: {v}" for k, v in sorted(accepted.items())),
        ),
        ("stale `ggt-space-*` folder of a dead pid left at start", int(stale.exists()), "0", ""),
        (
            "files of a user's unmarked `ggt-space-mine` lost",
            int(not (mine / "data.bin").is_file()),
            "0",
            "",
        ),
    ]


def case_arena_pixel_matching(work: Path, vote_limit: int = 10, most: int = 1000) -> list[Figure]:
    """A5 (point 6): the Space's arena service (its vote and pair limits for ``vote_limit=10``)
    over 3 systems whose outputs differ only by σ=3 noise. mallory draws a pair and votes: does the
    reply name the systems (the reveal that let a script recognise every later served image by
    nearest pixels)? Then she draws pairs (to wait for her own system) until she is refused."""
    from ggt_hf.errors import GGTError
    from ggt_hf.leaderboard import LeaderboardStore
    from ggt_hf.space import app
    from ggt_hf.space.arena_tab import ArenaService
    from ggt_hf.space.config import SpaceConfig

    cwd = fresh(work, "arena-pixels")
    rng = np.random.default_rng(230)
    systems = ("sysA", "sysB", "sysC")
    for i in range(10):
        base = rng.integers(0, 256, (32, 32, 3)).astype(np.int16)
        (cwd / "lq").mkdir(exist_ok=True)
        Image.fromarray(base.astype(np.uint8)).save(cwd / "lq" / f"p{i}.png")
        for s in systems:
            noisy = np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)
            (cwd / "out" / s).mkdir(parents=True, exist_ok=True)
            Image.fromarray(noisy).save(cwd / "out" / s / f"p{i}.png")
    config = SpaceConfig(store=str(cwd / "store"), vote_limit=vote_limit, warm_up=False, examples=["x"])
    service = ArenaService(
        LeaderboardStore(cwd / "store"),
        (str(cwd / "out"), str(cwd / "lq")),
        vote_limit=app._vote_limit(config),
        **({"pair_limit": app._pair_limit(config)} if hasattr(app, "_pair_limit") else {}),
        serve_dir=cwd / "serve",
    )
    _, _, _, token, caption = service.pair(user="mallory")
    status, _ = service.vote(token, "A", "mallory")
    named = sum(s in status + caption for s in systems)
    drawn, refusal = 1, f"no refusal in {most} pairs"
    while drawn < most:
        try:
            service.pair(user="mallory")
            drawn += 1
        except GGTError as exc:
            refusal = str(exc)
            break
    return [
        ("vote replies naming a system (of 1)", int(named > 0), "0", f"`{status[:120]}`"),
        (
            f"pairs one account drew before refusal (vote limit {vote_limit})",
            drawn,
            "-",
            f"`{refusal[:150]}`",
        ),
    ]


LOOKALIKES = {
    "zero-width space": "TeamA-NAFNet\u200b",
    "soft hyphen": "TeamA\u00ad-NAFNet",
    "word joiner": "TeamA-\u2060NAFNet",
    "Cyrillic а": "Te\u0430mA-NAFNet",
    "Cyrillic е": "T\u0435amA-NAFNet",
    "trailing '.'": "TeamA-NAFNet.",
    "non-breaking hyphen": "TeamA\u2011NAFNet",
}


def case_lookalike_names(work: Path) -> list[Figure]:
    """A7 (point 5): teama owns ``TeamA-NAFNet``; mallory queues requests (``store.add_request``)
    under its 7 lookalikes (zero-width, soft hyphen, word joiner, Cyrillic а/е, trailing '.',
    non-breaking hyphen)."""
    import uuid

    from ggt_hf.errors import GGTError
    from ggt_hf.leaderboard import LeaderboardStore
    from ggt_hf.leaderboard.store import Request

    cwd = fresh(work, "lookalikes")
    store = LeaderboardStore(cwd / "lb")
    store.add_request(Request(uuid.uuid4().hex, "predictions", "TeamA-NAFNet", "teama"))
    accepted, reasons = [], []
    for label, name in LOOKALIKES.items():
        try:
            store.add_request(Request(uuid.uuid4().hex, "predictions", name, "mallory"))
            accepted.append(label)
        except GGTError as exc:
            reasons.append(str(exc))
    return [
        (
            f"lookalike names accepted for another account (of {len(LOOKALIKES)})",
            len(accepted),
            "0",
            (", ".join(accepted) + "; " if accepted else "") + (f"`{reasons[0][:150]}`" if reasons else ""),
        )
    ]


def case_control_chars_in_names(work: Path) -> list[Figure]:
    """A9: an LQ named ``evil<LF>ok<TAB>fake.png`` beside good pairs; ``ggt pack p3 ds3 --report
    rep.tsv``: lines of the report and the console that do not belong to a problem."""
    cwd = fresh(work, "control-chars")
    make_pairs(cwd / "p3", [f"p{i}" for i in range(2)], seed=240)
    shutil.copyfile(cwd / "p3" / "lq" / "rain" / "p0.png", cwd / "p3" / "lq" / "rain" / "evil\nok\tfake.png")
    run = ggt(cwd, "pack", "p3", "ds3", "--report", "rep.tsv")
    report = (cwd / "rep.tsv").read_text() if (cwd / "rep.tsv").is_file() else ""
    forged = sum(line.startswith("ok") for line in report.splitlines())
    console = sum(line.lstrip().startswith("ok\t") for line in (run.stdout + run.stderr).splitlines())
    return [
        (
            "forged lines (`ok<TAB>fake.png...`) in the report / console",
            forged + console,
            "0",
            f"exit {run.returncode}; report: `{report.strip()[:150]}`",
        ),
        ("report written", int(bool(report)), "1", ""),
    ]


def case_hostile_metadata(work: Path, depth: int = 200_000) -> list[Figure]:
    """A10: a packed dataset whose card says ``configs: [[1]]`` (``ggt validate``), and one whose
    ``ggt_dataset.json`` is 200,000 nested ``[`` (``ggt validate`` and ``ggt pack`` into it)."""
    cwd = fresh(work, "hostile-metadata")
    make_pairs(cwd / "pairs", [f"p{i}" for i in range(2)], seed=250)
    for name in ("card", "deep"):
        ggt(cwd, "pack", "pairs", name)
    card = cwd / "card" / "README.md"
    text = card.read_text()
    card.write_text(re.sub(r"(?m)^configs:\n(?:[ -].*\n)*", "configs: [[1]]\n", text, count=1))
    (cwd / "deep" / "ggt_dataset.json").write_text("[" * depth)
    runs = {
        "validate card": ggt(cwd, "validate", "card"),
        "validate deep": ggt(cwd, "validate", "deep"),
        "pack into deep": ggt(cwd, "pack", "pairs", "deep"),
    }
    bugs = [k for k, r in runs.items() if "GGT_DEBUG" in r.stderr or "Error:" in last_line(r)]
    named = sum(
        r.returncode == 1
        and ("README.md" in r.stdout + r.stderr or "ggt_dataset.json" in r.stdout + r.stderr)
        for k, r in runs.items()
        if k.startswith("validate")
    )
    return [
        (
            f"internal-bug exits (of {len(runs)})",
            len(bugs),
            "0",
            "; ".join(f"{k} exit {r.returncode}: `{last_line(r)[:110]}`" for k, r in runs.items()),
        ),
        ("validate runs exiting 1 naming the file (of 2)", named, "2", ""),
        (
            "`configs: [[1]]` still in the card (the attack took)",
            int("configs: [[1]]" in card.read_text()),
            "1",
            "",
        ),
    ]


def case_pack_files_it_did_not_write(work: Path) -> list[Figure]:
    """A6 (point 1): (a) ``.ds.staging-backup/thesis.tex`` beside the output, then ``ggt pack p2 ds
    --split train``; (b) a user parquet ``data/rain/train-00003-of-00007.parquet`` (not in ggt's
    manifest) through two re-packs of train; (c) ``ds/data/rain`` and ``ds/assets`` replaced by
    symlinks to the user's folders, then a pack (``--force``); (d) a hand-written line appended to
    ``README.md`` (and ``eval.yaml``), then the test split packed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cwd = fresh(work, "pack-not-its-files")
    make_pairs(cwd / "p1", [f"p{i}" for i in range(4)], seed=260)
    make_pairs(cwd / "p2", [f"q{i}" for i in range(4)], seed=261)
    figures, exits = [], {}
    # (a) a sibling named like pack's staging backup
    (cwd / ".ds.staging-backup").mkdir()
    (cwd / ".ds.staging-backup" / "thesis.tex").write_text("precious\n")
    exits["a"] = ggt(cwd, "pack", "p2", "ds", "--split", "train").returncode
    figures.append(
        (
            "(a) `.ds.staging-backup/thesis.tex` beside the output lost",
            int(not (cwd / ".ds.staging-backup" / "thesis.tex").is_file()),
            "0",
            f"pack exit {exits['a']}",
        )
    )
    # (b) a user parquet named like a shard, not in the manifest
    user_shard = cwd / "ds" / "data" / "rain" / "train-00003-of-00007.parquet"
    pq.write_table(pa.table({"mine": [1, 2, 3]}), user_shard)
    before = snapshot(cwd / "ds" / "data" / "rain")
    before = {k: v for k, v in before.items() if k == user_shard.name}
    repacks = [ggt(cwd, "pack", "p2", "ds", "--split", "train") for _ in range(2)]
    figures += [
        (
            "(b) user parquet named like a shard (not in the manifest) lost after 2 re-packs",
            lost(before, cwd / "ds" / "data" / "rain"),
            "0",
            f"pack exits {[r.returncode for r in repacks]}",
        ),
        (
            "(b) re-packs beside it ending in an internal bug (of 2)",
            sum("GGT_DEBUG" in r.stderr for r in repacks),
            "0",
            f"`{error_line(repacks[-1])[:150]}`",
        ),
    ]
    # (c) symlinked data/<category> and assets/ pointing at the user's folders
    for name in ("dsl", "dsa"):
        ggt(cwd, "pack", "p1", name, "--split", "train")
    rainphotos = cwd / "userdisk" / "rainphotos"
    (rainphotos / "sub").mkdir(parents=True)
    for rel, data in (("a.txt", "a\n"), ("b.jpg", "b\n"), ("sub/c.txt", "c\n")):
        (rainphotos / rel).write_text(data)
    shutil.rmtree(cwd / "dsl" / "data" / "rain")
    (cwd / "dsl" / "data" / "rain").symlink_to("../../userdisk/rainphotos")
    ufold = cwd / "ufold"
    ufold.mkdir()
    (ufold / "sample_grid.jpg").write_text("my grid\n")
    shutil.rmtree(cwd / "dsa" / "assets", ignore_errors=True)
    (cwd / "dsa" / "assets").symlink_to("../ufold")
    user_files = {"userdisk": snapshot(cwd / "userdisk"), "ufold": snapshot(ufold)}
    linked = [
        ggt(cwd, "pack", "p1", "dsl", "--split", "test", "--force"),
        ggt(cwd, "pack", "p1", "dsa", "--split", "test", "--force"),
    ]
    left_links = len(list((cwd / "dsl" / "data").glob(".rain.*")))
    figures += [
        (
            f"(c) user files lost/overwritten through symlinked `data/rain`, `assets` (of "
            f"{sum(map(len, user_files.values()))})",
            lost(user_files["userdisk"], cwd / "userdisk") + lost(user_files["ufold"], ufold),
            "0",
            f"exits {[r.returncode for r in linked]}: `{last_line(linked[0])[:150]}`",
        ),
        (
            "(c) packs through a symlinked folder accepted (exit 0, of 2)",
            sum(r.returncode == 0 for r in linked),
            "0",
            "",
        ),
        ("(c) `.rain.*` leftovers in `dsl/data`", left_links, "0", ""),
    ]
    # (d) hand edits to the card and eval.yaml
    ggt(cwd, "pack", "p2", "dsd", "--split", "train")  # its own dataset: (b)'s parquet stays out of it
    line = "MY HAND-WRITTEN SECTION"
    with open(cwd / "dsd" / "README.md", "a") as f:
        f.write(f"\n{line}\n")
    edited_eval = (cwd / "dsd" / "eval.yaml").is_file()
    if edited_eval:
        with open(cwd / "dsd" / "eval.yaml", "a") as f:
            f.write(f"# {line} (eval)\n")
    card_run = ggt(cwd, "pack", "p1", "dsd", "--split", "test")
    kept = [p.name for p in (cwd / "dsd").glob("*") if p.is_file() and line in p.read_text(errors="replace")]
    figures.append(
        (
            f"(d) hand edits lost after packing the test split (of {1 + edited_eval}: README.md"
            + (", eval.yaml)" if edited_eval else ")"),
            1 + edited_eval - len(kept),
            "0",
            f"pack exit {card_run.returncode}; kept in {kept}: `{line_naming(card_run, 'README')[:150]}`",
        )
    )
    return figures


def case_build_and_restore_into_user_folders(work: Path) -> list[Figure]:
    """A8: ``ggt build`` with ``output: myproj`` where myproj holds the user's notes.md, report.md
    and items/mine.json; ``ggt restore --model classical in out`` where out/ holds the user's own
    photo.png (same name as an input), then again with ``--overwrite``."""
    cwd = fresh(work, "user-folders")
    png(cwd / "photos" / "rain" / "a.png", 270, size=96)
    config = {
        "name": "drill",
        "output": "myproj",
        "sources": [{"path": "photos", "license": "cc0-1.0"}],
        "backend": {"name": "classical"},
        "image_size": 64,
        "min_side": 32,
    }
    (cwd / "build.yaml").write_text(yaml.safe_dump(config))
    (cwd / "myproj" / "items").mkdir(parents=True)
    for rel, text in (("notes.md", "n\n"), ("report.md", "r\n"), ("items/mine.json", '{"mine": 1}\n')):
        (cwd / "myproj" / rel).write_text(text)
    mine = snapshot(cwd / "myproj")
    build = ggt(cwd, "build", "build.yaml", timeout=300)
    png(cwd / "in" / "photo.png", 271)
    png(cwd / "out" / "photo.png", 272)
    theirs = snapshot(cwd / "out")
    restore = ggt(cwd, "restore", "--model", "classical", "in", "out")
    forced = ggt(cwd, "restore", "--model", "classical", "in", "out", "--overwrite")
    return [
        (
            f"`ggt build`: user files moved or changed in `myproj` (of {len(mine)})",
            lost(mine, cwd / "myproj"),
            "0",
            f"exit {build.returncode}: `{last_line(build)[:150]}`",
        ),
        (
            "`ggt restore in out`: suggests `--overwrite` for the user's photo.png",
            int("--overwrite" in restore.stdout + restore.stderr),
            "0",
            f"exit {restore.returncode}: `{last_line(restore)[:150]}`",
        ),
        (
            "`ggt restore` (also with `--overwrite`): the user's out/photo.png changed",
            lost(theirs, cwd / "out"),
            "0",
            f"--overwrite exit {forced.returncode}",
        ),
    ]


TRUST_CASES: list[Case] = [
    ("1", "pack into a folder holding the user's files", case_pack_into_user_folder),
    ("1", "re-pack a dataset where the user keeps notes", case_repack_keeps_user_files),
    ("1", "source and output overlap", case_overlapping_source_output),
    ("2", "two packs into one output at once", case_two_packs_at_once),
    ("3", "restore onto its own input", case_restore_onto_input),
    ("4", "a file name that is not UTF-8 (pack, eval)", case_bad_name_in_pack_and_eval),
    ("4", "a symlink loop and a link out in a restore input", case_symlink_loop_in_restore),
    ("4", "release archives: tar link members, 1 GiB zip member", case_hostile_release_archives),
    ("5", "another account under a taken model name", case_rows_rewritten),
    ("5, 6", "150 arena votes from one account (library)", case_vote_flood),
    (
        "5, 6, 12",
        "the served Space: forged X-Forwarded-For, arena file URLs and bytes, temp, SIGTERM",
        case_space_served,
    ),
    ("7", "push a dataset holding links out", case_push_follows_links),
    ("8", "torch.py beside `--model my_models:restore`", case_hostile_torch_module),
    ("9, 10", "oversized restorer config / weights header", case_oversized_config),
    ("10", "billion-laughs YAML config", case_billion_laughs),
    ("11", "3 GiB sparse png", case_huge_sparse_png),
    ("13", "a pickle planted in a training checkpoint", case_hostile_checkpoint),
    ("A1 (10)", "YAML text bomb: a 1 MiB string anchor × 300 aliases", case_yaml_text_bomb),
    ("A2 (2)", "test pairs reusing train HQs with a fresh LQ", case_test_pairs_reuse_train_hq),
    ("A3 (11)", "a 700 MB zstd zero cell in a packed shard", case_shard_bomb),
    ("A4 (12)", "15 × 20 MiB uploads against temp_max_mb=64; stale temp folders", case_space_uploads),
    ("A5 (6)", "arena: pixel matching after a reveal, pairs drawn", case_arena_pixel_matching),
    (
        "A6 (1)",
        "pack: files it did not write (staging sibling, shard-named parquet, symlinks, hand edits)",
        case_pack_files_it_did_not_write,
    ),
    ("A7 (5)", "lookalike model names", case_lookalike_names),
    ("A8", "build / restore into folders holding the user's files", case_build_and_restore_into_user_folders),
    ("A9", "newline/tab in a file name", case_control_chars_in_names),
    ("A10", "hostile card `configs: [[1]]` / 200k-nested manifest", case_hostile_metadata),
]
