"""Leaderboard operations: `ggt leaderboard worker` processes the submission queue of a store
(--once: everything pending, then exit; otherwise poll), `ggt leaderboard show` prints the board
and `ggt leaderboard votes` the arena ranking (Bradley–Terry with bootstrap intervals)."""

from __future__ import annotations

HELP = "process leaderboard submissions, show the board and the arena ranking"


def _store_args(parser) -> None:
    parser.add_argument("--store", required=True, help="leaderboard store folder (the working copy)")
    parser.add_argument("--requests-repo", help="Hub dataset repo of requests (mirror the store to the Hub)")
    parser.add_argument("--results-repo", help="Hub dataset repo of results")


def add_arguments(parser) -> None:
    from ggt_hf.leaderboard.table import TABLE_CATEGORIES

    sub = parser.add_subparsers(dest="action", required=True)
    worker = sub.add_parser("worker", help="score queued submissions")
    _store_args(worker)
    worker.add_argument("--dataset", required=True, help="packed dataset folder or Hub id to score on")
    worker.add_argument("--split", default="test")
    worker.add_argument(
        "--metrics", help="comma-separated metric names (default: the paper's available ones)"
    )
    worker.add_argument("--device", help="cpu, cuda, ... (default: auto)")
    worker.add_argument("--tile", type=int, default=512, help="tile size of model submissions")
    worker.add_argument("--overlap", type=int, default=32)
    worker.add_argument("--once", action="store_true", help="process what is pending, then exit")
    worker.add_argument("--poll", type=float, default=30.0, help="seconds between polls")
    worker.add_argument(
        "--requeue-after-hours",
        type=float,
        default=12.0,
        help="requeue requests left RUNNING longer than this by a dead worker (0: never)",
    )
    worker.add_argument(
        "--push-results",
        action="store_true",
        help="also write model submissions' scores as .eval_results/*.yaml in their repos (PR if not yours)",
    )
    show = sub.add_parser("show", help="print the leaderboard")
    _store_args(show)
    show.add_argument("--category", default="overall", choices=TABLE_CATEGORIES)
    show.add_argument("--csv", help="also write the table as CSV here")
    votes = sub.add_parser("votes", help="print the arena ranking")
    _store_args(votes)
    votes.add_argument("--bootstrap", type=int, default=200)
    votes.add_argument("--seed", type=int, default=0)
    votes.add_argument(
        "--vote-limit",
        type=int,
        help="count at most N votes per account per 24 h and one per comparison, as the Space does "
        "when they are cast (default: every stored vote); re-checks a store written before the limit",
    )
    votes.add_argument(
        "--share",
        action="store_true",
        help="the best-of-N study instead: each system's share of picks with bootstrap intervals",
    )
    votes.add_argument("--out", help="--share: also write the shares as JSON (bench-mfm --human reads it)")


def _open(args):
    from ggt_hf.leaderboard.store import open_store

    return open_store(args.store, requests_repo=args.requests_repo, results_repo=args.results_repo)


def _report(request) -> None:
    detail = request.result_file if request.status == "FINISHED" else request.reason
    print(f"{request.request_id} {request.model}: {request.status} ({detail})", flush=True)


def _worker(args) -> int:
    from ggt_hf.commands._common import check_dataset_arg
    from ggt_hf.leaderboard.queue import Worker
    from ggt_hf.metrics.specs import parse_metric_list

    check_dataset_arg(args.dataset)  # a missing folder is named now, not a silent idle worker
    store = _open(args)
    metrics = parse_metric_list(args.metrics, []) if args.metrics else None
    worker = Worker(
        store,
        args.dataset,
        split=args.split,
        metrics=metrics,
        device=args.device,
        tile=args.tile,
        overlap=args.overlap,
        stale_hours=args.requeue_after_hours or None,
        push_results=args.push_results,
    )
    print(f"worker {worker.name} on {store.root} (dataset {args.dataset}, split {args.split})")
    print(f"{len(store.requests('PENDING'))} pending request(s)", flush=True)
    if not args.once:
        worker.run_forever(args.poll, report=_report)
        return 0
    done = worker.run_once()
    for request in done:
        _report(request)
    return 1 if any(r.status == "FAILED" for r in done) else 0


def run(args) -> int:
    if args.action == "worker":
        return _worker(args)
    store = _open(args)
    if args.action == "show":
        from ggt_hf.leaderboard.table import leaderboard_frame

        frame = leaderboard_frame(store.results(), category=args.category, links=False)
        if frame.empty:
            print("no results yet")
            return 0
        print(
            frame.to_markdown(index=False, floatfmt=".4g")
            if _has_tabulate()
            else frame.to_string(index=False)
        )
        if args.csv:
            frame.to_csv(args.csv, index=False)
        return 0
    if args.share:
        return _shares(store, args)
    from ggt_hf.leaderboard.votes import bradley_terry

    votes = _counted(store.votes_store().votes(), args)
    ranking = bradley_terry(votes, bootstrap=args.bootstrap, seed=args.seed)
    print("no votes yet" if ranking.empty else ranking.to_string(index=False, float_format="%.1f"))
    return 0


def _counted(votes: list, args) -> list:
    """The votes that count under ``--vote-limit`` (all without it)."""
    from ggt_hf.leaderboard.votes import VoteLimit, counted_votes

    limit = getattr(args, "vote_limit", None)
    return counted_votes(votes, VoteLimit(max_votes=limit) if limit else None)


def _shares(store, args) -> int:
    from ggt_hf.files.io_utils import atomic_write_json
    from ggt_hf.leaderboard.study import StudyStore, shares_json, vote_shares

    votes = _counted(store.votes_store(StudyStore).votes(), args)
    if not votes:
        print("no study votes yet")
        return 1
    frame = vote_shares(votes, bootstrap=args.bootstrap, seed=args.seed)
    shown = frame.copy()
    for column in ("Share", "CI low", "CI high"):
        shown[column] = shown[column].map(lambda v: f"{100 * v:.1f}%")
    print(shown.to_string(index=False))
    none = sum(v.choice == "none" for v in votes)
    print(f"{len(votes)} round(s), {none} with no acceptable output")
    if args.out:
        atomic_write_json(args.out, shares_json(frame, votes))
        print(f"shares: {args.out}")
    return 0


def _has_tabulate() -> bool:
    import importlib.util

    return importlib.util.find_spec("tabulate") is not None
