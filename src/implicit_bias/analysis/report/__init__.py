"""The sweep report: ``implicit-bias report DIR`` writes ``DIR/report.html`` (docs/report.md).

One self-contained HTML file: the sweep's parameters, a sortable table of the runs, and
matplotlib figures embedded as base64 PNG (metric against step per group with bands over
seeds, the final metric against a swept parameter, singular-value spectra). No external
resource of any kind: the page's Content-Security-Policy (``default-src 'none'``) forbids
loading anything but ``data:`` images, and allows exactly one script, ours, by its SHA-256.
Every string that comes from a run (names, config values, paths) is HTML-escaped.

Groups and bands: runs that differ only in ``seed`` form a group; a figure draws each group's
median over its seeds as a line and the min–max over its seeds as a band.

The modules, each importing only the ones before it:

- :mod:`.selection`: which runs, parameters and metric (:func:`choose`), groups, bands;
- :mod:`.figures`: the figures, drawn by :mod:`implicit_bias.analysis.plots`;
- :mod:`.html`: the page (tables, escaping, the CSP) and :func:`render`/:func:`write_report`;
  its script and style sheet are the package data ``report.js`` and ``report.css``.
"""

from implicit_bias.analysis.report.figures import (MAX_FACETS, MAX_SPECTRUM_PANELS, Figure, final_figure,
                                                   spectrum_evolution_figure, spectrum_figure, trajectory_figure)
from implicit_bias.analysis.report.html import REPORT, SCRIPT, STYLE, render, write_report
from implicit_bias.analysis.report.selection import (NOT_PARAMETERS, SWEEP, Choice, Group, band, choose,
                                                     default_metric, list_metrics, make_groups, parameter_columns,
                                                     read_sweep, scalar_metrics, varying_parameters)

__all__ = [
    "MAX_FACETS", "MAX_SPECTRUM_PANELS", "NOT_PARAMETERS", "REPORT", "SCRIPT", "STYLE", "SWEEP", "Choice",
    "Figure", "Group", "band", "choose", "default_metric", "final_figure", "list_metrics", "make_groups",
    "parameter_columns", "read_sweep", "render", "scalar_metrics", "spectrum_evolution_figure", "spectrum_figure",
    "trajectory_figure", "varying_parameters", "write_report",
]
