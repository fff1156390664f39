"""`ggt mirror` (stream from the source, shard by shard) vs the naive path (download everything,
then `ggt pack`), reading from a slow fsspec source: time, peak disk, peak RSS.

The source is a local folder behind a filesystem that adds a per-request latency and a shared
bandwidth (one link: transfers queue behind each other). The naive path downloads every file with
8 threads (what `snapshot_download` does) and then packs the local copy with the same packer; the
streamed path is `mirror_release` with 8 reading threads and an upload stand-in that discards the
shards (uploading costs the same for both paths and is left out). Each measurement runs in its own
process so peak RSS (`ru_maxrss`) is its own; disk under the work folders is sampled from a child
process (every 10 ms, or 5× its scan time when the folder holds many files).

Run from the repo root: `python benchmarks/bench_mirror.py` (about 6 minutes on a busy 2-core machine).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from fsspec.implementations.local import LocalFileSystem
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

OUT = Path(__file__).resolve().parent / "out" / "mirror"
LATENCY_S = 0.010
BANDWIDTH = 1.0 * 1024**2  # bytes/s over one shared link
SHARD_BYTES = 1024**2
CATEGORIES = ("Rain", "Snow", "Haze", "LowLight")


class SlowFileSystem(LocalFileSystem):
    """A local folder seen through a slow link: latency per request, one shared bandwidth."""

    cachable = False
    _lock = threading.Lock()
    _free_at = 0.0

    def _transfer(self, nbytes: int) -> None:
        time.sleep(LATENCY_S)
        with SlowFileSystem._lock:
            start = max(time.monotonic(), SlowFileSystem._free_at)
            SlowFileSystem._free_at = start + nbytes / BANDWIDTH
            done = SlowFileSystem._free_at
        time.sleep(max(0.0, done - time.monotonic()))

    def cat_file(self, path, start=None, end=None, **kwargs):
        data = super().cat_file(path, start=start, end=end, **kwargs)
        self._transfer(len(data))
        return data

    def find(self, path, *args, **kwargs):
        time.sleep(LATENCY_S)
        return super().find(path, *args, **kwargs)


def make_release(root: Path, pairs: int) -> int:
    """``GGT-100K/{train,test}/<Category>/{LQ,GT}/<id>.png`` of 48² noisy images; returns bytes."""
    rng = np.random.default_rng(0)
    total = 0
    for i in range(pairs):
        split = "test" if i % 10 == 0 else "train"
        category = CATEGORIES[i % len(CATEGORIES)]
        base = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
        for role, img in (
            ("GT", base),
            ("LQ", (base // 2 + rng.integers(0, 64, base.shape)).astype(np.uint8)),
        ):
            path = root / "GGT-100K" / split / category / role / f"{i:06d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="PNG")
            path.write_bytes(buf.getvalue())
            total += len(buf.getvalue())
    return total


def _sample_disk(folders: list[str], peak, stop) -> None:
    """Child process: track the peak total size under ``folders`` until ``stop`` is set.

    It rescans at most once per 5 × the last scan's duration (≥ 10 ms), so its own cost stays
    small, and it runs in its own process so it never holds the measured process's GIL.
    """
    while not stop.is_set():
        t0 = time.perf_counter()
        size = 0
        for folder in folders:
            for p in Path(folder).rglob("*"):
                with contextlib.suppress(FileNotFoundError):
                    size += p.stat().st_size if p.is_file() else 0
        peak.value = max(peak.value, size)
        time.sleep(max(0.01, 5 * (time.perf_counter() - t0)))


class DiskSampler:
    """Peak total size of the files under ``folders``, sampled from a child process."""

    def __init__(self, *folders: Path) -> None:
        ctx = multiprocessing.get_context("fork")
        self.peak, self._stop = ctx.Value("q", 0), ctx.Event()
        self.process = ctx.Process(
            target=_sample_disk, args=([str(f) for f in folders], self.peak, self._stop)
        )

    def start(self) -> None:
        self.process.start()

    def stop(self) -> int:
        self._stop.set()
        self.process.join()
        return int(self.peak.value)


class DiscardApi:
    """Upload stand-in: counts the bytes committed, keeps nothing."""

    def __init__(self) -> None:
        self.bytes = 0

    def create_repo(self, *args, **kwargs) -> None:
        pass

    def list_repo_files(self, *args, **kwargs) -> list[str]:
        return []

    def create_commit(self, repo_id, operations, **kwargs):
        self.bytes += sum(
            Path(op.path_or_fileobj).stat().st_size for op in operations if hasattr(op, "path_or_fileobj")
        )
        return SimpleNamespace(commit_url="local")


def run_stream(src: Path, work: Path) -> dict:
    from ggt_hf.hub.layout import ReleaseSource, detect_layout
    from ggt_hf.hub.mirror import StreamConfig, mirror_release

    source = ReleaseSource(str(src), fs=SlowFileSystem())
    sampler = DiskSampler(work)
    sampler.start()
    t0 = time.perf_counter()
    plan = detect_layout(source)
    report = mirror_release(
        plan,
        source,
        "bench/ggt",
        work,
        StreamConfig(max_shard_bytes=SHARD_BYTES, workers=8),
        api=DiscardApi(),
        progress=False,
    )
    wall = time.perf_counter() - t0
    return {
        "wall": wall,
        "peak_disk": sampler.stop(),
        "pairs": sum(report.written.values()),
        "shards": len(report.shards),
    }


def run_naive(src: Path, work: Path) -> dict:
    from ggt_hf.hub.layout import ReleaseSource, detect_layout
    from ggt_hf.hub.mirror import StreamConfig, pack_release

    fs = SlowFileSystem()
    download, out = work / "download", work / "packed"
    sampler = DiskSampler(work)
    sampler.start()
    t0 = time.perf_counter()
    files = [p for p in fs.find(str(src)) if fs.isfile(p)]

    def fetch(path: str) -> None:
        target = download / Path(path).relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(fs.cat_file(path))

    with ThreadPoolExecutor(8) as pool:  # snapshot_download's default max_workers
        list(pool.map(fetch, files))
    t_download = time.perf_counter() - t0
    source = ReleaseSource(str(download))
    report = pack_release(
        detect_layout(source),
        source,
        out,
        StreamConfig(max_shard_bytes=SHARD_BYTES, workers=8),
        progress=False,
    )
    wall = time.perf_counter() - t0
    return {
        "wall": wall,
        "download": t_download,
        "peak_disk": sampler.stop(),
        "pairs": sum(report.written.values()),
        "shards": len(report.shards),
    }


def one(kind: str, src: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=OUT))
    try:
        result = (run_stream if kind == "stream" else run_naive)(src, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(kind: str, src: Path) -> dict:
    cmd = [sys.executable, __file__, "--one", kind, "--src", str(src)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, nargs=2, default=(1000, 3000), help="small and large release")
    parser.add_argument("--one", choices=("stream", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--src", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.one, Path(args.src))
        return
    from _common import machine, write_section

    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows, sizes = [], {}
    for n in args.pairs:
        src = OUT / f"release-{n}"
        shutil.rmtree(src, ignore_errors=True)
        sizes[n] = make_release(src, n)
        for kind in ("naive", "stream"):
            rows.append((n, kind, measure(kind, src)))
            print(n, kind, rows[-1][2], flush=True)
        shutil.rmtree(src, ignore_errors=True)
    section = render(args.pairs, rows, sizes, time.perf_counter() - started, machine(("pyarrow", "fsspec")))
    print(section)
    write_section("bench_mirror", section)


def render(pairs, rows, sizes, total, machine_text) -> str:
    lines = [
        "## bench_mirror",
        "",
        f"Command (from the repo root): `python benchmarks/bench_mirror.py` ({total:.0f} s in all).",
        "",
        f"Machine: {machine_text}. Date: {time.strftime('%Y-%m-%d')}.",
        "",
        f"Source: a local folder behind a simulated link of {BANDWIDTH / 1024**2:.1f} MB/s shared bandwidth and "
        f"{LATENCY_S * 1000:.0f} ms latency per request; 48² PNG pairs in `GGT-100K/{{train,test}}/<Category>/{{LQ,GT}}/`; "
        f"shard size {SHARD_BYTES / 1024**2:.0f} MB. Naive = download every file (8 threads, like "
        "`snapshot_download`), then `ggt pack` of the copy; ours = `ggt mirror` (`mirror_release`, 8 reading "
        "threads, shards handed to an upload stand-in and deleted). Uploading is left out of both.",
        "",
        "| pairs | source MB | method | wall s | ratio vs naive | peak disk MB | peak disk in shards | peak RSS MB | shards |",
        "| ---: | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    by = {(n, k): r for n, k, r in rows}
    for n, kind, r in rows:
        naive = by[(n, "naive")]
        ratio = "peer" if kind == "naive" else f"{r['wall'] / naive['wall']:.2f}× wall"
        lines.append(
            f"| {n} | {sizes[n] / 1e6:.1f} | {'ours (stream)' if kind == 'stream' else 'naive'} | {r['wall']:.1f} | {ratio} | "
            f"{r['peak_disk'] / 1e6:.1f} | {r['peak_disk'] / SHARD_BYTES:.1f} | {r['peak_rss_mb']:.0f} | {r['shards']} |"
        )
    small, large = pairs
    s_rss, l_rss = by[(small, "stream")]["peak_rss_mb"], by[(large, "stream")]["peak_rss_mb"]
    worst_disk = max(by[(n, "stream")]["peak_disk"] for n in pairs) / SHARD_BYTES
    worst_ratio = max(by[(n, "stream")]["wall"] / by[(n, "naive")]["wall"] for n in pairs)
    lines += [
        "",
        "Targets:",
        "",
        f"- peak disk ≤ 3 shards: **{'met' if worst_disk <= 3 else 'not met'}** (worst {worst_disk:.1f} shards).",
        f"- wall ≤ 1.1× naive when bandwidth-bound: **{'met' if worst_ratio <= 1.1 else 'not met'}** "
        f"(worst {worst_ratio:.2f}×; naive download alone took "
        + ", ".join(f"{by[(n, 'naive')]['download']:.1f} s at {n}" for n in pairs)
        + ").",
        f"- RSS flat in pairs: ours {s_rss:.0f} MB at {small} → {l_rss:.0f} MB at {large} pairs "
        f"({(l_rss / s_rss - 1) * 100:+.0f}%).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
