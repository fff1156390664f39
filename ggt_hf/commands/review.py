"""Review the generated pairs of a build run in the browser (QC stage 3): LQ and HQ side by side
and as a before/after slider, the prompt and the automatic QC checks; Accept (a), Reject with a
reason (r) or Skip (s). Decisions are saved to RUN/review.jsonl as you go: stop at any moment and
run the same command again to resume at the first undecided item. The server listens on
127.0.0.1 unless --host or GRADIO_SERVER_NAME says otherwise (port: --port, GRADIO_SERVER_PORT,
else the first free one from 7860)."""

from __future__ import annotations

HELP = "review a build run's accepted candidates in the browser (QC stage 3)"


def add_arguments(parser) -> None:
    parser.add_argument("run", help="build run folder (the one holding items/)")
    parser.add_argument("--host", help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, help="port (default: $GRADIO_SERVER_PORT or the first free one from 7860)"
    )
    parser.add_argument(
        "--reviewer", help="name recorded with every decision (default: the login name of this user)"
    )


def _default_reviewer() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name (e.g. a container without a passwd entry)
        return None


def run(args) -> int:
    from ggt_hf.qc.review import ReviewQueue
    from ggt_hf.qc.review_app import launch_review

    queue = ReviewQueue(args.run)  # a clear FileNotFoundError before any server starts
    progress = queue.progress()
    app = launch_review(
        args.run,
        host=args.host,
        port=args.port,
        reviewer=args.reviewer or _default_reviewer(),
        prevent_thread_lock=True,
        quiet=True,
    )
    try:
        print(f"reviewing {args.run}: {progress['total']} items, {progress['pending']} awaiting a decision")
        print(f"open {app.local_url} in a browser (keys: a accept, r reject, s skip)")
        if app.server_name not in ("127.0.0.1", "localhost", "::1"):
            print(f"warning: listening on {app.server_name}: anyone who can reach it can record decisions")
        print(f"decisions are saved to {queue.layout.review_file} as you go; Ctrl+C to stop")
        app.block_thread()
    finally:
        app.close()
    return 0
