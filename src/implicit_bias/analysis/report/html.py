"""The page of the sweep report: one self-contained HTML file (see :mod:`implicit_bias.analysis.report`).

The sweep's parameters, a sortable table of the runs, and the figures embedded as base64 PNG.
No external resource of any kind: the page's Content-Security-Policy (``default-src 'none'``)
forbids loading anything but ``data:`` images, and allows exactly one script, ours
(``report.js``, package data next to this module), by its SHA-256. Every string that comes from
a run (names, config values, paths) is HTML-escaped.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import html
import math
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from implicit_bias.analysis import plots
from implicit_bias.analysis.report.figures import (Figure, _Styles, final_figure, spectrum_evolution_figure,
                                                   spectrum_figure, trajectory_figure)
from implicit_bias.analysis.report.sharpness import sharpness_figure
from implicit_bias.analysis.report.selection import (Choice, Group, _distinct, _hashable, _is_number, _seed_note,
                                                     _step_column, _sweep_axes, _text, choose, make_groups,
                                                     parameter_columns, read_sweep, scalar_metrics)
from implicit_bias.catalog import index
from implicit_bias.rundir import files as store
from implicit_bias.settings import ConfigError
from implicit_bias.version import __version__

REPORT = "report.html"


def _asset(name: str) -> str:
    """A text file of package data next to this module (``report.js``, ``report.css``)."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


#: The page's one script and its style sheet. The leading newline is part of the script whose
#: SHA-256 the Content-Security-Policy names (it was a triple-quoted string before).
SCRIPT = "\n" + _asset("report.js")
STYLE = "\n" + _asset("report.css")


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


def render(out: str | Path, x: str | None = None, y: str | None = None, hue: str | None = None,
           where: str | None = None) -> str:
    """The report of the runs under ``out`` as one HTML string (see :func:`write_report`)."""
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
    figures.append(sharpness_figure(metrics, groups, choice, styles, step))  # issue 17: sharpness vs 2/lr
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
