"""Build GGT data from your own photos: ingest → prompt → generate (any MFM backend) → QC
(metric filter, geometry/colour checks, judge with corrective re-prompting) → review → pack.
Crash-safe: kill it at any moment and re-run the same command to continue; no completed backend
call is paid twice. Override config fields with key=value (e.g. backend.name=classical). A source
may be a folder of photos, a manifest, or a `ggt ingest` output folder (used as-is)."""

from __future__ import annotations

HELP = "build GGT pairs from real photos with an MFM and three-stage QC"


def add_arguments(parser) -> None:
    parser.add_argument(
        "config",
        help="build config YAML (see dataset_builder/configs/); paths inside it are relative to its folder",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        help="key=value overrides of config fields; paths in them are relative to the working directory",
    )
    parser.add_argument("--stage", default="all", choices=("all", "ingest", "generate", "pack"))
    parser.add_argument("--executor", default="local", choices=("local", "ray"))
    parser.add_argument("--rank", type=int, default=0, help="this worker's index (Slurm array task id)")
    parser.add_argument("--world-size", type=int, default=1, help="number of workers splitting the items")
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="retry items whose every attempt failed (e.g. after a bad key, base URL or an outage)",
    )


def run(args) -> int:
    from ggt_hf.pipeline.build import build
    from ggt_hf.pipeline.config import BuildConfig

    config = BuildConfig.from_yaml(args.config, args.overrides)
    result = build(
        config,
        stage=args.stage,
        executor=args.executor,
        rank=args.rank,
        world_size=args.world_size,
        retry_failed=args.retry_failed,
    )
    result.config_path = args.config
    print(result.markdown())
    print(f"run folder: {config.output}")
    if args.stage in ("all", "ingest") and not any(sum(c.values()) for c in result.states.values()):
        import sys

        print("error: nothing ingested: no usable photo in the configured sources", file=sys.stderr)
        return 1
    finished = sum(sum(c[s] for s in ("accepted", "rejected")) for c in result.states.values())
    nothing_useful = args.stage in ("all", "generate") and result.failed and not finished
    return 1 if result.problems or nothing_useful else 0
