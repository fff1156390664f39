"""Decode, normalise (default: short side to 1024, centre crop) and deduplicate real photos into
OUT/images/<category>/, with a record per image (OUT/ingested.jsonl) and a line per rejected file
(OUT/rejects.jsonl). A photo's category comes from a manifest column, a category sub-folder
(rain/, haze/, ...), --category CATEGORY, or --category auto (the offline degradation analyser picks
one per photo and its evidence is recorded). SRC, OUT and --manifest are relative to the working
directory; paths in a manifest are relative to the manifest's folder (or SRC when it is a folder);
paths written into OUT's records are relative to OUT. Re-running resumes: done files are skipped,
nothing is lost. An OUT folder is a ready source for `ggt build` (it is not ingested again)."""

from __future__ import annotations

from ggt_hf.commands._common import add_category_arg
from ggt_hf.constants import CATEGORIES

HELP = "normalise real photos into a clean square RGB collection"


def add_arguments(parser) -> None:
    parser.add_argument("src", help="a folder of photos (category sub-folders allowed) or one file")
    parser.add_argument("out", help="output folder")
    parser.add_argument("--manifest", help="CSV/JSONL with columns path[,category,source,license,split]")
    add_category_arg(
        parser,
        "category for photos without one from a sub-folder or the manifest; 'auto': the offline "
        "degradation analyser picks each photo's category (evidence recorded)",
        choices=(*CATEGORIES, "auto"),
    )
    parser.add_argument("--source", help="source name recorded for every image (default: its folder name)")
    parser.add_argument("--license", help="licence recorded for every image without one")
    parser.add_argument("--size", type=int, default=1024, help="output side in pixels (default 1024)")
    parser.add_argument(
        "--mode",
        choices=("crop", "pad"),
        default="crop",
        help="crop (short side → size) or pad (long side → size)",
    )
    parser.add_argument("--min-side", type=int, default=256, help="reject images whose short side is smaller")
    parser.add_argument(
        "--max-aspect", type=float, default=4.0, help="reject images more elongated than this"
    )
    parser.add_argument("--max-pixels", type=int, default=None, help="decompression-bomb limit (default 64M)")
    parser.add_argument(
        "--near-dup", type=int, default=4, help="pHash distance for near duplicates (-1 disables)"
    )
    parser.add_argument("--format", choices=("png", "webp"), default="png", help="lossless output format")
    parser.add_argument("--workers", type=int, default=2)


def run(args) -> int:
    import sys

    from ggt_hf.constants import MAX_IMAGE_PIXELS
    from ggt_hf.ingest.normalize import NormalizePolicy
    from ggt_hf.ingest.photos import REJECTS_FILE, IngestConfig, ingest

    config = IngestConfig(
        policy=NormalizePolicy(size=args.size, mode=args.mode),
        min_side=args.min_side,
        max_aspect=args.max_aspect,
        max_pixels=args.max_pixels or MAX_IMAGE_PIXELS,
        near_duplicate_distance=None if args.near_dup < 0 else args.near_dup,
        output_format=args.format,
        category=args.category,
        source=args.source,
        license=args.license,
        workers=args.workers,
    )
    summary = ingest(args.src, args.out, config, manifest=args.manifest)
    print(summary)
    if summary.rejected:
        print(f"rejected files and reasons: {args.out}/{REJECTS_FILE}")
    if not (summary.accepted or summary.skipped_done):  # a run that did nothing useful fails
        import sys

        print(
            f"error: nothing ingested from {args.src} ({summary.rejected} file(s) rejected)", file=sys.stderr
        )
        return 1
    return 0
