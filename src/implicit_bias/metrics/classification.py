"""Metrics of binary classification runs: accuracies, normalized margins and the norm of β.

For a classification problem (:class:`~implicit_bias.core.classification.BinaryClassification`,
labels y_i ∈ {−1, +1}) and the end-to-end vector β of a model linear in x (f(x) = ⟨x, β⟩):

- ``accuracy`` = (1/n) Σ_i 1[y_i f(x_i) > 0] on the training set (a prediction of 0 is wrong),
- ``test_accuracy`` = the same on the held-out split (NaN without one),
- ``margin_p`` = min_i y_i⟨x_i, β⟩ / ‖β‖_p for p = 1, 2, ∞ (``margin_l1``, ``margin_l2``,
  ``margin_linf``): the normalized margin whose maximum over β is the max-margin problem of the
  dual geometry (Gunasekar, Lee, Soudry & Srebro 2018, "Characterizing implicit bias in terms of
  optimization geometry"); GD on separable data maximizes ``margin_l2`` in the limit (Soudry,
  Hoffer, Nacson, Gunasekar & Srebro 2018);
- ``margin_fourier`` = min_i y_i⟨x_i, β⟩ / ‖Fβ‖₁ with the unitary DFT F (F_jk = e^{−2πi jk/d}/√d),
  for models with the class attribute ``circular_convolution = True`` (full-width circular
  linear convolutional networks, which maximize it: Gunasekar, Lee, Soudry & Srebro 2018,
  "Implicit bias of gradient descent on linear convolutional networks");
- ``norm_l2`` = ‖β‖₂, which grows like ‖ŵ‖ ln t under GD on separable data (ŵ the unit-margin SVM).

The margins are NaN at β = 0 (0/0), e.g. at the zero initialization. Models without an end-to-end
vector (``mlp``) get the accuracies, and, when they are positively homogeneous of order K in their
parameters θ (``Model.homogeneity_order()``: a bias-free ``mlp`` with ``relu``, ``relu2`` or
``linear``), the two margins of Lyu & Li (2020, "Gradient descent maximizes the margin of
homogeneous neural networks"), with ρ = ‖θ‖₂ over every parameter entry and q_i = y_i f(x_i; θ):

- ``margin_homogeneous`` = γ = min_i q_i / ρ^K, the normalized margin (scale-free: γ(cθ) = γ(θ));
- ``smoothed_margin`` = γ̃ = g(ln(1/L_Σ)) / ρ^K, L_Σ = n·L the SUM of the per-sample losses (their
  convention; ours is the mean L), g the inverse of f in ℓ(q) = e^{−f(q)}: g(x) = x for the
  exponential loss, so γ̃ = ln(1/(n L))/ρ^K; g(x) = −ln(e^{e^{−x}} − 1) for the logistic loss, so
  γ̃ = −ln(expm1(n L))/ρ^K. ln L is the log-sum-exp of ``log_residual_loss`` (exact where L itself
  underflows). Since e^{−q_min} ≤ L_Σ ≤ n e^{−q_min} (exponential loss), γ − ln n/ρ^K ≤ γ̃ ≤ γ.
  NaN for ``half_mse``. Lyu & Li's Theorem 4.1: once L_Σ < 1 (exponential; < ln 2 logistic),
  i.e. L < 1/n (ln 2/n) in our mean convention, γ̃ is non-decreasing under gradient flow.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax

from implicit_bias.core.classification import BinaryClassification
from implicit_bias.core.objective import Objective
from implicit_bias.metrics.base import At, Metric


def accuracy(labels: jax.Array, predictions: jax.Array) -> jax.Array:
    """(1/n) Σ_i 1[y_i f_i > 0]."""
    return jnp.mean((labels * predictions > 0).astype(predictions.dtype))


def _ratio(numerator: jax.Array, norm: jax.Array) -> jax.Array:
    """numerator / norm, NaN where the norm is 0."""
    return jnp.where(norm > 0, numerator / jnp.where(norm > 0, norm, 1.0), jnp.nan)


def normalized_margins(X: jax.Array, y: jax.Array, beta: jax.Array) -> dict[str, jax.Array]:
    """``margin_l1``, ``margin_l2``, ``margin_linf`` = min_i y_i⟨x_i, β⟩ / ‖β‖_p and ``norm_l2`` = ‖β‖₂."""
    smallest = jnp.min(y * (X @ beta))
    return {"margin_l1": _ratio(smallest, jnp.sum(jnp.abs(beta))),
            "margin_l2": _ratio(smallest, jnp.linalg.norm(beta)),
            "margin_linf": _ratio(smallest, jnp.max(jnp.abs(beta))),
            "norm_l2": jnp.linalg.norm(beta)}


def fourier_l1(beta: jax.Array) -> jax.Array:
    """‖Fβ‖₁ = Σ_k |(Fβ)_k| with the unitary DFT F."""
    return jnp.sum(jnp.abs(jnp.fft.fft(beta, norm="ortho")))


def fourier_margin(X: jax.Array, y: jax.Array, beta: jax.Array) -> jax.Array:
    """``margin_fourier`` = min_i y_i⟨x_i, β⟩ / ‖Fβ‖₁."""
    return _ratio(jnp.min(y * (X @ beta)), fourier_l1(beta))


def _is_classification(objective: Objective) -> bool:
    return isinstance(objective.problem, BinaryClassification)


class ClassificationMetrics(Metric):
    """Classification problems: ``accuracy``, ``test_accuracy`` and, with an end-to-end vector β,
    ``margin_l1``, ``margin_l2``, ``margin_linf`` and ``norm_l2``."""

    def applies(self, objective):
        return _is_classification(objective)

    def compute(self, at: At):
        problem = at.problem
        if at.end_to_end is None:
            train = at.model.predict(at.params, problem)
            test = None if problem.X_test is None else at.model.apply(at.params, problem.X_test)
        else:
            train = problem.X @ at.end_to_end
            test = None if problem.X_test is None else problem.X_test @ at.end_to_end
        out = {"accuracy": accuracy(problem.targets, train),
               "test_accuracy": (jnp.asarray(jnp.nan, train.dtype) if test is None
                                 else accuracy(problem.y_test, test))}
        if at.end_to_end is not None:
            out.update(normalized_margins(problem.X, problem.targets, at.end_to_end))
        return out


def smoothed_margin(loss_kind: str, log_sum_loss: jax.Array) -> jax.Array:
    """g(ln(1/L_Σ)) from ln L_Σ: −ln L_Σ (exponential) or −ln expm1(L_Σ) (logistic), NaN otherwise.

    For the logistic loss, −ln expm1(u) = −ln u − ln(expm1(u)/u) with u = L_Σ, and expm1(u)/u = 1
    once u underflows, so the value stays exact at any margin."""
    if loss_kind == "exponential":
        return -log_sum_loss
    if loss_kind == "logistic":
        u = jnp.exp(log_sum_loss)
        ratio = jnp.where(u > 0, jnp.expm1(u) / jnp.where(u > 0, u, 1.0), 1.0)
        return -log_sum_loss - jnp.log(ratio)
    return jnp.asarray(jnp.nan, log_sum_loss.dtype)


class HomogeneousMargins(Metric):
    """``margin_homogeneous`` and ``smoothed_margin`` (Lyu & Li 2020) for classification with a
    homogeneous model that has no end-to-end vector (bias-free ``mlp`` with relu / relu2 / linear)."""

    def applies(self, objective):
        return (_is_classification(objective) and not objective.model.has_end_to_end
                and objective.model.homogeneity_order() is not None)

    def compute(self, at: At):
        problem = at.problem
        order = at.model.homogeneity_order()
        scale = optax.tree.norm(at.params) ** order
        predictions = at.model.predict(at.params, problem)
        n = problem.targets.shape[0]
        log_sum = problem.log_residual_loss(predictions) + math.log(n)
        return {"margin_homogeneous": jnp.min(problem.targets * predictions) / scale,
                "smoothed_margin": smoothed_margin(problem.loss_kind, log_sum) / scale}


class FourierMargin(Metric):
    """``margin_fourier`` for models whose class sets ``circular_convolution = True``."""

    def applies(self, objective):
        return (_is_classification(objective) and objective.model.has_end_to_end
                and bool(getattr(type(objective.model), "circular_convolution", False)))

    def compute(self, at: At):
        return {"margin_fourier": fourier_margin(at.problem.X, at.problem.targets, at.end_to_end)}
