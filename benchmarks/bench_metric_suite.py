"""The paper's full metric suite on 1024² pairs with random weights: engine vs naive pyiqa, per metric.

How long does the suite take, and where does the time go?

The suite is every metric of the paper's tables in the project's specs
(:func:`ggt_hf.metrics.specs.paper_metrics`, minus the judge-scored VLM-R): PSNR, SSIM, LPIPS, DISTS
(full-reference, on prediction and reference) and NIQE, MUSIQ, MANIQA, TOPIQ-NR, AFINE-NR
(no-reference, on the prediction).

Weights: this machine cannot download them, so every weights file the specs declare is written once
with random values of the right architecture (same shapes, so the same cost) into a private cache
(``--weights``, default ``benchmarks/out/suite_weights``; ``HOME`` points there for this process, so
torch hub, the Hugging Face cache and CLIP's folder are all inside it and the real caches are never
touched). Both methods then build their models the normal way, through ``pyiqa.create_metric``,
from the same files: same weights, so the scores must agree. What each file holds:

* torchvision backbones (AlexNet, VGG16): ``torchvision.models.get_model(name, weights=None)``;
* timm backbones (ViT-B/8, ResNet50): ``timm.create_model(name, pretrained=False)``, saved as the
  Hub snapshot timm reads (``model.safetensors``);
* CLIP ViT-B/32: pyiqa's ``AFINECLIP`` with ViT-B/32's hyper-parameters, randomly initialised and
  saved as a TorchScript archive like the released file. CLIP's
  loader checks a cached file's SHA-256 against the one in its URL, so the URL in pyiqa's
  ``afineclip_model._MODELS`` is pointed at this file's hash (the only patch of pyiqa, in this process);
* pyiqa heads (LPIPS, DISTS, MUSIQ, MANIQA, TOPIQ): the state dict of the metric's network built by
  ``pyiqa.create_metric(id, pretrained=False)`` on the random backbones; AFINE (which has no
  ``pretrained=False``): its five heads as constructed plus the random CLIP;
* NIQE's ``niqe_modelparameters.mat``: a random mean (36) and a random symmetric positive definite
  covariance (36×36) of the pristine model. NIQE's cost is its feature extraction, which does not
  depend on these values.

Naive: what a user writes first, as in ``bench_metrics.py``: one ``pyiqa.create_metric`` per metric,
then one call per pair with file paths, so pyiqa decodes the image(s) again for every metric (its
``imread2tensor`` is timed as "decode"). Engine: one ``MetricEngine`` over the suite (decode once,
batch, PSNR / SSIM in the decode threads on CPU); its ``time_spent`` gives decode, ``to_tensor``
(batching and the copy to the device) and per-metric seconds. Model building is timed apart.

The device is CUDA when present, for both methods. With ``--naive-n`` smaller than ``--n``, naive
runs on the first pairs only and its 500-pair figure is an extrapolation, labelled as such.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

from _common import OUT


def _private_home(weights: Path) -> None:
    """Point every weights cache of this process into ``weights`` (before torch / pyiqa import)."""
    weights.mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(weights)
    for var in ("TORCH_HOME", "XDG_CACHE_HOME", "HF_HOME", "HF_HUB_CACHE"):
        os.environ.pop(var, None)
    os.environ["HF_HUB_OFFLINE"] = "1"  # nothing may be downloaded: every file must be ours
    os.environ["GGT_OFFLINE"] = "1"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500, help="pairs scored by the engine")
    parser.add_argument(
        "--naive-n", type=int, default=None, help="pairs scored by naive pyiqa (default: --n)"
    )
    parser.add_argument("--work", type=Path, default=OUT / "metrics", help="the 1024² pairs (shared)")
    parser.add_argument("--weights", type=Path, default=OUT / "suite_weights", help="random-weights cache")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (both methods)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    return parser.parse_args(argv)


ARGS = _parse(None if __name__ == "__main__" else [])
_private_home(ARGS.weights.resolve())

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import machine, write_section  # noqa: E402
from bench_metrics import make_pairs  # noqa: E402

from ggt_hf.imaging.tensors import resolve_device  # noqa: E402
from ggt_hf.metrics.engine import MetricEngine, PairItem  # noqa: E402
from ggt_hf.metrics.specs import MetricSpec, WeightRef, paper_metrics  # noqa: E402
from ggt_hf.metrics.weight_files import WeightFile, import_pyiqa, resolve  # noqa: E402

#: CLIP ViT-B/32's hyper-parameters (embed, resolution, layers, width, patch, context, vocab,
#: text width, heads, text layers), as ``build_model`` reads them from the released checkpoint.
_CLIP_VIT_B32 = (512, 224, 12, 768, 32, 77, 49408, 512, 8, 12)
SECTION = "bench_metric_suite: the paper's full suite, random weights, engine vs naive pyiqa"


def suite() -> list[MetricSpec]:
    """The paper's image metrics, from the specs table (VLM-R needs a judge, not an image model)."""
    return [s for s in paper_metrics() if s.pyiqa_id is not None]


def _save(state: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)


