"""The metric engine: many metrics over many images, each image decoded once.

``MetricEngine(["psnr", "ssim", "niqe"]).score_pairs(items)`` decodes every prediction/reference
once (in worker threads), batches consecutive images of equal size, converts each batch to a
tensor once and runs every requested metric on it. Metrics come from ``pyiqa``; on CPU the
weight-free PSNR / SSIM are scored right in the decode threads from the decoded uint8 arrays
(:mod:`ggt_hf.metrics.fast_cv`, OpenCV), MS-SSIM through :mod:`ggt_hf.metrics.fast`; both are
re-implementations of pyiqa's numbers, held to 1e-4 of pyiqa by the tests, at a fraction of its cost.

Conventions: RGB in [0, 1]; ``y_channel`` overrides the Y/RGB choice of metrics that have one
(``None`` keeps pyiqa's defaults: PSNR on RGB, SSIM / MS-SSIM on Y); ``crop_border`` crops that many
pixels from every side before full-reference metrics; FR metrics need prediction and reference
of equal size and raise ``ValueError`` naming the item otherwise. The device is CUDA when present.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ggt_hf.errors import BadImageError, GGTError
from ggt_hf.imaging.images import decode_image, normalise_image, read_file_bytes
from ggt_hf.imaging.tensors import resolve_device, to_tensor
from ggt_hf.metrics.specs import MetricSpec, get_spec
from ggt_hf.metrics.weights import create_pyiqa_metric
from ggt_hf.runtime.parallel import bounded_map, progress_disabled

logger = logging.getLogger(__name__)

ImageLike = str | os.PathLike | bytes | Image.Image | np.ndarray
_Y_OPTION_IDS = {"psnr": False, "psnry": True, "ssim": True, "ssimc": False, "ms_ssim": True}
_FAST_FAMILY = {"psnr": "psnr", "psnry": "psnr", "ssim": "ssim", "ssimc": "ssim", "ms_ssim": "ms_ssim"}
#: pyiqa id -> :mod:`ggt_hf.metrics.fast_cv` function scoring one decoded uint8 pair (CPU).
_PAIR_FAMILY = {"psnr": "psnr_u8", "psnry": "psnr_u8", "ssim": "ssim_u8", "ssimc": "ssim_u8"}
#: pyiqa ids whose network scores one image per call: AFINE's ``forward`` squeezes and re-adds the
#: batch dimension (``dis.squeeze(0) … dis.unsqueeze(0)``), so a batch of N > 1 reaches CLIP as a 5-D
#: tensor and fails pyiqa's own size check. The engine hands them the batch image by image.
_ONE_IMAGE_PER_CALL = {"afine", "afine_nr", "afine_fr"}
_locks_lock = threading.Lock()
_model_locks: dict[int, threading.Lock] = {}  # models are cached for the process: ids stay valid


@dataclass
class PairItem:
    """One thing to score: a key, the prediction and (for FR metrics) its reference."""

    key: str
    pred: ImageLike
    ref: ImageLike | None = None


def load_rgb(image: ImageLike, item: object = "<image>") -> np.ndarray:
    """Decode any supported image-like to a ``uint8`` RGB HWC array (via :func:`decode_image`)."""
    return load_rgb_noting(image, item)[0]


def load_rgb_noting(image: ImageLike, item: object = "<image>") -> tuple[np.ndarray, list[str]]:
    """:func:`load_rgb` plus what the conversion to 8-bit RGB changed (empty when nothing did):
    greyscale, palette, 16-bit, CMYK, alpha, ICC profiles, EXIF rotation, extra frames.

    An array must be ``uint8``: H×W×3 RGB is used as it is, H×W or H×W×1 greyscale is converted;
    anything else raises :class:`~ggt_hf.errors.BadImageError` naming ``item`` (whose scores would
    otherwise fail deep inside a metric, or stop a whole run)."""
    if isinstance(image, np.ndarray):
        if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
            return image, []
        if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1)):
            raise BadImageError(
                item,
                f"an array of shape {image.shape} and dtype {image.dtype} is not an 8-bit image; "
                "pass uint8 H×W×3 RGB (or H×W greyscale)",
            )
        note = f"array of shape {image.shape} and dtype {image.dtype}"
        return np.repeat(image.reshape(*image.shape[:2], 1), 3, axis=2), [note]
    if isinstance(image, Image.Image):  # the same policy as a file's bytes (alpha onto white, ...)
        rgb, notes = normalise_image(image)
        return np.asarray(rgb), notes if image.mode == "RGB" else [f"{image.mode} → RGB", *notes]
    data = image if isinstance(image, bytes) else read_file_bytes(Path(image))
    decoded = decode_image(data, item)
    notes = list(decoded.warnings)
    if decoded.stored_mode != "RGB":
        notes.insert(0, f"stored as {decoded.stored_mode} ({decoded.format}), converted to 8-bit RGB")
    return np.asarray(decoded.image), notes


def _serialised(model: Any, full_reference: bool, per_image: bool = False) -> Callable[[Any, Any], Any]:
    """A pyiqa metric callable that threads share safely.

    pyiqa networks may keep per-call state on the module: PIQE's ``forward`` stores
    ``self.results = piqe(x)`` and returns ``self.results[0]``, so two threads scoring at once can
    get each other's scores (seen in ``ggt build``: one item's QC reported another item's PIQE).
    One lock per metric instance serialises its calls; the scoring itself still uses torch's
    intra-op threads. Models are shared by every engine of the process (see
    :func:`~ggt_hf.metrics.weights.create_pyiqa_metric`), so the lock belongs to the model.
    ``per_image``: the model takes one image per call (see ``_ONE_IMAGE_PER_CALL``); the batch is
    split and the scores concatenated.
    """
    import torch

    with _locks_lock:
        lock = _model_locks.setdefault(id(model), threading.Lock())

    def call(pred, ref):
        return model(pred, ref) if full_reference else model(pred)

    def score(pred, ref):
        with lock:
            if not per_image:
                return call(pred, ref)
            return torch.cat(
                [
                    torch.as_tensor(call(pred[i : i + 1], None if ref is None else ref[i : i + 1])).reshape(
                        -1
                    )
                    for i in range(pred.shape[0])
                ]
            )

    return score


@functools.cache
def _opencv_available() -> bool:
    try:
        import cv2  # noqa: F401
    except ImportError:
        logger.info("OpenCV is not installed: PSNR / SSIM run on batched tensors (slower)")
        return False
    return True


class MetricEngine:
    """Score images with a list of metrics; see the module docstring for conventions."""

    def __init__(
        self,
        metrics: Iterable[str | MetricSpec],
        *,
        device: str | None = None,
        batch_size: int = 4,
        crop_border: int = 0,
        y_channel: bool | None = None,
        fast_path: bool | None = None,
        workers: int = 2,
    ) -> None:
        self.specs = [m if isinstance(m, MetricSpec) else get_spec(m) for m in metrics]
        unsupported = [s.name for s in self.specs if s.pyiqa_id is None]
        if unsupported:
            raise ValueError(f"{', '.join(unsupported)} is not an image metric (VLM-R is scored by a judge)")
        self.device = resolve_device(device)
        self.batch_size = max(1, batch_size)
        self.crop_border = max(0, crop_border)
        self.y_channel = y_channel
        #: whether the device is the CPU, any spelling of it (``cpu``, ``cpu:0``, a ``torch.device``)
        self.on_cpu = str(self.device).partition(":")[0] == "cpu"
        self.fast_path = self.on_cpu if fast_path is None else fast_path
        self.workers = max(1, workers)
        self._fns: dict[str, Callable[[Any, Any], Any]] = {}
        #: key → what converting that item's prediction to 8-bit RGB changed (only converted items)
        self.conversions: dict[str, list[str]] = {}
        #: seconds spent per stage, summed over every call: ``decode`` (both images of a pair),
        #: ``to_tensor`` (batching and the copy to the device), and one entry per metric. Decoding
        #: and the per-pair PSNR / SSIM run in ``workers`` threads, so their sums may exceed the
        #: wall time; the batched metrics and ``to_tensor`` run one after another in the caller's
        #: thread.
        self.time_spent: dict[str, float] = {}
        self._time_lock = threading.Lock()

    @contextmanager
    def _timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            with self._time_lock:
                self.time_spent[stage] = self.time_spent.get(stage, 0.0) + elapsed

    @property
    def needs_reference(self) -> bool:
        return any(s.mode == "FR" for s in self.specs)

    def _y_option(self, spec: MetricSpec) -> bool | None:
        """The Y/RGB choice for a spec: the engine's ``y_channel`` if set and the metric has one,
        else pyiqa's default (``None`` for metrics without the option)."""
        pid = spec.pyiqa_id
        if self.y_channel is not None and pid in _Y_OPTION_IDS:
            return self.y_channel
        return _Y_OPTION_IDS.get(pid)

    def _pair_function(self, spec: MetricSpec) -> Callable[[np.ndarray, np.ndarray], float] | None:
        """``fn(pred_u8, ref_u8) -> score`` when the spec is scored per pair in the decode threads
        (PSNR / SSIM on the CPU fast path, OpenCV installed), else ``None``: see :mod:`fast_cv`."""
        if not (self.fast_path and self.on_cpu and spec.pyiqa_id in _PAIR_FAMILY):
            return None
        if not _opencv_available():
            return None
        from ggt_hf.metrics import fast_cv

        kernel = getattr(fast_cv, _PAIR_FAMILY[spec.pyiqa_id])
        y, b = self._y_option(spec), self.crop_border
        return lambda pred, ref: kernel(pred, ref, y_channel=y, crop_border=b)

    def _is_fast(self, spec: MetricSpec) -> bool:
        """Whether ``spec`` runs through :mod:`ggt_hf.metrics.fast` (which never writes to its inputs)."""
        return self.fast_path and spec.pyiqa_id in _FAST_FAMILY

    def _function(self, spec: MetricSpec) -> Callable[[Any, Any], Any]:
        """``fn(pred, ref) -> (N,)`` tensor for a spec, created once."""
        if spec.name in self._fns:
            return self._fns[spec.name]
        pid = spec.pyiqa_id
        y = self._y_option(spec)
        if self._is_fast(spec):
            from ggt_hf.metrics import fast

            kernel = getattr(fast, _FAST_FAMILY[pid])
            fn = lambda pred, ref, _k=kernel, _y=y: _k(pred, ref, y_channel=_y)  # noqa: E731
        else:
            options = {"test_y_channel": y} if self.y_channel is not None and pid in _Y_OPTION_IDS else {}
            model = create_pyiqa_metric(spec.name, pid, self.device, **options)
            fn = _serialised(model, spec.mode == "FR", per_image=pid in _ONE_IMAGE_PER_CALL)
        self._fns[spec.name] = fn
        return fn

    def prepare(self) -> None:
        """Create every metric now (loads weights; raises MissingWeightsError early)."""
        for spec in self.specs:
            self._function(spec)

    def drop_unavailable(self) -> dict[str, str]:
        """Create every metric; drop those whose weights are missing and return their reasons.

        A metric whose declared weight files are missing and cannot be downloaded here (offline, or
        the host is unreachable) is dropped without building its network: building one only to
        find its weights missing costs seconds (MANIQA's ViT alone ~7 s), e.g. inside the Space's
        start-up, next to its first visitor's restore."""
        from ggt_hf.metrics.weights import MissingWeightsError, unobtainable_reason

        missing = {}
        for spec in list(self.specs):
            reason = unobtainable_reason(spec) if spec.name not in self._fns else None
            if reason is not None:
                missing[spec.name] = reason
                self.specs.remove(spec)
                continue
            try:
                self._function(spec)
            except MissingWeightsError as exc:
                missing[spec.name] = exc.reason
                self.specs.remove(spec)
        return missing

    def score_batch(self, pred, ref=None) -> dict[str, list[float]]:
        """Scores of a ``(N, 3, H, W)`` batch (and its reference batch for FR metrics); the
        tensors are left as they were."""
        return self._score_batch(self.specs, pred, ref, owned=False)

    def _score_batch(
        self, specs: list[MetricSpec], pred, ref=None, owned: bool = True
    ) -> dict[str, list[float]]:
        """Scores of a batch by every spec. pyiqa networks may write to their input (AFINE
        normalises it in place), so each one gets its own copy of the batch — except the last
        one to use it when the batch is the engine's own (``owned``): then no metric sees what
        another did to the pixels, and the caller's tensors stay untouched."""
        import torch

        results: dict[str, list[float]] = {}
        b = self.crop_border
        with torch.inference_mode():
            for i, spec in enumerate(specs):
                fn = self._function(spec)
                if spec.mode == "FR" and ref is None:
                    raise ValueError(f"{spec.name} is a full-reference metric and needs a reference image")
                shared = not self._is_fast(spec) and (not owned or i < len(specs) - 1)
                with self._timed(spec.name):  # the .cpu() below waits for a GPU to finish
                    p, r = (
                        (pred[..., b:-b, b:-b], ref[..., b:-b, b:-b])
                        if b and spec.mode == "FR"
                        else (pred, ref)
                    )
                    if shared:
                        p, r = p.clone(), None if r is None else r.clone()
                    out = fn(p, r) if spec.mode == "FR" else fn(p, None)
                    results[spec.name] = [float(v) for v in torch.as_tensor(out).reshape(-1).cpu()]
        return results

    def _decode(self, item: PairItem) -> tuple[PairItem, np.ndarray, np.ndarray | None]:
        pred, notes = load_rgb_noting(item.pred, f"{item.key} (prediction)")
        if notes:
            self.conversions[item.key] = notes
        ref = (
            load_rgb(item.ref, f"{item.key} (reference)")
            if item.ref is not None and self.needs_reference
            else None
        )
        if self.needs_reference and ref is None:
            raise ValueError(f"{item.key}: full-reference metrics requested but no reference given")
        if ref is not None and pred.shape != ref.shape:
            raise ValueError(
                f"{item.key}: prediction is {pred.shape[1]}×{pred.shape[0]} but reference is "
                f"{ref.shape[1]}×{ref.shape[0]}; full-reference metrics need equal sizes"
            )
        return item, pred, ref

    def score_pairs(
        self,
        items: Iterable[PairItem],
        *,
        progress: bool | None = None,
        total: int | None = None,
        errors: str = "raise",
    ) -> Iterator[tuple[str, dict[str, float] | Exception]]:
        """Yield ``(key, {metric: score})`` for every item, in input order.

        With ``errors="return"``, an item that cannot be decoded or has mismatched sizes yields
        ``(key, exception)`` instead of stopping the run.
        """
        # PSNR / SSIM on the CPU are scored per pair in the decode threads, from the uint8 arrays;
        # the other metrics on batched tensors here. Without the latter no tensor is built at all.
        pair_fns = {spec.name: fn for spec in self.specs if (fn := self._pair_function(spec))}
        batch_specs = [spec for spec in self.specs if spec.name not in pair_fns]
        batch: list[tuple[PairItem, np.ndarray | None, np.ndarray | None, dict[str, float]]] = []
        bar = tqdm(total=total, desc="metrics", unit="img", disable=progress_disabled(progress))

        def in_order(key_scores: dict[str, float]) -> dict[str, float]:
            return {spec.name: key_scores[spec.name] for spec in self.specs}

        def flush() -> Iterator[tuple[str, dict[str, float]]]:
            scores: dict[str, list[float]] = {}
            if batch_specs:
                with self._timed("to_tensor"):
                    pred = to_tensor([p for _, p, _, _ in batch], self.device)
                    ref = (
                        to_tensor([r for _, _, r, _ in batch], self.device)
                        if batch[0][2] is not None
                        else None
                    )
                scores = self._score_batch(batch_specs, pred, ref)
            for i, (item, _, _, pair_scores) in enumerate(batch):
                yield item.key, in_order({**pair_scores, **{n: v[i] for n, v in scores.items()}})
            bar.update(len(batch))
            batch.clear()

        def decode(item: PairItem):
            try:
                with self._timed("decode"):
                    item, pred, ref = self._decode(item)
                pair_scores = {}
                for name, fn in pair_fns.items():
                    with self._timed(name):
                        pair_scores[name] = fn(pred, ref)
            except (GGTError, ValueError) as exc:
                if errors == "raise":
                    raise
                return item, exc, None, {}
            if not batch_specs:  # nothing else needs the pixels: let them go now
                return item, None, None, pair_scores
            return item, pred, ref, pair_scores

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for decoded in bounded_map(pool, decode, items, window=2 * self.batch_size):
                if isinstance(decoded[1], Exception):
                    if batch:  # keep results in input order
                        yield from flush()
                    bar.update(1)
                    yield decoded[0].key, decoded[1]
                    continue
                if decoded[1] is None:  # scored already
                    bar.update(1)
                    yield decoded[0].key, in_order(decoded[3])
                    continue
                if batch and (decoded[1].shape != batch[0][1].shape or len(batch) >= self.batch_size):
                    yield from flush()
                batch.append(decoded)
            if batch:
                yield from flush()
        bar.close()
