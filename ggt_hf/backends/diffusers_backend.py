"""``DiffusersBackend``: a local open-weight instruction-editing MFM run with 🤗 diffusers.

The default model is Qwen-Image-Edit (``Qwen/Qwen-Image-Edit``, pipeline
``QwenImageEditPipeline``); ``Qwen/Qwen-Image-Edit-2509`` (``QwenImageEditPlusPipeline``) and
FLUX.1 Kontext (``black-forest-labs/FLUX.1-Kontext-dev``, ``FluxKontextPipeline``) work the same
way. The pipeline is loaded lazily, on the first :meth:`DiffusersBackend.restore`, with
``DiffusionPipeline.from_pretrained(model_id, torch_dtype=..., local_files_only=...)`` (or the
forced ``pipeline_class``). **The weights are downloaded from the Hugging Face Hub on first use**
(tens of GB for Qwen-Image-Edit; a CUDA GPU with ≥ 40 GB, or CPU offloading done by the caller on
a ``pipeline=`` object, is needed in practice); pass ``local_files_only=True`` to use only the
local cache, e.g. on an offline cluster. Tests inject a tiny, randomly initialised pipeline through
``pipeline=``.

One call: the LQ image, the request's prompt (or, when it is empty, the fixed prompt of
:func:`ggt_hf.prompt_texts.template` ``("fixed")``), ``num_inference_steps``, the guidance
(``true_cfg_scale`` + ``negative_prompt`` for the Qwen pipelines, ``guidance_scale`` otherwise),
a ``torch.Generator(device).manual_seed(seed)`` when a seed is given (same seed → same output on
the same hardware), and width/height = the input size scaled down so its longest side is at most
``max_side`` and rounded to the pipeline's multiple (``vae_scale_factor * 2``, 16 for Qwen and
FLUX). The output is resized back to the input size; ``metadata["pipeline_size"]`` keeps the size
the pipeline actually produced.

Fine-tuned generative restorers: ``lora=`` loads a LoRA repo / folder (e.g. the ``final/`` folder of
``training/train_edit_lora.py``) with ``pipe.load_lora_weights``; ``controlnet=`` loads a
``FluxControlNetModel`` (e.g. from ``training/train_controlnet_flux.py``) with the base model into
a ``FluxControlNetPipeline`` (unless ``pipeline_class`` says otherwise), and the LQ image is then
passed as the pipeline's ``control_image`` (scaled by ``controlnet_scale``).

Errors: CUDA / MPS out of memory → :class:`BackendTransient`; a ``ValueError`` raised by the
pipeline (bad input) or weights that cannot be loaded → :class:`BackendRefused`; the pipeline's
safety checker flagging the output (``nsfw_content_detected``) → ``BackendRefused(safety=True)``;
an output that is not an image → :class:`BadOutputError`.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

import numpy as np
from PIL import Image

from ggt_hf.backends.base import (
    BackendRefused,
    BackendTransient,
    BadOutputError,
    RestoreRequest,
    RestoreResult,
    Usage,
)
from ggt_hf.errors import MissingExtraError
from ggt_hf.imaging.tensors import resolve_device, resolve_dtype

#: Adapter name used for the optional LoRA.
LORA_ADAPTER = "ggt_lora"

#: Default guidance when ``guidance`` is not given: Qwen's ``true_cfg_scale`` / FLUX Kontext's
#: ``guidance_scale`` (the values of the model cards).
DEFAULT_TRUE_CFG = 4.0
DEFAULT_GUIDANCE_SCALE = 2.5


def _import_torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is part of the extra
        raise MissingExtraError("torch", "generate") from exc
    return torch


def _import_diffusers():
    try:
        import diffusers
    except ImportError as exc:
        raise MissingExtraError("diffusers", "generate") from exc
    return diffusers


def _is_oom(exc: BaseException, torch: Any) -> bool:
    oom = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def pipeline_size(width: int, height: int, multiple: int, max_side: int) -> tuple[int, int]:
    """``(width, height)`` scaled so the longest side is ≤ ``max_side``, rounded to ``multiple``.

    Each side is rounded to the nearest multiple (at least one multiple) and never exceeds
    ``max_side`` rounded down to the multiple.
    """
    scale = min(1.0, max_side / max(width, height))
    cap = max(multiple, max_side // multiple * multiple)

    def fit(side: int) -> int:
        return int(min(cap, max(multiple, round(side * scale / multiple) * multiple)))

    return fit(width), fit(height)


def parse_pipeline_spec(spec: str) -> dict[str, str | None]:
    """``<model_id>[+<lora>][+controlnet=<repo>]`` (an optional ``diffusers:`` prefix) → the
    ``model_id`` / ``lora`` / ``controlnet`` arguments of :class:`DiffusersBackend`. One syntax for
    ``ggt restore --model diffusers:...``, the Space's pipelines and build configs."""
    model_id, *extras = spec.removeprefix("diffusers:").split("+")
    out: dict[str, str | None] = {"model_id": model_id, "lora": None, "controlnet": None}
    for extra in extras:
        key, sep, value = extra.partition("=")
        if sep and key in ("lora", "controlnet"):
            out[key] = value
        elif not sep:
            out["lora"] = extra
        else:
            raise ValueError(
                f"pipeline spec {spec!r}: unknown part {extra!r} (use +<lora> or +controlnet=<repo>)"
            )
    if not model_id:
        raise ValueError(f"pipeline spec {spec!r} names no base model")
    return out