def _clip_model() -> torch.nn.Module:
    from pyiqa.archs.afineclip_model import AFINECLIP

    return AFINECLIP(*_CLIP_VIT_B32).eval()


def _write_clip(path: Path) -> None:
    """The CLIP backbone as the release ships it, a TorchScript archive (pyiqa's loader reads its
    ``state_dict``; its fallback for a plain state dict re-reads a consumed file and fails)."""
    import warnings

    path.parent.mkdir(parents=True, exist_ok=True)
    traced = torch.jit.trace_module(
        _clip_model(), {"encode_image": torch.rand(1, 3, 224, 224)}, check_trace=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.save is deprecated, still works
        torch.jit.save(traced, str(path))


def _write_timm(ref: WeightRef, file: WeightFile) -> None:
    import timm
    from huggingface_hub import constants
    from safetensors.torch import save_file

    cfg = timm.models.get_pretrained_cfg(ref.owner)
    repo_id, _, revision = cfg.hf_hub_id.partition("@")
    repo = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(f"random {repo_id}".encode()).hexdigest()
    snapshot = repo / "snapshots" / commit / file.name
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / (revision or "main")).write_text(commit)
    state = timm.create_model(ref.owner, pretrained=False).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(snapshot))


def _write_pyiqa(spec: MetricSpec, file: WeightFile) -> None:
    import scipy.io

    if spec.pyiqa_id == "niqe":
        rng = np.random.default_rng(0)
        a = rng.standard_normal((36, 36))
        cov = a @ a.T / 36 + np.eye(36)
        file.folder.mkdir(parents=True, exist_ok=True)
        scipy.io.savemat(
            file.folder / file.name, {"mu_prisparam": rng.standard_normal((1, 36)), "cov_prisparam": cov}
        )
    elif spec.pyiqa_id == "afine_nr":
        from pyiqa.archs import afine_arch as a

        heads = {
            "finetuned_clip": _clip_model(),
            "natural": a.AFINEQhead(),
            "fidelity": a.AFINEDhead(),
            "fidelity_scale": a.AFINENLM_FR_Fit_with_limit(2, -2, 0.5, 0.15, 0.95, 0.05, 0.70, 0.01),
            "natural_scale": a.AFINENLM_NR_Fit(2, -2, 4.9592, 21.5968),
            "adapter": a.AFINELearnLambda(k=5),
        }
        _save(
            {k: v if isinstance(v, dict) else v.state_dict() for k, v in heads.items()},
            file.folder / file.name,
        )
    else:
        state = import_pyiqa().create_metric(spec.pyiqa_id, device="cpu", pretrained=False).net.state_dict()
        # TOPIQ (CFANet) reads its default checkpoint's "params" entry; the others the state dict itself
        _save({"params": state} if spec.pyiqa_id.startswith("topiq") else state, file.folder / file.name)


def _point_clip_at(file: WeightFile, key: str) -> None:
    """Make pyiqa's CLIP loader accept our file: its URL carries the SHA-256 it checks."""
    from pyiqa.archs import afineclip_model

    digest = hashlib.sha256((file.folder / file.name).read_bytes()).hexdigest()
    url = afineclip_model._MODELS[key]
    afineclip_model._MODELS[key] = url.replace(url.split("/")[-2], digest)


def random_weights(specs: list[MetricSpec]) -> list[str]:
    """Write every missing weights file of ``specs`` with random values; what each metric uses."""
    import torchvision

    import_pyiqa()
    used = []
    for spec in specs:
        for ref in spec.weights:
            file = resolve(ref)
            if not file.on_disk():
                torch.manual_seed(0)
                if ref.source == "torchvision":
                    _save(
                        torchvision.models.get_model(ref.owner, weights=None).state_dict(),
                        file.folder / file.name,
                    )
                elif ref.source == "timm":
                    _write_timm(ref, file)
                elif ref.source == "clip":
                    _write_clip(file.folder / file.name)
                else:
                    _write_pyiqa(spec, file)
                file = resolve(ref)
                assert file.on_disk(), file
            if ref.source == "clip":
                _point_clip_at(file, ref.key)
            used.append(f"{spec.name}: {ref.source} {ref.owner} {ref.key}".rstrip() + f" → {file.name}")
    return used


def run_naive(pairs, specs, device: str) -> tuple[dict, dict[str, float], dict[str, float], dict[str, float]]:
    """Scores, build seconds, call seconds and pyiqa-decode seconds per metric."""
    pyiqa = import_pyiqa()
    from pyiqa.models import inference_model

    read = inference_model.imread2tensor
    decode = {s.name: 0.0 for s in specs}
    current = [""]

    def timed_read(*args, **kwargs):
        start = time.perf_counter()
        try:
            return read(*args, **kwargs)
        finally:
            decode[current[0]] += time.perf_counter() - start

    inference_model.imread2tensor = timed_read
    scores: dict[str, dict[str, float]] = {k: {} for k, _, _ in pairs}
    build, calls = {}, {}
    try:
        for spec in specs:
            current[0] = spec.name
            start = time.perf_counter()
            metric = pyiqa.create_metric(spec.pyiqa_id, device=device)
            build[spec.name] = time.perf_counter() - start
            start = time.perf_counter()
            for key, pred, ref in pairs:
                out = metric(str(pred), str(ref)) if spec.mode == "FR" else metric(str(pred))
                scores[key][spec.name] = float(out)
            calls[spec.name] = time.perf_counter() - start
            print(f"naive {spec.name}: build {build[spec.name]:.1f} s, {calls[spec.name]:.1f} s", flush=True)
            del metric
    finally:
        inference_model.imread2tensor = read
    return scores, build, calls, decode


