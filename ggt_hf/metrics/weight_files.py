"""Which weight files a learned metric loads, and whether they are on disk — without building it.

The specs table (:mod:`ggt_hf.metrics.specs`) names, for each learned metric, the files its pyiqa
model loads as :class:`~ggt_hf.metrics.specs.WeightRef` entries; this module turns each entry into
the file name and folder that the loading library itself declares, and looks at the disk:

* ``pyiqa``: a key of the arch module's ``default_model_urls`` (or ``DEFAULT_MODEL_URLS``) dict,
  fetched by ``load_file_from_url`` into pyiqa's cache (``~/.cache/torch/hub/pyiqa``). The dict is
  read from the module's source (literal strings and ``get_url_from_name(...)`` calls, evaluated
  with pyiqa's own function), not by importing the module: importing an arch module imports its
  model code's dependencies (scipy, facexlib, ...), a second or more that a listing does not need;
* ``torchvision``: a member of a builder's weights enum (``IMAGENET1K_V1``), fetched by
  ``torch.hub`` into ``~/.cache/torch/hub/checkpoints``;
* ``timm``: a model's pretrained config, whose Hub repo timm downloads into the Hugging Face cache
  (``model.safetensors``, or ``pytorch_model.bin``);
* ``clip``: a key of a pyiqa CLIP module's ``_MODELS`` dict (read from its source, likewise),
  fetched into that module's folder.

Nothing here builds a network or touches the network: ``ggt metrics list`` answers from the disk
alone, the same with or without a connection, in about the time pyiqa takes to import. The files
are listed in the order pyiqa's constructors load them, so the first missing one is the file a
model build would stop at.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ggt_hf.errors import MissingExtraError
from ggt_hf.metrics.specs import MetricSpec, WeightRef

#: Where each pyiqa CLIP module downloads its backbones (the default of its ``load(download_root=)``).
_CLIP_ROOTS = {
    "afineclip_model": lambda: Path(os.path.expanduser("~/.cache/clip")),
    "clip_model": lambda: _torch_hub_dir() / "clip",
}


def import_pyiqa():
    """Import pyiqa, or raise an error naming the extra that installs it."""
    try:
        import pyiqa
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError("pyiqa", "metrics") from exc
    return pyiqa


@dataclass(frozen=True)
class WeightFile:
    """One file a metric loads: its name, where the loader looks for it, where it comes from."""

    name: str
    folder: Path
    url: str
    #: any one of these present means the file is on disk (e.g. a safetensors alternative)
    candidates: tuple[Path, ...]
    #: for files in the Hugging Face cache: the Hub repo they come from
    repo_id: str | None = None

    def on_disk(self) -> bool:
        """Whether the loader will find the file without downloading it."""
        return any(path.is_file() for path in self.candidates)

    def missing_reason(self, tried_download: bool = False) -> str:
        """What is missing and what to do (``tried_download``: a download was refused or failed)."""
        if self.repo_id is not None:
            return (
                f"weights file {self.name!r} of the Hub repo {self.repo_id} is not in the Hugging Face "
                f"cache ({self.folder}){_tail(tried_download)}; {_FETCH}"
            )
        return missing_file_reason(self.name, self.folder, self.url, tried_download)


def missing_file_reason(name: str, folder: Path | str, url: str, tried_download: bool) -> str:
    """The message for a weights file ``name`` missing from ``folder`` (source ``url``)."""
    return f"weights file {name!r} is not on disk{_tail(tried_download)}; place it in {Path(folder)}/ (source: {url}) or {_FETCH}"


_FETCH = "run `ggt metrics fetch` where the network is available"


def _tail(tried_download: bool) -> str:
    return " and could not be downloaded" if tried_download else ""


def weight_files(spec: MetricSpec) -> list[WeightFile]:
    """The files ``spec``'s pyiqa model loads, in loading order (none for weight-free metrics)."""
    return [resolve(ref) for ref in spec.weights]


def missing_files(spec: MetricSpec) -> list[WeightFile]:
    """The files of ``spec`` that are not on disk (empty: the metric is ready here)."""
    return [f for f in weight_files(spec) if not f.on_disk()]


