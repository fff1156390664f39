"""Evaluate a restorer's predictions (files named <id>.<ext>, sub-folders allowed, as `ggt restore`
writes them) on a GGT dataset split or on a folder of real LQ photos without ground truth
(no-reference metrics and VLM-R only, the LQ inputs scored as a reference row): per-image,
per-category and overall scores, printed as Markdown and written as JSON (the leaderboard's format)
and CSV. Bad submissions are reported item by item; exit 1 if any.
`--compare w/o=a.json w/=b.json [official=c.json]` lays result files out as the paper's Table 2:
a row per setting and the Improvement row (w/ minus w/o, judged by each metric's direction)."""

from __future__ import annotations

HELP = "score predictions against a GGT dataset split or real LQ photos; compare settings (Table 2)"


def add_arguments(parser) -> None:
    parser.add_argument("--pred", help="folder of predictions named <id>.<ext> (sub-folders allowed)")
    parser.add_argument(
        "--dataset",
        help="packed dataset folder or Hub repo id, or a folder of real LQ photos (no ground truth; "
        "category sub-folders optional, ids = file stems)",
    )
    parser.add_argument(
        "--compare",
        nargs="+",
        metavar="LABEL=RESULTS.json",
        help="instead of scoring: the Table-2 comparison of result files, e.g. w/o=a.json w/=b.json",
    )
    parser.add_argument("--row", default="overall", help="--compare: overall or a category")
    parser.add_argument("--split", default="test")
    parser.add_argument("--config", help="dataset config (a category), default: all")
    parser.add_argument(
        "--metrics", help="comma-separated metric names (default: the paper's, skipping unavailable)"
    )
    parser.add_argument(
        "--judge",
        default="none",
        help="judge for VLM-R: none or VLM[:MODEL_ID] (heuristic, gemini[:id], openai[:id], "
        "transformers:PATH_OR_REPO); API keys are checked before any work",
    )
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


def _compare(args) -> int:
    from ggt_hf.evaluation.compare import compare, parse_setting

    table = compare([parse_setting(t) for t in args.compare], row=args.row)
    print(table.markdown())
    if args.out:
        paths = table.write(args.out)
        print("written: " + ", ".join(str(p) for p in paths.values()))
    return 0


def run(args) -> int:
    from pathlib import Path

    from ggt_hf.commands._common import check_dataset_arg, print_problems
    from ggt_hf.errors import UsageError
    from ggt_hf.evaluation.restorer_eval import LQ_ROW, evaluate
    from ggt_hf.imaging.tensors import resolve_device
    from ggt_hf.metrics.specs import parse_metric_list
    from ggt_hf.restore.spec import parse_judge

    if args.compare:
        return _compare(args)
    if not (args.pred and args.dataset):
        raise ValueError("give --pred and --dataset (or --compare LABEL=results.json ...)")
    judge_spec = parse_judge(args.judge)
    judge_spec.check()  # a missing key fails before anything else
    from ggt_hf.runtime.network import require_apis

    require_apis(judge_spec.api_endpoints())  # an unreachable judge API: named now, not per image
    check_dataset_arg(args.dataset)
    if args.push_results:  # the benchmark's Hub id is needed to publish: refused before scoring
        from ggt_hf.hub.eval_results import hub_dataset_id

        hub_dataset_id(args.dataset)
    if not Path(args.pred).is_dir():
        raise UsageError(f"--pred {args.pred}", "no such folder of predictions")
    resolve_device(args.device)
    metrics = parse_metric_list(args.metrics, []) if args.metrics else None
    judge = judge_spec.build()
    if judge is not None and metrics is not None and "vlm_r" not in [m.name for m in metrics]:
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
    if not result.ground_truth:
        print(
            f"{args.dataset} has no ground truth: no-reference metrics and VLM-R only; "
            f"the '{LQ_ROW}' row scores the LQ inputs themselves"
        )
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
