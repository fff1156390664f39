"""How fast and how memory-hungry is ``ggt pack`` compared with the naive ``datasets`` path?

Naive: in-memory PIL images → ``datasets.Dataset.from_dict`` (``Image()`` features) → ``.to_parquet``:
every image is re-encoded and the whole dataset sits in memory. ``ggt pack`` stores the files'
bytes and writes row group by row group. Issue targets: ours ≥3× naive pairs/s; peak RSS independent
of N. Pairs are 1024² PNGs made from real photos (seeded crop/rotation/flip/brightness, LQ from
``ggt_hf.degrade``), cached in the work folder, written at zlib level 1 like ``cv2.imwrite``'s default
(at Pillow's default level the naive re-encode reproduces the files byte for byte, so the byte check
could not tell stored from re-encoded). Each method runs in its own subprocess, so ``ru_maxrss`` is
its own peak. Also: PNG vs lossless WebP bytes/pair and encode time. Writes ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
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
from _common import machine, write_section
from PIL import Image, ImageEnhance

import ggt_hf
from ggt_hf.constants import CATEGORIES
from ggt_hf.imaging.images import encode_image
from ggt_hf.ingest.normalize import NormalizePolicy

HERE = Path(__file__).resolve().parent
SAMPLE_DATA = Path(ggt_hf.__file__).parent / "sample_data"
SKIMAGE = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "motorcycle_left", "retina")
PHOTOS = (
    *SKIMAGE,
    *(f"sample_data/{p.name}" for p in sorted(SAMPLE_DATA.glob("*")) if p.suffix in {".png", ".jpg"}),
)
PAIRS_DIR = "pairs-v2"  # bump when the generation recipe changes, so the cache is rebuilt
METHODS = ("naive", "ours")
SIDES = ("lq", "hq")


@cache
def photo(name: str) -> Image.Image:
    if name.startswith("sample_data/"):
        return Image.open(SAMPLE_DATA / name.removeprefix("sample_data/")).convert("RGB")
    from skimage import data

    arr = data.stereo_motorcycle()[0] if name == "motorcycle_left" else getattr(data, name)()
    return Image.fromarray(arr).convert("RGB")


def pair_info(i: int, folder: Path) -> dict[str, str]:
    category = CATEGORIES[i % len(CATEGORIES)]
    stem = f"{folder}/{i:04d}_{category}"
    return {"id": f"pair{i:04d}", "category": category, "source": PHOTOS[i % len(PHOTOS)]} | {
        side: f"{stem}_{side}.png" for side in SIDES
    }


def make_pair(i: int, folder: Path) -> None:
    """Write pair ``i``: a seeded crop/rotation/flip/brightness of a photo as HQ, degraded as LQ."""
    from ggt_hf.degrade import degrade  # here, not at the top: it would weigh on the children's RSS

    info = pair_info(i, folder)
    if all(Path(info[side]).exists() for side in SIDES):
        return
    rng = np.random.default_rng(i)
    img = photo(PHOTOS[i % len(PHOTOS)])
    (w, h), s = img.size, rng.uniform(0.6, 1.0)
    x, y = int(rng.integers(0, w - int(w * s) + 1)), int(rng.integers(0, h - int(h * s) + 1))
    img = img.crop((x, y, x + int(w * s), y + int(h * s))).rotate(90 * int(rng.integers(4)), expand=True)
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    hq = NormalizePolicy().plan(img.size).apply(ImageEnhance.Brightness(img).enhance(rng.uniform(0.8, 1.2)))
    images = {"hq": hq, "lq": Image.fromarray(degrade(np.asarray(hq), info["category"], seed=i).image)}
    for side, image in images.items():  # tmp + rename: an interrupted run leaves no half-written file
        Path(info[side] + ".tmp").write_bytes(encode_image(image, "png", compress_level=1))
        Path(info[side] + ".tmp").replace(info[side])


def run_ours(infos: list[dict[str, str]], dest: Path) -> None:
    from ggt_hf.hub.pack import PackConfig, pack
    from ggt_hf.records import PairRecord

    records = [
        PairRecord(p["id"], p["category"], "train", p["lq"], p["hq"], source=p["source"]) for p in infos
    ]
    pack(records, dest, PackConfig(workers=2), progress=False)


def run_naive(infos: list[dict[str, str]], dest: Path) -> None:
    from datasets import Dataset, Features

    from ggt_hf.hub.schema import dataset_features

    def load(path: str) -> Image.Image:
        # .copy() makes it an in-memory image: datasets stores a PIL image still tied to its file
        # as a bare path, and to_parquet would then write no image bytes at all.
        with Image.open(path) as im:
            return im.copy()

    columns = {key: [p[key] for p in infos] for key in ("id", "category", "source")}
    columns |= {side: [load(p[side]) for p in infos] for side in SIDES} | {"split": ["train"] * len(infos)}
    features = Features({key: dataset_features()[key] for key in columns})
    dest.mkdir(parents=True)
    Dataset.from_dict(columns, features=features).to_parquet(dest / "naive.parquet")


def child(method: str, n: int, work: Path) -> None:
    """Run one method in this fresh process; print pairs/s, CPU s/pair and peak RSS as JSON."""
    import datasets  # noqa: F401  both methods import the same libraries before the baseline

    import ggt_hf.hub.pack  # noqa: F401

    infos = [pair_info(i, work / PAIRS_DIR) for i in range(n)]
    dest = work / "runs" / f"{method}-{n}"
    shutil.rmtree(dest, ignore_errors=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    {"ours": run_ours, "naive": run_naive}[method](infos, dest)
    seconds = time.perf_counter() - start
    end = resource.getrusage(resource.RUSAGE_SELF)
    cpu = end.ru_utime + end.ru_stime - usage.ru_utime - usage.ru_stime
    result = {"method": method, "n": n, "pairs_s": n / seconds, "cpu_pair": cpu / n}
    print(json.dumps(result | {"peak_mb": end.ru_maxrss / 1024, "base_mb": usage.ru_maxrss / 1024}))


def measure(method: str, n: int, work: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", method, "--n", str(n), "--work", str(work)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{method} N={n} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def codec_stats(infos: list[dict[str, str]]) -> dict[str, tuple[float, float]]:
    """Format → (bytes/pair, encode ms/image) with encode_image, checked lossless."""
    stats = {}
    for fmt in ("png", "webp"):
        total, seconds = 0, 0.0
        for img in (Image.open(p[side]).convert("RGB") for p in infos for side in SIDES):
            start = time.perf_counter()
            data = encode_image(img, fmt)
            seconds += time.perf_counter() - start
            total += len(data)
            assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), np.asarray(img)), fmt
        stats[fmt] = (total / len(infos), 1000 * seconds / (2 * len(infos)))
    return stats


def byte_check(infos: list[dict[str, str]], folder: Path) -> str:
    """How many of the sample's images a packed folder stores as the files' exact bytes / pixels."""
    import pyarrow.parquet as pq

    ids, rows = [p["id"] for p in infos], {}
    for shard in folder.rglob("*.parquet"):
        table = pq.read_table(shard, columns=["id", *SIDES], filters=[("id", "in", ids)])
        rows |= {row["id"]: row for row in table.to_pylist()}
    stored = [(rows[p["id"]][side]["bytes"], Path(p[side])) for p in infos for side in SIDES]
    same = sum(data == path.read_bytes() for data, path in stored)
    pixels = sum(np.array_equal(*(np.asarray(Image.open(f)) for f in (io.BytesIO(d), p))) for d, p in stored)
    return f"{same}/{len(stored)} images byte-identical to the source files, {pixels}/{len(stored)} pixel-identical"


def report(results: list[dict], codecs: dict, checks: dict, sizes: list[int], meta: dict) -> str:
    by = {(r["method"], r["n"]): r for r in results}
    table = []
    for r in results:
        p = by[("naive", r["n"])]
        vs = f"{r['pairs_s'] / p['pairs_s']:.1f}× pairs/s, {r['cpu_pair'] / p['cpu_pair']:.2f}× CPU/pair, {r['peak_mb'] / p['peak_mb']:.2f}× RSS"
        table.append(
            f"| {r['method']} | {r['n']} | {r['pairs_s']:.2f} | {r['peak_mb']:.0f} | {'peer' if r is p else vs} | {r['cpu_pair']:.3f} | {r['base_mb']:.0f} |"
        )
    (png_b, png_ms), (webp_b, webp_ms) = codecs["png"], codecs["webp"]
    speedup = {n: by[("ours", n)]["pairs_s"] / by[("naive", n)]["pairs_s"] for n in sizes}
    speedups = ", ".join(f"{x:.1f}× at N={n}" for n, x in speedup.items())
    peaks = {m: (by[(m, sizes[0])]["peak_mb"], by[(m, sizes[-1])]["peak_mb"]) for m in METHODS}
    rss = {m: f"{a:.0f} → {b:.0f} MB ({b / a - 1:+.0%})" for m, (a, b) in peaks.items()}
    flat = peaks["ours"][1] <= 1.1 * peaks["ours"][0]
    return f"""## bench_pack

