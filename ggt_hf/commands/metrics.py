"""Metric weights: `ggt metrics list` shows every metric of the specs table and whether it is
ready here (weights on disk or none needed): it reads the weight files pyiqa declares and looks
for them on disk, never builds a model and never touches the network; `ggt metrics fetch
[names]` downloads the weights of learned metrics where the network allows (pyiqa's cache:
~/.cache/torch/hub/pyiqa)."""

from __future__ import annotations

HELP = "list metrics and their readiness, or fetch their weights"


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=("list", "fetch"))
    parser.add_argument("names", nargs="*", help="metrics (default: all of the table / all learned ones)")
    parser.add_argument("--device", default="cpu")


def run(args) -> int:
    from ggt_hf.imaging.tensors import resolve_device
    from ggt_hf.metrics.specs import METRICS, get_spec
    from ggt_hf.metrics.weight_files import readiness
    from ggt_hf.metrics.weights import weights_dirs

    resolve_device(args.device)  # a device that is not there fails before any metric is created

    if args.action == "list":
        specs = [get_spec(n) for n in args.names] or list(METRICS.values())
    else:
        specs = [get_spec(n) for n in args.names] or [s for s in METRICS.values() if s.needs_weights]
    failures = 0
    rows = ["| metric | pyiqa id | mode | better | group | status |", "|---|---|---|---|---|---|"]
    for spec in specs:
        if args.action == "list" or spec.pyiqa_id is None:
            status = readiness(spec)  # from the disk: no model is built, no network touched
        else:  # fetch: building the model downloads what it loads
            from ggt_hf.metrics.engine import MetricEngine

            missing = MetricEngine([spec], device=args.device).drop_unavailable()
            status = "ready" if not missing else f"missing: {missing[spec.name]}"
            failures += bool(missing)
        rows.append(
            f"| {spec.name} | {spec.pyiqa_id or '-'} | {spec.mode} | {'lower' if spec.lower_better else 'higher'} "
            f"| {spec.group or '-'} | {status} |"
        )
    print("\n".join(rows))
    print("weights folders: " + ", ".join(f"{k}: {v}" for k, v in weights_dirs().items()))
    if args.action == "fetch" and failures:
        _raise_if_offline(failures)
    return 1 if (args.action == "fetch" and failures) else 0


def _raise_if_offline(failures: int) -> None:
    """A fetch that failed because a download host is unreachable is a network failure (exit 3)."""
    from ggt_hf.errors import NetworkUnavailableError
    from ggt_hf.runtime.network import network_problems

    problems = network_problems()
    if problems:
        raise NetworkUnavailableError(
            "ggt metrics fetch",
            f"{failures} metric(s) not fetched: {'; '.join(problems)}; run it where the network is "
            "available, or place the files where the table above says",
        )
