"""A run's learning curve as a small SVG line chart: the training and held-out loss against
minutes of training, from its log (:mod:`charsmith._runlog`). No dependency: the chart is
text.

    >>> text = svg(_runlog.read("runs/bard"), title="runs/bard")    # the chart
    >>> write("runs/bard", "curve.svg")                             # the same, into a file
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from charsmith import _runlog
from charsmith._fileio import atomic_write_text
from charsmith._rundir import METRICS_FILE
from charsmith.errors import InputError

__all__ = ["series", "svg", "write"]

WIDTH, HEIGHT = 640, 400
LEFT, RIGHT, TOP, BOTTOM = 64, 20, 36, 52  # margins around the plot area
COLORS = {"training": "#1f77b4", "held-out": "#d62728"}
Points = list[tuple[float, float]]


def series(records: Sequence[dict[str, Any]]) -> dict[str, Points]:
    """(minutes, loss) points of the training loss and of the held-out loss. The training
    loss is the log's training records; a log written before there were any gives the
    smoothed training loss of its evaluations instead."""
    def points(rows: Sequence[dict[str, Any]], key: str) -> Points:
        return [(r["elapsed"] / 60, float(r[key])) for r in rows
                if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])
                and isinstance(r.get("elapsed"), (int, float))]

    evals = [r for r in records if r.get("kind", _runlog.EVAL) == _runlog.EVAL]
    train = [r for r in records if r.get("kind") == _runlog.TRAIN] or evals
    return {"training": points(train, "train_loss"), "held-out": points(evals, "val_loss")}


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round values from ``lo`` to ``hi`` (steps of 1, 2 or 5 times a power of 10)."""
    raw = (hi - lo) / n
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw / 1.25)
    first = math.ceil(lo / step - 1e-9) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _label(value: float, ticks: Sequence[float]) -> str:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    digits = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:.{digits}f}"


def svg(records: Sequence[dict[str, Any]], *, title: str = "") -> str:
    """The chart of ``records`` (a run's log) as SVG text. Raises InputError when they hold
    no loss to draw."""
    lines = {name: pts for name, pts in series(records).items() if pts}
    if not lines:
        raise InputError(f"{title or 'the log'} has no loss to plot yet: train the run until its first records are "
                         "written")
    xs = [x for pts in lines.values() for x, _ in pts]
    ys = [y for pts in lines.values() for _, y in pts]
    x_hi = max(max(xs), 1e-3)
    pad = max(0.03 * (max(ys) - min(ys)), 0.05)  # the lines clear of the frame
    y_lo, y_hi = min(ys) - pad, max(ys) + pad
    x_ticks, y_ticks = _ticks(0.0, x_hi), _ticks(y_lo, y_hi)
    w, h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + w * x / x_hi

    def py(y: float) -> float:
        return TOP + h * (y_hi - y) / (y_hi - y_lo)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>']
    if title:
        out.append(f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="14">{escape(title)}</text>')
    for x in x_ticks:
        out.append(f'<line x1="{px(x):.1f}" y1="{TOP}" x2="{px(x):.1f}" y2="{TOP + h}" stroke="#e6e6e6"/>'
                   f'<text x="{px(x):.1f}" y="{TOP + h + 16}" text-anchor="middle">{_label(x, x_ticks)}</text>')
    for y in y_ticks:
        out.append(f'<line x1="{LEFT}" y1="{py(y):.1f}" x2="{LEFT + w}" y2="{py(y):.1f}" stroke="#e6e6e6"/>'
                   f'<text x="{LEFT - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{_label(y, y_ticks)}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{w}" height="{h}" fill="none" stroke="black"/>')
    out.append(f'<text x="{LEFT + w / 2}" y="{HEIGHT - 12}" text-anchor="middle">minutes of training</text>')
    out.append(f'<text transform="translate(16 {TOP + h / 2}) rotate(-90)" text-anchor="middle">'
               'loss (nats/char)</text>')
    for name, pts in lines.items():
        color = COLORS[name]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        out.append(f'<polyline class="{name}" fill="none" stroke="{color}" stroke-width="1.5" points="{path}"/>')
        if name == "held-out":
            out.extend(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{color}"/>' for x, y in pts)
    for i, name in enumerate(lines):  # the legend, top right
        y = TOP + 16 + 18 * i
        last = lines[name][-1][1]
        out.append(f'<line x1="{LEFT + w - 170}" y1="{y - 4}" x2="{LEFT + w - 150}" y2="{y - 4}" '
                   f'stroke="{COLORS[name]}" stroke-width="2"/>'
                   f'<text x="{LEFT + w - 144}" y="{y}">{name} loss (last {last:.3f})</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write(run: str | os.PathLike[str], out: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write the chart of the run in directory ``run`` to the file ``out`` (atomically);
    an existing ``out`` is replaced only with ``force``. Returns ``out``."""
    run, out = Path(run), Path(out)
    try:
        records = _runlog.read(run)
    except (FileNotFoundError, NotADirectoryError):
        raise InputError(f"{run} has no {METRICS_FILE}: only a run directory charsmith trained has a curve "
                         "(a bundled model has none)", param="model") from None
    text = svg(records, title=str(run))
    if out.exists() and not force:
        raise InputError(f"{out} already exists; replace it with `force`, or choose another `plot`", param="plot")
    if not out.parent.is_dir():
        raise InputError(f"the folder {out.parent} does not exist; create it, or choose another `plot`", param="plot")
    atomic_write_text(out, text)
    return out
