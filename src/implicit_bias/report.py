"""The sweep report: ``implicit-bias report DIR`` writes ``DIR/report.html`` (docs/report.md).

One self-contained HTML file: the sweep's parameters, a sortable table of the runs, and
matplotlib figures embedded as base64 PNG (metric against step per group with bands over
seeds, the final metric against a swept parameter, singular-value spectra). No external
resource of any kind: the page's Content-Security-Policy (``default-src 'none'``) forbids
loading anything but ``data:`` images, and allows exactly one script, ours, by its SHA-256.
Every string that comes from a run (names, config values, paths) is HTML-escaped.

Groups and bands: runs that differ only in ``seed`` form a group; a figure draws each group's
median over its seeds as a line and the min–max over its seeds as a band.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import html
import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from . import index, plots, store
from .config import ConfigError

REPORT = "report.html"
SWEEP = "sweep.json"
#: Columns of ``index.load`` that are not config parameters (``seed`` is the replicate axis).
NOT_PARAMETERS = ("run_dir", "name", "config_hash", "status", "steps", "time", "wall_seconds", "seed")
MAX_FACETS = 12
MAX_SPECTRUM_PANELS = 12


# --------------------------------------------------------------------------- values


def _hashable(value: Any) -> Any:
    """A config value as a hashable, comparable-by-equality key (lists → tuples, NaN → None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value is not None


def _sorted(values: Iterable[Any]) -> list:
    """Distinct values in a natural order: numerically if all are numbers, else by text."""
    unique = list(dict.fromkeys(values))
    if unique and all(_is_number(v) for v in unique):
        return sorted(unique)
    return sorted(unique, key=lambda v: (v is None, _text(v)))


def _text(value: Any) -> str:
    """A value as short display text (floats to 4 significant digits, lists as JSON)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, (tuple, list)):
        return json.dumps(list(value), default=str)
    return str(value)


def _sort_key(value: Any) -> str:
    """The ``data-sort`` attribute of a table cell: the full-precision number, or the text."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        if isinstance(value, float) and math.isinf(value):
            return repr(value).replace("inf", "Infinity")
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if _is_number(value):
        return repr(value)
    return _text(value)


def _column_values(runs: pd.DataFrame, key: str) -> list:
    return [_hashable(v) for v in runs[key]] if key in runs.columns else [None] * len(runs)


def _distinct(runs: pd.DataFrame, key: str) -> list:
    return _sorted(_column_values(runs, key))


# --------------------------------------------------------------------------- the sweep


def read_sweep(out: str | Path) -> tuple[dict | None, str | None]:
    """``DIR/sweep.json`` if present and readable: (spec, None); (None, why) if unreadable;
    (None, None) if absent. The file is optional: a directory of plain runs has none."""
    path = Path(out) / SWEEP
    if not path.is_file():
        return None, None
    try:
        spec = store.read_json(path)
    except (OSError, ValueError) as exc:
        return None, f"{SWEEP} is unreadable ({exc}); parameters are inferred from the runs"
    if not isinstance(spec, dict):
        return None, f"{SWEEP} is not a JSON object; parameters are inferred from the runs"
    return spec, None


def _sweep_axes(spec: dict | None) -> dict[str, list]:
    """The swept keys of a sweep spec, in order: ``grid`` keys, then ``zip`` keys (a table of
    lists, or a list of such tables), each with its listed values."""
    if not spec:
        return {}
    axes: dict[str, list] = {}
    grid = spec.get("grid")
    if isinstance(grid, dict):
        for key, values in grid.items():
            axes[str(key)] = list(values) if isinstance(values, (list, tuple)) else [values]
    zipped = spec.get("zip")
    tables = [zipped] if isinstance(zipped, dict) else zipped if isinstance(zipped, list) else []
    for table in tables:
        if isinstance(table, dict):
            for key, values in table.items():
                axes.setdefault(str(key), list(values) if isinstance(values, (list, tuple)) else [values])
    return axes


def parameter_columns(runs: pd.DataFrame) -> list[str]:
    """The config keys among the columns of ``index.load`` (``seed`` excluded)."""
    return [c for c in runs.columns if c not in NOT_PARAMETERS and not c.startswith("final.")]


def varying_parameters(runs: pd.DataFrame, spec: dict | None = None) -> list[str]:
    """Swept parameters, in order: the keys of ``sweep.json``'s grid then zip that list more
    than one value (and are config keys of the runs), then every other config key with more
    than one distinct value among the runs. ``seed`` is never one: it is the replicate axis."""
    params = parameter_columns(runs)
    ordered = [k for k, values in _sweep_axes(spec).items()
               if k != "seed" and k in params and len({json.dumps(v, sort_keys=True, default=str)
                                                      for v in values}) > 1]
    ordered += [k for k in params if k not in ordered and len(_distinct(runs, k)) > 1]
    return ordered


def _redundant(runs: pd.DataFrame, a: str, b: str) -> bool:
    """True when the two keys determine each other over the runs (e.g. zipped together)."""
    pairs = set(zip(_column_values(runs, a), _column_values(runs, b)))
    return len(pairs) == len({p[0] for p in pairs}) == len({p[1] for p in pairs})


def scalar_metrics(runs: pd.DataFrame) -> list[str]:
    """Final metrics with scalar values (``final.<metric>`` columns, without the prefix)."""
    out = []
    for column in runs.columns:
        if not column.startswith("final.") or column in ("final.step", "final.t"):
            continue
        values = [v for v in runs[column] if v is not None]
        if values and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in values):
            out.append(column[len("final."):])
    return out


