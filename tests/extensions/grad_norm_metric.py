"""Extension: the metric column "grad_norm" = ‖∇_θ C(θ)‖₂ (C the objective the trainer minimizes),
logged in every run. Loaded through IMPLICIT_BIAS_PLUGINS (docs/extending.md)."""

import jax
import optax

from implicit_bias.engine import Metric, register_metric


class GradNorm(Metric):
    def applies(self, objective):
        return True

    def compute(self, at):
        return {"grad_norm": optax.tree.norm(jax.grad(at.objective)(at.params))}


register_metric(GradNorm())