Command (from the repo root): `{meta["command"]}` ({meta["total"]:.0f} s in all, of which
{meta["generate"]:.0f} s making pairs not yet in the cache).

Machine: {machine(("pyarrow", "datasets", "PIL"))}. Load average at start {meta["load"]}: other jobs share this machine, so
pairs/s is noisy; CPU s/pair is the steadier figure. Date: {datetime.date.today().isoformat()}.

| method | N | pairs/s | peak RSS MB | ratio vs naive | CPU s/pair | RSS after imports MB |
| --- | ---: | ---: | ---: | --- | ---: | ---: |
{chr(10).join(table)}

Ours runs `pack(records, out, PackConfig(workers=2))` (2 threads); naive is single-threaded, so
compare CPU s/pair too. RSS after imports is the same baseline for both.

PNG vs lossless WebP over {codecs["pairs"]} pairs (`ggt_hf.imaging.images.encode_image`, round trip checked lossless):

| format | bytes/pair | encode ms/image |
| --- | ---: | ---: |
| PNG (zlib level 6) | {png_b:,.0f} | {png_ms:.0f} |
| WebP lossless | {webp_b:,.0f} ({webp_b / png_b:.2f}× PNG) | {webp_ms:.0f} ({webp_ms / png_ms:.1f}× PNG) |