def list_metrics(runs: pd.DataFrame) -> list[str]:
    return [c[len("final."):] for c in runs.columns
            if c.startswith("final.") and any(isinstance(v, (list, tuple, np.ndarray)) for v in runs[c])]


def _has_finite(runs: pd.DataFrame, metric: str) -> bool:
    column = f"final.{metric}"
    return column in runs.columns and any(
        isinstance(v, (int, float)) and math.isfinite(v) for v in runs[column] if v is not None)


def default_metric(runs: pd.DataFrame) -> str:
    """``test_error`` if any run has a finite one, else ``loss``, else the first scalar metric."""
    for metric in ("test_error", "loss"):
        if _has_finite(runs, metric):
            return metric
    metrics = scalar_metrics(runs)
    if not metrics:
        raise ConfigError("--y", "the runs have no scalar final metric to plot")
    return metrics[0]


@dataclass
class Choice:
    """What the report plots: ``x`` and ``hue`` config keys (or None), the metric ``y``, and
    the swept ``parameters`` (non-seed config keys that vary, in sweep order)."""

    x: str | None
    y: str
    hue: str | None
    parameters: list[str]
    notes: list[str] = field(default_factory=list)


def choose(runs: pd.DataFrame, spec: dict | None = None, x: str | None = None, y: str | None = None,
           hue: str | None = None) -> Choice:
    """Resolve ``--x``/``--y``/``--hue`` and their defaults (docs/report.md):

    - y: ``test_error`` if any run has a finite one, else ``loss``;
    - x: the first swept parameter (``sweep.json``'s grid, else the first config key with more
      than one distinct value other than ``seed``);
    - hue: the next swept parameter that is not determined one-to-one by x (or none);
      ``--hue none`` turns it off.

    Bad keys are a :class:`ConfigError` naming the flag and the choices.
    """
    parameters = varying_parameters(runs, spec)
    keys = set(parameter_columns(runs)) | ({"seed"} if "seed" in runs.columns else set())
    notes = []
    if y is None:
        y = default_metric(runs)
    else:
        y = y[len("final."):] if y.startswith("final.") else y
        available = scalar_metrics(runs)
        if y not in available and f"final.{y}" in runs.columns and runs[f"final.{y}"].isna().all():
            raise ConfigError("--y", f"{y!r} has no finite value in these runs (e.g. test_error without a ground "
                                     f"truth); choose one of {', '.join(available)}")
        if y not in available:
            if y in list_metrics(runs):
                raise ConfigError("--y", f"{y!r} is a list per step, not a scalar metric; choose one of "
                                         f"{', '.join(available)}")
            raise ConfigError("--y", f"unknown metric {y!r}; the runs have {', '.join(available) or 'none'}")
    for flag, key in (("--x", x), ("--hue", hue)):
        if key is not None and key != "none" and key not in keys:
            shown = ", ".join(parameters) if parameters else "none"
            raise ConfigError(flag, f"unknown config key {key!r}; the parameters that vary are: {shown}")
    if x == "none":
        raise ConfigError("--x", "must be a config key (omit it for the default)")
    if x is None:
        x = parameters[0] if parameters else None
    if hue == "none":
        hue = None
    elif hue is None:
        hue = next((k for k in parameters if k != x and (x is None or not _redundant(runs, x, k))), None)
        for key in parameters:
            if key != x and key != hue and x is not None and _redundant(runs, x, key):
                notes.append(f"{key} varies together with {x} (one value for each): not used as hue")
    elif hue == x:
        raise ConfigError("--hue", f"must differ from --x ({x})")
    elif hue == "seed":
        raise ConfigError("--hue", "seed is the replicate axis (the bands are taken over it); use it as --x instead")
    return Choice(x=x, y=y, hue=hue, parameters=parameters, notes=notes)


