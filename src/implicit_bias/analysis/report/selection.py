"""What the sweep report shows: the swept parameters, the metric, ``--x``/``--y``/``--hue``
(:class:`Choice`), the groups of runs that differ only in seed, and the bands over seeds.

Groups and bands: runs that differ only in ``seed`` form a group; a figure draws each group's
median over its seeds as a line and the min–max over its seeds as a band.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from implicit_bias.rundir import files as store
from implicit_bias.settings import ConfigError

SWEEP = "sweep.json"
#: Columns of ``index.load`` that are not config parameters (``seed`` is the replicate axis).
NOT_PARAMETERS = ("run_dir", "name", "config_hash", "status", "steps", "time", "wall_seconds", "seed")


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


def _seed_note(groups: list[Group]) -> str:
    counts = sorted({len(g.runs) for g in groups})
    seeds = "–".join(str(c) for c in (counts[0], counts[-1])) if len(counts) > 1 else str(counts[0])
    return f"{len(groups)} group{'s' if len(groups) != 1 else ''} of runs differing only in seed ({seeds} per group)"


def _step_column(runs: pd.DataFrame, metrics: pd.DataFrame) -> str:
    """``t`` when every run is a flow (its ``step`` counts solver steps), else ``step``."""
    flows = "trainer.t_max" in runs.columns and runs["trainer.t_max"].notna().all()
    return "t" if flows and "t" in metrics.columns else "step"
