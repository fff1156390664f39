"""Mirror a paired release (e.g. the official GGT-100K, hf://datasets/VCLab-PolyU/GGT-100K) into a
Hub dataset repo that `load_dataset` and the dataset viewer read: the layout is detected as in
`ggt pack`, files are read from SRC as they are packed (never downloaded first), and each finished
shard is committed and then deleted locally, so disk stays within a few shards. The card, manifest
and eval.yaml are committed last. Interrupted? Run the same command again: it resumes from the
journal in --work and never uploads a shard twice. The token comes from HF_TOKEN or `hf auth login`."""

from __future__ import annotations

from ggt_hf.commands._common import add_category_arg, add_split_arg

HELP = "pack a release (folder or fsspec URL) straight into a Hub dataset repo, shard by shard"


def add_arguments(parser) -> None:
    parser.add_argument("src", help="release root: folder or fsspec URL (hf://datasets/VCLab-PolyU/GGT-100K)")
    parser.add_argument("repo_id", help="target dataset repo id, e.g. your-name/ggt-100k")
    parser.add_argument("--work", help="work folder for the shard in progress and the resume journal")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--plan", action="store_true", help="print the detected layout; upload nothing")
    parser.add_argument("--max-shard-mb", type=int, default=500)
    parser.add_argument("--workers", type=int, default=8, help="files read in parallel")
    parser.add_argument("--license", help="licence id for the card (default: the release's, if known)")
    parser.add_argument("--report", help="write every problem as item<TAB>reason to this file")
    add_split_arg(parser, default=None)
    add_category_arg(parser, "category for pairs whose path names none")


def run(args) -> int:
    import hashlib
    from pathlib import Path

    from ggt_hf.commands._common import print_release_report
    from ggt_hf.hub.layout import ReleaseSource, detect_layout
    from ggt_hf.hub.mirror import StreamConfig, mirror_release
    from ggt_hf.hub.push import resolve_token

    if not args.plan:
        from ggt_hf.runtime.network import require_hub

        resolve_token()  # a missing token is named first (no network needed to know)
        require_hub("ggt mirror")  # it uploads: fail before reading anything, not after the retries
    source = ReleaseSource(args.src)
    plan = detect_layout(source, split=args.split, category=args.category)
    if args.plan:
        print(plan.describe())
        plan.check()
        return 0
    token = resolve_token()  # refuses with a clear message before any work
    key = hashlib.sha1(f"{args.src}\0{args.repo_id}".encode()).hexdigest()[:12]
    work = Path(args.work) if args.work else Path(".ggt-mirror") / key
    config = StreamConfig(
        max_shard_bytes=args.max_shard_mb * 1024**2, workers=args.workers, license=args.license
    )
    report = mirror_release(plan, source, args.repo_id, work, config, private=args.private, token=token)
    print_release_report(
        "mirror", report, "train/test leaks in the source (mirrored as they are)", args.report
    )
    print(f"https://huggingface.co/datasets/{args.repo_id}")
    return 0
