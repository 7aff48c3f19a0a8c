"""The one function every trainer differentiates: loss(model(params)) + weight · penalty."""

from __future__ import annotations

import equinox as eqx
import jax

from implicit_bias.core.models import Model, Params
from implicit_bias.core.penalties import Penalty
from implicit_bias.core.problems import Problem


class Objective(eqx.Module):
    """C(θ) = L(W(θ)) + λ R(·), with L the mean of ½(prediction − target)² (see problems.py)."""

    problem: Problem
    model: Model
    penalty: Penalty

    def __call__(self, params: Params) -> jax.Array:
        W = self.model.end_to_end(params) if self.model.has_end_to_end else None
        predictions = self.problem.measure(W) if W is not None else self.model.predict(params, self.problem)
        return self.problem.residual_loss(predictions) + self.penalty(params, W)

    def data_loss(self, params: Params) -> jax.Array:
        """The training loss L alone, without the penalty (what ``loss`` in metrics reports)."""
        return self.problem.residual_loss(self.model.predict(params, self.problem))

    def log_data_loss(self, params: Params) -> jax.Array:
        """ln L(θ), stably (the problem's ``log_residual_loss``): ∇ ln L = ∇L/L for normalized steps."""
        return self.problem.log_residual_loss(self.model.predict(params, self.problem))
