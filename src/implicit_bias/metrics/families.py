"""The metric families (one :class:`~implicit_bias.metrics.base.Metric` each) and their formulas.

See the package docstring (:mod:`implicit_bias.metrics`) for the columns.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from implicit_bias.core import spectral
from implicit_bias.core import theory
from implicit_bias.core.models import Model, Params
from implicit_bias.core.objective import Objective
from implicit_bias.metrics.base import At, Metric
from implicit_bias.metrics.classification import ClassificationMetrics, FourierMargin, HomogeneousMargins
from implicit_bias.metrics.residual_spectrum import ResidualSpectrum


def balancedness(factors: list[jax.Array]) -> jax.Array:
    """max_j ‖W_{j+1}ᵀ W_{j+1} − W_j W_jᵀ‖_F over consecutive factors (0 for depth 1)."""
    gaps = [jnp.linalg.norm(b.T @ b - a @ a.T) for a, b in zip(factors, factors[1:])]
    return jnp.max(jnp.stack(gaps)) if gaps else jnp.zeros(())


def mse_all_entries(W: jax.Array, ground_truth: jax.Array) -> jax.Array:
    """(1/(n·m)) Σ_ij (W_ij − W*_ij)², the mean squared error over ALL entries: the "test error"
    reported by Arora, Cohen, Hu & Luo (2019)'s code (roosephu/deep_matrix_factorization, main.py
    ``MatrixCompletion.get_test_loss``). It equals test_error² · ‖W*‖_F²/(n·m); for their 100x100
    ground truth with ‖W*‖_F = 100 that is test_error² (docs/conventions.md). For vectors, the
    mean over coordinates."""
    return jnp.mean((W - ground_truth) ** 2)


def param_norm(params: Params) -> jax.Array:
    return optax.tree.norm(params)


def modified_loss(objective: Objective, params: Params, lr: jax.Array, batch_size: int = 0) -> jax.Array:
    """The modified loss that a discrete trainer with step ε = ``lr`` follows to second order
    (Smith, Dherin, Barrett & De 2021, "On the origin of implicit regularization in SGD"):

    - full batch (``batch_size`` = 0): C̃_GD = C + (ε/4) ‖∇C‖²;
    - minibatches: C̃_SGD = C + ε/(4m) Σ_{k<m} ‖∇Ĉ_k‖², the random-reshuffling modified loss, with
      Ĉ_k the loss on the k-th of the m = ⌊N/B⌋ consecutive batches of B = ``batch_size`` observations
      (the partition in storage order; its expectation over orders is what Smith et al. derive).
    """
    if batch_size == 0:
        return theory.modified_loss_gd(objective, lr)(params)
    # theory.modified_loss_rr is the same formula unrolled over batches (the test oracle); here
    # the batches go through lax.map so that m = N/B in the thousands compiles once.
    C = objective(params)
    n_batches = objective.problem.n_observations // batch_size
    batches = jnp.arange(n_batches * batch_size).reshape(n_batches, batch_size)

    def batch_grad_norm(idx):
        batch = eqx.tree_at(lambda o: o.problem, objective, objective.problem.take(idx))
        return optax.tree.norm(jax.grad(batch)(params), squared=True)

    return C + lr / (4 * n_batches) * jnp.sum(jax.lax.map(batch_grad_norm, batches))


def _ratio_to_frobenius(total: jax.Array, s: jax.Array) -> jax.Array:
    frobenius = jnp.sqrt(jnp.sum(s**2))
    return total / jnp.where(frobenius > 0, frobenius, 1.0)


class Loss(Metric):
    """``loss`` (data loss L), ``penalty`` (R) and ``objective`` (L + weight·R)."""

    def compute(self, at: At):
        penalty = at.objective.penalty
        penalty_value = penalty.value(at.params, at.end_to_end)
        return {"loss": at.data_loss, "objective": at.data_loss + penalty.weight * penalty_value,
                "penalty": penalty_value}


class ParamNorm(Metric):
    """``param_norm``: √(Σ θ²) over every parameter entry."""

    def compute(self, at: At):
        return {"param_norm": param_norm(at.params)}


class ModifiedLoss(Metric):
    """``modified_loss`` at step ``lr`` (traced; None: not logged) and minibatch size ``batch_size``."""

    lr: jax.Array | None
    batch_size: int = eqx.field(static=True, default=0)

    def applies(self, objective):
        return self.lr is not None

    def compute(self, at: At):
        return {"modified_loss": modified_loss(at.objective, at.params, self.lr, self.batch_size)}


class GroundTruthError(Metric):
    """``test_error`` = ‖W − W*‖_F/‖W*‖_F (NaN without a ground truth or without an end-to-end W)."""

    def compute(self, at: At):
        if at.end_to_end is None:
            return {"test_error": jnp.asarray(jnp.nan, at.data_loss.dtype)}
        return {"test_error": at.problem.test_error(at.end_to_end)}


class MSEAllEntries(Metric):
    """``test_mse_all_entries`` (:func:`mse_all_entries`), with an end-to-end W and a ground truth."""

    def applies(self, objective):
        return objective.model.has_end_to_end and objective.problem.ground_truth is not None

    def compute(self, at: At):
        return {"test_mse_all_entries": mse_all_entries(at.end_to_end, at.problem.ground_truth)}


class HeldOutLoss(Metric):
    """``test_loss``: held-out mean of ½(prediction − target)² — of the network on ``X_test`` (mlp),
    of X_test @ W (regression with a held-out split), or on the held-out entries (ratings)."""

    def applies(self, objective):
        problem = objective.problem
        return (not objective.model.has_end_to_end or getattr(problem, "X_test", None) is not None
                or getattr(problem, "test_rows", None) is not None)

    def compute(self, at: At):
        problem, W = at.problem, at.end_to_end
        if W is None:
            return {"test_loss": problem.test_loss(lambda X: at.model.apply(at.params, X))}
        if getattr(problem, "test_rows", None) is not None:
            return {"test_loss": problem.held_out_loss(W)}
        return {"test_loss": problem.test_loss(lambda X: X @ W)}


class EndToEndNorms(Metric):
    """``end_to_end_norm`` = ‖W‖_F (ℓ2 for vectors) and ``end_to_end_l1`` = Σ|W_ij|."""

    def applies(self, objective):
        return objective.model.has_end_to_end

    def compute(self, at: At):
        W = at.end_to_end
        return {"end_to_end_norm": jnp.linalg.norm(W.ravel()), "end_to_end_l1": jnp.sum(jnp.abs(W))}


class Spectrum(Metric):
    """Matrix W: ``singular_values`` (top ``top_k``), ``effective_rank``, ``nuclear_norm``,
    ``nuclear_fro_ratio`` and ``stable_rank``."""

    top_k: int = eqx.field(static=True)

    def applies(self, objective):
        return objective.model.has_end_to_end and len(objective.model.shape) == 2

    def compute(self, at: At):
        s = at.singular_values
        nuclear = jnp.sum(s)
        frobenius = jnp.sqrt(jnp.sum(s**2))
        return {"singular_values": s[:self.top_k],
                "effective_rank": spectral.effective_rank_from_singular_values(s),
                "nuclear_norm": nuclear,
                "nuclear_fro_ratio": nuclear / jnp.where(frobenius > 0, frobenius, 1.0),
                "stable_rank": frobenius**2 / jnp.where(s[0] > 0, s[0] ** 2, 1.0)}


class FunctionSpectrum(Metric):
    """mlp models: ``function_spectrum`` (top ``top_k``), ``function_effective_rank`` and
    ``function_nuclear_fro_ratio`` of the input-output Jacobian over the training inputs."""

    top_k: int = eqx.field(static=True)

    def applies(self, objective):
        return not objective.model.has_end_to_end

    def compute(self, at: At):
        s = spectral.function_spectrum(at.model.apply, at.params, at.problem.X)
        return {"function_spectrum": s[:self.top_k],
                "function_effective_rank": spectral.effective_rank_from_singular_values(s),
                "function_nuclear_fro_ratio": _ratio_to_frobenius(jnp.sum(s), s)}


class Balancedness(Metric):
    """Product models (deep_matrix): ``balancedness`` (:func:`balancedness`)."""

    def applies(self, objective):
        return type(objective.model).factors is not Model.factors

    def compute(self, at: At):
        factors = at.model.factors(at.params)
        return {"balancedness": balancedness(factors)} if factors else {}


#: Metric families added by extensions (:func:`register_metric`), computed after the built-in ones.
REGISTERED: list[Metric] = []
_BUILT_IN = ("Loss", "ParamNorm", "ModifiedLoss", "GroundTruthError", "HeldOutLoss", "FunctionSpectrum",
             "EndToEndNorms", "MSEAllEntries", "Spectrum", "Balancedness",
             "ClassificationMetrics", "FourierMargin", "HomogeneousMargins",
             "ResidualSpectrum")


def register_metric(metric: Metric) -> None:
    """Log the columns of ``metric`` (a :class:`Metric` instance: ``applies(objective)``, ``compute(at)``)
    in every run it applies to, after the built-in families. Its columns sort after the documented
    ``COLUMN_ORDER`` (alphabetically among themselves). A second family of the same class name is refused."""
    if not isinstance(metric, Metric):
        raise ValueError(f"register_metric takes a Metric instance, got {type(metric).__name__}")
    name = type(metric).__name__
    if name in _BUILT_IN or any(type(m).__name__ == name for m in REGISTERED):
        raise ValueError(f"a metric family {name!r} exists already")
    REGISTERED.append(metric)


def default_metrics(top_k: int, lr: jax.Array | None = None, batch_size: int = 0) -> tuple[Metric, ...]:
    """Every family, in the order the columns were historically computed (then the registered ones);
    MetricSet keeps those that apply."""
    return (Loss(), ParamNorm(), ModifiedLoss(lr=lr, batch_size=batch_size), GroundTruthError(), HeldOutLoss(),
            FunctionSpectrum(top_k=top_k), EndToEndNorms(), MSEAllEntries(), Spectrum(top_k=top_k),
            Balancedness(),
            ClassificationMetrics(), FourierMargin(),
            ResidualSpectrum(), HomogeneousMargins(),
            *REGISTERED)
