"""Benchmark restoration systems with the GGT-100K Table 1 protocol: fidelity metrics on
synthetically degraded clean images (--clean), NR metrics and VLM-R on real LQ images (--real),
human preference (--human: best-of-N study shares; --votes: pairwise win rates), and the paper's
composite (per-metric min-max across systems, group means, Avg.). Either --clean or --real alone
gives the groups it can. A system is RESTORER[@STRATEGY][=NAME] (grammar: ggt_hf.restore.spec),
e.g. gemini:gemini-3.1-flash-image-preview@adaptive:gemini=NanoBanana2; every system and the judge
are checked (names, API keys) before any image is read."""

from __future__ import annotations

HELP = "compare restoration systems (MFMs, restorers) with the paper's composite score"


def add_arguments(parser) -> None:
    from ggt_hf.prompts.strategies import FIXED_STRATEGIES

    parser.add_argument(
        "--system",
        action="append",
        required=True,
        help="RESTORER[@STRATEGY][=NAME]: RESTORER as `ggt restore --model` (identity, classical, "
        f"BACKEND[:MODEL_ID], module:function, ...), STRATEGY {'|'.join(FIXED_STRATEGIES)}|"
        "adaptive:VLM[:MODEL_ID]; repeatable",
    )
    parser.add_argument("--clean", help="folder of clean images for the fidelity metrics")
    parser.add_argument("--real", help="folder of real LQ images for NR metrics and VLM-R")
    parser.add_argument("--out", default="bench_mfm", help="output folder")
    parser.add_argument(
        "--fidelity-metrics", help="default: psnr,ssim,lpips,dists (unavailable ones skipped)"
    )
    parser.add_argument("--perceptual-metrics", help="default: niqe,musiq,maniqa,topiq_nr,afine_nr")
    parser.add_argument(
        "--judge",
        default="heuristic",
        help="VLM-R judge: none or VLM[:MODEL_ID] (heuristic, gemini[:id], openai[:id], transformers:PATH_OR_REPO)",
    )
    parser.add_argument("--votes", help="CSV of pairwise human votes: system_a,system_b,winner")
    parser.add_argument(
        "--human", help="best-of-N study shares (`ggt leaderboard votes --share --out`): the Human column"
    )
    parser.add_argument("--max-side", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device")
    parser.add_argument("--no-plots", action="store_true")


def build_system(spec, device: str | None = None):
    """A :class:`~ggt_hf.evaluation.bench_mfm.System` from a parsed system spec."""
    from ggt_hf.evaluation.bench_mfm import PROMPT_STRATEGIES, System
    from ggt_hf.prompts.strategies import PromptStrategy
    from ggt_hf.restore.factory import make_restorer
    from ggt_hf.restore.spec import RestorerOptions

    restore = make_restorer(spec.restorer, RestorerOptions(device=device))
    if spec.strategy_vlm is not None:
        return System(spec.name, restore, PromptStrategy("adaptive", vlm=spec.strategy_vlm.build()))
    return System(spec.name, restore, PROMPT_STRATEGIES[spec.strategy])


def _check_distinct_folders(names: list[str]) -> None:
    """Refuse two systems whose outputs would share ``out/outputs/<folder>`` (same name once made safe)."""
    from ggt_hf.evaluation.bench_mfm import safe_name

    folders: dict[str, list[str]] = {}
    for name in names:
        folders.setdefault(safe_name(name), []).append(name)
    for folder, same in folders.items():
        if len(same) > 1:
            shown = " and ".join(repr(n) for n in same)
            raise ValueError(
                f"systems {shown} would share the output folder outputs/{folder}; give them distinct names "
                "with =NAME"
            )


def run(args) -> int:
    from pathlib import Path

    from ggt_hf.evaluation.bench_mfm import BenchConfig, run_bench, write_report
    from ggt_hf.files.output_folders import check_no_overlap, claim_output_folder
    from ggt_hf.metrics.specs import paper_metrics, parse_metric_list
    from ggt_hf.restore.spec import check_keys, parse_judge, parse_system

    if not (args.clean or args.real):
        raise ValueError("give --clean (fidelity) and/or --real (perceptual, VLM-R) images")
    for flag, folder in (("--clean", args.clean), ("--real", args.real), ("--human", args.human)):
        if folder and not Path(folder).exists():
            raise FileNotFoundError(f"{flag} {folder}: no such file or folder")
    specs = [parse_system(s) for s in args.system]
    _check_distinct_folders([s.name for s in specs])
    judge_spec = parse_judge(args.judge if args.real else "none")
    checks = {f"system {spec.name!r}": spec.check for spec in specs}
    check_keys({**checks, f"judge {judge_spec.text!r}": judge_spec.check})  # every key before any work
    from ggt_hf.runtime.network import require_apis

    require_apis([*(e for spec in specs for e in spec.api_endpoints()), *judge_spec.api_endpoints()])
    check_no_overlap([f for f in (args.clean, args.real) if f], args.out)
    claim_output_folder(
        args.out, "bench-mfm", recognise=lambda f: (f / "table1.json").is_file(), command="ggt bench-mfm"
    )
    systems = [build_system(s, args.device) for s in specs]
    config = BenchConfig(
        clean_dir=args.clean,
        real_dir=args.real,
        out=args.out,
        fidelity_metrics=parse_metric_list(args.fidelity_metrics, [s.name for s in paper_metrics("FR")]),
        perceptual_metrics=parse_metric_list(args.perceptual_metrics, [s.name for s in paper_metrics("NR")]),
        max_side=args.max_side,
        seed=args.seed,
        votes=args.votes,
        human=args.human,
        device=args.device,
    )
    result = run_bench(systems, config, judge=judge_spec.build())
    paths = write_report(result, args.out, plots=not args.no_plots)
    print(paths["markdown"].read_text())
    print("written: " + ", ".join(str(p) for p in paths.values()))
    return 0
