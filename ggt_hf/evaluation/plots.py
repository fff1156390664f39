"""Plots of a composite: a radar of the group scores per system and a bar chart of Avg.

Figures are drawn with matplotlib's object-oriented API on the Agg canvas (no pyplot, no global
backend switch, never ``show()``), so they work headless and from worker threads. Each system keeps
the same colour (by input order) in both plots.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from ggt_hf.evaluation.composite import GROUP_TITLES, CompositeResult

DPI = 120


def _figure(width: float, height: float, **kwargs):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, **kwargs)
    FigureCanvasAgg(fig)
    return fig


def _colours(result: CompositeResult) -> dict[str, tuple]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(result.systems) <= 10 else "tab20"]
    return {s: cmap(i % cmap.N) for i, s in enumerate(result.systems)}


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    return path


def radar_chart(result: CompositeResult, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """One polygon per system over the group axes (fidelity, perceptual, vlm); saves a PNG.

    Groups without a score for any system are left out. A system missing a group that others
    have is drawn at 0 on that axis and its legend entry says so. Legend entries follow the
    ranking and show Avg. Returns ``path``.
    """
    groups = result.present_groups
    colours = _colours(result)
    fig = _figure(8.0, 6.0)
    title = title or "Composite group scores (1 = best)"
    if not groups or not result.systems:
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, "no composite scores to plot", ha="center", va="center", fontsize=12)
        ax.set_title(title, fontsize=13)
        return _save(fig, path)

    ax = fig.add_subplot(projection="polar")
    angles = [2 * math.pi * i / len(groups) for i in range(len(groups))]
    ax.set_theta_offset(math.pi / 2)
    ax.set_theta_direction(-1)
    ax.set_xticks(angles)
    ax.set_xticklabels([GROUP_TITLES.get(g, g) for g in groups], fontsize=11)
    ax.set_ylim(0, 1.05)
    ax.set_yticks([0.25, 0.5, 0.75, 1.0])
    ax.set_yticklabels(["0.25", "0.50", "0.75", "1.00"], fontsize=8, color="0.4")
    ax.set_rlabel_position(180 / len(groups))
    ax.grid(True, color="0.8")
    for system in result.ranking():
        scores = result.groups.get(system, {})
        values = [scores.get(g) for g in groups]
        missing = [GROUP_TITLES.get(g, g) for g, v in zip(groups, values, strict=True) if v is None]
        ys = [0.0 if v is None else v for v in values]
        avg = result.avg.get(system)
        label = f"{system} (Avg {avg:.3f})" if avg is not None else f"{system} (Avg n/a)"
        if missing:
            label += f" [no {', '.join(missing)}]"
        colour = colours[system]
        ax.plot([*angles, angles[0]], [*ys, ys[0]], color=colour, linewidth=2, marker="o", label=label)
        ax.fill([*angles, angles[0]], [*ys, ys[0]], color=colour, alpha=0.12)
    ax.set_title(title, fontsize=13, pad=18)
    ax.legend(loc="upper left", bbox_to_anchor=(1.08, 1.0), fontsize=9, frameon=False)
    return _save(fig, path)


def avg_bar_chart(result: CompositeResult, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Horizontal bars of Avg in ranking order (best on top), each annotated; saves a PNG.

    Systems without Avg get an empty bar annotated ``n/a``. Returns ``path``.
    """
    systems = result.ranking()
    colours = _colours(result)
    fig = _figure(7.5, max(2.5, 0.5 * len(systems) + 1.4))
    ax = fig.add_subplot()
    values = [result.avg.get(s) for s in systems]
    ys = list(range(len(systems)))
    ax.barh(
        ys,
        [0.0 if v is None else v for v in values],
        color=[colours[s] for s in systems],
        height=0.6,
        edgecolor="0.2",
        linewidth=0.5,
    )
    for y, v in zip(ys, values, strict=True):
        ax.text(
            (v or 0.0) + 0.015, y, "n/a" if v is None else f"{v:.3f}", va="center", ha="left", fontsize=10
        )
    ax.set_yticks(ys)
    ax.set_yticklabels(systems, fontsize=10)
    ax.invert_yaxis()  # best on top
    ax.set_xlim(0, 1.15)
    ax.set_xlabel("Avg. (mean of group scores, 1 = best)", fontsize=10)
    ax.set_title(title or "Composite score by system", fontsize=13)
    ax.grid(axis="x", color="0.9")
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _save(fig, path)
