"""Question: what does one generative LoRA / ControlNet training step cost, with and without caching?

Runs the real tasks (``EditLoraTask`` / ``ControlNetFluxTask``: frozen pipeline, LoRA or ControlNet,
flow-matching loss, AdamW through ``accelerator.prepare``) on bucketed real-photo pairs, twice per
family: ``cache off`` (VAE-encode LQ+HQ and run the text encoder(s) every step, as a trainer without
caching does) and ``cache on`` (latents and text embeddings computed once per pair; the warm-up covers
one epoch so the measured steps all hit the cache). Step time = median wall time of
``training_step + backward + optimizer.step`` over the measured steps. Peak memory: CUDA
``max_memory_allocated`` during the measured steps, or on CPU the peak RSS (``VmHWM`` after resetting
it through ``/proc/self/clear_refs``) of a fresh child process per run.

CPU now (tiny random pipelines built offline; default):

    python benchmarks/bench_lora_step.py --steps 12

GPU, real models (same script; the issue's anchor is FLUX LoRA ~1.7 s/step at 1024² on an H100 in FP8):

    python benchmarks/bench_lora_step.py --family flux_kontext \
        --pretrained black-forest-labs/FLUX.1-Kontext-dev --resolution 1024 --mixed-precision bf16 --rank 64
    python benchmarks/bench_lora_step.py --family qwen_image_edit --pretrained Qwen/Qwen-Image-Edit \
        --resolution 1024 --mixed-precision bf16 --rank 64
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_section

FAMILIES = ("qwen_image_edit", "flux_kontext", "flux")


def _pairs(folder: Path, n: int, resolution: int) -> Path:
    """``n`` real photo pairs (bundled samples), longest side ``resolution * 1.25``; LQ darkened + noise."""
    import numpy as np
    from PIL import Image

    from ggt_hf.imaging.images import load_image
    from ggt_hf.pipeline.demo import sample_dir

    photos = sorted(p for p in sample_dir().iterdir() if p.suffix in (".png", ".jpg"))
    for side in ("lq", "hq"):
        (folder / side).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = load_image(photos[i % len(photos)]).image.convert("RGB")
        scale = resolution * 1.25 / max(img.size)
        hq = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
        rng = np.random.default_rng(i)
        lq = np.clip(
            np.asarray(hq, dtype=np.float32) * 0.6 + rng.normal(0, 10, (hq.height, hq.width, 3)), 0, 255
        )
        hq.save(folder / "hq" / f"b{i}.png")
        Image.fromarray(lq.astype(np.uint8)).save(folder / "lq" / f"b{i}.png")
    return folder


def _status_mib(field: str) -> float:
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith(field))) / 1024


def _peak_reset(torch) -> float:
    """Reset the peak counter; returns the memory in use at that point (MiB)."""
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated() / 2**20
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mib("VmRSS")


def _peak_mib(torch) -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return _status_mib("VmHWM")


def child(args) -> dict:
    """One measured run (in its own process)."""
    import torch

    from ggt_hf.files.yaml_config import from_dict
    from ggt_hf.generative.data import BucketedPairs
    from ggt_hf.generative.task_base import GenerativeRecipe
    from ggt_hf.training.core import make_accelerator

    torch.set_num_threads(args.threads)
    recipe = from_dict(
        GenerativeRecipe,
        {
            "model": {
                "family": args.family,
                "pretrained": args.pretrained,
                "max_sequence_length": args.max_seq,
            },
            "lora": {"rank": args.rank, "alpha": args.rank},
            "controlnet": {"num_layers": 1, "num_single_layers": 1} if args.tiny else {},
            "data": {"ggt": [{"path": args.pairs}], "resolution": args.resolution, "num_workers": 0},
            "cache": {"latents": args.cache, "text": args.cache},
            "train": {"mixed_precision": args.mixed_precision, "log_with": None},
        },
    )
    if args.family == "flux":
        from ggt_hf.generative.controlnet_flux import ControlNetFluxTask as Task
    else:
        from ggt_hf.generative.edit_lora import EditLoraTask as Task
    accelerator = make_accelerator(recipe.train)
    task = Task(recipe)
    task.setup(accelerator)
    optimizer = torch.optim.AdamW(task.trainable_parameters(), lr=1e-4)
    module, optimizer = accelerator.prepare(task.modules_to_prepare()[0], optimizer)
    task.on_prepared([module])
    data = BucketedPairs(recipe.data, task.pipe.vae_scale_factor * 2)
    times: list[float] = []
    for k in range(args.warmup + args.steps):
        batch = data[k]
        if k == args.warmup:
            base = _peak_reset(torch)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        with accelerator.accumulate(module):
            loss, _ = task.training_step(batch, accelerator)
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        if k >= args.warmup:
            times.append(time.perf_counter() - start)
    return {
        "s_per_step": statistics.median(times),
        "peak_mib": _peak_mib(torch),
        "step_mib": _peak_mib(torch) - base,  # peak above what was in use before the measured steps
        "bucket": list(batch["bucket"]),
        "device": str(accelerator.device),
        "trainable": sum(p.numel() for p in task.trainable_parameters()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=FAMILIES, action="append", help="default: all three (tiny)")
    parser.add_argument(
        "--pretrained", default=None, help="repo id / folder; default: a tiny random pipeline"
    )
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--pairs-count", type=int, default=4)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--max-seq", type=int, default=None)
    parser.add_argument("--mixed-precision", default="no")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        ns = argparse.Namespace(**json.loads(args.child))
        print("RESULT " + json.dumps(child(ns)))
        return
    families = args.family or list(FAMILIES)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        pairs = _pairs(Path(tmp) / "pairs", args.pairs_count, args.resolution)
        for family in families:
            pretrained = args.pretrained
            if pretrained is None:
                from ggt_hf.testing.tiny_models import build_tiny

                pretrained = str(build_tiny(family, Path(tmp) / family))
            for cache in (False, True):
                spec = {
                    "family": family,
                    "pretrained": pretrained,
                    "tiny": args.pretrained is None,
                    "pairs": str(pairs),
                    "resolution": args.resolution,
                    "rank": args.rank,
                    "max_seq": args.max_seq or (32 if args.pretrained is None else 512),
                    "mixed_precision": args.mixed_precision,
                    "threads": args.threads,
                    "cache": cache,
                    "warmup": args.pairs_count + 1,  # one epoch: every pair cached before measuring
                    "steps": args.steps,
                }
                cmd = [sys.executable, __file__, "--child", json.dumps(spec)]
                out = subprocess.run(cmd, capture_output=True, text=True, check=False)
                line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
                if line is None:
                    raise SystemExit(f"{family} cache={cache} failed:\n{out.stderr[-3000:]}")
                result = json.loads(line[7:])
                rows.append((family, cache, result))
                print(family, "cache on " if cache else "cache off", result, flush=True)
    table = [
        "| pipeline | caching | s/step (median) | peak memory (MiB) | of which during steps (MiB) | bucket | trainable params | device |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for family, cache, r in rows:
        table.append(
            f"| {family} | {'on' if cache else 'off'} | {r['s_per_step']:.4f} | {r['peak_mib']:.0f} | {r['step_mib']:.1f} | "
            f"{r['bucket'][0]}×{r['bucket'][1]} | {r['trainable']:,} | {r['device']} |"
        )
    speedups = [
        f"{f}: cache on is {off['s_per_step'] / on['s_per_step']:.2f}× faster per step"
        for (f, c1, off), (_, c2, on) in zip(rows[::2], rows[1::2], strict=True)
        if not c1 and c2
    ]
    cmd = "python benchmarks/bench_lora_step.py " + " ".join(sys.argv[1:])
    models = (
        f"`{args.pretrained}`, LoRA rank {args.rank}"
        if args.pretrained
        else f"tiny random pipelines (ggt_hf.testing.tiny_models.build_tiny), LoRA rank {args.rank}, "
        "ControlNet 1+1 blocks"
    )
    section = "\n".join(
        [
            "## bench_lora_step: generative LoRA / ControlNet step, latent + text caching on vs off",
            "",
            f"Command: `{cmd.strip()}`  ",
            f"Machine: {machine(('torch', 'diffusers', 'peft'))}  ",
            f"Models: {models}; {args.pairs_count} real photo pairs, {args.resolution}² buckets, "
            f"{args.steps} measured steps after a one-epoch warm-up, {args.threads} torch thread(s).",
            "",
            *table,
            "",
            "; ".join(speedups) + ". The machine is shared (see load average): absolute times are noisy, "
            "the on/off ratio of the same run is the figure. Peak memory is CUDA allocated memory on GPU, "
            "process peak RSS on CPU (mostly libraries for tiny models; the next column is the rise above the "
            "memory in use before the measured steps). The GPU figure at 1024² with the real models "
            "(anchor: FLUX LoRA ~1.7 s/step on H100 in FP8) has not been measured here (no GPU).",
        ]
    )
    print(section)
    if not args.no_write:
        write_section(
            "bench_lora_step: generative LoRA / ControlNet step, latent + text caching on vs off", section
        )


if __name__ == "__main__":
    main()