# --------------------------------------------------------------------------- groups


def _label(keys: Sequence[str], values: Sequence[Any]) -> str:
    return ", ".join(f"{k}={_text(v)}" for k, v in zip(keys, values))


@dataclass
class Group:
    """Runs that differ only in ``seed``: ``values`` of the swept parameters, and ``runs``
    (their rows of ``index.load``)."""

    values: dict[str, Any]
    runs: pd.DataFrame

    def label(self, without: Iterable[str | None] = ()) -> str:
        skip = set(without)
        keys = [k for k in self.values if k not in skip]
        return _label(keys, [self.values[k] for k in keys]) or "all runs"


def make_groups(runs: pd.DataFrame, parameters: Sequence[str]) -> list[Group]:
    """Group the runs by every swept parameter (so a group's runs differ only in seed),
    ordered by the parameters' natural orders."""
    if runs.empty:
        return []
    keys = list(parameters)
    tuples = [tuple(row) for row in zip(*(_column_values(runs, k) for k in keys))] if keys else [()] * len(runs)
    orders = [{v: i for i, v in enumerate(_distinct(runs, k))} for k in keys]
    groups: dict[tuple, list[int]] = {}
    for position, key in enumerate(tuples):
        groups.setdefault(key, []).append(position)
    ordered = sorted(groups, key=lambda t: tuple(order[v] for order, v in zip(orders, t)))
    out = []
    for key in ordered:
        members = runs.iloc[groups[key]]
        if "seed" in members.columns:
            members = members.sort_values("seed", kind="stable")
        out.append(Group(values=dict(zip(keys, key)), runs=members))
    return out


def _finite(values) -> np.ndarray:
    v = np.array(values, dtype=float)  # a copy: the input may be a read-only view
    v[~np.isfinite(v)] = np.nan
    return v


