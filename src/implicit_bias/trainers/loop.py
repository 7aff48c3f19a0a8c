"""The ONE ``lax.scan`` loop shared by every discrete trainer.

A trainer is an optax transformation (``optimizers.OPTIMIZERS``) plus a
gradient oracle (``gradients.oracle``: minibatch, noise, SAM). The loop runs
``log_every`` steps per compiled call (:func:`train_chunk`). Each step
samples the step objective C_k, evaluates it and its gradient at θ_k, and

- stops with status ``converged`` if the step is deterministic (full batch,
  no noise) and the training loss L(θ_k) ≤ ``stop_loss`` — stochastic
  trainers check the full training loss at the end of each chunk instead;
- stops with status ``diverged`` if C_k(θ_k) or the gradient is not finite,
  or C_k(θ_k) exceeds ``blowup`` (10^20·(C(θ_0) + 1));
- otherwise applies ``n_inner`` optimizer updates on C_k (1 except for
  ``euler_same_batch``).

Hyper-parameters (lr, noise levels, ρ, ...) are traced arrays and the
randomness is ``fold_in(key, step)``: a new lr, init or seed never recompiles.
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

from ..metrics import column_rank, compute_metrics
from ..models import Params
from ..objective import Objective
from .gradients import StepSpec, oracle, step_objective
from .optimizers import OPTIMIZERS, hyperparameters

RUNNING, CONVERGED, DIVERGED = 0, 1, 2
#: trainers whose modified loss (Smith et al. 2021) is logged as ``modified_loss``.
MODIFIED_LOSS_KINDS = ("gd", "sgd", "euler_same_batch")
STATUS_NAMES = {RUNNING: "max_steps", CONVERGED: "converged", DIVERGED: "diverged"}


class Carry(NamedTuple):
    params: Params
    opt_state: Any
    step: jax.Array  # number of (outer) steps applied so far
    status: jax.Array  # RUNNING, CONVERGED or DIVERGED
    status_step: jax.Array  # step at which the status was set (-1 while running)


def _select(flag: jax.Array, new, old):
    return jax.tree_util.tree_map(lambda a, b: jnp.where(flag, a, b), new, old)


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]))


@eqx.filter_jit
def train_chunk(objective: Objective, spec: StepSpec, hyper: Mapping[str, Any], carry: Carry, key: jax.Array,
                n_active: jax.Array, stop_loss: jax.Array, blowup: jax.Array, chunk_len: int) -> Carry:
    """Run up to ``chunk_len`` steps (only the first ``n_active`` of them update)."""
    tx = OPTIMIZERS[spec.kind](hyper)

    def extra_inner_steps(params, opt_state, step_obj, step_key):
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
        converged = running & finite & (loss <= stop_loss) if spec.deterministic else jnp.zeros((), bool)
        diverged = running & ~finite
        move = running & finite & ~converged
        updates, new_opt_state = tx.update(grads, carry.opt_state, carry.params)
        new_params = optax.apply_updates(carry.params, updates)
        if spec.n_inner > 1:
            new_params, new_opt_state = extra_inner_steps(new_params, new_opt_state, step_obj, step_key)
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


def host_metrics(metrics: Mapping[str, jax.Array]) -> dict[str, Any]:
    """Device metrics → plain Python floats and lists, in the documented column order."""
    out = {}
    values = jax.device_get(dict(metrics))
    for name in sorted(values, key=column_rank):
        value = values[name]
        value = np.asarray(value)
        out[name] = value.tolist() if value.ndim else float(value)
    return out


class Logger:
    """Collects rows of metrics, calls ``on_log`` after each, and tracks the wall-clock limit."""

    def __init__(self, objective: Objective, top_k: int, on_log, max_time: float,
                 lr: float | None = None, batch_size: int = 0):
        self.objective, self.top_k, self.on_log = objective, top_k, on_log
        dtype = jax.tree_util.tree_leaves(objective.problem.targets)[0].dtype
        self.lr = None if lr is None else jnp.asarray(lr, dtype)
        self.batch_size = batch_size
        self.rows: list[dict[str, Any]] = []
        self.start = time.perf_counter()
        self.max_time = max_time

    def log(self, step: int, t: float, params: Params) -> dict[str, Any]:
        metrics = compute_metrics(self.objective, params, self.top_k, self.lr, self.batch_size)
        row = {"step": step, "t": t, **host_metrics(metrics)}
        self.rows.append(row)
        if self.on_log is not None:
            self.on_log(row)
        return row

    def resume(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Take over the rows logged before a checkpoint; returns the first one."""
        self.rows = list(rows)
        if self.on_log is not None:
            self.on_log(self.rows[-1])
        return self.rows[0]

    def external_stop(self, should_stop: Callable[[], bool] | None) -> str | None:
        """``max_time`` once the wall-clock limit is reached, ``interrupted`` on request (SIGINT), else None."""
        if self.max_time > 0 and time.perf_counter() - self.start >= self.max_time:
            return "max_time"
        if should_stop is not None and should_stop():
            return "interrupted"
        return None


