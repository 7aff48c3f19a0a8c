"""Matplotlib figures for the sweep report (``report.py``), returned as PNG bytes.

Everything is drawn on ``matplotlib.figure.Figure`` objects with the Agg canvas directly: no
``pyplot``, so making a report never changes the caller's backend or global figure state (it
is safe in a notebook, a headless server and a worker thread alike).

The functions here only draw: the report aggregates the runs (median and min–max over seeds)
and passes :class:`Line` objects; each figure is one or more :class:`Panel` s.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullLocator

DPI = 110
LOSS_CONVENTION = "mean of ½(prediction − target)²"

#: Axis labels of the logged metrics (docs/run-directory.md); a loss always states its convention.
METRIC_LABELS = {
    "loss": f"training loss ({LOSS_CONVENTION})",
    "test_loss": f"held-out loss ({LOSS_CONVENTION})",
    "objective": f"objective L + weight·R (L: {LOSS_CONVENTION})",
    "modified_loss": f"modified loss (L: {LOSS_CONVENTION})",
    "test_error": "test error ‖W − W*‖_F / ‖W*‖_F",
    "test_mse_all_entries": "test MSE over all entries ‖W − W*‖_F² / (n·m)",
    "effective_rank": "effective rank exp H(σ/Σσ)",
    "param_norm": "parameter norm ‖θ‖₂",
    "nuclear_norm": "nuclear norm ‖W‖_* = Σσᵢ",
    "nuclear_fro_ratio": "‖W‖_* / ‖W‖_F",
    "stable_rank": "stable rank ‖W‖_F² / ‖W‖₂²",
    "end_to_end_norm": "‖W‖_F",
    "end_to_end_l1": "Σ|W_ij|",
    "balancedness": "balancedness (max_j ‖W_{j+1}ᵀW_{j+1} − W_jW_jᵀ‖_F)",
    "penalty": "penalty R (unweighted)",
    "function_effective_rank": "function effective rank",
    "function_nuclear_fro_ratio": "function Σσ / √(Σσ²)",
}


def metric_label(metric: str) -> str:
    """The axis label of a metric (the loss convention included where a loss is shown)."""
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def plain(text: str) -> str:
    """Text drawn literally by matplotlib: ``$`` would otherwise start mathtext."""
    return str(text).replace("$", r"\$")


@dataclass
class Line:
    """One curve: ``mid`` against ``x``, a band from ``lo`` to ``hi``, optional raw points."""

    label: str
    x: np.ndarray
    mid: np.ndarray
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    color: str | tuple = "C0"
    linestyle: str = "-"
    marker: str | None = None
    points_x: np.ndarray | None = None
    points_y: np.ndarray | None = None


@dataclass
class Panel:
    title: str
    lines: list[Line] = field(default_factory=list)


def spans_decades(values, decades: float = 2.0) -> bool:
    """True when every finite value is > 0 and max/min ≥ 10**decades: a log axis reads better."""
    v = np.asarray([x for x in np.ravel(np.asarray(values, dtype=float)) if np.isfinite(x)])
    if v.size < 2 or np.any(v <= 0):
        return False
    return bool(v.max() / v.min() >= 10.0 ** decades)


def geometric(values) -> bool:
    """True for a positive axis spanning at least a decade that is not evenly spaced (a learning
    rate or scale sweep such as 0.5, 0.1, 0.02): a log x axis reads better. Evenly spaced values
    (depth 1, 2, …, 12; an index) stay linear."""
    v = np.unique([x for x in np.ravel(np.asarray(values, dtype=float)) if np.isfinite(x)])
    if v.size < 2 or np.any(v <= 0) or v.max() / v.min() < 10.0:
        return False
    steps = np.diff(v)
    return not (v.size >= 3 and np.allclose(steps, steps[0], rtol=1e-6))


def _values(lines: Sequence[Line], axis: str) -> np.ndarray:
    """Every x (``axis="x"``) or y value the lines draw, as one float array."""
    names = ("x", "points_x") if axis == "x" else ("mid", "lo", "hi", "points_y")
    chunks = [np.asarray(getattr(line, name), dtype=float).ravel()
              for line in lines for name in names if getattr(line, name) is not None]
    return np.concatenate(chunks) if chunks else np.zeros(0)


def _decades(values) -> float:
    """log10(max/min) of the finite positive values (0 if fewer than two)."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    return float(np.log10(v.max() / v.min())) if v.size >= 2 else 0.0


