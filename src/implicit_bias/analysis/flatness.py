""""Did training end flat?": the final sharpness of a run next to 2/η, for ``explain`` (issue 17, §3).

λ_max = the largest Hessian eigenvalue of the training objective C at the final parameters: the
last row's ``sharpness`` column when it was logged, otherwise computed here from ``final.npz``
with the same function (:meth:`implicit_bias.metrics.curvature.Curvature.sharpness_at`). For a
discrete trainer with step η (``resolved_lr`` of ``trainer.lr_relative`` runs, else ``trainer.lr``),
2/η is the stability threshold of full-batch GD on the local quadratic model: λ_max < 2/η means
GD can stay where training ended; λ_max ≈ 2/η is the edge of stability (Cohen, Kaur, Li, Kolter &
Talwalkar 2021); λ_max > 2/η at the end of a run that did not diverge means it was stopped while
escaping (or the trainer is not plain GD: for momentum/adaptive methods 2/η is only a reference).
The Hutchinson trace is shown too when it was logged.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["flatness"]


def _final_sharpness(result) -> tuple[float, str]:
    final = result.summary.get("final", {})
    if final.get("sharpness") is not None:
        return float(final["sharpness"]), "logged"
    import jax.numpy as jnp

    from implicit_bias.execution.single import Experiment, run_curvature
    from implicit_bias.metrics.curvature import Curvature, CurvatureSpec
    from implicit_bias.settings import section_settings

    experiment = Experiment.build(result.config)
    trainer = section_settings("trainer", result.config["trainer"])
    curvature = run_curvature(result.config, trainer)
    curvature = (Curvature(key=_key(result.config), spec=CurvatureSpec(sharpness=True)) if curvature is None
                 else curvature)
    params = {k: jnp.asarray(v) for k, v in result.params.items()}
    return float(curvature.sharpness_at(experiment.objective, params)), "computed by explain"


def _key(cfg):
    from implicit_bias.keys import named_key

    return named_key(cfg["seed"], "curvature")


def flatness(result) -> dict[str, Any] | None:
    """{"sharpness", "two_over_lr", "ratio", "hessian_trace", "source", "line"} of a finished trained
    run (a :class:`~implicit_bias.execution.single.RunResult`), or None for a baseline run."""
    trainer = result.config.get("trainer")
    if trainer is None:
        return None
    sharpness, source = _final_sharpness(result)
    lr = result.summary.get("resolved_lr", trainer.get("lr"))
    is_flow = "t_max" in trainer
    two_over_lr = None if (is_flow or not lr) else 2.0 / float(lr)
    trace = result.summary.get("final", {}).get("hessian_trace")
    stderr = result.summary.get("final", {}).get("hessian_trace_stderr")
    line = f"did training end flat? final sharpness λ_max = {sharpness:.4g} ({source})"
    ratio = None
    if two_over_lr is not None:
        ratio = sharpness / two_over_lr
        verdict = ("below 2/η: flat enough for the step" if ratio < 0.9 else
                   "at 2/η: edge of stability" if ratio <= 1.1 else "above 2/η: sharper than the step allows")
        line += f" vs 2/lr = {two_over_lr:.4g} (λ_max·lr/2 = {ratio:.3g}, {verdict})"
    else:
        line += " (a flow: no step size)"
    if trace is not None and math.isfinite(trace):
        line += f"; Hessian trace {trace:.4g} ± {stderr:.2g}"
    return {"sharpness": sharpness, "two_over_lr": two_over_lr, "ratio": ratio, "hessian_trace": trace,
            "source": source, "line": line}
