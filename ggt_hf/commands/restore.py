"""Restore an image, or every image under a folder (recursively), with a restorer: a registry name
(random weights, for smoke tests), a ``save_pretrained`` folder, a Hub repo id (safetensors only),
or ``classical[:category]``, the offline classical baseline (no weights needed).

Model restorers run tiled (``--tile``/``--overlap``), so large images fit in bounded memory on CPU
or CUDA. Outputs are lossless PNGs mirroring the input names; existing outputs made by the same
restorer are skipped unless ``--overwrite`` (re-running resumes). The output folder records which
restorer made each output (``.ggt_restore.jsonl``): outputs of another model are refused up front
unless ``--overwrite``. Unreadable files are reported item by item and the rest go on; exit 1 if any
failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PIL import Image

HELP = "restore an image or a folder of images with a restorer (tiled)"

logger = logging.getLogger(__name__)

RestoreFn = Callable[[Image.Image], Image.Image]


def add_arguments(parser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        help="registry name, save_pretrained folder, Hub repo id, classical[:category] (offline baseline), "
        "or diffusers:<base model>[+<LoRA repo>][+controlnet=<repo>] (a generative restorer)",
    )
    parser.add_argument(
        "--controlnet", help="diffusers: a FLUX ControlNet repo/folder (the LQ is the control)"
    )
    parser.add_argument("--prompt", help="diffusers: the restoration prompt (default: the GGT fixed prompt)")
    parser.add_argument("--steps", type=int, default=28, help="diffusers: inference steps")
    parser.add_argument("--seed", type=int, default=0, help="diffusers: generator seed")
    parser.add_argument("input", help="an image file or a folder (searched recursively)")
    parser.add_argument("output", help="output folder (or a .png path when the input is one file)")
    parser.add_argument("--tile", type=int, default=512, help="tile side in pixels; 0 = whole image at once")
    parser.add_argument("--overlap", type=int, default=32, help="overlap of adjacent tiles in pixels")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: auto)")
    parser.add_argument(
        "--dtype",
        choices=("float32", "bfloat16", "float16"),
        help="autocast dtype on CUDA (default: float32)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="redo outputs that already exist (needed when they were made by another restorer)",
    )
    parser.add_argument("--report", help="write failures as item<TAB>reason lines to this file")


def plan_outputs(src: Path, dst: Path) -> tuple[list[tuple[Path, Path]], list[Exception]]:
    """``(input, output)`` pairs for a file or a folder, and the inputs refused up front.

    Folders are searched recursively for image extensions (hidden entries and anything already under
    ``dst`` are skipped); outputs keep the relative path with a ``.png`` suffix. Two inputs that would
    write the same output (``a.jpg`` and ``a.png``) are refused, not overwritten.
    """
    from ggt_hf.constants import IMAGE_EXTENSIONS
    from ggt_hf.errors import GGTError

    if src.is_file():
        out = dst if dst.suffix.lower() == ".png" else dst / f"{src.stem}.png"
        return [(src, out)], []
    if not src.is_dir():
        raise FileNotFoundError(f"no such file or folder: {src}")
    dst_resolved = dst.resolve()
    pairs: dict[Path, Path] = {}
    problems: list[Exception] = []
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if path.suffix.lower() not in IMAGE_EXTENSIONS or path.is_dir():
            continue
        if any(part.startswith(".") for part in rel.parts) or path.resolve().is_relative_to(dst_resolved):
            continue
        out = dst / rel.with_suffix(".png")
        if out in pairs:
            problems.append(
                GGTError(path, f"its output {out} is also the output of {pairs[out]}; rename one")
            )
            continue
        pairs[out] = path
    return [(s, o) for o, s in pairs.items()], problems


def classical_restorer(spec: str) -> RestoreFn:
    """The offline classical baseline; ``classical:<category>`` forces that category's steps by
    passing its :data:`~ggt_hf.backends.classical.CATEGORY_PROMPTS` entry as the prompt."""
    from ggt_hf.backends import create_backend
    from ggt_hf.backends.base import RestoreRequest
    from ggt_hf.backends.classical import CATEGORY_PROMPTS
    from ggt_hf.constants import parse_category

    _, _, category = spec.partition(":")
    prompt = CATEGORY_PROMPTS[parse_category(category)] if category else None
    backend = create_backend("classical")
    return lambda image: backend.restore(RestoreRequest(image, prompt=prompt)).image


def diffusers_restorer(spec: str, args) -> RestoreFn:
    """A generative restorer: ``diffusers:<base>[+<lora>]`` with an optional ``--controlnet``, run by
    the synthesis pipeline's diffusers backend (the same code the Space and ``ggt build`` use)."""
    from ggt_hf.backends import create_backend
    from ggt_hf.backends.base import RestoreRequest
    from ggt_hf.backends.diffusers_backend import parse_pipeline_spec
    from ggt_hf.prompting import template

    parts = parse_pipeline_spec(spec)
    parts["controlnet"] = args.controlnet or parts["controlnet"]
    backend = create_backend("diffusers", **parts, device=args.device, num_inference_steps=args.steps)
    prompt = args.prompt or template("fixed")
    return lambda image: backend.restore(RestoreRequest(image, prompt=prompt, seed=args.seed)).image