class EarlyStopping:
    """Stop when ``test_loss`` has not improved for ``patience`` logged rows (0: never)."""

    def __init__(self, patience: int):
        self.patience, self.best, self.waited = patience, np.inf, 0

    def exhausted(self, row: Mapping[str, Any]) -> bool:
        if self.patience <= 0:
            return False
        value = row.get("test_loss", np.nan)
        if value < self.best:
            self.best, self.waited = value, 0
        else:
            self.waited += 1
        return self.waited >= self.patience


@dataclass
class Checkpoint:
    """The state a discrete run resumes from: parameters, optimizer state, step and logged rows.

    Sampling keys are ``fold_in(key, step)``, so a resumed run continues bit-identically.
    """

    params: Params
    opt_state: Any
    step: int
    rows: list[dict[str, Any]]


def initial_opt_state(trainer_cfg: Mapping[str, Any], params0: Params):
    """The optimizer state at step 0 (also the template a checkpoint's leaves are read into)."""
    dtype = jax.tree_util.tree_leaves(params0)[0].dtype
    return OPTIMIZERS[trainer_cfg["kind"]](hyperparameters(trainer_cfg, dtype)).init(params0)


def train_discrete(objective: Objective, params0: Params, trainer_cfg: Mapping[str, Any], *, key: jax.Array,
                   top_k: int = 10, on_log: Callable[[dict[str, Any]], None] | None = None,
                   should_stop: Callable[[], bool] | None = None, resume: Checkpoint | None = None,
                   on_checkpoint: Callable[[Checkpoint], None] | None = None) -> Trajectory:
    """Train with a discrete trainer, logging metrics every ``log_every`` steps.

    ``resume`` continues from a checkpoint; ``on_checkpoint`` receives one every
    ``checkpoint_every`` steps (at the end of the chunk that crosses the multiple).
    """
    spec = StepSpec.from_config(trainer_cfg)
    dtype = jax.tree_util.tree_leaves(params0)[0].dtype
    hyper = hyperparameters(trainer_cfg, dtype)
    lr = float(trainer_cfg["lr"])
    start = resume or Checkpoint(params=params0, opt_state=initial_opt_state(trainer_cfg, params0), step=0, rows=[])
    carry = Carry(params=start.params, opt_state=start.opt_state,
                  step=jnp.asarray(start.step, jnp.int64), status=jnp.asarray(RUNNING, jnp.int32),
                  status_step=jnp.asarray(-1, jnp.int64))
    checkpoint_every = int(trainer_cfg.get("checkpoint_every", 0))
    stop_loss_value = float(trainer_cfg["stop_loss"])
    stop_loss = jnp.asarray(stop_loss_value, dtype)
    # The Smith et al. modified loss is derived for plain (S)GD steps only; euler_same_batch takes
    # n_inner Euler steps of lr/n_inner, so its modified loss uses that step.
    modified_lr = lr / trainer_cfg.get("n_inner", 1) if spec.kind in MODIFIED_LOSS_KINDS else None
    logger = Logger(objective, top_k, on_log, trainer_cfg.get("max_time", 0.0), lr=modified_lr,
                    batch_size=trainer_cfg.get("batch_size", 0))
    first = logger.resume(start.rows) if start.rows else logger.log(0, 0.0, params0)
    blowup = jnp.asarray(1e20 * (abs(first["objective"]) + 1.0) if np.isfinite(first["objective"]) else np.inf,
                         dtype)
    max_steps, log_every = int(trainer_cfg["steps"]), int(trainer_cfg["log_every"])
    status, status_step = "max_steps", None
    patience = EarlyStopping(trainer_cfg.get("patience", 0))
    for row in logger.rows[1:]:
        patience.exhausted(row)
    while int(carry.step) < max_steps:
        previous_step = int(carry.step)
        n_active = jnp.asarray(min(log_every, max_steps - previous_step), jnp.int64)
        carry = train_chunk(objective, spec, hyper, carry, key, n_active, stop_loss, blowup, log_every)
        step, code = int(carry.step), int(carry.status)
        row = logger.log(step, lr * step, carry.params) if step != logger.rows[-1]["step"] else logger.rows[-1]
        if code != RUNNING:
            status, status_step = STATUS_NAMES[code], int(carry.status_step)
            break
        if on_checkpoint is not None and checkpoint_every and step // checkpoint_every > previous_step // checkpoint_every:
            on_checkpoint(Checkpoint(params=carry.params, opt_state=carry.opt_state, step=step,
                                     rows=list(logger.rows)))
        if not spec.deterministic and row["loss"] <= stop_loss_value:
            status, status_step = "converged", step
            break
        if patience.exhausted(row):
            status, status_step = "early_stopped", step
            break
        stop = logger.external_stop(should_stop)
        if stop is not None:
            status = stop
            if stop == "interrupted" and on_checkpoint is not None:  # resumable from exactly here
                on_checkpoint(Checkpoint(params=carry.params, opt_state=carry.opt_state, step=step,
                                         rows=list(logger.rows)))
            break
    if status == "max_steps" and not np.isfinite(logger.rows[-1]["loss"]):
        status = "diverged"
    steps = int(carry.step)
    return Trajectory(rows=logger.rows, params=carry.params, status=status, steps=steps, time=lr * steps,
                      status_step=status_step, wall_seconds=time.perf_counter() - logger.start)
