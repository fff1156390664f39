"""Benchmark restoration systems with the GGT-100K Table 1 protocol: fidelity metrics on
synthetically degraded clean images, NR metrics and VLM-R on real LQ images, optional human votes,
and the paper's composite (per-metric min-max across systems, group means, Avg.). A system is
BACKEND[@STRATEGY][=NAME]: BACKEND is a built-in (identity), a registered backend (classical,
gemini, openai, hf-inference, ...) or module:function taking (image, prompt) and returning an
image; STRATEGY is none, fixed, fixed-no-change or adaptive:<vlm> (e.g. adaptive:heuristic)."""

from __future__ import annotations

HELP = "compare restoration systems (MFMs, restorers) with the paper's composite score"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--system", action="append", required=True, help="BACKEND[@STRATEGY][=NAME]; repeatable"
    )
    parser.add_argument("--clean", help="folder of clean images for the fidelity metrics")
    parser.add_argument("--real", help="folder of real LQ images for NR metrics and VLM-R")
    parser.add_argument("--out", default="bench_mfm", help="output folder")
    parser.add_argument(
        "--fidelity-metrics", help="default: psnr,ssim,lpips,dists (unavailable ones skipped)"
    )
    parser.add_argument("--perceptual-metrics", help="default: niqe,musiq,maniqa,topiq_nr,afine_nr")
    parser.add_argument("--judge", choices=("none", "heuristic"), default="heuristic")
    parser.add_argument("--votes", help="CSV of human votes: system_a,system_b,winner")
    parser.add_argument("--max-side", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device")
    parser.add_argument("--no-plots", action="store_true")


def parse_system(text: str):
    from ggt_hf.evaluation.bench_mfm import PROMPT_STRATEGIES, System, resolve_restorer
    from ggt_hf.prompting import make_strategy

    body, _, name = text.partition("=")
    backend, _, strategy = body.partition("@")
    strategy = strategy or "none"
    label = name or (backend if strategy == "none" else f"{backend}@{strategy}")
    if strategy.startswith("adaptive:"):
        return System(label, resolve_restorer(backend), make_strategy(strategy))
    if strategy not in PROMPT_STRATEGIES:
        raise ValueError(
            f"system {text!r}: unknown prompt strategy {strategy!r} "
            f"({', '.join(PROMPT_STRATEGIES)}, adaptive:<vlm>)"
        )
    return System(label, resolve_restorer(backend), PROMPT_STRATEGIES[strategy])


def run(args) -> int:
    from ggt_hf.evaluation.bench_mfm import BenchConfig, run_bench, write_report
    from ggt_hf.metrics.specs import paper_metrics, parse_metric_list

    if not (args.clean or args.real):
        raise ValueError("give --clean (fidelity) and/or --real (perceptual, VLM-R) images")
    systems = [parse_system(s) for s in args.system]
    config = BenchConfig(
        clean_dir=args.clean,
        real_dir=args.real,
        out=args.out,
        fidelity_metrics=parse_metric_list(args.fidelity_metrics, [s.name for s in paper_metrics("FR")]),
        perceptual_metrics=parse_metric_list(args.perceptual_metrics, [s.name for s in paper_metrics("NR")]),
        max_side=args.max_side,
        seed=args.seed,
        votes=args.votes,
        device=args.device,
    )
    judge = None
    if args.judge == "heuristic":
        from ggt_hf.evaluation.heuristic_judge import HeuristicJudge

        judge = HeuristicJudge()
    result = run_bench(systems, config, judge=judge)
    paths = write_report(result, args.out, plots=not args.no_plots)
    print(paths["markdown"].read_text())
    print("written: " + ", ".join(str(p) for p in paths.values()))
    return 0