def readiness(spec: MetricSpec) -> str:
    """``ready``, or ``missing: <what and what to do>``, or what a judge-scored metric needs."""
    if spec.pyiqa_id is None:
        return "needs a judge (VLM client), not weights"
    missing = missing_files(spec)
    if not missing:
        return "ready"
    more = f" (also missing: {', '.join(f.name for f in missing[1:])})" if len(missing) > 1 else ""
    return f"missing: {missing[0].missing_reason()}{more}"


def resolve(ref: WeightRef) -> WeightFile:
    """The file ``ref`` names, as declared by the library that loads it."""
    return _RESOLVERS[ref.source](ref)


def _torch_hub_dir() -> Path:
    import torch.hub

    return Path(torch.hub.get_dir())


def _url_file(url: str, folder: Path) -> WeightFile:
    name = os.path.basename(urlparse(url).path)
    return WeightFile(name, folder, url, (folder / name,))


def declared_urls(module: str, names: tuple[str, ...]) -> dict[str, str]:
    """The module-level dict ``names[0]`` (or another of ``names``) of the pyiqa arch module
    ``module``, read from its source without importing it."""
    pyiqa = import_pyiqa()
    path = Path(pyiqa.__file__).parent / "archs" / f"{module}.py"
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id in names for t in node.targets)
            and isinstance(node.value, ast.Dict)
        ):
            return {
                ast.literal_eval(k): _url_value(v)
                for k, v in zip(node.value.keys, node.value.values, strict=True)
            }
    raise LookupError(f"pyiqa {pyiqa.__version__}: {path} declares none of {', '.join(names)}")


def _url_value(node: ast.expr) -> str:
    """A literal URL, or pyiqa's ``get_url_from_name(<literals>)`` evaluated by pyiqa itself."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "get_url_from_name":
        from pyiqa.archs.arch_util import get_url_from_name

        args = [ast.literal_eval(a) for a in node.args]
        return get_url_from_name(*args, **{k.arg: ast.literal_eval(k.value) for k in node.keywords})
    return ast.literal_eval(node)


def _pyiqa(ref: WeightRef) -> WeightFile:
    import_pyiqa()
    from pyiqa.utils import download_util

    urls = declared_urls(ref.owner, ("default_model_urls", "DEFAULT_MODEL_URLS"))
    return _url_file(urls[ref.key], Path(download_util.DEFAULT_CACHE_DIR))


def _torchvision(ref: WeightRef) -> WeightFile:
    import torchvision.models

    url = torchvision.models.get_model_weights(ref.owner)[ref.key].url
    return _url_file(url, _torch_hub_dir() / "checkpoints")


def _timm(ref: WeightRef) -> WeightFile:
    import timm.models
    from huggingface_hub import constants, hf_hub_url, try_to_load_from_cache
    from timm.models._hub import HF_WEIGHTS_NAME, _get_safe_alternatives

    cfg = timm.models.get_pretrained_cfg(ref.owner)
    if not cfg.hf_hub_id:  # weights from a plain URL: torch.hub's checkpoints folder
        return _url_file(cfg.url, _torch_hub_dir() / "checkpoints")
    repo_id, _, revision = cfg.hf_hub_id.partition("@")
    names = [*_get_safe_alternatives(HF_WEIGHTS_NAME), HF_WEIGHTS_NAME]
    found = [try_to_load_from_cache(repo_id, n, revision=revision or None) for n in names]
    candidates = tuple(Path(p) for p in found if isinstance(p, str))
    url = hf_hub_url(repo_id, names[0], revision=revision or None)
    return WeightFile(names[0], Path(constants.HF_HUB_CACHE), url, candidates, repo_id)


def _clip(ref: WeightRef) -> WeightFile:
    return _url_file(declared_urls(ref.owner, ("_MODELS",))[ref.key], _CLIP_ROOTS[ref.owner]())


_RESOLVERS = {"pyiqa": _pyiqa, "torchvision": _torchvision, "timm": _timm, "clip": _clip}
