"""The members a host loop drives: one run (:class:`SingleRun`) or runs stacked along a leading
axis and stepped under ``jax.vmap`` (:class:`VmappedMembers`). Both offer the same operations to
:func:`implicit_bias.trainers.loop.host_loop`."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias.core.models import Params
from implicit_bias.core.objective import Objective
from implicit_bias.metrics import column_rank, compute_metrics
from implicit_bias.trainers.gradients import StepSpec
from implicit_bias.trainers.optimizers import STATIC_KEYS
from implicit_bias.trainers.records import host_metrics
from implicit_bias.trainers.step import HOST_STOPPED, Carry, train_chunk, train_chunk_batched


def _stack(trees: Sequence[Any]) -> Any:
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


def _host_ints(x) -> np.ndarray:
    return np.atleast_1d(np.asarray(jax.device_get(x)))


class SingleRun:
    """One run: the compiled chunk and metrics called as they are (no member axis)."""

    n = 1

    def __init__(self, objective: Objective, spec: StepSpec, hyper: Mapping[str, Any], key: jax.Array,
                 top_k: int, metric_lr: float | None, dtype, curvature=None):
        self.objective, self.spec, self.hyper, self.key, self.top_k = objective, spec, hyper, key, top_k
        self.dtype = dtype
        self.extra = () if curvature is None else (curvature,)  # the run's configured metric families
        lr_dtype = jax.tree_util.tree_leaves(objective.problem.targets)[0].dtype  # as Logger converts it
        self.metric_lr = None if metric_lr is None else jnp.asarray(metric_lr, lr_dtype)

    def per_member(self, values: Sequence[float]) -> jax.Array:
        return jnp.asarray(values[0], self.dtype)

    def advance(self, carry: Carry, n_active: jax.Array, stop_loss, blowup, chunk_len: int) -> Carry:
        return train_chunk(self.objective, self.spec, self.hyper, carry, self.key, n_active, stop_loss, blowup,
                           chunk_len)

    def measure(self, params: Params) -> list[dict[str, Any]]:
        return [host_metrics(compute_metrics(self.objective, params, self.top_k, self.metric_lr,
                                             self.spec.batch_size, self.extra))]

    def member(self, tree: Any, i: int) -> Any:
        return tree

    def freeze(self, carry: Carry, members: Sequence[int]) -> Carry:
        return carry._replace(status=jnp.asarray(HOST_STOPPED, carry.status.dtype))


@eqx.filter_jit
def metrics_batched(objective, params, top_k: int, lr: jax.Array | None, batch_size: int, extra=()) -> dict:
    """``compute_metrics`` of every member in one call (``extra``: stacked metric families, one per member)."""
    return jax.vmap(lambda o, p, lr, e: compute_metrics(o, p, top_k, lr, batch_size, e))(objective, params, lr,
                                                                                         extra)


def _member_rows(values: Mapping[str, np.ndarray], n: int) -> list[dict[str, Any]]:
    """Per-member metric dicts, converted as :func:`host_metrics` converts one run's."""
    names = sorted(values, key=column_rank)
    out = []
    for i in range(n):
        row = {}
        for name in names:
            value = np.asarray(values[name][i])
            row[name] = value.tolist() if value.ndim else float(value)
        out.append(row)
    return out


class VmappedMembers:
    """Members that share their static structure, stacked along a leading axis and stepped under ``jax.vmap``.

    Every array argument of the chunk (objective, traced hyper-parameters, carry, key, stop_loss,
    blow-up threshold) has the member axis; ``static_hyper`` (``nesterov``) is common."""

    def __init__(self, objectives: Sequence[Objective], spec: StepSpec, hypers: Sequence[Mapping[str, Any]],
                 keys: Sequence[jax.Array], top_k: int, metric_lrs: Sequence[float] | None, dtype,
                 curvatures: Sequence[Any] | None = None):
        self.n, self.spec, self.top_k, self.dtype = len(objectives), spec, top_k, dtype
        self.objective = _stack(objectives)
        self.hyper = _stack([{k: h[k] for k in h if k not in STATIC_KEYS} for h in hypers])
        self.static_hyper = {k: hypers[0][k] for k in STATIC_KEYS if k in hypers[0]}
        self.key = jnp.stack(keys)
        self.metric_lr = None if metric_lrs is None else jnp.asarray(metric_lrs, dtype)
        self.extra = () if not curvatures or curvatures[0] is None else (_stack(curvatures),)

    def per_member(self, values: Sequence[float]) -> jax.Array:
        return jnp.asarray(values, self.dtype)

    def advance(self, carry: Carry, n_active: jax.Array, stop_loss, blowup, chunk_len: int) -> Carry:
        return train_chunk_batched(self.objective, self.spec, self.hyper, self.static_hyper, carry, self.key,
                                   n_active, stop_loss, blowup, chunk_len)

    def measure(self, params: Params) -> list[dict[str, Any]]:
        values = metrics_batched(self.objective, params, self.top_k, self.metric_lr, self.spec.batch_size,
                                 self.extra)
        return _member_rows(jax.device_get(values), self.n)

    def member(self, tree: Any, i: int) -> Any:
        return jax.tree_util.tree_map(lambda x: x[i], tree)

    def freeze(self, carry: Carry, members: Sequence[int]) -> Carry:
        return carry._replace(status=carry.status.at[jnp.asarray(members)].set(HOST_STOPPED))


