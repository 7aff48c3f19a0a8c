"""``MetricSet``: the metrics of one run folded into one function of (objective, params).

Built once per run (:meth:`MetricSet.build` from the objective, the ``[metrics]`` top_k and the
trainer's step info: the modified loss's step size and batch size), it keeps the
:class:`~implicit_bias.metrics.base.Metric` s that apply (decided from the objective's static
structure); calling it traces every kept metric on one shared :class:`~implicit_bias.metrics.base.At`.
Single runs jit the call, batched runs vmap it (build it inside the vmapped function, so that a
traced step size becomes the ``ModifiedLoss`` metric's field).
"""

from __future__ import annotations

from typing import Iterable

import equinox as eqx
import jax

from implicit_bias.core.models import Params
from implicit_bias.core.objective import Objective
from implicit_bias.metrics.base import At, Metric
from implicit_bias.metrics.families import default_metrics


class MetricSet(eqx.Module):
    """The metrics of one run, folded: ``metric_set(objective, params)`` is a dict of every column.

    A later metric's column would overwrite a same-named earlier one; no two default families
    (:func:`~implicit_bias.metrics.families.default_metrics`) share a column. The set is a pytree
    (the modified loss's step size is a leaf), so ``eqx.filter_jit(metric_set)`` and ``jax.vmap``
    apply to it directly."""

    metrics: tuple[Metric, ...]

    @classmethod
    def select(cls, objective: Objective, metrics: Iterable[Metric]) -> "MetricSet":
        """The metrics among ``metrics`` that apply to ``objective``."""
        return cls(metrics=tuple(m for m in metrics if m.applies(objective)))

    @classmethod
    def build(cls, objective: Objective, top_k: int, lr: jax.Array | None = None,
              batch_size: int = 0, extra: tuple[Metric, ...] = ()) -> "MetricSet":
        """The run's metric set: the default families for this objective, ``top_k`` singular values,
        and ``modified_loss`` at step ``lr`` (minibatch size ``batch_size``, 0 = full batch) when
        ``lr`` is given (discrete trainers and modified_flow); then the run's ``extra`` families
        (configured per run, e.g. the curvature columns of ``metrics/curvature.py``)."""
        return cls.select(objective, (*default_metrics(top_k, lr, batch_size), *extra))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(type(m).__name__ for m in self.metrics)

    def __call__(self, objective: Objective, params: Params) -> dict[str, jax.Array]:
        at = At(objective, params)
        out: dict[str, jax.Array] = {}
        for metric in self.metrics:
            out.update(metric.compute(at))
        return out
