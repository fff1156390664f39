"""Creating pyiqa metrics with weight downloads made visible.

pyiqa downloads learned-metric weights on first use (its own files into
``~/.cache/torch/hub/pyiqa``, torchvision backbones into ``~/.cache/torch/hub/checkpoints``, timm
backbones through the Hugging Face cache). Offline that fails deep inside a network stack with an
error that names neither the metric nor the file. :func:`create_pyiqa_metric` records every
download pyiqa attempts and turns a failure into one :class:`MissingWeightsError` naming the
metric, the file, where it must be placed and where it comes from. With ``HF_HUB_OFFLINE=1`` (or
``GGT_OFFLINE=1``) no download is even attempted, and without a network none is waited for: the
Hub and every download host are probed once per process (:mod:`ggt_hf.runtime.network`).

Each metric is created once per process: models are cached by (pyiqa id, device, options) and
shared by every engine, and a metric whose weights are missing is remembered, so a run that
retries items never reloads (or re-downloads) a metric.

Whether a metric's weights are on disk is answered without creating it by
:mod:`ggt_hf.metrics.weight_files` (what ``ggt metrics list`` shows).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ggt_hf.errors import GGTError
from ggt_hf.metrics.specs import MetricSpec
from ggt_hf.metrics.weight_files import import_pyiqa, missing_file_reason, missing_files
from ggt_hf.runtime import network

_cache_lock = threading.Lock()
_models: dict[tuple, Any] = {}
_failures: dict[tuple, str] = {}


class MissingWeightsError(GGTError):
    """A learned metric whose weights are not on disk and cannot be downloaded."""


def offline() -> bool:
    """True when the environment says not to touch the network."""
    return network.env_offline()


def _refused(url: str) -> bool:
    """True when a download from ``url`` must not be tried (offline, or its host is unreachable)."""
    return offline() or network.host_unreachable(url) is not None


@dataclass
class _Attempt:
    url: str
    dst: str
    refused: bool = False


class _OfflineDownload(RuntimeError):
    pass


@contextlib.contextmanager
def _watch_downloads(attempts: list[_Attempt]) -> Iterator[None]:
    """Record (and offline, refuse) every file download made by torch.hub / pyiqa."""
    import torch.hub

    import_pyiqa()
    from pyiqa.utils import download_util

    original = torch.hub.download_url_to_file
    original_urlopen = urllib.request.urlopen

    def download(url: str, dst: str, *args, **kwargs):
        attempts.append(_Attempt(url, str(dst), _refused(url)))
        if attempts[-1].refused:
            raise _OfflineDownload(url)
        return original(url, dst, *args, **kwargs)

    def urlopen(url, *args, **kwargs):  # some pyiqa archs (CLIP-based) download with urllib
        target = getattr(url, "full_url", url)
        attempts.append(_Attempt(str(target), "", _refused(str(target))))
        if attempts[-1].refused:
            raise _OfflineDownload(str(target))
        return original_urlopen(url, *args, **kwargs)

    torch.hub.download_url_to_file = download
    download_util.download_url_to_file = download
    urllib.request.urlopen = urlopen
    try:
        yield
    finally:
        torch.hub.download_url_to_file = original
        download_util.download_url_to_file = original
        urllib.request.urlopen = original_urlopen


def _missing_reason(attempt: _Attempt) -> str:
    if not attempt.dst:
        return (
            f"needs a file from {attempt.url} that is not cached and could not be downloaded; run "
            "`ggt metrics fetch` where the network is available"
        )
    return missing_file_reason(
        Path(attempt.dst).name, Path(attempt.dst).parent, attempt.url, tried_download=True
    )


def unobtainable_reason(spec: MetricSpec) -> str | None:
    """Why ``spec``'s model cannot be built here, decided from the disk without building it: a
    declared weights file is missing and its download would be refused (offline, or its host is
    unreachable). ``None`` when every declared file is on disk or may be downloaded (a build then
    fetches them, and still reports a file that was not declared)."""
    missing = missing_files(spec)
    if not missing or not all(_refused(f.url) for f in missing):
        return None
    more = f" (also missing: {', '.join(f.name for f in missing[1:])})" if len(missing) > 1 else ""
    return missing[0].missing_reason(tried_download=True) + more


def create_pyiqa_metric(name: str, pyiqa_id: str, device: str, **options):
    """``pyiqa.create_metric`` (``options`` override its metric options) with missing weights
    reported as :class:`MissingWeightsError`.

    Created once per process and ``(pyiqa_id, device, options)``; a failure is remembered and
    raised again at once on the next call.
    """
    key = (pyiqa_id, str(device), tuple(sorted(options.items())))
    with _cache_lock:
        if key in _models:
            return _models[key]
        if key in _failures:
            raise MissingWeightsError(name, _failures[key])
        try:
            model = _create(name, pyiqa_id, device, **options)
        except MissingWeightsError as exc:
            _failures[key] = exc.reason
            raise
        _models[key] = model
        return model


def _create(name: str, pyiqa_id: str, device: str, **options):
    pyiqa = import_pyiqa()
    network.hub_offline()  # an unreachable Hub switches huggingface_hub (timm's backbones) offline
    attempts: list[_Attempt] = []
    try:
        # pyiqa prints download notices on stdout: keep stdout for our tables and results, and
        # pass the notices on (to stderr) only when a download really went ahead
        notices = io.StringIO()
        try:
            with _watch_downloads(attempts), contextlib.redirect_stdout(notices):
                return pyiqa.create_metric(pyiqa_id, device=device, **options)
        finally:
            if any(not a.refused for a in attempts):
                sys.stderr.write(notices.getvalue())
    except Exception as exc:
        if attempts:
            raise MissingWeightsError(name, _missing_reason(attempts[-1])) from exc
        if type(exc).__name__ in {
            "LocalEntryNotFoundError",
            "OfflineModeIsEnabled",
        } or "huggingface.co" in str(exc):
            raise MissingWeightsError(
                name,
                "backbone weights from the Hugging Face Hub are not in the local cache "
                f"({_first_line(exc)}); run `ggt metrics fetch` where the network is available",
            ) from exc
        raise


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def forget_created() -> None:
    """Drop every cached metric model and remembered failure (for tests and `metrics fetch`)."""
    with _cache_lock:
        _models.clear()
        _failures.clear()


def weights_dirs() -> dict[str, str]:
    """Where pyiqa and torch look for weights on this machine."""
    import torch.hub

    hub = torch.hub.get_dir()
    return {"pyiqa": os.path.join(hub, "pyiqa"), "torchvision": os.path.join(hub, "checkpoints")}
