"""Apply seeded, replayable synthetic degradations (Real-ESRGAN second order for `general`,
physical models for rain, haze, snow, low_light, old_photo) to every image under SRC. Writes
OUT/<name>.png and OUT/<name>.json (the exact parameters drawn, replayable with
ggt_hf.degrade.replay). Existing outputs are kept, so re-running resumes."""

from __future__ import annotations

HELP = "synthetically degrade clean images, with the parameters recorded"


def add_arguments(parser) -> None:
    parser.add_argument("src", help="an image or a folder of images")
    parser.add_argument("out", help="output folder")
    parser.add_argument(
        "--category", required=True, help="general, rain, haze, snow, low_light, old_photo (or 'all')"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="base seed (per-image seeds derive from it and the name)"
    )


def claim_degrade_folder(src, out) -> None:
    """Refuse, before any work, an ``out`` overlapping ``src`` or holding files that are not ggt's
    (a folder of earlier ``<name>.png`` + ``<name>.json`` outputs is ggt's)."""
    from ggt_hf.files.output_folders import check_no_overlap, claim_output_folder

    def earlier_outputs(folder) -> bool:
        names = [p.name for p in folder.iterdir() if not p.name.startswith(".")]
        stems = {n.rsplit(".", 1)[0] for n in names}
        return bool(names) and set(names) == {f"{s}.{e}" for s in stems for e in ("png", "json")}

    check_no_overlap(src, out)
    claim_output_folder(out, "degraded", recognise=earlier_outputs, command="ggt degrade")


def run(args) -> int:
    import json
    import sys
    from pathlib import Path

    import numpy as np
    from tqdm.auto import tqdm

    from ggt_hf.constants import CATEGORIES, IMAGE_EXTENSIONS, parse_category
    from ggt_hf.degrade import degrade
    from ggt_hf.degrade.synthetic_pairs import pair_seed
    from ggt_hf.errors import GGTError, UsageError, path_text, printable
    from ggt_hf.files.io_utils import atomic_write_bytes, atomic_write_text
    from ggt_hf.files.walk import walk_files
    from ggt_hf.imaging.images import encode_image, from_array, load_image

    src, out = Path(args.src), Path(args.out)
    if not src.exists():
        raise UsageError(src, "no such image or folder")
    walk = walk_files(src, extensions=IMAGE_EXTENSIONS) if src.is_dir() else None
    files = sorted(walk.files) if walk else [src]
    for problem in walk.problems if walk else []:  # a link loop, a link out, a bad name: named, skipped
        print(f"skipped {problem}", file=sys.stderr)
    if not files:
        raise UsageError(src, f"no images in this folder ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    categories = list(CATEGORIES) if args.category == "all" else [parse_category(args.category)]
    claim_degrade_folder(src, out)
    done, failed = 0, len(walk.problems) if walk else 0
    for path in tqdm(files, desc="degrade", unit="img"):
        for category in categories:
            name = f"{path.stem}_{category}" if len(categories) > 1 else path.stem
            if (out / f"{name}.png").exists() and (out / f"{name}.json").exists():
                continue
            try:
                image = np.asarray(load_image(path).image)
            except GGTError as exc:
                print(f"skipped {exc}", file=sys.stderr)
                failed += 1
                break
            try:
                # path_text: a non-UTF-8 name (given as the one file) seeds from its escaped form
                result = degrade(image, category, seed=pair_seed(args.seed, path_text(name)))
            except ValueError as exc:  # e.g. an image too small for the degradation model
                print(f"skipped {printable(path)}: {exc}", file=sys.stderr)
                failed += 1
                break
            atomic_write_text(out / f"{name}.json", json.dumps(result.params, sort_keys=True))
            atomic_write_bytes(out / f"{name}.png", encode_image(from_array(result.image)))
            done += 1
    print(f"degrade: {done} written, {failed} skipped, into {out}")
    return 1 if failed else 0