def _log_y(ax, minor: bool) -> None:
    """A log y axis; minor ticks only over a few decades (beyond, they are unreadable and each
    tick costs drawing time)."""
    ax.set_yscale("log")
    if not minor:
        ax.yaxis.set_minor_locator(NullLocator())


def _positive(values) -> np.ndarray:
    """Non-positive values are masked (NaN) on a log axis instead of breaking it."""
    v = np.asarray(values, dtype=float).copy()
    v[~(v > 0)] = np.nan
    return v


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(max_cols, max(1, n))
    return int(np.ceil(n / cols)), cols


def _size(n_panels: int, panel_size=(4.6, 3.5), single_size=(8.0, 4.4)) -> tuple[float, float]:
    rows, cols = _grid(n_panels)
    if n_panels == 1:
        return single_size
    return panel_size[0] * cols, panel_size[1] * rows + 0.6


def _new_figure(n_panels: int, *, panel_size=(4.6, 3.5), single_size=(8.0, 4.4), extra_width: float = 0.0,
                extra_height: float = 0.0, sharey: bool = False):
    rows, cols = _grid(n_panels)
    width, height = _size(n_panels, panel_size, single_size)
    fig = Figure(figsize=(width + extra_width, height + extra_height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=False, sharey=sharey)
    for ax in axes.ravel()[n_panels:]:
        ax.set_visible(False)
    return fig, list(axes.ravel()[:n_panels])


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes (no timestamp or software metadata, so the bytes are reproducible)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _legend_outside(n_panels: int, labels: Sequence[str]) -> bool:
    """Inside the axes only for one panel with a few short labels; else right of the panels."""
    return not (n_panels == 1 and len(labels) <= 4 and max((len(l) for l in labels), default=0) <= 24)


def _legend_columns(labels: Sequence[str], width: float) -> int:
    per = 0.8 + 0.07 * max((len(l) for l in labels), default=0)
    return max(1, min(len(labels), int(width // per)))


def _legend(fig: Figure, axes, lines_by_label: dict, title: str | None, max_entries: int = 30) -> None:
    if not lines_by_label or len(lines_by_label) > max_entries:
        return
    if len(lines_by_label) == 1 and not title:
        return
    handles = list(lines_by_label.values())
    labels = [plain(label) for label in lines_by_label]
    if not _legend_outside(len(axes), list(lines_by_label)):
        axes[0].legend(handles, labels, title=plain(title) if title else None, fontsize="small",
                       title_fontsize="small", framealpha=0.85)
    else:  # below the panels: a legend on the right would squeeze them
        fig.legend(handles, labels, title=plain(title) if title else None, loc="outside lower center",
                   ncols=_legend_columns(labels, fig.get_figwidth()), fontsize="small", title_fontsize="small",
                   frameon=False)


def band_figure(panels: Sequence[Panel], *, title: str, xlabel: str, ylabel: str, logx: bool | None = None,
                logy: bool | None = None, legend_title: str | None = None,
                categories: Sequence[str] | None = None, integer_x: bool = False,
                xticks: Sequence[tuple[float, str]] | None = None) -> bytes:
    """Panels of lines with min–max bands (``logx``/``logy`` None: log where values span decades).

    ``categories``: x holds positions 0..n-1 labelled with these strings (a non-numeric x);
    ``xticks``: (position, label) pairs, e.g. exactly the swept values.
    """
    all_lines = [line for panel in panels for line in panel.lines]
    if logy is None:
        logy = spans_decades(_values(all_lines, "y"))
    few_decades = _decades(_values(all_lines, "y")) <= 3
    if logx is None:
        logx = categories is None and geometric(_values(all_lines, "x"))
    labels = list(dict.fromkeys(line.label for line in all_lines))
    extra_height = 0.0
    if 1 < len(labels) <= 30 and _legend_outside(len(panels), labels):  # room for the legend below
        extra_height = 0.2 * np.ceil(len(labels) / _legend_columns(labels, _size(len(panels))[0])) + 0.15
    fig, axes = _new_figure(len(panels), sharey=True, extra_height=extra_height)  # one y scale: panels compare
    handles: dict[str, object] = {}
    for ax, panel in zip(axes, panels):
        for line in panel.lines:
            x = np.asarray(line.x, dtype=float)
            tf = _positive if logy else (lambda v: np.asarray(v, dtype=float))
            (handle,) = ax.plot(x, tf(line.mid), color=line.color, linestyle=line.linestyle,
                                marker=line.marker, markersize=5, linewidth=1.6, label=plain(line.label))
            if line.lo is not None and line.hi is not None:
                ax.fill_between(x, tf(line.lo), tf(line.hi), color=line.color, alpha=0.18, linewidth=0)
            if line.points_x is not None and line.points_y is not None:
                ax.scatter(np.asarray(line.points_x, dtype=float), tf(line.points_y), s=22, color=line.color,
                           alpha=0.75, edgecolors="white", linewidths=0.5, zorder=3)
            handles.setdefault(line.label, handle)
        if logy:
            _log_y(ax, few_decades)
        if logx:
            ax.set_xscale("log")
        if categories is not None:
            ax.set_xticks(range(len(categories)), [plain(c) for c in categories])
            ax.set_xlim(-0.5, len(categories) - 0.5)
        elif xticks is not None:
            ax.set_xticks([p for p, _ in xticks], [plain(t) for _, t in xticks])
            ax.xaxis.set_minor_locator(NullLocator())  # only the swept values are marked
        elif integer_x and not logx:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, which="major", alpha=0.3)
        if logy and few_decades:
            ax.grid(True, which="minor", axis="y", alpha=0.1)
        if len(panels) > 1:
            ax.set_title(_wrap(panel.title), fontsize="medium" if len(panel.title) < 40 else "small")
        ax.set_xlabel(plain(xlabel))
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel(plain(ylabel), fontsize="small" if len(ylabel) > 30 else "medium")
    suptitle = title if len(panels) > 1 or not panels or not panels[0].title else f"{title} — {panels[0].title}"
    fig.suptitle(plain(suptitle), fontsize="large")
    _legend(fig, axes, handles, legend_title)
    return png(fig)


def spectrum_evolution_figure(panels: Sequence[tuple[str, np.ndarray, np.ndarray]], *, title: str,
                              xlabel: str = "step") -> bytes:
    """Small multiples of σᵢ(step): each panel is ``(title, steps, values)`` with ``values``
    of shape (n_steps, k), the singular values in descending order; log scale where they span
    decades."""
    fig, axes = _new_figure(len(panels), panel_size=(4.2, 3.1), extra_width=1.2)
    k_max = max((v.shape[1] for _, _, v in panels if v.ndim == 2), default=1)
    cmap = _colormap("plasma")  # not viridis: the other figures color by the swept parameter with it
    colors = [cmap(0.85 * i / max(1, k_max - 1)) for i in range(k_max)]
    all_values = np.concatenate([v.ravel() for _, _, v in panels]) if panels else np.zeros(0)
    logy = spans_decades(all_values)
    ylim = None
    finite = all_values[np.isfinite(all_values) & ((all_values > 0) if logy else True)]
    if finite.size:
        ylim = (finite.min() / 1.5, finite.max() * 1.5) if logy else (min(0.0, finite.min()), finite.max() * 1.05)
    for ax, (panel_title, steps, values) in zip(axes, panels):
        for i in range(values.shape[1] if values.ndim == 2 else 0):
            y = _positive(values[:, i]) if logy else values[:, i]
            ax.plot(steps, y, color=colors[i], linewidth=1.4, label=f"σ{_subscript(i + 1)}")
        if logy:
            _log_y(ax, _decades(all_values) <= 3)
        if ylim is not None:
            ax.set_ylim(*ylim)  # shared scale: panels compare at a glance
        ax.set_title(_wrap(panel_title, 48), fontsize="small")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("σᵢ(W)")
        ax.grid(True, alpha=0.3)
    if axes and k_max > 1:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right upper", fontsize="small", frameon=False,
                   title="singular value", title_fontsize="small")
    fig.suptitle(plain(title), fontsize="large")
    return png(fig)


def _wrap(text: str, width: int = 42) -> str:
    """A panel title wrapped at ", " so that long group labels do not run into the next panel."""
    lines, current = [], ""
    for part in str(text).split(", "):
        candidate = f"{current}, {part}" if current else part
        if current and len(candidate) > width:
            lines.append(current + ",")
            current = part
        else:
            current = candidate
    lines.append(current)
    return plain("\n".join(lines))


def _colormap(name: str):
    from matplotlib import colormaps

    return colormaps[name]


def _subscript(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def palette(n: int, ordered: bool) -> list:
    """``n`` colors: an ordered (viridis, yellow end cut) ramp for an ordered parameter,
    the categorical tab10/tab20 cycle otherwise."""
    if ordered and n >= 3:
        cmap = _colormap("viridis")
        return [cmap(0.85 * i / (n - 1)) for i in range(n)]
    cmap = _colormap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


LINESTYLES = ["-", "--", ":", "-."]
