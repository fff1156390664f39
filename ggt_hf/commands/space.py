"""Serve the ggt-hf Gradio Space locally: Restore (upload or example → before/after, lossless PNG,
NR metric deltas), Leaderboard (the results store, filters, plot), Submit (predictions zip or Hub
model → queued request; run `ggt leaderboard worker` to score them) and Arena (blind pairwise votes,
Bradley–Terry ranking), plus Review when --run-dir is given. Every flag also has a GGT_SPACE_*
environment variable (see ggt_hf.space.config); flags win. The server listens on 127.0.0.1 unless
--host or GRADIO_SERVER_NAME says otherwise (port: --port, GRADIO_SERVER_PORT, else the first free
one from 7860). Works offline with the bundled degraded example photos, the `classical` baseline and
a built-in arena.

`ggt space export DIR` writes a self-contained Space repository (app.py, the Space card with this
gradio as sdk_version, a ggt-hf wheel in DIR/wheels and a requirements.txt installing it with the
pinned dependencies); `ggt space deploy REPO_ID [--private] [--dry-run]` exports and uploads it to a
Hugging Face Space (HF_TOKEN or `hf auth login`). DIR resolves against the working directory."""

from __future__ import annotations

import argparse

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
    parser.add_argument("--rate-limit", type=int, help="submissions per account per 24 h (default 5)")
    parser.add_argument(
        "--vote-limit", type=int, help="counted votes per account per 24 h (default 100; one per comparison)"
    )
    parser.add_argument(
        "--sign-in",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="require a Hugging Face sign-in to submit and vote (default: on in a Space with hf_oauth; "
        "locally Gradio mocks it with your `hf auth login` account)",
    )
    parser.add_argument("--admins", help="comma-separated HF accounts that may replace any leaderboard row")
    parser.add_argument(
        "--trusted-proxies",
        help="comma-separated proxy IPs/networks whose X-Forwarded-For is believed (default: none)",
    )
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    sub = parser.add_subparsers(dest="action", metavar="{export,deploy}")
    export = sub.add_parser("export", help="write a self-contained Space repository folder")
    export.add_argument("folder", help="output folder (created; files ggt writes there are replaced)")
    export.add_argument(
        "--no-wheel", action="store_true", help="no wheel: the development copy (the repo's spaces/ folder)"
    )
    deploy = sub.add_parser("deploy", help="export the Space and upload it to a Hugging Face Space repo")
    deploy.add_argument("repo_id", help="the Space repo, user/space-name (created if missing)")
    deploy.add_argument("--private", action="store_true", help="create the Space private")
    deploy.add_argument("--dry-run", action="store_true", help="export and list the files; upload nothing")
    deploy.add_argument("--folder", help="export into this folder (default: a temporary one)")


def _export(args) -> int:
    from ggt_hf.space.export import deploy_space, export_space

    if args.action == "export":
        result, url = export_space(args.folder, wheel=not args.no_wheel), None
    else:
        result, url = deploy_space(
            args.repo_id, private=args.private, dry_run=args.dry_run, folder=args.folder
        )
    lines = result.describe()
    if args.action == "deploy" and args.dry_run and not args.folder:
        lines[0] = f"would upload to {args.repo_id} (exported into a temporary folder, removed again):"
    print("\n".join(lines))
    if args.action == "deploy":
        print(f"dry run: nothing uploaded to {args.repo_id}" if args.dry_run else f"deployed: {url}")
    return 0


def run(args) -> int:
    if getattr(args, "action", None) in ("export", "deploy"):
        return _export(args)
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
        vote_limit=args.vote_limit,
        sign_in=args.sign_in,
        admins=args.admins.split(",") if args.admins else None,
        trusted_proxies=args.trusted_proxies.split(",") if args.trusted_proxies else None,
    )
    if config.warm_up:  # seconds of imports (torch, pyiqa) before the address is printed
        print("ggt space: loading the default restorer and the NR metrics before serving", flush=True)
    app = launch_space(config, args.host, args.port, prevent_thread_lock=True, quiet=True, share=args.share)
    try:
        print(f"ggt space: open {app.local_url} in a browser (Ctrl+C to stop)")
        print(
            f"leaderboard store: {config.store}; restorers: {', '.join(app.ggt_services['restore'].choices())}"
        )
        if config.sign_in:
            print("sign-in: submitting and voting need a Hugging Face account (Sign in button)")
        else:
            print("sign-in: off; submitters and voters are keyed by their network address")
        if not config.dataset:
            print("no --dataset: predictions zips cannot be checked against a test split")
        if app.server_name not in ("127.0.0.1", "localhost", "::1"):
            print(f"warning: listening on {app.server_name}: anyone who can reach it can submit and vote")
        app.block_thread()
    finally:
        app.close()
    return 0
