"""How fast and how memory-hungry is ``ggt pack`` compared with the naive ``datasets`` path?

The naive path is what most scripts do: open every image with PIL, hand the images to
``datasets.Dataset.from_dict`` with ``Image()`` features and call ``.to_parquet``; ``datasets``
then re-encodes every image and holds the whole dataset in memory. ``ggt pack`` stores the
original file bytes and writes row group by row group, so it should be faster and its peak memory
should not grow with the number of pairs. Targets from the issue: ours ≥3× naive pairs/s, and peak
RSS independent of N.

The benchmark builds N distinct 1024² LQ/HQ PNG pairs from real photos (scikit-image's sample
photos plus ``ggt_hf/sample_data``; seeded crop/rotation/flip/brightness per index; LQ made with
``ggt_hf.degrade``), cached in the work folder between runs. Each method runs in its own
subprocess so its peak RSS (``ru_maxrss``) is its own. It also compares PNG with lossless WebP
(bytes/pair, encode ms/image) and checks that the packed parquet holds the files' exact bytes while
the naive output holds re-encoded ones. Results are printed and written to ``benchmarks/RESULTS.md``.

    python benchmarks/bench_pack.py [--sizes 24 96] [--work benchmarks/out]
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import cache, partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

import ggt_hf
from ggt_hf.constants import CATEGORIES
from ggt_hf.images import encode_image
from ggt_hf.normalize import NormalizePolicy

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
RESULTS_HEADER = (
    "# Benchmark results\n\n"
    "All figures measured on this machine by the command shown; ratios against the named peer in the same run.\n"
)
SKIMAGE_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "motorcycle_left",
    "retina",
)
PAIRS_DIR = "pairs-v1"  # bump when the generation recipe changes, so the cache is rebuilt
METHODS = ("naive", "ours")


SAMPLE_DATA = Path(ggt_hf.__file__).parent / "sample_data"
PHOTOS = SKIMAGE_PHOTOS + tuple(
    f"sample_data/{p.name}" for p in sorted(SAMPLE_DATA.glob("*")) if p.suffix.lower() in {".png", ".jpg"}
)


@cache
def photo(name: str) -> Image.Image:
    """A source photo as RGB (scikit-image's or one of ggt_hf/sample_data)."""
    if name.startswith("sample_data/"):
        return Image.open(SAMPLE_DATA / name.removeprefix("sample_data/")).convert("RGB")
    from skimage import data

    arr = data.stereo_motorcycle()[0] if name == "motorcycle_left" else getattr(data, name)()
    return Image.fromarray(arr).convert("RGB")


def pair_info(i: int, folder: Path) -> dict[str, str]:
    category = CATEGORIES[i % len(CATEGORIES)]
    stem = folder / f"{i:04d}_{category}"
    return {
        "id": f"pair{i:04d}",
        "category": category,
        "source": PHOTOS[i % len(PHOTOS)],
        "lq": f"{stem}_lq.png",
        "hq": f"{stem}_hq.png",
    }


def degraded(arr: np.ndarray, category: str, seed: int) -> np.ndarray:
    try:
        from ggt_hf.degrade import degrade
    except ImportError:  # older trees: Gaussian blur + noise
        blurred = np.asarray(Image.fromarray(arr).filter(ImageFilter.GaussianBlur(2)), dtype=np.float32)
        noisy = blurred + np.random.default_rng(seed).normal(0, 8, arr.shape)
        return np.clip(noisy, 0, 255).astype(np.uint8)
    return degrade(arr, category, seed).image


def make_pair(i: int, folder: Path) -> None:
    """Write pair ``i`` (a distinct crop/rotation/flip/brightness of a photo, then degraded)."""
    info = pair_info(i, folder)
    if Path(info["lq"]).exists() and Path(info["hq"]).exists():
        return
    rng = np.random.default_rng(i)
    img = photo(PHOTOS[i % len(PHOTOS)])
    w, h = img.size
    s = rng.uniform(0.6, 1.0)
    cw, ch = int(w * s), int(h * s)
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    img = img.crop((x, y, x + cw, y + ch)).rotate(90 * int(rng.integers(4)), expand=True)
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.8, 1.2))
    hq = NormalizePolicy().plan(img.size).apply(img)
    lq = Image.fromarray(degraded(np.asarray(hq), info["category"], seed=i))
    for side, image in (("hq", hq), ("lq", lq)):  # tmp + rename: a killed run leaves no half file
        tmp = Path(info[side] + ".tmp")
        tmp.write_bytes(encode_image(image, "png"))
        tmp.replace(info[side])


def build_pairs(n: int, work: Path) -> Path:
    folder = work / PAIRS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(partial(make_pair, folder=folder), range(n)))
    return folder


