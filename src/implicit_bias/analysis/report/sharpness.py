"""The sharpness figure of the report (issue 17): ``sharpness`` against step with a horizontal
line at 2/η for each group — the stability threshold of full-batch GD on the local quadratic
model, where the sharpness of GD "hovers" at the edge of stability (Cohen, Kaur, Li, Kolter &
Talwalkar 2021, "Gradient descent on neural networks typically occurs at the edge of stability").

η of a run is ``trainer.lr``, or, for a ``trainer.lr_relative`` run (whose resolved config holds
``lr = null``), the lr it resolved: time/steps (t = η × step). Flows have no η and no line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from implicit_bias.analysis import plots
from implicit_bias.analysis.report.figures import Figure, _Styles, band_panels
from implicit_bias.analysis.report.selection import Choice, Group, _seed_note

__all__ = ["run_lr", "sharpness_figure"]


def run_lr(run: pd.Series) -> float | None:
    """η of one run (a row of ``index.load``), or None (a flow, or nothing recorded)."""
    lr = run.get("resolved_lr")
    if lr is None or not np.isfinite(float(lr)):
        lr = run.get("trainer.lr")
    if (lr is None or not np.isfinite(float(lr))) and run.get("steps"):
        lr = float(run["time"]) / float(run["steps"])
    if lr is None or "trainer.t_max" in run.index and pd.notna(run.get("trainer.t_max")):
        return None
    lr = float(lr)
    return lr if np.isfinite(lr) and lr > 0 else None


def sharpness_figure(metrics: pd.DataFrame, groups: list[Group], choice: Choice, styles: _Styles,
                     step: str) -> Figure | None:
    """``sharpness`` against ``step`` (median over seeds, min–max band) and, dotted in the same
    color, 2/η of the group (the median over its seeds); None when the column was not logged."""
    if "sharpness" not in metrics.columns or metrics.empty or metrics["sharpness"].isna().all():
        return None

    def threshold(group: Group, label: str, color, x: np.ndarray) -> list:
        lrs = [lr for lr in (run_lr(run) for _, run in group.runs.iterrows()) if lr is not None]
        if not lrs:
            return []
        value = 2.0 / float(np.median(lrs))
        return [plots.Line(f"2/lr, {label}", np.array([x[0], x[-1]]), np.array([value, value]), color=color,
                           linestyle=":")]

    panels = band_panels(metrics, groups, choice, styles, "sharpness", step, extra_lines=threshold)
    if not panels:
        return None
    png = plots.band_figure(panels, title="Sharpness against 2/lr", xlabel=step, ylabel="sharpness λ_max(∇²C)",
                            legend_title=None, integer_x=step == "step")
    caption = ("Sharpness (the largest Hessian eigenvalue of the training objective) against "
               f"{step}; dotted: 2/lr of the same group, the stability threshold of full-batch gradient descent "
               "(sharpness above it: GD is locally unstable; at it: the edge of stability). Lines: median over the "
               f"seeds of each group; band: min–max. {_seed_note(groups)}.")
    return Figure(f"sharpness against 2/lr ({step})", caption, png)
