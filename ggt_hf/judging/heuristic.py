"""A deterministic, offline judge over the five VLM aspects — a measurable baseline, not a VLM.

Each aspect is a documented image measurement with a threshold, so results are reproducible and
explainable; it lets VLM-R, QC and their tests run without keys or weights:

* ``geometry_alignment``: the QC's registration (:func:`ggt_hf.judging.geometry.estimate_similarity`,
  Fourier–Mellin) finds a shift ≤ ``max_shift`` px and the QC's scale / rotation tolerances
  (:class:`~ggt_hf.judging.geometry.GeometryTolerances`) held; an inconclusive registration (a
  featureless image) passes, as in the QC;
* ``color_consistency``: correlation of the colour layouts (a*/b* of the QC's exposure-normalised
  CIELAB thumbnails, :func:`ggt_hf.judging.geometry.lab_thumbnail`, with the part explained by L*
  removed, so a global cast or a toning is not layout) ≥ ``min_color_corr``; an achromatic input
  passes. The QC's global cast (:func:`ggt_hf.judging.geometry.color_shift`) is reported alongside;
* ``object_consistency``: correlation of edge maps (Sobel on 128² greyscale) ≥ ``min_edge_corr``;
* ``restoration_quality``: the output is not noisier than the input (Immerkær's noise estimate,
  with ``noise_margin`` slack), keeps at least ``min_contrast_ratio`` of its luminance contrast, and
  changes something (mean luminance change ≥ ``min_change``: a no-op is not a restoration);
* ``content_reasonableness``: the output is not blank/clipped: luminance std ≥ 8 and under
  ``max_clipped`` of pixels are fully black or white.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from ggt_hf.judging.geometry import GeometryTolerances, color_shift, estimate_similarity, lab_thumbnail
from ggt_hf.judging.verdict import Verdict


def _grey(img: Image.Image, size: int) -> np.ndarray:
    return np.asarray(img.convert("L").resize((size, size), Image.Resampling.BILINEAR), dtype=np.float64)


def noise_sigma(grey: np.ndarray) -> float:
    """Immerkær's fast noise standard deviation estimate of a greyscale image (0–255)."""
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
    h, w = grey.shape
    response = np.abs(ndimage.convolve(grey, kernel, mode="reflect"))[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2) * response.sum() / (6 * (w - 2) * (h - 2)))


def _color_layout(img: Image.Image) -> np.ndarray:
    """a*/b* maps of the QC's exposure-normalised CIELAB thumbnail with the part explained by L*
    removed (a global cast or a sepia/monochrome toning is not colour layout)."""
    lab = lab_thumbnail(img)
    lum = lab[:, 0] - lab[:, 0].mean()
    maps = []
    for channel in (lab[:, 1], lab[:, 2]):
        o = channel - channel.mean()
        beta = float(o @ lum) / max(float(lum @ lum), 1e-9)
        maps.append(o - beta * lum)
    return np.stack(maps)


def color_agreement(lq: Image.Image, out: Image.Image) -> float:
    """Correlation of the opponent-colour layouts of LQ and output (1 = same colour layout).

    Returns 1.0 when the input has (nearly) no colour layout of its own (std < 4: greyscale, a
    cast or a toning): there is no colour to disagree with.
    """
    a, b = _color_layout(lq), _color_layout(out)
    if a.std() < 4:
        return 1.0
    if b.std() < 1e-6:
        return 0.0
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def _edges(img: np.ndarray) -> np.ndarray:
    return np.hypot(ndimage.sobel(img, 0), ndimage.sobel(img, 1)).ravel()


@dataclass
class HeuristicJudge:
    """Thresholded measurements standing in for a VLM judge (see module docstring)."""

    name: str = "heuristic"
    max_shift: float = 4.0
    min_color_corr: float = 0.5
    min_edge_corr: float = 0.5
    noise_margin: float = 1.0
    min_contrast_ratio: float = 0.8
    min_change: float = 1.0
    max_clipped: float = 0.25

    def judge(self, lq: Image.Image, out: Image.Image, *, prompt: str | None = None) -> Verdict:
        reasons: dict[str, str] = {}
        reg, tol = estimate_similarity(lq, out), GeometryTolerances()
        aligned = reg.confidence < tol.min_confidence or (
            reg.shift <= self.max_shift
            and abs(reg.scale - 1) <= tol.max_scale_error
            and abs(reg.rotation_deg) <= tol.max_rotation_deg
        )
        reasons["geometry_alignment"] = (
            f"shift {reg.shift:.1f}px (max {self.max_shift}), scale {reg.scale:.3f}, "
            f"rotation {reg.rotation_deg:.2f}°, confidence {reg.confidence:.1f}"
        )
        color = color_agreement(lq, out)
        cast = color_shift(lq, out)
        reasons["color_consistency"] = (
            f"colour-layout correlation {color:.2f} (min {self.min_color_corr}), "
            f"global cast ΔE {cast.delta_e:.1f}"
        )
        e_lq, e_out = _edges(_grey(lq, 128)), _edges(_grey(out, 128))
        corr = float(np.corrcoef(e_lq, e_out)[0, 1]) if e_lq.std() > 0 and e_out.std() > 0 else 0.0
        reasons["object_consistency"] = f"edge correlation {corr:.2f} (min {self.min_edge_corr})"
        lum_lq = np.asarray(lq.convert("L"), dtype=np.float64)
        lum = np.asarray(out.convert("L").resize(lq.size), dtype=np.float64)
        n_lq, n_out = noise_sigma(lum_lq), noise_sigma(lum)
        contrast = lum.std() / max(lum_lq.std(), 1e-6)
        reasons["restoration_quality"] = f"noise σ {n_lq:.1f} → {n_out:.1f}, contrast ×{contrast:.2f}"
        clipped = float(((lum <= 0) | (lum >= 255)).mean())
        reasons["content_reasonableness"] = f"std {lum.std():.1f}, clipped {clipped:.0%}"
        changed = float(np.abs(lum - lum_lq).mean())
        reasons["restoration_quality"] += f", mean change {changed:.1f}"
        aspects = {
            "restoration_quality": changed >= self.min_change
            and n_out <= n_lq + self.noise_margin
            and contrast >= self.min_contrast_ratio,
            "object_consistency": np.isfinite(corr) and corr >= self.min_edge_corr,
            "geometry_alignment": aligned,
            "content_reasonableness": lum.std() >= 8 and clipped < self.max_clipped,
            "color_consistency": color >= self.min_color_corr,
        }
        failed = [k for k, ok in aspects.items() if not ok]
        feedback = "; ".join(f"fix {k.replace('_', ' ')}: {reasons[k]}" for k in failed) or None
        return Verdict({k: bool(v) for k, v in aspects.items()}, reasons, feedback)