def run_ours(infos: list[dict[str, str]], dest: Path) -> None:
    from ggt_hf.hub.pack import PackConfig, pack
    from ggt_hf.records import PairRecord

    records = [
        PairRecord(
            id=p["id"],
            category=p["category"],
            split="train",
            lq_path=p["lq"],
            hq_path=p["hq"],
            source=p["source"],
        )
        for p in infos
    ]
    pack(records, dest, PackConfig(workers=2), progress=False)


def run_naive(infos: list[dict[str, str]], dest: Path) -> None:
    from datasets import Dataset, Features

    from ggt_hf.hub.schema import dataset_features

    def load(path: str) -> Image.Image:
        # In memory, as the issue describes: a PIL image still tied to its file would be stored by
        # datasets as a bare path, and to_parquet would then write no image bytes at all.
        with Image.open(path) as im:
            return im.copy()

    columns = {
        "id": [p["id"] for p in infos],
        "lq": [load(p["lq"]) for p in infos],
        "hq": [load(p["hq"]) for p in infos],
        "category": [p["category"] for p in infos],
        "split": ["train"] * len(infos),
        "source": [p["source"] for p in infos],
    }
    features = Features({k: dataset_features()[k] for k in columns})
    dest.mkdir(parents=True)
    Dataset.from_dict(columns, features=features).to_parquet(dest / "naive.parquet")


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(method: str, n: int, work: Path) -> None:
    """Run one method in this (fresh) process and print its numbers as JSON."""
    import datasets  # noqa: F401  both methods pay for the same imports before the baseline

    import ggt_hf.hub.pack  # noqa: F401

    infos = [pair_info(i, work / PAIRS_DIR) for i in range(n)]
    dest = work / "runs" / f"{method}-{n}"
    shutil.rmtree(dest, ignore_errors=True)
    base = maxrss_mb()
    start = time.perf_counter()
    {"ours": run_ours, "naive": run_naive}[method](infos, dest)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "method": method,
                "n": n,
                "seconds": seconds,
                "pairs_s": n / seconds,
                "peak_mb": maxrss_mb(),
                "base_mb": base,
            }
        )
    )


def measure(method: str, n: int, work: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", method, "--n", str(n), "--work", str(work)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def codec_stats(infos: list[dict[str, str]]) -> dict[str, dict[str, float]]:
    """Bytes/pair and encode ms/image of PNG and lossless WebP over the given pairs."""
    stats = {}
    for fmt in ("png", "webp"):
        total, seconds = 0, 0.0
        for path in (p[side] for p in infos for side in ("lq", "hq")):
            img = Image.open(path).convert("RGB")
            start = time.perf_counter()
            data = encode_image(img, fmt)
            seconds += time.perf_counter() - start
            total += len(data)
            assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), np.asarray(img)), "not lossless"
        stats[fmt] = {"bytes_pair": total / len(infos), "ms_image": 1000 * seconds / (2 * len(infos))}
    return stats


def stored_bytes(folder: Path, ids: list[str]) -> dict[str, dict]:
    import pyarrow.parquet as pq

    rows = {}
    for shard in sorted(folder.rglob("*.parquet")):
        table = pq.read_table(shard, columns=["id", "lq", "hq"], filters=[("id", "in", ids)])
        rows.update({r["id"]: r for r in table.to_pylist()})
    return rows


def byte_check(infos: list[dict[str, str]], work: Path, n: int) -> dict[str, str]:
    """For each method: how many of the sample's images are stored as the files' exact bytes."""
    ids = [p["id"] for p in infos]
    facts = {}
    for method in METHODS:
        rows = stored_bytes(work / "runs" / f"{method}-{n}", ids)
        same = sum(rows[p["id"]][s]["bytes"] == Path(p[s]).read_bytes() for p in infos for s in ("lq", "hq"))
        pixels = sum(
            np.array_equal(
                np.asarray(Image.open(io.BytesIO(rows[p["id"]][s]["bytes"]))), np.asarray(Image.open(p[s]))
            )
            for p in infos
            for s in ("lq", "hq")
        )
        facts[method] = (
            f"{same}/{2 * len(infos)} images byte-identical to the source files, {pixels} pixel-identical"
        )
    return facts


def machine() -> str:
    meminfo = Path("/proc/meminfo").read_text()
    ram = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1)) / 1024**2
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    import datasets
    import PIL
    import pyarrow

    return (
        f"nproc {os.cpu_count()}, RAM {ram:.1f} GiB, CPU {cpu.group(1).strip() if cpu else 'unknown'}; "
        f"python {platform.python_version()}, pyarrow {pyarrow.__version__}, "
        f"datasets {datasets.__version__}, pillow {PIL.__version__}"
    )


