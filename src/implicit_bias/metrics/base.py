"""``Metric``: one family of logged columns, a small piece of the one jitted metrics function.

A :class:`Metric` is a value (an equinox module, so it may carry traced numbers such as the
modified loss's step size and be vmapped) with

- ``applies(objective) -> bool``: decided from the *static* structure of the objective (model
  class, which optional problem arrays are present), never from traced values;
- ``compute(at) -> dict[str, jax.Array]``: its columns at one point, where ``at`` is an
  :class:`At` (the objective and the parameters, with the quantities several metrics share —
  the end-to-end object W, the data loss, the singular values of W — computed once per trace);
- ``metric(objective, params)``: the same columns for a one-off use.

A :class:`~implicit_bias.metrics.sets.MetricSet` (``sets.py``) folds them into one function.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax

from implicit_bias.core.models import Params
from implicit_bias.core.objective import Objective


class At:
    """One evaluation point: ``objective`` and ``params``, with shared intermediate quantities
    computed lazily and at most once (so folding metrics together traces each only once)."""

    def __init__(self, objective: Objective, params: Params):
        self.objective, self.params = objective, params
        self.model, self.problem = objective.model, objective.problem

    @functools.cached_property
    def end_to_end(self) -> jax.Array | None:
        """W, or None for models without an end-to-end object (MLPs)."""
        return self.model.end_to_end(self.params) if self.model.has_end_to_end else None

    @functools.cached_property
    def data_loss(self) -> jax.Array:
        return self.objective.data_loss(self.params)

    @functools.cached_property
    def singular_values(self) -> jax.Array:
        """All singular values of a matrix W (descending)."""
        return jax.numpy.linalg.svd(self.end_to_end, compute_uv=False)


class Metric(eqx.Module):
    """One family of logged columns (subclasses override :meth:`applies` and :meth:`compute`)."""

    def applies(self, objective: Objective) -> bool:
        return True

    def compute(self, at: At) -> dict[str, jax.Array]:
        raise NotImplementedError

    def __call__(self, objective: Objective, params: Params) -> dict[str, jax.Array]:
        return self.compute(At(objective, params))