def run_engine(pairs, specs, batch_size: int) -> tuple[dict, float, float, dict[str, float], str]:
    """Scores, build seconds, scoring wall seconds, ``time_spent`` and the device."""
    engine = MetricEngine(specs, batch_size=batch_size)
    start = time.perf_counter()
    engine.prepare()
    build = time.perf_counter() - start
    start = time.perf_counter()
    scores = dict(engine.score_pairs([PairItem(k, p, r) for k, p, r in pairs], progress=False))
    return scores, build, time.perf_counter() - start, dict(engine.time_spent), engine.device


def max_delta(a: dict, b: dict, name: str) -> float:
    return max(abs(a[k][name] - b[k][name]) for k in a if k in b)


def _git_rev() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"


def main() -> None:
    args = ARGS
    torch.set_num_threads(args.threads)
    specs = suite()
    naive_n = args.naive_n or args.n
    started, commit = datetime.datetime.now(datetime.timezone.utc), _git_rev()
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    pairs = make_pairs(max(args.n, naive_n), args.work)
    used = random_weights(specs)
    print("\n".join(used), flush=True)
    device = resolve_device(None)

    ours, e_build, e_wall, spent, e_device = run_engine(pairs[: args.n], specs, args.batch_size)
    print(f"engine: build {e_build:.1f} s, scoring {e_wall:.1f} s, {spent}", flush=True)
    naive, n_build, n_calls, n_decode = run_naive(pairs[:naive_n], specs, device)
    uptime_after = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    n_e, n_n = args.n, naive_n
    rows = []
    for spec in specs:
        e_s = spent.get(spec.name, 0.0) / n_e
        n_s = n_calls[spec.name] / n_n
        nd = n_decode[spec.name] / n_n
        delta = max_delta(naive, ours, spec.name)
        rows.append(
            f"| {spec.name} | {spec.mode} | {n_s:.3f} | {nd:.3f} | {n_s - nd:.3f} | {e_s:.3f} | "
            f"{n_s / e_s if e_s else float('nan'):.2f}× | {delta:.1e} | {n_build[spec.name]:.1f} |"
        )
    n_total = sum(n_calls.values()) / n_n
    e_total = e_wall / n_e
    decode_s = spent.get("decode", 0.0) / n_e
    tensor_s = spent.get("to_tensor", 0.0) / n_e
    label_n = "measured" if n_n >= 500 else f"extrapolated from {n_n} pairs"
    label_e = "measured" if n_e >= 500 else f"extrapolated from {n_e} pairs"
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    section = f"""## {SECTION}

Command: `{command}` (from the repo root; commit {commit} at the start). Device: {e_device}, {args.threads} torch
threads, engine batch {args.batch_size}, {MetricEngine(["psnr"]).workers} decode threads.

Machine: {machine(("torch", "pyiqa", "timm"))}. `uptime` before: `{uptime_before}`; after:
`{uptime_after}`. Date: {started:%Y-%m-%d %H:%M} UTC. Peak RSS of the process: {peak_rss:.0f} MB.

Measured: the engine on **{n_e}** pairs, naive pyiqa on **{n_n}** (the first {n_n} of them), real-photo
pairs at 1024² (those of `bench_metrics.py`). Seconds per pair:

| metric | mode | naive s/pair | of which pyiqa decode | naive compute | engine s/pair | naive / engine | max abs Δ | naive build s |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(rows)}
| decode (engine, both images, thread-seconds) | | | | | {decode_s:.3f} | | | |
| to_tensor (engine: batching, copy to device) | | | | | {tensor_s:.3f} | | | |
| **suite, wall** | | **{n_total:.2f}** | {sum(n_decode.values()) / n_n:.3f} | | **{e_total:.2f}** | **{n_total / e_total:.2f}×** | | {sum(n_build.values()):.1f} |

Engine scoring wall {e_wall:.0f} s for {n_e} pairs; model building {e_build:.1f} s (engine, all nine)
and {sum(n_build.values()):.1f} s (naive). Engine per-metric seconds are wall time in the scoring
thread for the batched metrics; on CPU, PSNR / SSIM and decode run in the decode threads beside
them (thread-seconds, overlapping the batched metrics).

500 pairs (suite only, without building): engine {e_total * 500 / 60:.1f} min ({label_e}), naive
{n_total * 500 / 60:.1f} min ({label_n}).

Random weights, one file per declared weight (see the script's docstring for how each is made):
{chr(10).join("- " + u for u in used)}
- psnr, ssim: weight-free.
"""
    print(section)
    if not args.no_write:
        write_section(SECTION, section, after="bench_metrics")


if __name__ == "__main__":
    main()
