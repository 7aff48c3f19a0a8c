"""``trainer.lr_relative``: a step size relative to the initial curvature (issue 17, §3).

With ``lr_relative = c`` (any discrete trainer) the step size is

    η = c · 2 / λ_max(∇²C(θ_0)),

where λ_max is the largest (algebraic) Hessian eigenvalue of the training objective C at the
initial parameters, computed by :meth:`implicit_bias.metrics.curvature.Curvature.sharpness_at` —
the computation of the ``sharpness`` column, so that row 0's ``sharpness`` times η/2 is c. For
full-batch GD on a quadratic, 2/λ_max is the stability threshold: c < 1 is stable, c > 1
diverges along the top eigenvector; for a non-quadratic C it is the threshold at θ_0 only (edge of
stability: Cohen et al. 2021). A sweep over α, depth or width at fixed c keeps the same
*relative* step where a fixed η would diverge as the curvature grows.

The resolved config holds ``lr = null`` (settings/resolution.py); the run resolves it at start
(before the optimizer state is built) and writes it to summary.json as ``resolved_lr``, with the
sharpness it came from as ``initial_sharpness``. Each member of a batched sweep gets its own η
(``lr`` is a traced, batchable hyper-parameter). If λ_max ≤ 0 (C concave or flat at θ_0 in every
direction) no curvature scale exists and the run is refused with an error naming the key.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx

from implicit_bias.core.models import Params
from implicit_bias.core.objective import Objective
from implicit_bias.errors import ConfigError
from implicit_bias.keys import named_key
from implicit_bias.metrics.curvature import Curvature, CurvatureSpec

__all__ = ["is_relative", "resolve_relative_lr"]


def is_relative(trainer: Any) -> bool:
    """True when typed ``[trainer]`` settings ask for ``lr_relative`` and their ``lr`` is still unresolved."""
    return getattr(trainer, "lr_relative", None) is not None and getattr(trainer, "lr", None) is None


_sharpness_at = eqx.filter_jit(lambda curvature, objective, params: curvature.sharpness_at(objective, params))


def resolve_relative_lr(objective: Objective, params0: Params, trainer: Any,
                        curvature: Curvature | None = None) -> tuple[Any, dict[str, float]]:
    """(trainer with ``lr`` = c·2/λ_max(∇²C(θ_0)), {"resolved_lr", "initial_sharpness"}) when
    ``trainer.lr_relative`` = c is set; (trainer, {}) otherwise. ``curvature`` is the run's curvature
    metric family (its key and Lanczos steps); without one, the default Lanczos steps and the key
    ``named_key(0, "curvature")``."""
    if not is_relative(trainer):
        return trainer, {}
    if curvature is None:
        curvature = Curvature(key=named_key(0, "curvature"), spec=CurvatureSpec(sharpness=True))
    lam = float(_sharpness_at(curvature, objective, params0))
    if not lam > 0:
        raise ConfigError("trainer.lr_relative", f"needs a positive top Hessian eigenvalue at the initial "
                          f"parameters, got λ_max = {lam:.6g}; set trainer.lr instead")
    lr = float(trainer.lr_relative) * 2.0 / lam
    return trainer.replace(lr=lr), {"resolved_lr": lr, "initial_sharpness": lam}