def model_restorer(
    spec: str, tile: int | None, overlap: int, device: str | None, dtype: str | None
) -> RestoreFn:
    """A registry restorer (Hub repo, local folder or registry name) run by tiled inference."""
    from ggt_hf.restorers import RESTORERS, load_restorer
    from ggt_hf.restorers.tiling import restore_image

    model = load_restorer(spec, device=device)
    if spec.strip().lower().replace("-", "_") in RESTORERS and not Path(spec).is_dir():
        logger.warning("%s: registry name without weights, the model is randomly initialised", spec)
    logger.info("restorer %s: %s, %d parameters", spec, type(model).__name__, model.num_parameters())
    return lambda image: restore_image(model, image, tile=tile, overlap=overlap, device=device, dtype=dtype)


def restore_files(
    pairs: list[tuple[Path, Path]],
    restore: RestoreFn,
    overwrite: bool = False,
    on_written: Callable[[Path], None] | None = None,
) -> tuple[int, int, list[Exception]]:
    """Restore every ``(input, output)`` pair; returns ``(restored, skipped, problems)``.

    ``on_written(output)`` is called after each output is written (the provenance record).

    Bad inputs (undecodable, too large, out of memory) become problems naming the file; outputs are
    written atomically as PNG, so an interrupted run leaves no partial file and re-running resumes.
    """
    import torch
    from tqdm.auto import tqdm

    from ggt_hf.errors import GGTError
    from ggt_hf.images import encode_image, load_image
    from ggt_hf.io_utils import atomic_write_bytes

    restored = skipped = 0
    problems: list[Exception] = []
    for src, out in tqdm(pairs, desc="restore", unit="img"):
        if out.exists() and not overwrite:
            skipped += 1
            continue
        try:
            image = load_image(src).image
            result = restore(image)
            out.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(out, encode_image(result.convert("RGB"), "png"))
            if on_written is not None:
                on_written(out)
        except GGTError as exc:
            problems.append(exc)
            continue
        except torch.OutOfMemoryError as exc:
            problems.append(GGTError(src, f"out of memory ({exc}); try a smaller --tile"))
            continue
        restored += 1
    return restored, skipped, problems


def _check_provenance(args, dst: Path, pairs: list[tuple[Path, Path]]):
    """The output folder's provenance and this run's restorer identity; refuses (before any model
    is loaded) existing outputs that another restorer made, unless ``--overwrite``."""
    from ggt_hf.errors import UsageError
    from ggt_hf.restore_provenance import RestoreProvenance, restorer_identity

    diffusers = args.model.startswith("diffusers:")
    identity = restorer_identity(
        args.model,
        controlnet=args.controlnet if diffusers else None,
        prompt=args.prompt if diffusers else None,
        steps=args.steps if diffusers else None,
        seed=args.seed if diffusers else None,
    )
    provenance = RestoreProvenance(dst.parent if dst.suffix.lower() == ".png" else dst)
    if not args.overwrite:
        other = provenance.mismatches([out for _, out in pairs], identity)
        if other:
            first, maker = next(iter(other.items()))
            raise UsageError(
                dst,
                f"{len(other)} existing output(s) were made by another restorer (e.g. {first.name} by "
                f"{maker}), not {identity}; pass --overwrite to redo them, or choose another output folder",
            )
    return provenance, identity


def run(args) -> int:
    from ggt_hf.commands._common import print_problems, write_problems

    src, dst = Path(args.input), Path(args.output)
    pairs, problems = plan_outputs(src, dst)
    classical = args.model == "classical" or args.model.startswith("classical:")
    restore = classical_restorer(args.model) if classical else None  # cheap: checks the category
    provenance, identity = _check_provenance(args, dst, pairs)  # before any model is loaded
    if restore is None and args.model.startswith("diffusers:"):
        restore = diffusers_restorer(args.model, args)
    elif restore is None:
        restore = model_restorer(args.model, args.tile or None, args.overlap, args.device, args.dtype)
    restored, skipped, failed = restore_files(
        pairs, restore, overwrite=args.overwrite, on_written=lambda out: provenance.record(out, identity)
    )
    problems += failed
    print(f"restored {restored}, skipped {skipped} existing, failed {len(problems)} → {dst}")
    write_problems(args.report, problems)
    return 1 if print_problems(problems, "failed") else 0
