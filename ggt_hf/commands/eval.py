"""Evaluate a restorer's predictions (files named <id>.<ext>) on a GGT dataset split: per-image,
per-category and overall scores (the paper's Table 2), printed as Markdown and written as JSON
(the leaderboard's format) and CSV. Bad submissions are reported item by item; exit 1 if any."""

from __future__ import annotations

HELP = "score predictions against a GGT dataset split"


def add_arguments(parser) -> None:
    parser.add_argument("--pred", required=True, help="folder of predictions named <id>.<ext>")
    parser.add_argument("--dataset", required=True, help="packed dataset folder or Hub repo id")
    parser.add_argument("--split", default="test")
    parser.add_argument("--config", help="dataset config (a category), default: all")
    parser.add_argument(
        "--metrics", help="comma-separated metric names (default: the paper's, skipping unavailable)"
    )
    parser.add_argument("--judge", choices=("none", "heuristic"), default="none", help="judge for VLM-R")
    parser.add_argument("--model", help="model name recorded in the results (default: folder name)")
    parser.add_argument("--out", help="results JSON path (CSV written beside it)")
    parser.add_argument(
        "--cache", help="per-image score cache (default: <out>.cache.jsonl when --out is given)"
    )
    parser.add_argument("--crop-border", type=int, default=0)
    parser.add_argument("--y-channel", choices=("default", "on", "off"), default="default")
    parser.add_argument("--device", help="cpu, cuda, ... (default: auto)")
    parser.add_argument(
        "--push-results",
        metavar="MODEL_REPO",
        help="publish the overall scores as .eval_results/*.yaml in this model repo (a PR if not yours)",
    )


def run(args) -> int:
    from pathlib import Path

    from ggt_hf.commands._common import check_dataset_arg, print_problems
    from ggt_hf.errors import UsageError
    from ggt_hf.evaluation.restorer_eval import evaluate
    from ggt_hf.metrics.specs import parse_metric_list
    from ggt_hf.tensors import resolve_device

    check_dataset_arg(args.dataset)
    if not Path(args.pred).is_dir():
        raise UsageError(f"--pred {args.pred}", "no such folder of predictions")
    resolve_device(args.device)

    metrics = parse_metric_list(args.metrics, []) if args.metrics else None
    judge = None
    if args.judge == "heuristic":
        from ggt_hf.evaluation.heuristic_judge import HeuristicJudge

        judge = HeuristicJudge()
        if metrics is not None and "vlm_r" not in [m.name for m in metrics]:
            metrics += parse_metric_list("vlm_r", [])
    cache = args.cache or (f"{args.out}.cache.jsonl" if args.out else None)
    result = evaluate(
        args.pred,
        args.dataset,
        split=args.split,
        config=args.config,
        metrics=metrics,
        model=args.model,
        cache=cache,
        judge=judge,
        device=args.device,
        crop_border=args.crop_border,
        y_channel={"default": None, "on": True, "off": False}[args.y_channel],
    )
    print(result.markdown())
    for name, reason in result.skipped_metrics.items():
        print(f"skipped {name}: {reason}")
    converted = [i for i, row in result.per_image.items() if row.get("conversions")]
    if converted:
        print(f"converted to 8-bit RGB before scoring: {len(converted)} prediction(s) (listed per image)")
        for note, count in result.conversion_counts.items():
            print(f"  {count}× {note}")
    if args.out:
        result.write(args.out)
        print(f"results: {args.out} (+ {args.out.rsplit('.', 1)[0]}.csv)")
    failed = print_problems(result.problems.lines(), "submission problems")
    if args.push_results:
        _push_results(result, args)
    return 1 if failed else 0


def _push_results(result, args) -> None:
    """Publish the overall scores on the benchmark ``--dataset`` to ``--push-results``."""
    from ggt_hf.hub.eval_results import publish_results

    info = publish_results(result.to_json(), args.push_results, args.dataset)
    where = getattr(info, "pr_url", None) or getattr(info, "commit_url", None)
    print(f"eval results pushed to {args.push_results}: {where}")