class DiffusersBackend:
    """A diffusers image-editing pipeline as an :class:`~ggt_hf.backends.base.ImageBackend`.

    Args:
        model_id: Hub repository (or local folder) of the pipeline; recorded in results.
        pipeline: an already built pipeline object (used as is: not moved nor cast); when given,
            nothing is loaded.
        pipeline_class: a diffusers pipeline class or its name (e.g. ``"QwenImageEditPlusPipeline"``,
            ``"FluxKontextPipeline"``) to force instead of ``DiffusionPipeline``'s auto-detection.
        lora: a LoRA repository / file path loaded with ``pipe.load_lora_weights`` on first use.
        lora_weight_name: the ``weight_name`` of the LoRA file inside ``lora`` (if ambiguous).
        lora_scale: LoRA strength (fused with ``fuse_lora(lora_scale=...)`` when ``fuse_lora``,
            else set with ``set_adapters``).
        device: torch device; default :func:`ggt_hf.imaging.tensors.resolve_device` (CUDA when present).
        dtype: torch dtype or its name; default bfloat16 on CUDA, float32 elsewhere.
        num_inference_steps: denoising steps.
        guidance: ``true_cfg_scale`` (Qwen pipelines) or ``guidance_scale`` (others, e.g. FLUX
            Kontext); default 4.0 / 2.5.
        negative_prompt: the negative prompt of Qwen's true CFG (``" "`` as in the model card).
        max_side: longest side the pipeline is asked to produce.
        controlnet: a ControlNet repository / folder (``FluxControlNetModel``); the LQ image becomes
            the ``control_image``.
        controlnet_scale: ``controlnet_conditioning_scale`` of every call.
        local_files_only: load from the local cache only (never download).
        call_kwargs: extra keyword arguments passed to every pipeline call.
    """

    name = "diffusers"

    def __init__(
        self,
        model_id: str = "Qwen/Qwen-Image-Edit",
        *,
        pipeline: Any = None,
        pipeline_class: Any = None,
        lora: str | None = None,
        lora_weight_name: str | None = None,
        lora_scale: float = 1.0,
        fuse_lora: bool = True,
        controlnet: str | None = None,
        controlnet_scale: float = 1.0,
        device: str | None = None,
        dtype: Any = None,
        num_inference_steps: int = 50,
        guidance: float | None = None,
        negative_prompt: str | None = " ",
        max_side: int = 1024,
        local_files_only: bool = False,
        call_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be ≥ 1, got {num_inference_steps}")
        if max_side < 16:
            raise ValueError(f"max_side must be ≥ 16, got {max_side}")
        self.model_id = model_id
        self.pipeline_class = pipeline_class
        self.lora = lora
        self.lora_weight_name = lora_weight_name
        self.lora_scale = float(lora_scale)
        self.fuse_lora = fuse_lora
        self.controlnet = controlnet
        self.controlnet_scale = float(controlnet_scale)
        self.device = device
        self.dtype = dtype
        self.num_inference_steps = int(num_inference_steps)
        self.guidance = guidance
        self.negative_prompt = negative_prompt
        self.max_side = int(max_side)
        self.local_files_only = local_files_only
        self.call_kwargs = dict(call_kwargs or {})
        self._pipe = pipeline
        self._injected = pipeline is not None
        self._lora_loaded = False
        self._load_error: Exception | None = None  # a failed load is raised again, not retried per image
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"DiffusersBackend(model_id={self.model_id!r}, steps={self.num_inference_steps}, "
            f"lora={self.lora!r}, controlnet={self.controlnet!r}, device={self.device!r})"
        )

    # ------------------------------------------------------------------ loading

    def _resolve_dtype(self, torch: Any, device: str) -> Any:
        return resolve_dtype(self.dtype, device)

    def _resolve_device(self) -> str:
        if self.device:
            return str(self.device)
        if self._injected:
            dev = getattr(self._pipe, "_execution_device", None) or getattr(self._pipe, "device", None)
            if dev is not None:
                return str(dev)

        return resolve_device(None)

    def _pipeline_cls(self, diffusers: Any) -> Any:
        cls = self.pipeline_class
        if cls is None and self.controlnet:
            return diffusers.FluxControlNetPipeline
        if cls is None:
            return diffusers.DiffusionPipeline
        if isinstance(cls, str):
            found = getattr(diffusers, cls, None)
            if found is None:
                raise ValueError(f"diffusers has no pipeline class {cls!r}")
            return found
        return cls

    def load(self) -> Any:
        """The pipeline, loaded (and its LoRA applied) on first call; thread-safe.

        A Hub repo (base, ControlNet, LoRA) that is neither cached nor reachable fails at once,
        naming it (one network probe per process); a failed load fails the same way for every
        later image without loading again."""
        with self._lock:
            if self._load_error is not None:
                raise self._load_error
            try:
                return self._load_locked()
            except Exception as exc:
                self._load_error = exc
                raise

    def _load_locked(self) -> Any:
        if self._pipe is None:
            torch = _import_torch()
            diffusers = _import_diffusers()
            if not self.local_files_only:  # an uncached repo and no Hub: named now, not after retries
                from ggt_hf.runtime.network import require_hub_repos

                require_hub_repos([self.model_id, self.controlnet, self.lora], "the diffusers pipeline")
            device = self._resolve_device()
            dtype = self._resolve_dtype(torch, device)
            cls = self._pipeline_cls(diffusers)
            extra: dict[str, Any] = {}
            try:
                if self.controlnet:
                    extra["controlnet"] = diffusers.FluxControlNetModel.from_pretrained(
                        self.controlnet, torch_dtype=dtype, local_files_only=self.local_files_only
                    )
                pipe = cls.from_pretrained(
                    self.model_id, torch_dtype=dtype, local_files_only=self.local_files_only, **extra
                )
            except (OSError, ValueError) as exc:
                raise BackendRefused(self.model_id, f"cannot load pipeline: {exc}") from exc
            self._pipe = pipe.to(device)
            self.device = device
        if self.lora and not self._lora_loaded:
            self._apply_lora(self._pipe)
            self._lora_loaded = True
        return self._pipe

    def _apply_lora(self, pipe: Any) -> None:
        kwargs: dict[str, Any] = {"adapter_name": LORA_ADAPTER}
        if self.lora_weight_name:
            kwargs["weight_name"] = self.lora_weight_name
        try:
            pipe.load_lora_weights(self.lora, **kwargs)
        except (OSError, ValueError) as exc:
            raise BackendRefused(self.lora, f"cannot load LoRA: {exc}") from exc
        if self.fuse_lora:
            pipe.fuse_lora(lora_scale=self.lora_scale, adapter_names=[LORA_ADAPTER])
        else:
            pipe.set_adapters([LORA_ADAPTER], adapter_weights=[self.lora_scale])

    # ------------------------------------------------------------------ calling

    def _guidance_kwargs(self, pipe: Any) -> dict[str, Any]:
        try:
            params = set(inspect.signature(pipe.__call__).parameters)
        except (TypeError, ValueError):  # pragma: no cover - exotic callables
            params = set()
        accepts_any = not params or any(
            p.kind is inspect.Parameter.VAR_KEYWORD
            for p in inspect.signature(pipe.__call__).parameters.values()
        )
        qwen = "qwen" in type(pipe).__name__.lower()
        if qwen or ("true_cfg_scale" in params and "guidance_scale" not in params):
            out: dict[str, Any] = {
                "true_cfg_scale": self.guidance if self.guidance is not None else DEFAULT_TRUE_CFG
            }
            if self.negative_prompt is not None and ("negative_prompt" in params or accepts_any):
                out["negative_prompt"] = self.negative_prompt
            return out
        if "guidance_scale" in params or accepts_any:
            return {"guidance_scale": self.guidance if self.guidance is not None else DEFAULT_GUIDANCE_SCALE}
        return {}

    def _image_kwargs(self, pipe: Any, image: Image.Image) -> dict[str, Any]:
        """``image=`` for edit pipelines; ``control_image=`` (+ scale) for ControlNet pipelines."""
        try:
            params = set(inspect.signature(pipe.__call__).parameters)
        except (TypeError, ValueError):  # pragma: no cover - exotic callables
            params = set()
        if "control_image" in params and "image" not in params:
            return {"control_image": image, "controlnet_conditioning_scale": self.controlnet_scale}
        return {"image": image}

    def _multiple(self, pipe: Any) -> int:
        factor = getattr(pipe, "vae_scale_factor", None)
        return int(factor) * 2 if isinstance(factor, int | float) and factor > 0 else 16

    def restore(self, request: RestoreRequest) -> RestoreResult:
        """Run the pipeline once on ``request.image`` (see the module docstring)."""
        torch = _import_torch()
        from ggt_hf.prompt_texts import template

        image = request.image.convert("RGB")
        in_w, in_h = image.size
        prompt = request.prompt or template("fixed")
        with self._lock:
            pipe = self._load_locked()
            device = self._resolve_device()
            width, height = pipeline_size(in_w, in_h, self._multiple(pipe), self.max_side)
            kwargs: dict[str, Any] = {
                **self._image_kwargs(pipe, image),
                "prompt": prompt,
                "num_inference_steps": self.num_inference_steps,
                "width": width,
                "height": height,
                **self._guidance_kwargs(pipe),
                **self.call_kwargs,
            }
            if request.seed is not None:
                kwargs["generator"] = torch.Generator(device).manual_seed(int(request.seed))
            try:
                output = pipe(**kwargs)
            except ValueError as exc:
                raise BackendRefused(request.item_id, f"pipeline rejected the input: {exc}") from exc
            except Exception as exc:
                if _is_oom(exc, torch):
                    if device.startswith("cuda"):
                        torch.cuda.empty_cache()
                    raise BackendTransient(request.item_id, f"out of memory: {exc}") from exc
                raise
        out = self._output_image(output, request.item_id)
        produced = out.size
        if produced != (in_w, in_h):
            out = out.resize((in_w, in_h), Image.Resampling.LANCZOS)
        metadata = {
            "steps": self.num_inference_steps,
            "seed": request.seed,
            "lora": self.lora,
            "lora_scale": self.lora_scale if self.lora else None,
            "controlnet": self.controlnet,
            "pipeline": type(pipe).__name__,
            "pipeline_size": list(produced),
            "requested_size": [width, height],
            "guidance": {k: v for k, v in kwargs.items() if k in ("true_cfg_scale", "guidance_scale")},
            "prompt_source": "request" if request.prompt else "fixed",
            "device": device,
        }
        return RestoreResult(out, self.name, self.model_id, Usage(calls=1, images=1), metadata)

    def _output_image(self, output: Any, item_id: str) -> Image.Image:
        nsfw = getattr(output, "nsfw_content_detected", None)
        if isinstance(output, dict):
            nsfw = output.get("nsfw_content_detected", nsfw)
        if nsfw is not None and (
            any(bool(x) for x in nsfw) if isinstance(nsfw, list | tuple) else bool(nsfw)
        ):
            raise BackendRefused(item_id, "the pipeline's safety checker flagged the output", safety=True)
        if isinstance(output, dict):
            images = output.get("images")
        elif isinstance(output, tuple | list) and output and not isinstance(output[0], Image.Image):
            images = output[0]
        else:
            images = getattr(output, "images", output)
        if isinstance(images, list | tuple):
            if not images:
                raise BadOutputError(item_id, "the pipeline returned no image")
            images = images[0]
        if isinstance(images, np.ndarray):
            images = _array_to_image(images, item_id)
        if not isinstance(images, Image.Image):
            raise BadOutputError(item_id, f"the pipeline returned {type(images).__name__}, not an image")
        if images.width < 1 or images.height < 1:
            raise BadOutputError(item_id, "the pipeline returned an empty image")
        return images.convert("RGB")


def _array_to_image(arr: np.ndarray, item_id: str) -> Image.Image:
    """A ``(H, W, 3)`` (or ``(1, H, W, 3)``) float [0, 1] or uint8 array as a PIL image."""
    if arr.ndim == 4 and arr.shape[0] >= 1:
        arr = arr[0]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4) or arr.size == 0:
        raise BadOutputError(item_id, f"the pipeline returned an array of shape {arr.shape}, not an image")
    if arr.dtype != np.uint8:
        arr = np.clip(np.rint(np.nan_to_num(arr.astype(np.float32)) * 255.0), 0, 255).astype(np.uint8)
    if arr.shape[-1] == 1:
        arr = arr[..., 0]
    return Image.fromarray(arr)
