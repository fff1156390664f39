"""Pack LQ/HQ pairs into a Hub-ready dataset folder (parquet shards + card + manifest).

INPUT is one of: a pairs folder with lq/ and hq/ (files matched by stem; category from a
first-level sub-folder, --category or --manifest); a JSONL file of pair records (the build
pipeline's output); or a release root, local or an fsspec URL such as
hf://datasets/VCLab-PolyU/GGT-100K, whose layout is detected (LQ/GT, input/target, _lq/_gt ...
folders or suffixes, train/test and category folders at any depth, zip/tar archives read in place;
--plan shows what was detected and writes nothing). An ambiguous layout is refused: describe it
with --lq-template/--hq-template, e.g.
--lq-template "{split}/{category}/LQ/{id}.{ext}" --hq-template "{split}/{category}/GT/{id}.{ext}".
Only the (category, split) groups present in INPUT are rewritten in OUT.

OUT must be new, empty, or a dataset folder ggt packed (anything else is refused before any work),
and must not overlap INPUT. One pack at a time per OUT: a second is refused ("in use by PID ...").
A re-pack replaces only its own shards: other files kept in OUT/data/<category>/ stay."""

from __future__ import annotations

from ggt_hf.commands._common import add_category_arg, add_split_arg

HELP = "pack LQ/HQ pairs into a Hub-ready dataset folder"


def add_arguments(parser) -> None:
    parser.add_argument("input", help="pairs folder, pair-records .jsonl, or release root (folder or URL)")
    parser.add_argument("out", help="dataset folder to create or update")
    add_split_arg(parser, default=None)
    add_category_arg(parser)
    parser.add_argument("--manifest", help="CSV/JSONL keyed by id with category/split/source/license/prompt")
    parser.add_argument("--lq-template", help="release layout template of LQ files")
    parser.add_argument("--hq-template", help="release layout template of HQ files")
    parser.add_argument("--source", help="source recorded for pairs without one")
    parser.add_argument("--pair-license", help="licence recorded for pairs without one")
    parser.add_argument("--force", action="store_true", help="pack even if test pairs leak from train")
    parser.add_argument(
        "--strict", action="store_true", help="refuse to write anything if any pair has a problem"
    )
    parser.add_argument("--max-shard-mb", type=int, default=500)
    parser.add_argument("--pretty-name", help="dataset name in the card")
    parser.add_argument("--license", help="dataset licence id in the card (e.g. cc-by-4.0)")
    parser.add_argument("--repo-id", help="Hub repo id shown in the card's loading examples")
    parser.add_argument("--report", help="write every problem as item<TAB>reason to this file")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--plan", action="store_true", help="print the detected release layout and pair counts; write nothing"
    )


def _records(args):
    from pathlib import Path

    from ggt_hf.hub.pairs import pairs_from_dir, pairs_from_records, pairs_from_templates

    defaults = {"source": args.source, "license": args.pair_license}
    if Path(args.input).suffix == ".jsonl":
        return pairs_from_records(args.input)
    if args.lq_template or args.hq_template:
        if not (args.lq_template and args.hq_template):
            raise ValueError("--lq-template and --hq-template go together")
        return pairs_from_templates(
            args.input,
            args.lq_template,
            args.hq_template,
            split=args.split,
            category=args.category,
            manifest=args.manifest,
            **defaults,
        )
    return pairs_from_dir(
        args.input, split=args.split or "train", category=args.category, manifest=args.manifest, **defaults
    )


def _read_paths(args) -> list:
    """The local paths pack reads: a pairs folder's lq/ and hq/ (so `ggt pack . ds` is fine), else
    INPUT itself (a records file, or a release root read recursively)."""
    from pathlib import Path

    root = Path(args.input)
    if not (args.lq_template or args.hq_template) and (root / "lq").is_dir() and (root / "hq").is_dir():
        return [root / "lq", root / "hq"]
    return [root]


def _is_release(args) -> bool:
    """INPUT is a release whose layout must be detected (not a pairs folder, records or templates)."""
    from pathlib import Path

    if args.lq_template or args.hq_template or args.input.endswith(".jsonl"):
        return False
    if "://" in args.input:
        return True
    root = Path(args.input)
    return root.is_dir() and not ((root / "lq").is_dir() and (root / "hq").is_dir())


def _pack_release(args, card) -> int:
    from ggt_hf.commands._common import print_release_report
    from ggt_hf.hub.layout import ReleaseSource, detect_layout
    from ggt_hf.hub.mirror import StreamConfig, pack_release

    source = ReleaseSource(args.input)
    plan = detect_layout(source, split=args.split, category=args.category)
    if args.plan:
        print(plan.describe())
        plan.check()  # an ambiguous layout exits non-zero with the template hints
        return 0
    config = StreamConfig(
        max_shard_bytes=args.max_shard_mb * 1024**2, workers=max(4, args.workers), license=args.pair_license
    )
    report = pack_release(plan, source, args.out, config, force=args.force, card=card)
    print_release_report("pack", report, "train/test leaks kept because of --force", args.report)
    return 0


def run(args) -> int:
    from pathlib import Path

    from ggt_hf.commands._common import print_problems, write_problems
    from ggt_hf.files.output_folders import check_no_overlap
    from ggt_hf.hub.card import CardInfo, read_card_info
    from ggt_hf.hub.pack import PackConfig, pack

    if "://" not in args.input and not args.plan:
        check_no_overlap(_read_paths(args), args.out)  # before anything is read or written
    card = None
    if args.pretty_name or args.license or args.repo_id:
        from dataclasses import replace

        base = read_card_info(Path(args.out), None) if Path(args.out).exists() else CardInfo()
        changes = {"pretty_name": args.pretty_name, "license": args.license, "repo_id": args.repo_id}
        card = replace(base, **{k: v for k, v in changes.items() if v})
    if _is_release(args):
        return _pack_release(args, card)
    records, problems = _records(args)
    if args.plan:
        print(f"{len(records)} pair(s), {len(problems)} problem(s); nothing written (--plan)")
        return 0
    config = PackConfig(
        max_shard_bytes=args.max_shard_mb * 1024**2,
        force=args.force,
        strict=args.strict,
        workers=args.workers,
        card=card,
    )
    report = pack(records, args.out, config, problems=problems)
    print(report)
    for (category, split), n in sorted(report.written.items()):
        print(f"  {category}/{split}: {n}")
    print_problems(report.problems, "skipped pairs")
    print_problems(report.leaks, "train/test leaks kept because of --force")
    write_problems(args.report, report.problems + report.leaks)
    return 0
