"""Extension: the problem kind "logistic_separable", linearly separable labels and the logistic loss.

X ~ N(0, I) (n_samples × n_features), a random unit teacher w*, labels y = sign(⟨x, w*⟩); a sample
with |⟨x, w*⟩| < margin is redrawn. The loss is L(β) = mean log(1 + exp(−y_i ⟨x_i, β⟩)), the
measurement 𝒜(β) = Xβ (a LeastSquares subclass: X, measure, adjoint). test_error is the
misclassification rate on the training set. Loaded through IMPLICIT_BIAS_PLUGINS (docs/extending.md).
"""

import jax
import jax.numpy as jnp

from implicit_bias.engine import LeastSquares, float_key, int_key, register_kind, register_problem


class LogisticSeparable(LeastSquares):
    """Labels y ∈ {−1, +1}; the predictions Xβ are margins' numerators, scored by the logistic loss."""

    def residual_loss(self, predictions):
        return jnp.mean(jnp.logaddexp(0.0, -self.targets * predictions))  # log(1 + e^{−y·f}), stably

    def test_error(self, W):
        return jnp.mean(jnp.sign(self.X @ W) != self.targets).astype(W.dtype)

    def take(self, idx):
        return LogisticSeparable(targets=self.targets[idx], ground_truth=self.ground_truth, X=self.X[idx])


def build(problem, key):
    n, d = problem.n_samples, problem.n_features
    k_teacher, k_x = jax.random.split(key)
    teacher = jax.random.normal(k_teacher, (d,))
    teacher = teacher / jnp.linalg.norm(teacher)
    X = jax.random.normal(k_x, (n, d))
    for attempt in range(1000):  # redraw the samples inside the margin (a fixed, seeded sequence)
        inside = jnp.abs(X @ teacher) < problem.margin
        if not bool(jnp.any(inside)):
            break
        fresh = jax.random.normal(jax.random.fold_in(k_x, attempt + 1), (n, d))
        X = jnp.where(inside[:, None], fresh, X)
    else:
        raise ValueError("margin too large: samples inside it after 1000 redraws")
    return LogisticSeparable(targets=jnp.sign(X @ teacher), ground_truth=teacher, X=X)


register_kind(
    "problem", "logistic_separable",
    {"n_samples": int_key(50, "Training samples x ~ N(0, I).", minimum=1),
     "n_features": int_key(10, "Input dimension d (the dimension of β).", minimum=1),
     "margin": float_key(0.1, "Samples with |⟨x, w*⟩| < margin are redrawn.", minimum=0.0, maximum=3.0)},
    shape=lambda p: (p["n_features"],), n_observations=lambda p: p["n_samples"], has_inputs=True,
    data_size=lambda p: ("n_samples", p["n_samples"] * p["n_features"]))
register_problem("logistic_separable", build)