def band(curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Median, min and max over curves (x, y) at each x where at least one curve has a finite
    value; a run that stopped early (converged, diverged) leaves the statistics at the steps it
    did not reach. Returns (x, median, min, max)."""
    frames = [pd.Series(_finite(y), index=np.asarray(x, dtype=float)) for x, y in curves if len(x)]
    if not frames:
        return (np.zeros(0),) * 4
    table = pd.concat([f[~f.index.duplicated(keep="last")] for f in frames], axis=1).sort_index()
    table = table[table.notna().any(axis=1)]
    return (table.index.to_numpy(dtype=float), table.median(axis=1).to_numpy(), table.min(axis=1).to_numpy(),
            table.max(axis=1).to_numpy())


# --------------------------------------------------------------------------- figures


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


def _seed_note(groups: list[Group]) -> str:
    counts = sorted({len(g.runs) for g in groups})
    seeds = "–".join(str(c) for c in (counts[0], counts[-1])) if len(counts) > 1 else str(counts[0])
    return f"{len(groups)} group{'s' if len(groups) != 1 else ''} of runs differing only in seed ({seeds} per group)"


def trajectory_figure(metrics: pd.DataFrame, groups: list[Group], choice: Choice, styles: _Styles,
                      metric: str, step: str) -> Figure | None:
    """``metric`` against ``step`` for each group: median over seeds, min–max band."""
    if metric not in metrics.columns or metrics.empty:
        return None
    by_run = {run_dir: frame for run_dir, frame in metrics.groupby("run_dir", sort=False)}
    facets = _facets(groups, choice.hue)
    truncated = len(facets) > MAX_FACETS
    panels = []
    for facet_title, facet_groups in facets[:MAX_FACETS]:
        panel = plots.Panel(facet_title)
        for i, group in enumerate(facet_groups):
            curves = [(by_run[r][step].to_numpy(), by_run[r][metric].to_numpy(dtype=float))
                      for r in group.runs["run_dir"] if r in by_run]
            x, mid, lo, hi = band(curves)
            if not len(x):
                continue
            color, linestyle = styles.group_style(group, i)
            several = len(curves) > 1
            panel.lines.append(plots.Line(group.label([choice.hue]), x, mid, lo if several else None,
                                          hi if several else None, color=color, linestyle=linestyle,
                                          marker="o" if len(x) == 1 else None))
        if panel.lines:
            panels.append(panel)
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


# --------------------------------------------------------------------------- HTML

SCRIPT = r"""
(function () {
  "use strict";
  var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }
  function isNumeric(th) { return th.getAttribute("data-type") === "number"; }
  function cellKey(row, col) {
    var cell = row.cells[col], v = cell.getAttribute("data-sort");
    return v === null ? cell.textContent.trim() : v;
  }
  function missing(v, numeric) { return v === "" || (numeric && isNaN(parseFloat(v))); }
  function compare(a, b, numeric) {
    if (numeric) { var d = parseFloat(a) - parseFloat(b); return isNaN(d) ? 0 : d; }
    return collator.compare(a, b);
  }
  function sortTable(table, th, descending) {
    var col = th.cellIndex, numeric = isNumeric(th), body = table.tBodies[0];
    var keyed = Array.prototype.map.call(body.rows, function (row, i) {
      return {row: row, key: cellKey(row, col), i: i};
    });
    keyed.sort(function (a, b) {
      var ma = missing(a.key, numeric), mb = missing(b.key, numeric);
      if (ma || mb) { return ma === mb ? a.i - b.i : (ma ? 1 : -1); }  // missing values last, both ways
      var c = compare(a.key, b.key, numeric);
      return (descending ? -c : c) || a.i - b.i;
    });
    keyed.forEach(function (k) { body.appendChild(k.row); });
    each(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  function toggle(table, th) { sortTable(table, th, th.getAttribute("aria-sort") === "ascending"); }
  each(document.querySelectorAll("table.sortable"), function (table) {
    each(table.tHead.rows[0].cells, function (th) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { toggle(table, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(table, th); }
      });
    });
  });

  // Self-test, only with ?selftest=1 in the URL (the tests drive headless Chromium with it):
  // every image decoded, every column sorts both ways, nothing fetched; result in #selftest.
  function keys(table, th) {
    return Array.prototype.map.call(table.tBodies[0].rows, function (r) { return cellKey(r, th.cellIndex); });
  }
  function ordered(list, numeric, sign) {
    var seenMissing = false;
    for (var i = 0; i < list.length; i++) {
      if (missing(list[i], numeric)) { seenMissing = true; continue; }
      if (seenMissing) return false;
      if (i > 0 && sign * compare(list[i - 1], list[i], numeric) > 0) return false;
    }
    return true;
  }
  function selftest() {
    var result = {images: 0, images_loaded: 0, broken: [], columns: {}, unsorted: [], resources: 0};
    each(document.images, function (img) {
      result.images++;
      if (img.complete && img.naturalWidth > 0) { result.images_loaded++; } else { result.broken.push(img.alt); }
    });
    var table = document.getElementById("runs");
    each(table.tHead.rows[0].cells, function (th) {
      var numeric = isNumeric(th), name = th.getAttribute("data-key");
      th.click();
      var up = ordered(keys(table, th), numeric, 1) && th.getAttribute("aria-sort") === "ascending";
      th.click();
      var down = ordered(keys(table, th), numeric, -1) && th.getAttribute("aria-sort") === "descending";
      result.columns[name] = up && down;
      if (!(up && down)) result.unsorted.push(name);
    });
    var want = new URLSearchParams(location.search).get("sort");
    each(table.tHead.rows[0].cells, function (th) {
      if (want && th.getAttribute("data-key") === want) {
        th.click();
        if (th.getAttribute("aria-sort") !== "ascending") th.click();
        result.sort = want;
        result.order = Array.prototype.map.call(table.tBodies[0].rows, function (r) {
          return r.getAttribute("data-run");
        });
      }
    });
    result.resources = performance.getEntriesByType("resource").length;
    result.ok = result.images > 0 && result.images_loaded === result.images && result.unsorted.length === 0 &&
      result.resources === 0 && (!want || result.sort === want);
    var out = document.getElementById("selftest");
    out.textContent = JSON.stringify(result);
    out.hidden = false;
    document.title = "selftest: " + (result.ok ? "ok" : "FAILED");
  }
  if (/[?&]selftest=1(&|$)/.test(location.search)) {
    if (document.readyState === "complete") { selftest(); } else { window.addEventListener("load", selftest); }
  }
})();
"""

STYLE = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 0;
       color: #1d2330; background: #fafbfc; line-height: 1.45; }
main { max-width: 1240px; margin: 0 auto; padding: 18px 24px 48px; }
h1 { font-size: 1.55rem; margin: 0.2em 0 0.1em; }
h2 { font-size: 1.2rem; margin: 1.6em 0 0.5em; border-bottom: 1px solid #d9dee7; padding-bottom: 0.2em; }
h3 { font-size: 1.0rem; margin: 1.1em 0 0.4em; }
.sub { color: #5a6275; font-size: 0.92rem; margin: 0; }
nav { font-size: 0.9rem; margin: 0.6em 0 0; }
nav a { margin-right: 1.1em; color: #2457a6; text-decoration: none; }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.85rem; }
pre { background: #f0f2f6; padding: 8px 10px; border-radius: 4px; overflow-x: auto; white-space: pre-wrap; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 0.8em 0; }
.card { background: #fff; border: 1px solid #dde2ea; border-radius: 6px; padding: 6px 12px; font-size: 0.9rem; }
.card b { display: block; font-size: 0.75rem; color: #5a6275; font-weight: 600; text-transform: uppercase;
          letter-spacing: 0.03em; }
table { border-collapse: collapse; font-size: 0.85rem; background: #fff; }
th, td { border-bottom: 1px solid #e4e8ef; padding: 4px 9px; text-align: left; vertical-align: top; }
table.sortable td { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.params td:first-child, table.params th:first-child { white-space: nowrap; }
.scroll { max-height: 520px; overflow: auto; border: 1px solid #dde2ea; border-radius: 6px; }
table.sortable thead th { position: sticky; top: 0; background: #eef1f6; cursor: pointer; user-select: none;
                          white-space: nowrap; z-index: 1; }
table.sortable thead th:hover { background: #e1e7f0; }
table.sortable thead th::after { content: " \\2195"; color: #a0a8b8; font-size: 0.8em; }
table.sortable thead th[aria-sort="ascending"]::after { content: " \\25B2"; color: #2457a6; }
table.sortable thead th[aria-sort="descending"]::after { content: " \\25BC"; color: #2457a6; }
table.sortable tbody tr:nth-child(even) { background: #f7f9fc; }
table.sortable tbody tr:hover { background: #eef4ff; }
tr.status-diverged td { color: #b3261e; }
tr.status-interrupted td, tr.status-max_time td { color: #8a6100; }
.tag { display: inline-block; border-radius: 3px; padding: 0 5px; font-size: 0.78rem; background: #e8edf5; }
.tag.x { background: #dbe8ff; } .tag.hue { background: #ffe9cc; }
figure { margin: 1.2em 0 1.8em; background: #fff; border: 1px solid #dde2ea; border-radius: 6px; padding: 10px; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { font-size: 0.86rem; color: #3e4657; margin-top: 6px; }
.note { font-size: 0.86rem; color: #5a6275; }
details { margin: 0.6em 0; } summary { cursor: pointer; color: #2457a6; }
#selftest { white-space: pre-wrap; }
"""


