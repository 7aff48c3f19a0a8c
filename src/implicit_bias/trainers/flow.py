"""Gradient flow θ' = −∇C(θ) and the modified flow of Smith et al. (2021), integrated with diffrax.

``flow``: the true gradient flow of the objective C.

``modified_flow``: the gradient flow of C̃ = C + (η/4)‖∇C‖² (Smith, Dherin, Barrett & De 2021,
"On the origin of implicit regularization in stochastic gradient descent"), which
GD with step η follows to O(η²) instead of O(η). Its vector field is

    −∇C̃(θ) = −∇C(θ) − (η/2) ∇²C(θ) ∇C(θ),

where the Hessian-vector product is one ``jax.jvp`` of ``jax.grad`` (no Hessian is formed).

The time axis ``t`` is flow time, so that it lines up with η × step of GD. The solve is split
into intervals of ``log_dt`` (one compiled call each, reused), with an adaptive Tsit5 or Dopri5
step and a PID controller at ``rtol``/``atol``; a diffrax event ends it when the training
loss reaches ``stop_loss``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp

from implicit_bias.core import theory
from implicit_bias.core.models import Params
from implicit_bias.core.objective import Objective
from implicit_bias.trainers.info import trainer_info
from implicit_bias.trainers.loop import Logger, Trajectory

_SOLVERS = {"tsit5": diffrax.Tsit5, "dopri5": diffrax.Dopri5}

#: PI step-size controller (Gustafsson's; one of the sets diffrax's PIDController docs suggest for
#: mildly stiff problems). A gradient flow near a minimum is stability-limited — the step is capped by
#: ~2/λ_max of the Hessian — and there diffrax's default I controller (pcoeff 0, icoeff 1) oscillates
#: around the cap: 238 solver steps (39 rejected) against 212 with this PI controller on the depth-3
#: 100x100 flow of benchmarks/flow.py (scipy RK45: ≈ 214).
PCOEFF, ICOEFF = 0.2, 0.4


def flow_vector_field(objective: Objective, modified: bool, lr: jax.Array) -> Callable:
    """θ ↦ −∇C(θ), or −∇C̃(θ) = −∇C(θ) − (η/2) ∇²C(θ)∇C(θ) for the modified flow."""
    grad = jax.grad(objective)
    gradient = theory.modified_gradient_gd(grad, lr) if modified else grad

    def field(t, y, args):
        return jax.tree_util.tree_map(jnp.negative, gradient(y))

    return field


@eqx.filter_jit
def flow_interval(objective: Objective, modified: bool, solver: str, y0: Params, t0: jax.Array, t1: jax.Array,
                  lr: jax.Array, stop_loss: jax.Array, rtol: jax.Array, atol: jax.Array, max_steps: int):
    """Integrate from t0 to t1 (or to the stop_loss event).

    Returns (y, t_end, stopped, ok, out_of_steps, n_steps)."""
    term = diffrax.ODETerm(flow_vector_field(objective, modified, lr))
    event = diffrax.Event(lambda t, y, args, **kwargs: objective.data_loss(y) <= stop_loss)
    sol = diffrax.diffeqsolve(term, _SOLVERS[solver](), t0, t1, dt0=None, y0=y0,
                              stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol, pcoeff=PCOEFF,
                                                                        icoeff=ICOEFF),
                              saveat=diffrax.SaveAt(t1=True), event=event, max_steps=max_steps, throw=False)
    y = jax.tree_util.tree_map(lambda a: a[-1], sol.ys)
    stopped = sol.result == diffrax.RESULTS.event_occurred
    ok = (sol.result == diffrax.RESULTS.successful) | stopped
    out_of_steps = sol.result == diffrax.RESULTS.max_steps_reached
    return y, sol.ts[-1], stopped, ok, out_of_steps, sol.stats["num_steps"]


def train_flow(objective: Objective, params0: Params, trainer, *, key: jax.Array = None,
               top_k: int = 10, on_log: Callable[[dict[str, Any]], None] | None = None,
               should_stop: Callable[[], bool] | None = None, curvature=None) -> Trajectory:
    """Integrate the (modified) gradient flow of typed ``[trainer]`` settings to ``t_max``, logging
    every ``log_dt`` of flow time; ``curvature``: the run's curvature metric family (or None)."""
    del key  # deterministic
    modified = trainer_info(trainer).has_modified_loss
    dtype = jax.tree_util.tree_leaves(params0)[0].dtype
    as_array = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    t_max = float(trainer.t_max)
    log_dt = float(trainer.log_dt) or t_max / 100 or 1.0
    n_intervals = max(1, math.ceil(t_max / log_dt - 1e-9)) if t_max > 0 else 0
    lr = getattr(trainer, "lr", None)  # modified_flow only: the η of C + (η/4)‖∇C‖²
    logger = Logger(objective, top_k, on_log, trainer.max_time, lr=lr,
                    extra=() if curvature is None else (curvature,))
    logger.log(0, 0.0, params0)
    y, t, n_steps = params0, 0.0, 0
    status = "max_steps"
    if objective.data_loss(params0) <= trainer.stop_loss:
        status, n_intervals = "converged", 0
    for i in range(n_intervals):
        t1 = min(t_max, (i + 1) * log_dt)
        y, t_end, stopped, ok, out_of_steps, steps = flow_interval(
            objective, modified, trainer.solver, y, as_array(t), as_array(t1),
            as_array(0.0 if lr is None else lr), as_array(trainer.stop_loss),
            as_array(trainer.rtol), as_array(trainer.atol), trainer.max_solver_steps)
        n_steps += int(steps)
        t = float(t_end)
        row = logger.log(n_steps, t, y)
        if bool(out_of_steps) and math.isfinite(row["objective"]):
            status = "max_solver_steps"
            break
        if not bool(ok) or not math.isfinite(row["objective"]):
            status = "diverged"
            break
        if bool(stopped):
            status = "converged"
            break
        stop = logger.external_stop(should_stop)
        if stop is not None:
            status = stop
            break
    return Trajectory(rows=logger.rows, params=y, status=status, steps=n_steps, time=t,
                      wall_seconds=0.0, extra={"solver_steps": n_steps})
