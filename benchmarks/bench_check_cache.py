"""Does the pack check cache fill on a FIRST run (issue 24.3)? Pack freshly written pairs twice.

The old rule compared the whole ``os.stat_result`` before and after reading a file, access time
included; with ``relatime`` (the Linux default) the first read after a write moves it, so a first
pack remembered nothing. This script writes N new pairs (copies of ``bench_pack``'s pairs, so each
file is read for the first time since its write), then:

1. packs them with an empty cache (``PackConfig.check_cache``) and counts what the cache holds;
2. counts the files whose access time that first read moved (what the old rule refused to cache);
3. packs them again into another folder with the same cache, and compares the two pack times
   (the peer is the first pack: every file decoded).

Command: ``python benchmarks/bench_check_cache.py [--n 24]`` from the repo root.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import time
from pathlib import Path

from _common import OUT, machine, write_section
from bench_pack import SIDES, make_pair, pair_info

from ggt_hf.hub.check_cache import CheckCache
from ggt_hf.hub.pack import PackConfig, pack
from ggt_hf.records import PairRecord


def mount_options(path: Path) -> str:
    """The options of the mount holding ``path`` (from /proc/mounts; the longest matching prefix)."""
    best, options = "", "unknown"
    for line in Path("/proc/mounts").read_text().splitlines():
        _, point, _, opts, *_ = line.split()
        if str(path.resolve()).startswith(point) and len(point) >= len(best):
            best, options = point, opts
    return f"{best} ({options})"


def fresh_pairs(n: int, work: Path) -> list[dict[str, str]]:
    """N pairs written now (new inodes, never read since): copies of the cached benchmark pairs."""
    source, fresh = work / "pairs-v2", work / "check-cache" / "pairs"
    source.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    infos = []
    for i in range(n):
        make_pair(i, source)
        info = pair_info(i, fresh)
        for side in SIDES:
            Path(info[side]).write_bytes(Path(pair_info(i, source)[side]).read_bytes())
        infos.append(info)
    return infos


def timed_pack(infos: list[dict[str, str]], dest: Path, cache_path: Path) -> float:
    records = [PairRecord(p["id"], p["category"], "train", p["lq"], p["hq"]) for p in infos]
    shutil.rmtree(dest, ignore_errors=True)
    start = time.perf_counter()
    pack(records, dest, PackConfig(workers=2, check_cache=cache_path), progress=False)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=24, help="pairs (2 files each)")
    parser.add_argument("--work", type=Path, default=OUT)
    args = parser.parse_args(argv)

    infos = fresh_pairs(args.n, args.work)
    files = [p[side] for p in infos for side in SIDES]
    atime_before = {f: os.stat(f).st_atime_ns for f in files}
    cache_path = args.work / "check-cache" / "checks.sqlite"
    cache_path.unlink(missing_ok=True)
    first = timed_pack(infos, args.work / "check-cache" / "first", cache_path)
    moved = sum(os.stat(f).st_atime_ns != atime_before[f] for f in files)
    cache = CheckCache(cache_path)
    cached = len(cache)
    cache.close()
    second = timed_pack(infos, args.work / "check-cache" / "second", cache_path)

    command = "python benchmarks/bench_check_cache.py" + (f" --n {args.n}" if args.n != 24 else "")
    lines = [
        "## bench_check_cache: the pack check cache on a first run (issue 24.3)",
        "",
        f"Command: `{command}` (from the repo root). Date: {datetime.date.today()}.",
        "",
        f"Machine: {machine(('datasets', 'pyarrow'))}. Work folder on {mount_options(args.work)}.",
        "",
        f"{args.n} pairs ({len(files)} PNG files, 1024² class) written just before the first pack, so "
        "each file's first read is the pack's.",
        "",
        "| measurement | value |",
        "|---|---|",
        f"| files the cache remembers after the **first** pack | **{cached} of {len(files)}** |",
        f"| files whose access time the first pack's read moved (the old rule cached none of these) "
        f"| {moved} of {len(files)} |",
        f"| first pack (peer: every file decoded), s | {first:.2f} |",
        f"| second pack (same files, same cache), s | {second:.2f} |",
        f"| second / first | {second / first:.2f}× |",
        "",
        "The cache compares device, inode, size, mtime and ctime (ns) — never the access time — so "
        "a first pack fills it whatever the mount's atime option; "
        "`tests/hub/test_check_cache.py` checks the same without depending on the mount or the clock.",
    ]
    section = "\n".join(lines) + "\n"
    print(section)
    write_section("bench_check_cache: the pack check cache on a first run (issue 24.3)", section)


if __name__ == "__main__":
    main()
