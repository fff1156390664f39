"""Restore an image, or every image under a folder (recursively), with a restorer: a registry name
(random weights, for smoke tests), a ``save_pretrained`` folder, a Hub repo id (safetensors only),
or ``classical[:category]``, the offline classical baseline (no weights needed).

Model restorers run tiled (``--tile``/``--overlap``), so large images fit in bounded memory on CPU
or CUDA. Outputs are lossless PNGs mirroring the input names; existing outputs made by the same
restorer are skipped unless ``--overwrite`` (re-running resumes). The output folder records which
restorer made each output (``.ggt_restore.jsonl``): outputs of another model are refused up front
unless ``--overwrite``. Input and output never overlap (``ggt restore in in``, ``ggt restore in .``,
``ggt restore a.png a.png`` are refused before any work). A packed dataset folder (``ggt pack``) as
input restores the LQ images of its ``--split`` (default ``test``) into ``<category>/<id>.png``, the
names ``ggt eval --dataset`` matches. Unreadable files are reported item by item
and the rest go on; exit 1 if any failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

if TYPE_CHECKING:
    from ggt_hf.restore.spec import RestorerOptions

HELP = "restore an image or a folder of images with a restorer (tiled)"

logger = logging.getLogger(__name__)

#: ``restore(image, item_id=...)``: :meth:`ggt_hf.restore.restorer.Restorer.restore`.
RestoreFn = Callable[..., Image.Image]


def add_arguments(parser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        help="a restorer name (grammar in ggt_hf.restore.spec): registry name, save_pretrained folder, "
        "Hub repo id, classical[:category] (offline baseline), BACKEND[:MODEL_ID] (gemini, openai, ...), "
        "or diffusers:<base model>[+<LoRA repo>][+controlnet=<repo>] (a generative restorer)",
    )
    parser.add_argument(
        "--controlnet", help="diffusers: a FLUX ControlNet repo/folder (the LQ is the control)"
    )
    parser.add_argument(
        "--prompt",
        help="diffusers and API backends (gemini, openai, ...): the restoration prompt (default: the GGT fixed prompt)",
    )
    parser.add_argument("--steps", type=int, default=28, help="diffusers: inference steps")
    parser.add_argument("--seed", type=int, default=0, help="diffusers and API backends: the seed")
    parser.add_argument(
        "input",
        help="an image file, a folder (searched recursively), or a packed dataset folder (`ggt pack`): the "
        "LQ images of its --split, written as OUTPUT/<category>/<id>.png, what `ggt eval --dataset` expects",
    )
    parser.add_argument("output", help="output folder (or a .png path when the input is one file)")
    parser.add_argument("--tile", type=int, default=512, help="tile side in pixels; 0 = whole image at once")
    parser.add_argument("--overlap", type=int, default=32, help="overlap of adjacent tiles in pixels")
    parser.add_argument("--revision", help="a Hub model repo's branch, tag or commit (default: main)")
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
    parser.add_argument("--split", default="test", help="packed dataset input: the split to restore")


def plan_outputs(src: Path, dst: Path) -> tuple[list[tuple[Path, Path]], list[Exception]]:
    """``(input, output)`` pairs for a file or a folder, and the inputs refused up front.

    Folders are searched recursively for image extensions (hidden entries and anything already under
    ``dst`` are skipped; symlink loops, links leaving ``src`` and non-UTF-8 names are refused, each
    named, by :func:`ggt_hf.files.walk.walk_files`); outputs keep the relative path with a ``.png`` suffix. Two inputs that would
    write the same output (``a.jpg`` and ``a.png``) are refused, not overwritten.
    """
    from ggt_hf.constants import IMAGE_EXTENSIONS
    from ggt_hf.errors import GGTError
    from ggt_hf.files.walk import walk_files

    if src.is_file():
        out = dst if dst.suffix.lower() == ".png" else dst / f"{src.stem}.png"
        return [(src, out)], []
    if not src.is_dir():
        raise FileNotFoundError(f"no such file or folder: {src}")
    dst_resolved = dst.resolve()
    pairs: dict[Path, Path] = {}
    problems: list[Exception] = []
    walk = walk_files(src, extensions=IMAGE_EXTENSIONS)  # a link loop or a bad name: refused, named
    problems += walk.problems
    for path in sorted(walk.files):
        rel = path.relative_to(src)
        if path.resolve().is_relative_to(dst_resolved):
            continue
        out = dst / rel.with_suffix(".png")
        if out in pairs:
            problems.append(
                GGTError(path, f"its output {out} is also the output of {pairs[out]}; rename one")
            )
            continue
        pairs[out] = path
    return [(s, o) for o, s in pairs.items()], problems


@dataclass(frozen=True)
class PackedInput:
    """The LQ image of row ``index`` of a packed split (an input of :func:`restore_files`)."""

    reference: Any  # ggt_hf.evaluation.references.PackedReference
    index: int

    def __str__(self) -> str:
        return f"{self.reference.name}#{self.reference.ids[self.index]}"

    def load(self) -> Image.Image:
        from ggt_hf.imaging.images import decode_image

        item = self.reference.item(self.index)
        return decode_image(item.lq, str(self)).image


def is_packed_folder(src: Path) -> bool:
    """True for a local ``ggt pack`` folder (parquet shards under it)."""
    return src.is_dir() and any(src.rglob("*.parquet"))


def plan_packed(src: Path, dst: Path, split: str) -> list[tuple[PackedInput, Path]]:
    """``(input, output)`` pairs for every LQ image of ``split``: ``dst/<category>/<id>.png``, the
    names ``ggt eval --dataset SRC --split SPLIT`` matches predictions by (packed ids are unique)."""
    from ggt_hf.constants import CATEGORIES, Col
    from ggt_hf.evaluation.references import PackedReference

    reference = PackedReference(str(src), split, None)
    categories = reference.ds[Col.CATEGORY]
    return [
        (PackedInput(reference, index), dst / CATEGORIES[categories[index]] / f"{image_id}.png")
        for index, image_id in enumerate(reference.ids)
    ]


def _load_input(src: Path | PackedInput) -> Image.Image:
    from ggt_hf.imaging.images import load_image

    return src.load() if isinstance(src, PackedInput) else load_image(src).image


def refuse_overlap(src: Path, dst: Path) -> None:
    """Refuse, before any work, an output that is or overlaps its input: a file restored onto
    itself, an output folder that is, is inside or contains the input folder (symlinks resolved).
    The error never offers ``--overwrite``: a source is never replaced.

    Raises:
        OutputFolderError: naming both paths.
    """
    from ggt_hf.files.output_folders import check_no_overlap, overlap

    if src.is_file():
        out = dst if dst.suffix.lower() == ".png" else dst / f"{src.stem}.png"
        if overlap(out, src) == "is":
            check_no_overlap(src, out, what="output file")
    elif src.is_dir():
        check_no_overlap(src, dst, what="output folder")


def restore_files(
    pairs: list[tuple[Path | PackedInput, Path]],
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
    from ggt_hf.files.io_utils import atomic_write_bytes
    from ggt_hf.imaging.images import encode_image

    restored = skipped = 0
    problems: list[Exception] = []
    for src, out in tqdm(pairs, desc="restore", unit="img"):
        if out.exists() and not overwrite:
            skipped += 1
            continue
        try:
            image = _load_input(src)
            result = restore(image, item_id=str(src))  # a backend's error names the file
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


def restorer_options(args) -> RestorerOptions:
    """The restorer options the command line gives (``--prompt``, ``--seed``, ``--tile``, ...)."""
    from ggt_hf.prompt_texts import template
    from ggt_hf.restore.spec import RestorerOptions

    return RestorerOptions(
        device=args.device,
        tile=args.tile or None,
        overlap=args.overlap,
        dtype=args.dtype,
        revision=args.revision,
        steps=args.steps,
        seed=args.seed,
        default_prompt=args.prompt or template("fixed"),
        backend_kwargs={"controlnet": args.controlnet} if args.controlnet else {},
    )


def _check_provenance(args, dst: Path, pairs: list[tuple[Path, Path]], identity: str):
    """The output folder's provenance; refuses (before any model is loaded) existing outputs that
    another restorer (or the same one with other options: ``identity``) made, unless
    ``--overwrite``, and always files with no provenance record (the user's, not ggt's)."""
    from ggt_hf.errors import UsageError
    from ggt_hf.restore.provenance import UNRECORDED, RestoreProvenance

    provenance = RestoreProvenance(dst.parent if dst.suffix.lower() == ".png" else dst)
    other = provenance.mismatches([out for _, out in pairs], identity)
    unrecorded = [out for out, maker in other.items() if maker == UNRECORDED]
    if unrecorded:  # not ggt's: never overwritten, whatever the options
        listed = ", ".join(p.name for p in unrecorded[:5]) + (
            f" and {len(unrecorded) - 5} more" if len(unrecorded) > 5 else ""
        )
        raise UsageError(
            dst,
            f"{len(unrecorded)} existing file(s) where outputs would go were not written by ggt restore "
            f"(no record: {listed}); ggt never replaces files it did not write: choose a new or empty "
            "output folder (nothing was changed)",
        )
    if other and not args.overwrite:
        first, maker = next(iter(other.items()))
        raise UsageError(
            dst,
            f"{len(other)} existing output(s) were made by another restorer (e.g. {first.name} by "
            f"{maker}), not {identity}; pass --overwrite to redo them, or choose another output folder",
        )
    return provenance


def run(args) -> int:
    from ggt_hf.commands._common import print_problems, write_problems
    from ggt_hf.restore.factory import make_restorer
    from ggt_hf.restore.identity import restorer_identity
    from ggt_hf.restore.spec import parse_restorer

    src, dst = Path(args.input), Path(args.output)
    refuse_overlap(src, dst)  # before anything is read, loaded or written
    if is_packed_folder(src):
        pairs, problems = plan_packed(src, dst, args.split), []
    else:
        pairs, problems = plan_outputs(src, dst)
    if not pairs and not problems:  # nothing to restore: say so (exit 2), not "restored 0" (exit 0)
        from ggt_hf.errors import UsageError

        raise UsageError(src, "no images to restore here")
    spec = parse_restorer(args.model)  # cheap: a bad name (e.g. an unknown category) fails first
    from ggt_hf.runtime.network import require_apis, require_hub_repos

    require_hub_repos([*spec.model_sources(), args.controlnet], "ggt restore")  # one probe, not retries
    options = restorer_options(args)
    require_apis(spec.api_endpoints(options.backend_kwargs))  # a hosted API: its host, before any call
    identity = restorer_identity(spec, options)  # what the Restorer will be, known before it is loaded
    provenance = _check_provenance(args, dst, pairs, identity)  # before any model is loaded
    restorer = make_restorer(spec, options)
    restored, skipped, failed = restore_files(
        pairs,
        restorer.restore,
        overwrite=args.overwrite,
        on_written=lambda out: provenance.record(out, restorer.identity),
    )
    problems += failed
    print(f"restored {restored}, skipped {skipped} existing, failed {len(problems)} → {dst}")
    write_problems(args.report, problems)
    return 1 if print_problems(problems, "failed") else 0