def _e(value: Any) -> str:
    """HTML-escape anything (quotes too: safe in text and in attribute values)."""
    return html.escape(str(value), quote=True)


def _table_columns(runs: pd.DataFrame, choice: Choice) -> list[tuple[str, str, str, str]]:
    """(key, header, type, tooltip) of the runs table."""
    columns = [("run", "run", "text", "run directory (click a header to sort)"),
               ("name", "name", "text", "config name"), ("status", "status", "text", "how the run ended")]
    for key in choice.parameters:
        columns.append((key, key, "number" if all(_is_number(v) for v in _distinct(runs, key) if v is not None)
                        else "text", "swept parameter"))
    if "seed" in runs.columns:
        columns.append(("seed", "seed", "number", "seed"))
    columns += [("steps", "steps", "number", "steps taken"), ("wall_seconds", "wall s", "number", "wall-clock seconds")]
    metrics = scalar_metrics(runs)
    ordered = [choice.y] + [m for m in ("loss", "test_error", "test_loss", "effective_rank") if m != choice.y] + metrics
    for metric in dict.fromkeys(m for m in ordered if m in metrics):
        columns.append((f"final.{metric}", metric, "number", f"final {plots.metric_label(metric)}"))
    return columns


def _cell(key: str, kind: str, row: dict) -> str:
    if key == "run":
        value = Path(row["run_dir"]).name
        return f'<td class="mono">{_e(value)}</td>'
    value = _hashable(row.get(key))
    text = _text(value)
    title = f' title="{_e(repr(value))}"' if isinstance(value, float) else ""
    klass = ' class="num"' if kind == "number" else ""
    return f'<td{klass} data-sort="{_e(_sort_key(value))}"{title}>{_e(text)}</td>'


