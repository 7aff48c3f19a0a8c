"""Metrics logged along a trajectory, computed from the parameters in one jitted call.

Columns (documented in docs/run-directory.md):

- ``loss``: the training loss L (mean of ½(prediction − target)², without penalty),
- ``modified_loss``: for discrete trainers and modified_flow, the Smith et al. (2021) modified
  loss C + (ε/4)‖∇C‖² (full batch) or C + ε/(4m) Σ_k ‖∇Ĉ_k‖² (minibatches),
- ``test_loss``: the held-out mean of ½(prediction − target)² (teacher_student, dataset, ratings),
- ``objective``: L + weight·R, what the trainer minimizes, and ``penalty`` = R,
- ``test_error``: ‖W − W*‖_F / ‖W*‖_F (NaN without a ground truth),
- ``test_mse_all_entries``: (1/(n·m)) Σ_ij (W − W*)_ij², the "test error" of Arora et al.'s code
  (only with a ground truth; :func:`mse_all_entries`),
- ``param_norm``: √(Σ over all parameter entries of θ²),
- ``end_to_end_norm``: ‖W‖_F (ℓ2 norm for vectors), ``end_to_end_l1``: Σ|W_ij|,
- matrix problems: ``singular_values`` (top-k of W), ``effective_rank`` (Roy & Vetterli
  2007), ``nuclear_norm``, ``nuclear_fro_ratio`` = ‖W‖_*/‖W‖_F (Zhao 2022), ``stable_rank`` =
  ‖W‖_F²/‖W‖_2²,
- mlp models: ``function_spectrum`` (top-k singular values of the input-output Jacobian stacked
  over the training inputs, :func:`implicit_bias.spectral.function_spectrum`), its
  ``function_effective_rank`` and ``function_nuclear_fro_ratio``,
- deep_matrix models: ``balancedness`` = max_j ‖W_{j+1}ᵀ W_{j+1} − W_j W_jᵀ‖_F (Arora et al.
  2018: zero at a balanced init and conserved by gradient flow).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from . import spectral, theory
from .models import Params
from .objective import Objective


COLUMN_ORDER = ("loss", "test_error", "test_mse_all_entries", "test_loss", "param_norm", "singular_values",
                "effective_rank",
                "balancedness", "nuclear_norm", "nuclear_fro_ratio", "stable_rank", "end_to_end_norm", "end_to_end_l1", "objective", "penalty",
                "modified_loss")


def column_rank(name: str) -> tuple[int, str]:
    """Sort key putting metric columns in the documented order (unknown names last, alphabetically)."""
    return (COLUMN_ORDER.index(name) if name in COLUMN_ORDER else len(COLUMN_ORDER), name)


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
    (Smith, Dherin, Barrett & De 2021, "On the origin of implicit regularization in SGD"; seed 002):

    - full batch (``batch_size`` = 0): C̃_GD = C + (ε/4) ‖∇C‖²;
    - minibatches: C̃_SGD = C + ε/(4m) Σ_{k<m} ‖∇Ĉ_k‖², the random-reshuffling modified loss, with
      Ĉ_k the loss on the k-th of the m = ⌊N/B⌋ consecutive batches of B = ``batch_size`` observations
      (the partition in storage order; its expectation over orders is what seed 002 derives).
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


@eqx.filter_jit
def compute_metrics(objective: Objective, params: Params, top_k: int, lr: jax.Array | None = None,
                    batch_size: int = 0) -> dict[str, jax.Array]:
    """Every logged metric at ``params`` (one compiled call per objective structure); with ``lr``,
    also ``modified_loss`` (see :func:`modified_loss`)."""
    model, problem = objective.model, objective.problem
    loss = objective.data_loss(params)
    W = model.end_to_end(params) if model.has_end_to_end else None
    penalty_value = objective.penalty.value(params, W)
    out = {
        "loss": loss,
        "objective": loss + objective.penalty.weight * penalty_value,
        "penalty": penalty_value,
        "param_norm": param_norm(params),
    }
    if lr is not None:
        out["modified_loss"] = modified_loss(objective, params, lr, batch_size)
    if W is None:
        out["test_error"] = jnp.asarray(jnp.nan, loss.dtype)
        out["test_loss"] = problem.test_loss(lambda X: model.apply(params, X))
        s = spectral.function_spectrum(model.apply, params, problem.X)
        frobenius = jnp.sqrt(jnp.sum(s**2))
        out["function_spectrum"] = s[:top_k]
        out["function_effective_rank"] = spectral.effective_rank_from_singular_values(s)
        out["function_nuclear_fro_ratio"] = jnp.sum(s) / jnp.where(frobenius > 0, frobenius, 1.0)
        return out
    out.update({
        "test_error": problem.test_error(W),
        "end_to_end_norm": jnp.linalg.norm(W.ravel()),
        "end_to_end_l1": jnp.sum(jnp.abs(W)),
    })
    if problem.ground_truth is not None:
        out["test_mse_all_entries"] = mse_all_entries(W, problem.ground_truth)
    if getattr(problem, "X_test", None) is not None:
        out["test_loss"] = problem.test_loss(lambda X: X @ W)
    if getattr(problem, "test_rows", None) is not None:
        out["test_loss"] = problem.held_out_loss(W)
    if W.ndim == 2:
        s = jnp.linalg.svd(W, compute_uv=False)
        out["singular_values"] = s[:top_k]
        out["effective_rank"] = spectral.effective_rank_from_singular_values(s)
        out["nuclear_norm"] = jnp.sum(s)
        frobenius = jnp.sqrt(jnp.sum(s**2))
        out["nuclear_fro_ratio"] = out["nuclear_norm"] / jnp.where(frobenius > 0, frobenius, 1.0)
        out["stable_rank"] = frobenius**2 / jnp.where(s[0] > 0, s[0] ** 2, 1.0)
    factors = objective.model.factors(params)
    if factors:
        out["balancedness"] = balancedness(factors)
    return out
