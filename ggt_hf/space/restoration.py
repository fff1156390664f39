"""The Restore tab's engine, without Gradio: which restorers are offered, running one, NR deltas.

Restorer choices (:meth:`RestoreService.choices`), first the default:

* ``classical`` — the offline baseline (:class:`~ggt_hf.backends.classical.ClassicalBackend`, not an
  MFM): runs the steps its degradation analysis calls for. ``classical:<category>`` also forces the
  category's steps through the backend's prompt words (:data:`CATEGORY_PROMPTS`).
* ``model:<label>`` — a registry restorer whose weights are configured (``SpaceConfig.models``:
  Hub repo or ``save_pretrained`` folder; safetensors only), run tiled when the image exceeds
  ``SpaceConfig.tile``.
* ``gemini`` / ``openai`` / ``hf-inference`` — API backends, offered only when their key is set.
* ``diffusers:<model_id>[+<lora>][+controlnet=<repo>]`` — local diffusers pipelines (with a LoRA or
  a ControlNet) when configured.

Every choice is built, once, by the restore layer (:func:`ggt_hf.restore.factory.make_restorer`,
the same as ``ggt restore``) with the Space's device, tiling and the GGT fixed prompt.

Uploads longer than ``SpaceConfig.max_side`` are resized (LANCZOS) before restoring, with a notice;
uploads shorter than :data:`MIN_SIDE` on a side are refused with that reason. The PNGs handed to
Gradio (which copies them into its own cache, itself cleaned by ``delete_cache``) are removed from
the service's folder :data:`KEEP_SECONDS` later, and the folder when the service goes away.
The NR metric deltas use the configured NR metrics that can be created on this machine (the paper's
learned NR metrics need downloaded weights; offline only the weight-free PIQE remains) and say which
were skipped and why.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ggt_hf.backends.classical import CATEGORY_PROMPTS
from ggt_hf.constants import CATEGORIES
from ggt_hf.errors import BadImageError, GGTError
from ggt_hf.imaging.images import load_image
from ggt_hf.restore.factory import make_restorer
from ggt_hf.restore.restorer import Restorer
from ggt_hf.restore.spec import API_KEYS, RestorerOptions, parse_restorer
from ggt_hf.space.config import SpaceConfig

logger = logging.getLogger(__name__)

DEFAULT_RESTORER = "classical"
#: Smallest side (px) of an image the Space restores (the analysis needs some neighbourhood).
MIN_SIDE = 16
#: Seconds a written PNG stays in the service's folder (Gradio has copied it long before).
KEEP_SECONDS = 300.0
#: API backends and the environment variables that enable them (any one of them).
API_BACKEND_KEYS = API_KEYS  # one table of which variable enables which API (ggt_hf.restore.spec)

#: Column headers of the metric deltas table.
DELTA_HEADERS = ["metric", "better", "input", "output", "delta", "improved"]


class RestoreError(GGTError):
    """A restore request that cannot be served (unknown restorer, backend failure, ...)."""


@dataclass
class RestoreOutcome:
    """One restoration: both images (same size), what happened, and the metric deltas."""

    restorer: str
    input: Image.Image
    output: Image.Image
    notices: list[str] = field(default_factory=list)
    deltas: list[list[Any]] = field(default_factory=list)
    metrics_note: str = ""
    seconds: float = 0.0


def api_backends_with_keys(environ: dict[str, str] | None = None) -> list[str]:
    """API backends whose key is present in the environment."""
    env = os.environ if environ is None else environ
    return [name for name, keys in API_BACKEND_KEYS.items() if any(env.get(k) for k in keys)]


class RestoreService:
    """Serves restorations for the Space; loaded models and the metric engine are cached."""

    def __init__(self, config: SpaceConfig, output_dir: str | os.PathLike | None = None) -> None:
        """``output_dir``: where the PNGs go (the Space's bounded temp folder); default a new
        ``ggt-space-*`` temp folder removed with this object."""
        self.config = config
        self._lock = threading.Lock()
        self._restorers: dict[str, Restorer] = {}
        self._engine: Any = None
        self._skipped: dict[str, str] = {}
        self._engine_lock = threading.Lock()
        self._warm = False
        self.keep_seconds = KEEP_SECONDS
        if output_dir is None:
            output_dir = tempfile.mkdtemp(prefix="ggt-space-")
            weakref.finalize(self, shutil.rmtree, output_dir, True)
        self.output_dir = Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)

    # -- choices ---------------------------------------------------------------------------------

    def choices(self) -> list[str]:
        """Every restorer this Space can run now, the default (``classical``) first."""
        out = [DEFAULT_RESTORER, *(f"classical:{c}" for c in CATEGORIES)]
        out += [f"model:{label}" for label in self.config.models]
        out += api_backends_with_keys()
        out += [f"diffusers:{spec}" for spec in self.config.pipelines]
        return out

    # -- running ---------------------------------------------------------------------------------

    def restore(self, path: str | os.PathLike, choice: str | None = None) -> RestoreOutcome:
        """Decode ``path`` safely, resize if too large, restore it with ``choice``, score both.

        Raises:
            BadImageError: the file is not a usable image (the reason says why).
            RestoreError: unknown restorer or a backend/model failure.
        """
        choice = (choice or DEFAULT_RESTORER).strip()
        try:  # one grammar with `ggt restore` and bench-mfm: a bad name says why
            parse_restorer(choice)
        except ValueError as exc:
            raise RestoreError(choice, str(exc)) from None
        if choice not in self.choices():
            raise RestoreError(choice, f"unknown restorer; available here: {', '.join(self.choices())}")
        start = time.perf_counter()
        decoded = load_image(path)
        image, notices = decoded.image, list(decoded.warnings)
        if min(image.size) < MIN_SIDE:
            raise BadImageError(
                str(path),
                f"the image is {image.size[0]}×{image.size[1]} px, too small to restore "
                f"(at least {MIN_SIDE} px on each side)",
            )
        image = self._fit(image, notices)
        try:
            output = self._run(choice, image, notices)
        except GGTError:
            raise
        except Exception as exc:  # a backend/model failure: report it, keep serving
            logger.exception("restorer %s failed", choice)
            raise RestoreError(choice, f"restoration failed: {type(exc).__name__}: {exc}") from exc
        if output.size == image.size and output.convert("RGB").tobytes() == image.tobytes():
            notices.append(f"{choice} left the photo unchanged (it found nothing to fix).")
        if output.size != image.size:
            notices.append(f"output {output.size[0]}×{output.size[1]} resized back to the input size")
            output = output.resize(image.size, Image.Resampling.LANCZOS)
        deltas, note = self.deltas(image, output)
        return RestoreOutcome(
            choice, image, output.convert("RGB"), notices, deltas, note, time.perf_counter() - start
        )

    def _fit(self, image: Image.Image, notices: list[str]) -> Image.Image:
        w, h = image.size
        limit = self.config.max_side
        if max(w, h) <= limit:
            return image
        scale = limit / max(w, h)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        notices.append(
            f"Large upload: resized from {w}×{h} to {size[0]}×{size[1]} (longest side limit {limit} px)."
        )
        return image.resize(size, Image.Resampling.LANCZOS)

    def _options(self) -> RestorerOptions:
        """How this Space runs restorers: its device and tiling, the GGT fixed prompt, no seed."""
        from ggt_hf.prompt_texts import template

        c = self.config
        return RestorerOptions(
            device=c.device,
            tile=c.tile or None,
            overlap=c.tile_overlap,
            seed=None,
            default_prompt=template("fixed"),
            models=dict(c.models),
        )

    def _restorer(self, choice: str) -> Restorer:
        """The restorer of ``choice``, built once by the restore layer and kept."""
        with self._lock:
            if choice not in self._restorers:
                self._restorers[choice] = make_restorer(choice, self._options())
            return self._restorers[choice]

    def _run(self, choice: str, image: Image.Image, notices: list[str]) -> Image.Image:
        restorer = self._restorer(choice)
        tile = restorer.tile
        if tile and max(image.size) > tile:
            notices.append(
                f"Processed in {tile}×{tile} tiles with {self.config.tile_overlap} px overlap "
                f"({image.size[0]}×{image.size[1]} is larger than one tile)."
            )
        return restorer.restore(image, item_id="upload")

    # -- metrics ---------------------------------------------------------------------------------

    def _configured_nr(self) -> tuple[list[Any], dict[str, str]]:
        from ggt_hf.metrics.specs import get_spec

        specs = [get_spec(m) for m in self.config.metrics]
        not_nr = {s.name: "not a no-reference metric" for s in specs if s.mode != "NR"}
        return [s for s in specs if s.mode == "NR"], not_nr

    def metric_engine(self) -> tuple[Any, dict[str, str]]:
        """The NR metric engine over the configured metrics that exist here, and the skipped ones
        with their reasons (built once, by :meth:`warm_up` or else by the first restore; learned
        metrics whose weights cannot be obtained are dropped)."""
        with self._engine_lock:
            if self._engine is None:
                from ggt_hf.metrics.engine import MetricEngine

                specs, not_nr = self._configured_nr()
                engine = MetricEngine(specs, device=self.config.device)
                self._skipped = {**not_nr, **engine.drop_unavailable()}
                self._engine = engine
            return self._engine, self._skipped

    def deltas(self, before: Image.Image, after: Image.Image) -> tuple[list[list[Any]], str]:
        """Rows of :data:`DELTA_HEADERS` (NR scores of input and output) and a note naming the
        metrics that were not computed."""
        from ggt_hf.imaging.tensors import to_tensor

        engine, skipped = self.metric_engine()
        rows: list[list[Any]] = []
        if engine.specs:
            batch = to_tensor([np.asarray(before), np.asarray(after)], device=engine.device)
            scores = engine.score_batch(batch)
            for spec in engine.specs:
                a, b = scores[spec.name]
                delta = b - a
                improved = delta < 0 if spec.lower_better else delta > 0
                rows.append([spec.title, spec.arrow, round(a, 4), round(b, 4), round(delta, 4), improved])
        notes = []
        if skipped:
            names = ", ".join(sorted(skipped))
            notes.append(f"Not computed here: {names} (weights not available on this machine, or not NR).")
        if not rows:
            notes.insert(0, "No NR metric could be computed.")
        return rows, " ".join(notes)

    @property
    def warm(self) -> bool:
        """Whether :meth:`warm_up` has run (the default path is loaded)."""
        return self._warm

    def warm_up(self) -> None:
        """Run the default path once, in this thread, on a small image: the classical restorer,
        the imports of torch and pyiqa (and what the learned metrics' weight checks import), the
        full NR engine built and run once. Idempotent.

        The Space calls it before its server accepts a request (the usual Space practice: load at
        start, not beside the visitors). These steps are seconds of imports that hold the GIL and
        cannot be paused; run in a background thread next to the first visitor's restore, they made
        it up to 3× slower than the library call (benchmarks/RESULTS.md, "Space"). A failure is
        logged and the server starts anyway: the first restore builds what is missing and reports
        its reason."""
        if self._warm:
            return
        start = time.perf_counter()
        try:
            pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
            image = Image.fromarray(pixels)
            self.deltas(image, self._run(DEFAULT_RESTORER, image, []))
        except Exception:  # reported again, with its reason, on the first restore
            logger.exception("warm-up failed; the first restore will load what is missing")
        self._warm = True
        logger.info(
            "warm-up done in %.1f s (restorer %s, NR metrics)", time.perf_counter() - start, DEFAULT_RESTORER
        )

    # -- files -----------------------------------------------------------------------------------

    def prune(self) -> int:
        """Remove written PNGs older than ``keep_seconds``; how many were removed."""
        cutoff = time.time() - self.keep_seconds
        removed = 0
        for old in self.output_dir.glob("*.png"):
            try:
                if old.stat().st_mtime <= cutoff:
                    old.unlink()
                    removed += 1
            except FileNotFoundError:  # another request pruned it first
                continue
        return removed

    def save_outcome(self, outcome: RestoreOutcome, stem: str) -> tuple[str, str]:
        """Write the input and output of ``outcome`` as PNGs (after pruning files older than
        ``keep_seconds``); their paths."""
        self.prune()
        return self.save_png(outcome.input, f"{stem}-input"), self.save_png(
            outcome.output, f"{stem}-restored"
        )

    def save_png(self, image: Image.Image, stem: str) -> str:
        """Write ``image`` losslessly as a PNG in the service's output folder; its path."""
        path = self.output_dir / f"{stem}-{uuid.uuid4().hex[:12]}.png"
        image.save(path, format="PNG", compress_level=1)
        return str(path)


__all__ = [
    "API_BACKEND_KEYS",
    "CATEGORY_PROMPTS",
    "DEFAULT_RESTORER",
    "DELTA_HEADERS",
    "KEEP_SECONDS",
    "MIN_SIDE",
    "BadImageError",
    "RestoreError",
    "RestoreOutcome",
    "RestoreService",
    "api_backends_with_keys",
]
