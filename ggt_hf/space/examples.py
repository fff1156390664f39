"""The Space's built-in example photos (one degraded photo per category) and its built-in arena set.

The examples ship in ``ggt_hf/sample_data/examples/`` with a ``LICENSE.md`` that says, for each file,
which real photo it came from, its licence and exactly how it was degraded. They are synthetic
degradations of real photos (:func:`ggt_hf.degrade.degrade`, seeded) because no photo with a real
degradation of each category and a free licence is available offline; ``general`` starts from a
photo with real camera-motion blur. :func:`make_examples` regenerates them (the files in the
package were written by it: ``python -m ggt_hf.space.examples``).

The built-in arena (:func:`builtin_arena`) is the bundled restorer's outputs on those examples — the
offline ``classical`` baseline with all its steps and without its ``denoise`` step (the only other
offline restorers, the registry architectures, have no trained weights in the package) — written
once into a cache folder; the degraded photo is the arena's input (the reference shown beside the
pair), never a competing system.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ggt_hf.backends.classical import STEP_ORDER

logger = logging.getLogger(__name__)

#: Longest side and JPEG quality of a shipped example (each file stays well under 150 KB).
MAX_SIDE = 640
JPEG_QUALITY = 88
EXAMPLES_FOLDER = "examples"


@dataclass(frozen=True)
class Example:
    """One shipped example: its file, category, the real photo it came from and the degradation seed."""

    file: str
    category: str
    source: str  # scikit-image data file
    credit: str
    licence: str
    seed: int


#: The examples in the order the Space lists them (the first is what a visitor clicks first).
EXAMPLES: tuple[Example, ...] = (
    Example(
        "low_light_coffee.jpg",
        "low_light",
        "coffee.png",
        "Rachel Michetti, courtesy of Pikolo Espresso Bar",
        "CC0-1.0",
        11,
    ),
    Example("haze_astronaut.jpg", "haze", "astronaut.png", "NASA", "public domain", 12),
    Example("rain_rocket.jpg", "rain", "rocket.jpg", "SpaceX", "public domain", 13),
    Example("snow_chelsea.jpg", "snow", "chelsea.png", "Stefan van der Walt", "CC0-1.0", 14),
    Example("old_photo_camera.jpg", "old_photo", "camera.png", "Lav Varshney", "CC0-1.0", 15),
    Example(
        "general_clock_motion.jpg",
        "general",
        "clock_motion.png",
        "Stefan van der Walt (real camera-motion blur)",
        "public domain",
        16,
    ),
)

#: Arena systems built from the bundled baseline: name → the ``classical`` steps it may run.
ARENA_SYSTEMS: dict[str, tuple[str, ...]] = {
    "classical": STEP_ORDER,
    "classical-no-denoise": tuple(s for s in STEP_ORDER if s != "denoise"),
}


def examples_dir() -> Path:
    """The folder of the shipped example photos (inside the installed package)."""
    from ggt_hf.pipeline.demo import sample_dir

    return sample_dir() / EXAMPLES_FOLDER


def example_paths() -> list[str]:
    """The shipped example photos, in :data:`EXAMPLES` order (those present)."""
    folder = examples_dir()
    return [str(folder / e.file) for e in EXAMPLES if (folder / e.file).is_file()]


def _skimage_photo(name: str) -> np.ndarray:
    import skimage

    path = Path(skimage.__file__).parent / "data" / name
    with Image.open(path) as img:
        image = img.convert("RGB")
    if max(image.size) > MAX_SIDE:
        scale = MAX_SIDE / max(image.size)
        image = image.resize(
            (round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS
        )
    return np.asarray(image)


def _licence_text(examples: tuple[Example, ...]) -> str:
    rows = "\n".join(
        f"| {e.file} | {e.category} | scikit-image `skimage/data/{e.source}` | {e.credit} | {e.licence} | "
        f"`ggt_hf.degrade.degrade(photo, {e.category!r}, seed={e.seed})` |"
        for e in examples
    )
    return (
        "# Example photos of the Space\n\n"
        "Each file is a real photograph bundled with scikit-image, resized to at most "
        f"{MAX_SIDE} px on the longer side (LANCZOS), converted to RGB, degraded with ggt-hf's seeded "
        f"synthetic degradation of its category and saved as JPEG (quality {JPEG_QUALITY}). They are "
        "**synthetic** degradations of real photos, not photos with a real degradation: no freely "
        "licensed, really degraded photo of each category is available offline where these were made. "
        "The exception in part is `general_clock_motion.jpg`, whose source photo has real camera-motion "
        "blur (greyscale) before the synthetic Real-ESRGAN-style degradation is added. Regenerate "
        "them with `python -m ggt_hf.space.examples`.\n\n"
        "| file | category | source photo | author / origin | licence | degradation |\n"
        "|---|---|---|---|---|---|\n" + rows + "\n"
    )


def make_examples(out: str | os.PathLike | None = None) -> list[Path]:
    """Write the degraded example photos and their ``LICENSE.md`` into ``out`` (default: the
    package's examples folder); returns the photo paths."""
    from ggt_hf.degrade import degrade

    folder = Path(out) if out is not None else examples_dir()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for example in EXAMPLES:
        degraded = degrade(_skimage_photo(example.source), example.category, seed=example.seed)
        path = folder / example.file
        Image.fromarray(degraded.image).save(path, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        written.append(path)
    (folder / "LICENSE.md").write_text(_licence_text(EXAMPLES), encoding="utf-8")
    return written


def _arena_key(paths: list[str]) -> str:
    digest = hashlib.sha256(repr(sorted(ARENA_SYSTEMS.items())).encode())
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


def builtin_arena(cache: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """(outputs folder, LQ folder) of the built-in arena: ``<outputs>/<system>/<id>.png`` for each
    of :data:`ARENA_SYSTEMS` on each example, the examples themselves as ``<lq>/<id>.jpg``. Built
    once per example set into ``cache`` (default ``~/.cache/ggt-hf/space-arena``); safe to call
    from several processes (the folder appears atomically)."""
    from ggt_hf.backends.base import RestoreRequest
    from ggt_hf.backends.classical import ClassicalBackend

    paths = example_paths()
    root = Path(cache) if cache is not None else Path.home() / ".cache" / "ggt-hf" / "space-arena"
    final = root / _arena_key(paths)
    if (final / "outputs").is_dir():
        return final / "outputs", final / "lq"
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    backends = {name: ClassicalBackend(steps=steps) for name, steps in ARENA_SYSTEMS.items()}
    for path in map(Path, paths):
        image_id = path.stem
        (staging / "lq").mkdir(exist_ok=True)
        shutil.copyfile(path, staging / "lq" / path.name)
        with Image.open(path) as img:
            lq = img.convert("RGB")
        for system, backend in backends.items():
            out = backend.restore(RestoreRequest(lq, item_id=image_id)).image
            (staging / "outputs" / system).mkdir(parents=True, exist_ok=True)
            out.convert("RGB").save(staging / "outputs" / system / f"{image_id}.png", compress_level=1)
    try:
        staging.rename(final)
    except OSError:  # another process won the race: use its copy
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("built-in arena: %d examples × %d systems in %s", len(paths), len(ARENA_SYSTEMS), final)
    return final / "outputs", final / "lq"


if __name__ == "__main__":  # regenerate the shipped examples
    logging.basicConfig(level=logging.INFO)
    for written in make_examples():
        logger.info("%s: %d bytes", written, written.stat().st_size)
