"""The compiled chunk of every discrete trainer: ``chunk_len`` steps of one ``lax.scan``.

Each step samples the step objective C_k (minibatch, noise: :mod:`gradients`), evaluates it and
its gradient at θ_k, and stops the member with status ``converged`` (deterministic steps whose
training loss is ≤ ``stop_loss``), ``underflow`` (deterministic steps with ``stop_loss`` = 0 whose
training loss or whole gradient is exactly 0: the run can no longer move, or only by rounding, and
is not called converged) or ``diverged`` (a non-finite value or gradient, or a value above
``blowup``); otherwise it applies the optax update (``n_inner`` of them for ``euler_same_batch``),
with the step η_k = lr·(k+1)^(−lr_power) of step k = ``carry.step`` under ``lr_schedule = "power"``
(the step count is in the checkpoint, so a resumed run continues the schedule). A finished member
neither moves nor counts steps, so under ``jax.vmap`` (:func:`train_chunk_batched`) every member
keeps its own stop step and status.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from implicit_bias.core.models import Params
from implicit_bias.core.objective import Objective
from implicit_bias.trainers.geometry import scheduled_lr
from implicit_bias.trainers.gradients import StepSpec, oracle, step_objective
from implicit_bias.trainers.optimizers import OPTIMIZERS

RUNNING, CONVERGED, DIVERGED = 0, 1, 2
#: a host-side stop (early stopping, stochastic convergence) freezes the member in the carry.
HOST_STOPPED = 3
#: with stop_loss = 0, a deterministic step whose loss or gradient is exactly 0 (underflow).
UNDERFLOW = 4
STATUS_NAMES = {RUNNING: "max_steps", CONVERGED: "converged", DIVERGED: "diverged", UNDERFLOW: "underflow"}


class Carry(NamedTuple):
    params: Params
    opt_state: Any
    step: jax.Array  # number of (outer) steps applied so far
    status: jax.Array  # RUNNING, CONVERGED, DIVERGED, HOST_STOPPED or UNDERFLOW
    status_step: jax.Array  # step at which the status was set (-1 while running)


def _select(flag: jax.Array, new, old):
    return jax.tree_util.tree_map(lambda a, b: jnp.where(flag, a, b), new, old)


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]))


def _all_zero(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(x == 0) for x in jax.tree_util.tree_leaves(tree)]))


@eqx.filter_jit
def train_chunk(objective: Objective, spec: StepSpec, hyper: Mapping[str, Any], carry: Carry, key: jax.Array,
                n_active: jax.Array, stop_loss: jax.Array, blowup: jax.Array, chunk_len: int) -> Carry:
    """Run up to ``chunk_len`` steps (only the first ``n_active`` of them update)."""
    constant_tx = OPTIMIZERS[spec.kind](hyper)

    def transformation(step):
        """The update of step k: lr, or η_k = lr·(k+1)^(−lr_power) under the power schedule."""
        if spec.lr_schedule == "constant":
            return constant_tx
        return OPTIMIZERS[spec.kind]({**hyper, "lr": scheduled_lr(hyper["lr"], hyper["lr_power"], step)})

    def extra_inner_steps(tx, params, opt_state, step_obj, step_key):
        """euler_same_batch: n_inner − 1 more updates on the same step objective."""
        def inner(_, state):
            params, opt_state = state
            _, grads = oracle(step_obj, spec, hyper, params, step_key)
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state
        return jax.lax.fori_loop(1, spec.n_inner, inner, (params, opt_state))

    def body(carry: Carry, i):
        step_key = jax.random.fold_in(key, carry.step)
        step_obj = step_objective(objective, spec, hyper, key, carry.step)
        (value, loss), grads = oracle(step_obj, spec, hyper, carry.params, step_key)
        running = (carry.status == RUNNING) & (i < n_active)
        finite = jnp.isfinite(value) & _all_finite(grads) & (value <= blowup)
        if spec.deterministic:
            underflow = running & (stop_loss == 0) & ((loss == 0) | _all_zero(grads))
            # ∇ln L is 0/0 where L = 0 exactly: a normalized step converges on its values alone
            settled = (jnp.isfinite(value) & (value <= blowup)) if spec.normalize else finite
            converged = running & settled & (loss <= stop_loss) & ~underflow
        else:
            underflow = converged = jnp.zeros((), bool)
        diverged = running & ~finite & ~underflow & ~converged
        move = running & finite & ~converged & ~underflow
        tx = transformation(carry.step)
        updates, new_opt_state = tx.update(grads, carry.opt_state, carry.params)
        new_params = optax.apply_updates(carry.params, updates)
        if spec.n_inner > 1:
            new_params, new_opt_state = extra_inner_steps(tx, new_params, new_opt_state, step_obj, step_key)
        status = jnp.where(converged, CONVERGED, jnp.where(diverged, DIVERGED,
                                                           jnp.where(underflow, UNDERFLOW, carry.status)))
        status_step = jnp.where(converged | diverged | underflow, carry.step, carry.status_step)
        return Carry(params=_select(move, new_params, carry.params),
                     opt_state=_select(move, new_opt_state, carry.opt_state),
                     step=carry.step + move.astype(carry.step.dtype),
                     status=status.astype(carry.status.dtype),
                     status_step=status_step.astype(carry.status_step.dtype)), None

    carry, _ = jax.lax.scan(body, carry, jnp.arange(chunk_len))
    return carry


@eqx.filter_jit
def train_chunk_batched(objective, spec: StepSpec, hyper, static_hyper: Mapping[str, Any], carry: Carry,
                        key: jax.Array, n_active: jax.Array, stop_loss: jax.Array, blowup: jax.Array,
                        chunk_len: int) -> Carry:
    """``train_chunk`` mapped over a leading member axis of every array argument but ``n_active``."""
    def one(objective, hyper, carry, key, stop_loss, blowup):
        return train_chunk(objective, spec, {**hyper, **static_hyper}, carry, key, n_active, stop_loss, blowup,
                           chunk_len)
    return jax.vmap(one)(objective, hyper, carry, key, stop_loss, blowup)


