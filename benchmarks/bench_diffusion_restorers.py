"""Question: what does restoring one 1024² photo cost on CPU with DA-CLIP and FoundIR, next to NAFNet?

Each model runs ``ggt restore``'s path (``restore_image``: tiled, ``--tile``/``--overlap``) on the
same real photo normalised to 1024², default (released) configs with random weights (the cost does
not depend on the weights), in one process, one after the other. NAFNet is the peer (one forward
pass per tile). FoundIR runs its default 4 sampling steps. DA-CLIP's default is 100 IR-SDE steps;
to keep the run bounded it is measured at ``--daclip-steps`` (each step is one UNet pass per tile,
plus one DA-CLIP encoding per tile), and the per-step cost is reported so a 100-step figure can be
derived (shown separately, marked as derived).

    python benchmarks/bench_diffusion_restorers.py [--daclip-steps 2] [--tile 512] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_section

SECTION = "bench_diffusion_restorers: CPU restore time per image (DA-CLIP, FoundIR vs NAFNet)"


def photo_square(size: int):
    """The first bundled sample photo, centre-cropped square and resized to ``size``²."""
    from PIL import Image

    from ggt_hf.imaging.images import load_image
    from ggt_hf.pipeline.demo import sample_dir

    path = sorted(p for p in sample_dir().iterdir() if p.suffix in {".png", ".jpg"})[0]
    img = load_image(path).image
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    return img.crop((left, top, left + side, top + side)).resize(
        (size, size), Image.Resampling.BICUBIC
    ), path.name


def time_restore(model, image, tile: int, overlap: int) -> tuple[float, float]:
    """(wall s, process CPU s) of one ``restore_image`` call."""
    from ggt_hf.restorers.tiling import restore_image

    wall, cpu = time.perf_counter(), time.process_time()
    restore_image(model, image, tile=tile, overlap=overlap, device="cpu")
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--daclip-steps", type=int, default=2, help="IR-SDE steps measured (default config: 100)"
    )
    parser.add_argument("--size", type=int, default=1024, help="image side (the question is about 1024)")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only, do not update RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from ggt_hf.restorers import build_restorer
    from ggt_hf.restorers.tiling import feather_weights

    image, name = photo_square(args.size)
    tiles = len(feather_weights(args.size, args.tile, args.overlap)) ** 2
    runs = [
        ("nafnet", {}, "1 forward"),
        ("foundir", {}, "4 sampling steps (default)"),
        ("daclip", {"sde_steps": args.daclip_steps}, f"{args.daclip_steps} of 100 IR-SDE steps"),
    ]
    rows, results = [], {}
    for model_name, overrides, steps in runs:
        torch.manual_seed(0)
        model = build_restorer(model_name, **overrides).eval()
        time_restore(model, image.resize((64, 64)), 64, 0)  # warm-up: first-call kernel setup
        wall, cpu = time_restore(model, image, args.tile, args.overlap)
        results[model_name] = (wall, cpu)
        rows.append((model_name, steps, model.num_parameters(), wall, cpu))
        print(f"{model_name}: {wall:.1f} s wall, {cpu:.1f} s CPU ({steps})", flush=True)
        del model
    peer_wall, peer_cpu = results["nafnet"]
    table = [
        "| model | sampling | parameters | wall s / image | CPU s / image | vs NAFNet (wall, CPU) |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for model_name, steps, params, wall, cpu in rows:
        ratio = "peer" if model_name == "nafnet" else f"{wall / peer_wall:.1f}×, {cpu / peer_cpu:.1f}×"
        table.append(f"| {model_name} | {steps} | {params / 1e6:.2f} M | {wall:.1f} | {cpu:.1f} | {ratio} |")
    # DA-CLIP's cost is encoder + steps × UNet; one more short run separates the two
    torch.manual_seed(0)
    one = build_restorer("daclip", sde_steps=1).eval()
    time_restore(one, image.resize((64, 64)), 64, 0)
    wall_one, cpu_one = time_restore(one, image, args.tile, args.overlap)
    print(f"daclip 1 step: {wall_one:.1f} s wall, {cpu_one:.1f} s CPU", flush=True)
    extra_steps = max(args.daclip_steps - 1, 1)
    per_step = [(results["daclip"][i] - (wall_one, cpu_one)[i]) / extra_steps for i in (0, 1)]
    fixed = [(wall_one, cpu_one)[i] - per_step[i] for i in (0, 1)]
    derived = [fixed[i] + 100 * per_step[i] for i in (0, 1)]
    command = "python benchmarks/bench_diffusion_restorers.py" + "".join(
        f" {a}" for a in sys.argv[1:] if a != "--no-write"
    )
    section = "\n".join(
        [
            f"## {SECTION}",
            "",
            f"Command: `{command}` (from the repo root; photo {name} centre-cropped and resized to "
            f"{args.size}², after a 64² warm-up per model, `restore_image` with tile {args.tile}, overlap {args.overlap} = {tiles} tiles, "
            f"{args.threads} torch threads, default configs, random weights).",
            "",
            f"Machine: {machine(('torch',))}. Other jobs share this machine: wall times are noisy, "
            "and CPU seconds include the thread spin-waiting that contention causes.",
            "",
            f"Date: {time.strftime('%Y-%m-%d')}",
            "",
            *table,
            "",
            f"DA-CLIP per IR-SDE step (the {args.daclip_steps}-step run minus a 1-step run): "
            f"{per_step[0]:.1f} s wall, {per_step[1]:.1f} s CPU; fixed part (DA-CLIP encodings, tiling): "
            f"{fixed[0]:.1f} s wall, {fixed[1]:.1f} s CPU. **Derived, not measured:** the default 100 steps "
            f"≈ fixed + 100 × per step = {derived[0]:.0f} s wall ({derived[0] / peer_wall:.0f}× NAFNet), "
            f"{derived[1]:.0f} s CPU ({derived[1] / peer_cpu:.0f}× NAFNet).",
        ]
    )
    print(section)
    if not args.no_write:
        write_section(
            SECTION,
            section,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