def _runs_table(runs: pd.DataFrame, choice: Choice) -> str:
    columns = _table_columns(runs, choice)
    head = "".join(f'<th data-key="{_e(k)}" data-type="{t}" title="{_e(tip)}" scope="col">{_e(h)}</th>'
                   for k, h, t, tip in columns)
    rows = []
    for row in runs.to_dict("records"):
        status = str(row.get("status"))
        cells = "".join(_cell(k, t, row) for k, _, t, _ in columns)
        rows.append(f'<tr data-run="{_e(Path(row["run_dir"]).name)}" class="status-{_e(status)}">{cells}</tr>')
    return (f'<div class="scroll"><table id="runs" class="sortable"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _parameters_section(runs: pd.DataFrame, choice: Choice, groups: list[Group], spec: dict | None) -> str:
    parts = []
    axes = _sweep_axes(spec)
    role = {choice.x: '<span class="tag x">x</span>', choice.hue: '<span class="tag hue">hue</span>'}
    rows = []
    for key in choice.parameters:
        found = _distinct(runs, key)
        listed = axes.get(key)
        source = "sweep.json grid" if spec and key in (spec.get("grid") or {}) else \
            "sweep.json zip" if key in axes else "varies among the runs"
        rows.append(f"<tr><td class=\"mono\">{_e(key)} {role.get(key, '')}</td>"
                    f"<td>{_e(', '.join(_text(v) for v in found))}</td>"
                    f"<td>{_e(', '.join(_text(_hashable(v)) for v in listed)) if listed is not None else '–'}</td>"
                    f"<td>{_e(source)}</td></tr>")
    if "seed" in runs.columns:
        seeds = _distinct(runs, "seed")
        rows.append(f"<tr><td class=\"mono\">seed</td><td>{_e(', '.join(_text(v) for v in seeds))}</td>"
                    f"<td>{_e(', '.join(_text(_hashable(v)) for v in axes['seed'])) if 'seed' in axes else '–'}</td>"
                    f"<td>replicates: the runs of a group differ only in seed</td></tr>")
    if rows:
        parts.append('<table class="params"><thead><tr><th>parameter</th><th>values among the runs</th>'
                     '<th>values in sweep.json</th><th>source</th></tr></thead><tbody>' + "".join(rows) +
                     "</tbody></table>")
    else:
        parts.append('<p class="note">No parameter varies among the runs.</p>')
    if spec:
        if spec.get("command"):
            parts.append(f"<h3>Command</h3><pre>{_e(spec['command'])}</pre>")
        if isinstance(spec.get("base"), dict):
            parts.append("<details><summary>Base config (sweep.json)</summary>"
                         f"<pre>{_e(store.to_json(spec['base']))}</pre></details>")
    constant = [(k, _distinct(runs, k)[0]) for k in parameter_columns(runs)
                if k not in choice.parameters and len(_distinct(runs, k)) == 1]
    if constant:
        body = "".join(f'<tr><td class="mono">{_e(k)}</td><td class="mono">{_e(_text(v))}</td></tr>'
                       for k, v in constant)
        parts.append(f"<details><summary>Config keys with one value across all runs ({len(constant)})</summary>"
                     f'<table class="params"><tbody>{body}</tbody></table></details>')
    return "\n".join(parts)


def _cards(out: Path, runs: pd.DataFrame, choice: Choice, groups: list[Group], spec: dict | None,
           unfinished: int) -> str:
    statuses = runs["status"].value_counts() if "status" in runs.columns else pd.Series(dtype=int)
    status_text = ", ".join(f"{n} {s}" for s, n in statuses.items())
    expected = spec.get("n_runs") if spec else None
    runs_text = f"{len(runs)}" + (f" of {expected}" if isinstance(expected, int) else "")
    items = [("finished runs", runs_text), ("statuses", status_text or "–"),
             ("groups", _seed_note(groups) if groups else "–"),
             ("x", choice.x or "none"), ("y", choice.y), ("hue", choice.hue or "none")]
    if unfinished:
        items.append(("unfinished", f"{unfinished} run director{'ies' if unfinished != 1 else 'y'} "
                                    "without summary.json (not shown)"))
    return '<div class="cards">' + "".join(f'<div class="card"><b>{_e(k)}</b>{_e(v)}</div>' for k, v in items) \
        + "</div>"


def _figure_html(figure: Figure, number: int) -> str:
    width, height = figure.size()
    data = base64.b64encode(figure.png).decode("ascii")
    return (f'<figure id="fig{number}"><img src="data:image/png;base64,{data}" alt="{_e(figure.title)}" '
            f'width="{width}" height="{height}"><figcaption><b>Figure {number}.</b> {_e(figure.caption)}'
            "</figcaption></figure>")


def _csp(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; "
            "base-uri 'none'; form-action 'none'")


def _step_column(runs: pd.DataFrame, metrics: pd.DataFrame) -> str:
    """``t`` when every run is a flow (its ``step`` counts solver steps), else ``step``."""
    flows = "trainer.t_max" in runs.columns and runs["trainer.t_max"].notna().all()
    return "t" if flows and "t" in metrics.columns else "step"


def render(out: str | Path, x: str | None = None, y: str | None = None, hue: str | None = None,
           where: str | None = None) -> str:
    """The report of the runs under ``out`` as one HTML string (see :func:`write_report`)."""
    from . import __version__

    out = Path(out)
    runs = index.load(out, where)
    if runs.empty:
        raise ConfigError("DIR", f"no finished runs under {out}" + (f" matching {where!r}" if where else ""))
    unfinished = sum(1 for p in index.run_dirs(out) if not (p / store.SUMMARY).is_file())
    spec, sweep_note = read_sweep(out)
    choice = choose(runs, spec, x, y, hue)
    metrics = index.load_metrics(out, where)
    groups = make_groups(runs, choice.parameters)
    styles = _Styles(runs, choice)
    step = _step_column(runs, metrics)

    figures = [trajectory_figure(metrics, groups, choice, styles, choice.y, step)]
    if choice.y != "loss":
        figures.append(trajectory_figure(metrics, groups, choice, styles, "loss", step))
    figures.append(final_figure(runs, choice, styles))
    figures.append(spectrum_figure(runs, groups, choice, styles))
    figures.append(spectrum_evolution_figure(metrics, groups, step))
    if choice.y != "effective_rank" and "effective_rank" in metrics.columns:
        figures.append(trajectory_figure(metrics, groups, choice, styles, "effective_rank", step))
    figures = [f for f in figures if f is not None]

    notes = list(choice.notes)
    if sweep_note:
        notes.append(sweep_note)
    if choice.x is None:
        notes.append("No parameter varies among the runs: there is no final-metric-against-parameter figure.")
    notes.append("Loss convention: every loss is the mean over the observations of ½(prediction − target)² "
                 "(without the ½ in runs with problem.loss = \"mse\", the reference code's convention).")

    title = f"Sweep report: {out.resolve().name}"
    generated = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        f"<header><h1>{_e(title)}</h1>",
        f'<p class="sub">{_e(str(out.resolve()))} · generated {_e(generated)} by implicit-bias {_e(__version__)}'
        + (f" · filter {_e(where)}" if where else "") + "</p>",
        '<nav><a href="#parameters">Parameters</a><a href="#runs-section">Runs</a><a href="#figures">Figures</a>'
        "</nav></header>",
        _cards(out, runs, choice, groups, spec, unfinished),
        '<section id="parameters"><h2>Parameters</h2>',
        _parameters_section(runs, choice, groups, spec),
        "</section>",
        f'<section id="runs-section"><h2>Runs ({len(runs)})</h2>',
        '<p class="note">Ordered by the swept parameters, then seed. Click a column header to sort (again to '
        "reverse); missing values stay last. "
        "Losses are the mean of ½(prediction − target)² (without the ½ where problem.loss = &quot;mse&quot;).</p>",
        _runs_table(pd.concat([g.runs for g in groups]), choice),  # first order: by parameters, then seed
        "</section>",
        '<section id="figures"><h2>Figures</h2>',
        *(_figure_html(f, i + 1) for i, f in enumerate(figures)),
        "</section>",
        '<section id="notes"><h2>Notes</h2><ul class="note">' + "".join(f"<li>{_e(n)}</li>" for n in notes)
        + "</ul></section>",
        '<pre id="selftest" hidden></pre>',
    ]
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(_csp(SCRIPT))}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head><body><main>",
        *body,
        "</main>",
        f"<script>{SCRIPT}</script>",
        "</body></html>",
        "",
    ])


def write_report(out: str | Path, x: str | None = None, y: str | None = None, hue: str | None = None,
                 where: str | None = None, path: str | Path | None = None) -> Path:
    """Write the report of the runs under ``out`` to ``path`` (default ``out/report.html``),
    atomically, and return its path. ``x``/``hue``: config keys (``model.depth``); ``y``: a
    final metric (``test_error`` or ``final.test_error``); None for the defaults of
    :func:`choose`. ``where`` filters the runs as ``implicit_bias.load`` does."""
    out = Path(out)
    if not out.is_dir():
        raise ConfigError("DIR", f"not a directory: {out}")
    target = Path(path) if path is not None else out / REPORT
    if not target.parent.is_dir():
        raise ConfigError("--out", f"not a directory: {target.parent}")
    text = render(out, x=x, y=y, hue=hue, where=where)
    store.write_bytes_atomic(target, text.encode("utf-8"))
    return target
