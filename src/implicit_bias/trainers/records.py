"""What the host loop keeps between chunks: logged rows, the trajectory, checkpoints, the rules
that are decided on the host (patience, wall-clock limit, interruption)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias.core.models import Params
from implicit_bias.core.objective import Objective
from implicit_bias.metrics import column_rank, compute_metrics
from implicit_bias.trainers.optimizers import OPTIMIZERS, hyperparameters


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
                 lr: float | None = None, batch_size: int = 0, extra: tuple = ()):
        self.extra = tuple(extra)
        self.objective, self.top_k, self.on_log = objective, top_k, on_log
        dtype = jax.tree_util.tree_leaves(objective.problem.targets)[0].dtype
        self.lr = None if lr is None else jnp.asarray(lr, dtype)
        self.batch_size = batch_size
        self.rows: list[dict[str, Any]] = []
        self.start = time.perf_counter()
        self.max_time = max_time

    def log(self, step: int, t: float, params: Params) -> dict[str, Any]:
        metrics = compute_metrics(self.objective, params, self.top_k, self.lr, self.batch_size, self.extra)
        row = {"step": step, "t": t, **host_metrics(metrics)}
        self.rows.append(row)
        if self.on_log is not None:
            self.on_log(row)
        return row

    def external_stop(self, should_stop: Callable[[], bool] | None) -> str | None:
        return external_stop(self.start, self.max_time, should_stop)


def external_stop(start: float, max_time: float, should_stop: Callable[[], bool] | None) -> str | None:
    """``max_time`` once the wall-clock limit (from ``start``) is reached, ``interrupted`` on request
    (SIGINT), else None."""
    if max_time > 0 and time.perf_counter() - start >= max_time:
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


def initial_opt_state(trainer, params0: Params):
    """The optimizer state at step 0 of typed ``[trainer]`` settings (also the template a checkpoint's
    leaves are read into)."""
    dtype = jax.tree_util.tree_leaves(params0)[0].dtype
    return OPTIMIZERS[trainer.kind](hyperparameters(trainer, dtype)).init(params0)