def report(results: list[dict], codecs: dict, facts: dict, sizes: list[int], command: str) -> str:
    by = {(r["method"], r["n"]): r for r in results}
    lines = [
        "## bench_pack",
        "",
        f"Command (from the repo root): `{command}`",
        "",
        f"Machine: {machine()}",
        "",
        f"Date: {datetime.date.today().isoformat()}",
        "",
        "| method | N | pairs/s | peak RSS MB | ratio vs naive | RSS after imports MB |",
        "| --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for r in results:
        naive = by[("naive", r["n"])]
        ratio = f"{r['pairs_s'] / naive['pairs_s']:.2f}× pairs/s, {r['peak_mb'] / naive['peak_mb']:.2f}× RSS"
        lines.append(
            f"| {r['method']} | {r['n']} | {r['pairs_s']:.2f} | {r['peak_mb']:.0f} | {ratio} | {r['base_mb']:.0f} |"
        )
    png, webp = codecs["png"], codecs["webp"]
    lines += [
        "",
        f"Encoding ({codecs['pairs']} pairs, 1024², `ggt_hf.images.encode_image`, both lossless):",
        "",
        "| format | bytes/pair | encode ms/image |",
        "| --- | ---: | ---: |",
        f"| PNG | {png['bytes_pair']:,.0f} | {png['ms_image']:.0f} |",
        f"| WebP lossless | {webp['bytes_pair']:,.0f} ({webp['bytes_pair'] / png['bytes_pair']:.2f}× PNG) | "
        f"{webp['ms_image']:.0f} ({webp['ms_image'] / png['ms_image']:.1f}× PNG) |",
        "",
    ]
    lines += [
        f"Stored bytes, {facts['pairs']} pairs at N={max(sizes)}: ours {facts['ours']}; "
        f"naive {facts['naive']} (re-encoded by datasets).",
        "",
    ]
    small, big = (by[("ours", n)] for n in (min(sizes), max(sizes)))
    speedups = [by[("ours", n)]["pairs_s"] / by[("naive", n)]["pairs_s"] for n in sizes]
    growth = big["peak_mb"] / small["peak_mb"] - 1
    naive_growth = by[("naive", max(sizes))]["peak_mb"] / by[("naive", min(sizes))]["peak_mb"] - 1
    lines += [
        "Targets:",
        "",
        f"- ours ≥3× naive pairs/s: **{'met' if min(speedups) >= 3 else 'NOT met'}** "
        f"({', '.join(f'{s:.1f}× at N={n}' for s, n in zip(speedups, sizes, strict=True))}).",
        f"- peak RSS independent of N (criterion: ≤10% growth from N={min(sizes)} to N={max(sizes)}): "
        f"**{'met' if growth <= 0.10 else 'NOT met'}** (ours {small['peak_mb']:.0f} → {big['peak_mb']:.0f} MB, "
        f"{growth:+.0%}; naive {naive_growth:+.0%}).",
    ]
    return "\n".join(lines) + "\n"


def write_results(section: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else RESULTS_HEADER
    pattern = re.compile(r"^## bench_pack\n.*?(?=^## |\Z)", re.S | re.M)
    text = (
        pattern.sub(lambda _: section + "\n", text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + section
    )
    RESULTS.write_text(text.rstrip() + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[24, 96], help="numbers of pairs N to pack")
    parser.add_argument("--work", type=Path, default=HERE / "out", help="work folder (pairs cache, outputs)")
    parser.add_argument("--codec-pairs", type=int, default=6, help="pairs sampled for PNG vs WebP")
    parser.add_argument("--check-pairs", type=int, default=4, help="pairs whose stored bytes are checked")
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.n, args.work)
    sizes = sorted(set(args.sizes))
    start = time.perf_counter()
    folder = build_pairs(max(sizes), args.work)
    print(f"{max(sizes)} pairs ready in {folder} ({time.perf_counter() - start:.0f}s)", file=sys.stderr)
    results = []
    for method in METHODS:
        for n in sizes:
            results.append(measure(method, n, args.work))
            print(f"{method} N={n}: {results[-1]['pairs_s']:.2f} pairs/s", file=sys.stderr)
    infos = [pair_info(i, folder) for i in range(max(sizes))]
    codecs = {"pairs": args.codec_pairs, **codec_stats(infos[: args.codec_pairs])}
    facts = {"pairs": args.check_pairs, **byte_check(infos[: args.check_pairs], args.work, max(sizes))}
    command = shlex.join(
        [
            "python",
            str(Path(__file__).resolve().relative_to(HERE.parent)),
            *(argv if argv is not None else sys.argv[1:]),
        ]
    )
    section = report(results, codecs, facts, sizes, command)
    print(section)
    write_results(section)


if __name__ == "__main__":
    main()
