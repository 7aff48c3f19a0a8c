"""The figures of the sweep report, as PNG bytes drawn by :mod:`implicit_bias.analysis.plots`:
a metric against step per group (median and min–max band over seeds), the final metric against
the swept parameter, and the singular-value spectra (final, and during training).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from implicit_bias.analysis import plots
from implicit_bias.analysis.report.selection import (Choice, Group, _column_values, _distinct, _hashable,
                                                     _is_number, _seed_note, _sorted, _text, band, make_groups)

MAX_FACETS = 12
MAX_SPECTRUM_PANELS = 12


@dataclass
class Figure:
    title: str
    caption: str
    png: bytes

    def size(self) -> tuple[int, int]:
        """Pixel width and height, from the PNG header."""
        return struct.unpack(">II", self.png[16:24])


class _Styles:
    """Consistent colors (by x value) and line styles (by the other non-hue parameters)."""

    def __init__(self, runs: pd.DataFrame, choice: Choice):
        self.choice = choice
        x = choice.x if choice.x != "seed" else None
        self.x_values = _distinct(runs, x) if x else []
        ordered = bool(self.x_values) and all(_is_number(v) for v in self.x_values)
        self.x_colors = dict(zip(self.x_values, plots.palette(len(self.x_values), ordered)))
        self.others = [k for k in choice.parameters if k not in (choice.x, choice.hue)]
        rows = zip(*(_column_values(runs, k) for k in self.others)) if self.others else [()]
        combos = _sorted(tuple(row) for row in rows)
        self.other_styles = {c: plots.LINESTYLES[i % len(plots.LINESTYLES)] for i, c in enumerate(combos)}
        hue_values = _distinct(runs, choice.hue) if choice.hue else []
        self.hue_colors = dict(zip(hue_values, plots.palette(len(hue_values),
                                                              all(_is_number(v) for v in hue_values))))

    def group_style(self, group: Group, index: int) -> tuple[Any, str]:
        x = self.choice.x
        color = self.x_colors.get(group.values.get(x)) if x in group.values else f"C{index % 10}"
        style = self.other_styles.get(tuple(group.values.get(k) for k in self.others), "-")
        return color, style


def _facets(groups: list[Group], hue: str | None) -> list[tuple[str, list[Group]]]:
    if hue is None:
        return [("", groups)]
    facets: dict[Any, list[Group]] = {}
    for group in groups:
        facets.setdefault(group.values.get(hue), []).append(group)
    return [(f"{hue}={_text(v)}", facets[v]) for v in _sorted(facets)]


def band_panels(metrics: pd.DataFrame, groups: list[Group], choice: Choice, styles: _Styles, metric: str,
                step: str, extra_lines: Callable[[Group, str, Any, np.ndarray], list] | None = None) -> list:
    """One panel per facet (``choice.hue``; at most ``MAX_FACETS``): for each group, ``metric``
    against ``step`` as the median over its seeds with a min–max band, followed by
    ``extra_lines(group, label, color, x)`` (e.g. a threshold in the group's color)."""
    by_run = {run_dir: frame for run_dir, frame in metrics.groupby("run_dir", sort=False)}
    panels = []
    for facet_title, facet_groups in _facets(groups, choice.hue)[:MAX_FACETS]:
        panel = plots.Panel(facet_title)
        for i, group in enumerate(facet_groups):
            curves = [(by_run[r][step].to_numpy(), by_run[r][metric].to_numpy(dtype=float))
                      for r in group.runs["run_dir"] if r in by_run]
            x, mid, lo, hi = band(curves)
            if not len(x):
                continue
            color, linestyle = styles.group_style(group, i)
            several = len(curves) > 1
            label = group.label([choice.hue])
            panel.lines.append(plots.Line(label, x, mid, lo if several else None, hi if several else None,
                                          color=color, linestyle=linestyle, marker="o" if len(x) == 1 else None))
            if extra_lines is not None:
                panel.lines += extra_lines(group, label, color, x)
        if panel.lines:
            panels.append(panel)
    return panels


def trajectory_figure(metrics: pd.DataFrame, groups: list[Group], choice: Choice, styles: _Styles,
                      metric: str, step: str) -> Figure | None:
    """``metric`` against ``step`` for each group: median over seeds, min–max band."""
    if metric not in metrics.columns or metrics.empty:
        return None
    truncated = len(_facets(groups, choice.hue)) > MAX_FACETS
    panels = band_panels(metrics, groups, choice, styles, metric, step)
    if not panels:
        return None
    name = plots.metric_label(metric)
    short = metric.replace("_", " ")
    png = plots.band_figure(panels, title=f"{short[0].upper()}{short[1:]} during training", xlabel=step,
                            ylabel=name, legend_title=None, integer_x=step == "step")
    caption = (f"{name[0].upper()}{name[1:]} against {step}. Lines: median over the seeds of each group; shaded band: "
               f"min–max over the seeds. {_seed_note(groups)}."
               + (f" One panel per {choice.hue}." if choice.hue and len(panels) > 1 else "")
               + (f" Only the first {MAX_FACETS} panels are drawn." if truncated else ""))
    return Figure(f"{short} against {step}", caption, png)


def final_figure(runs: pd.DataFrame, choice: Choice, styles: _Styles) -> Figure | None:
    """Final ``y`` against the swept parameter ``x``, one line per value of the other parameters."""
    x, y = choice.x, choice.y
    column = f"final.{y}"
    if x is None or column not in runs.columns:
        return None
    x_values = _distinct(runs, x)
    numeric = all(_is_number(v) for v in x_values)
    position = {v: (float(v) if numeric else float(i)) for i, v in enumerate(x_values)}
    line_keys = [k for k in choice.parameters if k != x]
    lines_groups = make_groups(runs, line_keys)
    lines = []
    for i, group in enumerate(lines_groups):
        xs, ys = [], []
        for row in group.runs.to_dict("records"):
            value = row[column]
            if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            xs.append(position[_hashable(row[x])])
            ys.append(float(value))
        if not xs:
            continue
        at = _sorted(xs)
        per = [[v for u, v in zip(xs, ys) if u == a] for a in at]
        several = any(len(p) > 1 for p in per)
        hue_value = group.values.get(choice.hue) if choice.hue else None
        color = styles.hue_colors.get(hue_value, f"C{i % 10}") if choice.hue else f"C{i % 10}"
        linestyle = styles.other_styles.get(tuple(group.values.get(k) for k in styles.others), "-")
        lines.append(plots.Line(group.label(), np.array(at), np.array([np.median(p) for p in per]),
                                np.array([min(p) for p in per]) if several else None,
                                np.array([max(p) for p in per]) if several else None,
                                color=color, linestyle=linestyle, marker="o",
                                points_x=np.array(xs) if several else None,
                                points_y=np.array(ys) if several else None))
    if not lines:
        return None
    name = plots.metric_label(y)
    short = y.replace("_", " ")
    png = plots.band_figure([plots.Panel("", lines)], title=f"Final {short} against {x}", xlabel=x,
                            ylabel=f"final {name}", categories=None if numeric else [_text(v) for v in x_values],
                            integer_x=numeric and all(isinstance(v, int) for v in x_values),
                            xticks=[(float(v), _text(v)) for v in x_values] if numeric and len(x_values) <= 12
                            else None)
    caption = (f"Final {name} of each run (dots) against {x}; line: median over seeds, band: min–max over "
               f"seeds." + (f" One line per value of {', '.join(line_keys)}." if line_keys else ""))
    return Figure(f"final {short} against {x}", caption, png)


def _spectrum(value: Any) -> np.ndarray | None:
    """A logged spectrum as a float array; None where there is none (NaN or null in a mixed sweep)."""
    if not isinstance(value, (list, tuple, np.ndarray)):
        return None
    array = np.asarray(value, dtype=float).ravel()
    return array if array.size else None


def spectrum_figure(runs: pd.DataFrame, groups: list[Group], choice: Choice, styles: _Styles) -> Figure | None:
    """The final singular values σ₁ ≥ σ₂ ≥ … of each group: median over seeds, min–max band."""
    if "final.singular_values" not in runs.columns:
        return None
    facets = _facets(groups, choice.hue)
    panels = []
    for facet_title, facet_groups in facets[:MAX_FACETS]:
        panel = plots.Panel(facet_title)
        for i, group in enumerate(facet_groups):
            spectra = [s for s in (_spectrum(v) for v in group.runs["final.singular_values"]) if s is not None]
            if not spectra:
                continue
            curves = [(np.arange(1, len(s) + 1), s) for s in spectra]
            x, mid, lo, hi = band(curves)
            color, linestyle = styles.group_style(group, i)
            several = len(spectra) > 1
            panel.lines.append(plots.Line(group.label([choice.hue]), x, mid, lo if several else None,
                                          hi if several else None, color=color, linestyle=linestyle, marker="o"))
        if panel.lines:
            panels.append(panel)
    if not panels:
        return None
    png = plots.band_figure(panels, title="Final singular-value spectrum of W", xlabel="index i",
                            ylabel="σᵢ(W), descending", integer_x=True)
    caption = ("The singular values of the final end-to-end matrix W in descending order (the logged "
               "top_k); line: median over seeds, band: min–max over seeds."
               + (f" One panel per {choice.hue}." if choice.hue and len(panels) > 1 else ""))
    return Figure("final singular-value spectrum", caption, png)


def spectrum_evolution_figure(metrics: pd.DataFrame, groups: list[Group], step: str) -> Figure | None:
    """σᵢ(W) against step for the first seed of each group (small multiples)."""
    if "singular_values" not in metrics.columns or metrics.empty:
        return None
    by_run = {run_dir: frame for run_dir, frame in metrics.groupby("run_dir", sort=False)}
    panels = []
    for group in groups[:MAX_SPECTRUM_PANELS]:
        run = next((r for r in group.runs["run_dir"] if r in by_run), None)
        if run is None:
            continue
        frame = by_run[run]
        rows = [_spectrum(v) for v in frame["singular_values"]]
        k = max((len(r) for r in rows if r is not None), default=0)
        if k == 0:
            continue
        values = np.full((len(rows), k), np.nan)
        for i, r in enumerate(rows):
            if r is not None:
                values[i, :len(r)] = r
        seed = group.runs.loc[group.runs["run_dir"] == run, "seed"].iloc[0] if "seed" in group.runs else None
        title = group.label() + (f" (seed {seed})" if seed is not None else "")
        panels.append((title, frame[step].to_numpy(dtype=float), values))
    if not panels:
        return None
    png = plots.spectrum_evolution_figure(panels, title="Singular values of W during training", xlabel=step)
    caption = (f"σᵢ(W) against {step} for the lowest seed of each group (one panel per group"
               + (f"; the first {MAX_SPECTRUM_PANELS} of {len(groups)} groups" if len(groups) > MAX_SPECTRUM_PANELS
                  else "") + "). All panels share the y scale.")
    return Figure("singular values during training", caption, png)
