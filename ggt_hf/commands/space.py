"""Serve the ggt-hf Gradio Space locally: Restore (upload or example → before/after, lossless PNG,
NR metric deltas), Leaderboard (the results store, filters, plot), Submit (predictions zip or Hub
model → queued request; run `ggt leaderboard worker` to score them) and Arena (blind pairwise votes,
Bradley–Terry ranking), plus Review when --run-dir is given. Every flag also has a GGT_SPACE_*
environment variable (see ggt_hf.space.config); flags win. The server listens on 127.0.0.1 unless
--host or GRADIO_SERVER_NAME says otherwise (port: --port, GRADIO_SERVER_PORT, else the first free
one from 7860). Works offline with the bundled sample photos and the `classical` baseline."""

from __future__ import annotations

HELP = "serve the Gradio Space (restore demo, leaderboard, submissions, arena) locally"


def add_arguments(parser) -> None:
    parser.add_argument("--host", help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, help="port (default: $GRADIO_SERVER_PORT or the first free one from 7860)"
    )
    parser.add_argument("--results-store", dest="store", help="leaderboard store folder ($GGT_SPACE_STORE)")
    parser.add_argument("--requests-repo", help="Hub dataset repo mirroring the requests")
    parser.add_argument("--results-repo", help="Hub dataset repo mirroring the results")
    parser.add_argument("--dataset", help="packed GGT dataset (folder or Hub id) whose test split is scored")
    parser.add_argument(
        "--model",
        dest="models",
        action="append",
        help="restorer weights offered in the Restore tab, label=repo_or_folder (repeatable)",
    )
    parser.add_argument(
        "--pipeline",
        dest="pipelines",
        action="append",
        help="diffusers pipeline offered in the Restore tab, model_id[+lora_repo][+controlnet=repo] (repeatable)",
    )
    parser.add_argument("--arena", help="arena folder of <system>/<id>.png outputs")
    parser.add_argument("--arena-lq", help="folder of the arena's LQ images (default: <arena>/lq)")
    parser.add_argument("--run-dir", help="build run folder: adds the QC review tab")
    parser.add_argument("--metrics", help="comma-separated NR metrics for the restore deltas")
    parser.add_argument("--max-side", type=int, help="uploads longer than this are resized (default 2048)")
    parser.add_argument("--tile", type=int, help="tile size for registry restorers (default 512, 0 = off)")
    parser.add_argument("--rate-limit", type=int, help="submissions per user per 24 h (default 5)")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")


def run(args) -> int:
    from pathlib import Path

    from ggt_hf.commands._common import check_dataset_arg
    from ggt_hf.errors import UsageError

    check_dataset_arg(args.dataset)  # refused before the server starts, not at the first submission
    for option, folder in (
        ("--arena", args.arena),
        ("--arena-lq", args.arena_lq),
        ("--run-dir", args.run_dir),
    ):
        if folder and not Path(folder).is_dir():
            raise UsageError(f"{option} {folder}", "no such folder")
    from ggt_hf.space import SpaceConfig, launch_space  # gradio: imported once the arguments are fine

    config = SpaceConfig.from_env(
        store=args.store,
        requests_repo=args.requests_repo,
        results_repo=args.results_repo,
        dataset=args.dataset,
        models=args.models,
        pipelines=args.pipelines,
        arena=args.arena,
        arena_lq=args.arena_lq,
        run_dir=args.run_dir,
        metrics=args.metrics.split(",") if args.metrics else None,
        max_side=args.max_side,
        tile=args.tile,
        rate_limit=args.rate_limit,
    )
    app = launch_space(config, args.host, args.port, prevent_thread_lock=True, quiet=True, share=args.share)
    try:
        print(f"ggt space: open {app.local_url} in a browser (Ctrl+C to stop)")
        print(
            f"leaderboard store: {config.store}; restorers: {', '.join(app.ggt_services['restore'].choices())}"
        )
        if not config.dataset:
            print("no --dataset: predictions zips cannot be checked against a test split")
        if app.server_name not in ("127.0.0.1", "localhost", "::1"):
            print(f"warning: listening on {app.server_name}: anyone who can reach it can submit and vote")
        app.block_thread()
    finally:
        app.close()
    return 0