Stored image bytes, first {checks["pairs"]} pairs at N={sizes[-1]}: ours {checks["ours"]};
naive {checks["naive"]}.

Targets:

- ours ≥3× naive pairs/s: **{"met" if min(speedup.values()) >= 3 else "NOT met"}** ({speedups}).
- peak RSS independent of N (criterion: ours grows ≤10% from N={sizes[0]} to N={sizes[-1]}):
  **{"met" if flat else "NOT met"}**: ours {rss["ours"]}, naive {rss["naive"]}. Ours holds one row group
  (≤32 MB) at a time, so its peak stops rising once every category has a full row group (≈6 × 32 MB
  of pairs); below that, smaller N gives a lower peak.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[72, 144],
        help="numbers of pairs N (ours' RSS plateaus from ~72)",
    )
    parser.add_argument("--work", type=Path, default=HERE / "out", help="work folder: pair cache, outputs")
    parser.add_argument("--codec-pairs", type=int, default=6, help="pairs sampled for PNG vs WebP")
    parser.add_argument("--check-pairs", type=int, default=4, help="pairs whose stored bytes are checked")
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.n, args.work)
    sizes, start = sorted(set(args.sizes)), time.perf_counter()
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    folder = args.work / PAIRS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(partial(make_pair, folder=folder), range(sizes[-1])))
    generate = time.perf_counter() - start
    print(f"{sizes[-1]} pairs ready in {folder} ({generate:.0f}s)", file=sys.stderr)
    results = []
    for method in METHODS:
        for n in sizes:
            results.append(measure(method, n, args.work))
            print(f"{method} N={n}: {results[-1]['pairs_s']:.2f} pairs/s", file=sys.stderr)
    infos = [pair_info(i, folder) for i in range(sizes[-1])]
    codecs = {"pairs": args.codec_pairs} | codec_stats(infos[: args.codec_pairs])
    sample = infos[: args.check_pairs]
    checks = {m: byte_check(sample, args.work / "runs" / f"{m}-{sizes[-1]}") for m in METHODS}
    script = Path(__file__).resolve().relative_to(HERE.parent)
    command = shlex.join(["python", str(script), *(sys.argv[1:] if argv is None else argv)])
    meta = {"command": command, "load": load, "generate": generate, "total": time.perf_counter() - start}
    section = report(results, codecs, checks | {"pairs": args.check_pairs}, sizes, meta)
    print(section)
    write_section("bench_pack", section)


if __name__ == "__main__":
    main()
