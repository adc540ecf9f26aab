"""PNG plots of accuracy (95% CI) against budget, generated tokens, FLOPs and wall time; one line per series.

Uses matplotlib's object API with the Agg canvas (no pyplot, no global state, no display needed). Each
figure has one panel per task; ``plot_levels`` draws accuracy against budget with one panel per difficulty
level. Costs are means per problem-run (see ``aggregate``); x axes are logarithmic (base 2 for budget).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ponder.eval.aggregate import Point

__all__ = ["AXES", "plot_accuracy", "plot_all", "plot_levels"]

AXES: dict[str, tuple[str, str]] = {
    "budget": ("budget", "budget (samples / rounds / ...)"),
    "tokens": ("completion_tokens", "generated tokens per problem"),
    "flops": ("flops", "FLOPs per problem (2·N·tokens, verifier included)"),
    "wall": ("wall_seconds", "wall seconds per problem"),
}
"""x axis name -> (Point attribute, axis label)."""


def _draw(ax: Axes, pts: Sequence[Point], attr: str, xlabel: str, title: str) -> None:
    series = list(dict.fromkeys(p.label for p in pts))
    for label in series:
        mine = sorted((p for p in pts if p.label == label), key=lambda p: getattr(p, attr))
        xs = [float(getattr(p, attr)) for p in mine]
        ys = [p.accuracy.mean for p in mine]
        lows = [max(0.0, p.accuracy.mean - p.accuracy.low) for p in mine]
        highs = [max(0.0, p.accuracy.high - p.accuracy.mean) for p in mine]
        ax.errorbar(xs, ys, yerr=[lows, highs], marker="o", capsize=3, label=label)
    positive = [getattr(p, attr) for p in pts if getattr(p, attr) and getattr(p, attr) > 0]
    if positive and max(positive) / min(positive) > 2:
        ax.set_xscale("log", base=2 if attr == "budget" else 10)
    if attr == "budget":
        ticks = sorted({p.budget for p in pts})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (95% CI)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")


def _figure(panels: int) -> tuple[Figure, list[Axes]]:
    cols = min(panels, 3)
    rows = math.ceil(panels / cols)
    fig = Figure(figsize=(5.5 * cols, 4.2 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[panels:]:
        ax.set_visible(False)
    return fig, flat[:panels]


def plot_accuracy(pts: Sequence[Point], x: str, path: Path) -> Path:
    """Accuracy against ``x`` (a key of ``AXES``), one panel per task; written to ``path``."""
    attr, xlabel = AXES[x]
    overall = [p for p in pts if p.level is None]
    tasks = list(dict.fromkeys(p.task for p in overall))
    fig, axes = _figure(max(1, len(tasks)))
    for ax, task in zip(axes, tasks, strict=False):
        _draw(ax, [p for p in overall if p.task == task], attr, xlabel, f"{task}: accuracy vs {x}")
    fig.savefig(path, dpi=110)
    return path


def plot_levels(pts: Sequence[Point], path: Path) -> Path | None:
    """Accuracy against budget, one panel per (task, difficulty level); None when no point has a level."""
    leveled = [p for p in pts if p.level is not None]
    if not leveled:
        return None
    panels = list(dict.fromkeys((p.task, p.level) for p in leveled))
    fig, axes = _figure(len(panels))
    for ax, (task, level) in zip(axes, panels, strict=True):
        mine = [p for p in leveled if p.task == task and p.level == level]
        _draw(ax, mine, "budget", AXES["budget"][1], f"{task}: level {level}")
    fig.savefig(path, dpi=110)
    return path


def plot_all(pts: Sequence[Point], out: Path) -> list[Path]:
    """Every plot into directory ``out``: accuracy_vs_{budget,tokens,flops,wall}.png and accuracy_by_level.png."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [plot_accuracy(pts, x, out / f"accuracy_vs_{x}.png") for x in AXES]
    by_level = plot_levels(pts, out / "accuracy_by_level.png")
    return [*paths, *([by_level] if by_level else [])]
