"""Discrete trainers: an optax transformation driven by ONE shared ``lax.scan`` loop.

A trainer kind is a factory ``hyper -> optax.GradientTransformation`` where
``hyper`` is a dict of traced arrays (the learning rate and friends). The
factory is called outside jit to initialize the optimizer state and inside
the compiled chunk to update it; since the hyper-parameters are arrays, a new
lr, init scale or seed reuses the compiled chunk (no recompilation).

The loop runs ``log_every`` steps per compiled call (:func:`train_chunk`).
Inside, each step evaluates the objective and its gradient at θ_k and then

- stops with status ``converged`` if the training loss L(θ_k) ≤ ``stop_loss``,
- stops with status ``diverged`` if the objective or the gradient is not
  finite, or the objective exceeds ``blowup`` (10^20·(C(θ_0) + 1)),
- otherwise applies the update θ_{k+1} = θ_k + tx.update(∇C(θ_k)).

Stopping inside the scan means the run ends exactly at the first step whose
loss reaches ``stop_loss``; the Python driver sees it at the end of the chunk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .metrics import compute_metrics
from .models import Params
from .objective import Objective

RUNNING, CONVERGED, DIVERGED = 0, 1, 2
STATUS_NAMES = {RUNNING: "max_steps", CONVERGED: "converged", DIVERGED: "diverged"}

#: trainer kind -> factory of an optax transformation from traced hyper-parameters.
OPTIMIZERS: dict[str, Callable[[Mapping[str, jax.Array]], optax.GradientTransformation]] = {
    "gd": lambda h: optax.sgd(learning_rate=h["lr"]),
}

#: trainer kind -> the config keys that are traced hyper-parameters.
HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    "gd": ("lr",),
}


class Carry(NamedTuple):
    params: Params
    opt_state: Any
    step: jax.Array  # number of updates applied so far
    status: jax.Array  # RUNNING, CONVERGED or DIVERGED
    status_step: jax.Array  # step at which the status was set (-1 while running)


def hyperparameters(trainer_cfg: Mapping[str, Any], dtype) -> dict[str, jax.Array]:
    """The traced hyper-parameters of a resolved ``[trainer]`` table."""
    return {name: jnp.asarray(trainer_cfg[name], dtype) for name in HYPERPARAMETERS[trainer_cfg["kind"]]}


def _select(flag: jax.Array, new, old):
    return jax.tree_util.tree_map(lambda a, b: jnp.where(flag, a, b), new, old)


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]))


@eqx.filter_jit
def train_chunk(objective: Objective, kind: str, hyper: Mapping[str, jax.Array], carry: Carry,
                n_active: jax.Array, stop_loss: jax.Array, blowup: jax.Array, chunk_len: int) -> Carry:
    """Run up to ``chunk_len`` steps (only the first ``n_active`` of them update)."""
    tx = OPTIMIZERS[kind](hyper)

    def value_and_grad(params):
        def with_aux(p):
            return objective(p), objective.data_loss(p)
        return jax.value_and_grad(with_aux, has_aux=True)(params)

    def body(carry: Carry, i):
        (obj, loss), grads = value_and_grad(carry.params)
        running = (carry.status == RUNNING) & (i < n_active)
        finite = jnp.isfinite(obj) & _all_finite(grads) & (obj <= blowup)
        converged = running & finite & (loss <= stop_loss)
        diverged = running & ~finite
        move = running & finite & ~converged
        updates, new_opt_state = tx.update(grads, carry.opt_state, carry.params)
        new_params = optax.apply_updates(carry.params, updates)
        status = jnp.where(converged, CONVERGED, jnp.where(diverged, DIVERGED, carry.status))
        status_step = jnp.where(converged | diverged, carry.step, carry.status_step)
        return Carry(params=_select(move, new_params, carry.params),
                     opt_state=_select(move, new_opt_state, carry.opt_state),
                     step=carry.step + move.astype(carry.step.dtype),
                     status=status.astype(carry.status.dtype),
                     status_step=status_step.astype(carry.status_step.dtype)), None

    carry, _ = jax.lax.scan(body, carry, jnp.arange(chunk_len))
    return carry


@dataclass
class Trajectory:
    """What a trainer returns: logged rows, the final parameters and how the run ended."""

    rows: list[dict[str, Any]]
    params: Params
    status: str
    steps: int
    time: float
    status_step: int | None = None
    wall_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _host(metrics: Mapping[str, jax.Array]) -> dict[str, Any]:
    out = {}
    for name, value in jax.device_get(dict(metrics)).items():
        value = np.asarray(value)
        out[name] = value.tolist() if value.ndim else float(value)
    return out


def train(objective: Objective, params0: Params, trainer_cfg: Mapping[str, Any], *, top_k: int = 10,
          on_log: Callable[[dict[str, Any]], None] | None = None,
          should_stop: Callable[[], bool] | None = None) -> Trajectory:
    """Train with a discrete trainer, logging metrics every ``log_every`` steps.

    ``on_log(row)`` is called after each logged row (progress bars, checkpoints);
    ``should_stop()`` is polled between chunks (SIGINT): the run then ends with
    status ``interrupted`` after finishing the current chunk.
    """
    kind = trainer_cfg["kind"]
    dtype = jax.tree_util.tree_leaves(params0)[0].dtype
    hyper = hyperparameters(trainer_cfg, dtype)
    lr = float(trainer_cfg["lr"])
    tx = OPTIMIZERS[kind](hyper)
    carry = Carry(params=params0, opt_state=tx.init(params0), step=jnp.asarray(0, jnp.int64),
                  status=jnp.asarray(RUNNING, jnp.int32), status_step=jnp.asarray(-1, jnp.int64))
    stop_loss = jnp.asarray(trainer_cfg["stop_loss"], dtype)
    start = time.perf_counter()

    def log(carry: Carry) -> dict[str, Any]:
        step = int(carry.step)
        row = {"step": step, "t": lr * step, **_host(compute_metrics(objective, carry.params, top_k))}
        rows.append(row)
        if on_log is not None:
            on_log(row)
        return row

    rows: list[dict[str, Any]] = []
    first = log(carry)
    blowup = jnp.asarray(1e20 * (abs(first["objective"]) + 1.0) if np.isfinite(first["objective"]) else np.inf,
                         dtype)
    max_steps, log_every = int(trainer_cfg["steps"]), int(trainer_cfg["log_every"])
    status = "max_steps"
    while int(carry.step) < max_steps:
        n_active = jnp.asarray(min(log_every, max_steps - int(carry.step)), jnp.int64)
        carry = train_chunk(objective, kind, hyper, carry, n_active, stop_loss, blowup, log_every)
        code = int(carry.status)
        if int(carry.step) != rows[-1]["step"]:
            log(carry)
        if code != RUNNING:
            status = STATUS_NAMES[code]
            break
        if should_stop is not None and should_stop():
            status = "interrupted"
            break
    if int(carry.status) == RUNNING and not np.isfinite(rows[-1]["loss"]):
        status = "diverged"
    steps = int(carry.step)
    status_step = int(carry.status_step) if int(carry.status) != RUNNING else None
    return Trajectory(rows=rows, params=carry.params, status=status, steps=steps, time=lr * steps,
                      status_step=status_step, wall_seconds=time.perf_counter() - start)
