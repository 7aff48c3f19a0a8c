"""Metrics logged along a trajectory, computed from the parameters in one jitted call.

Columns (documented in docs/run-directory.md):

- ``loss``: the training loss L (mean of ½(prediction − target)², without penalty),
- ``objective``: L + weight·R, what the trainer minimizes, and ``penalty`` = R,
- ``test_error``: ‖W − W*‖_F / ‖W*‖_F (NaN without a ground truth),
- ``param_norm``: √(Σ over all parameter entries of θ²),
- ``end_to_end_norm``: ‖W‖_F (ℓ2 norm for vectors), ``end_to_end_l1``: Σ|W_ij|,
- matrix problems: ``singular_values`` (top-k of W), ``effective_rank`` (Roy & Vetterli
  2007), ``nuclear_norm``,
- deep_matrix models: ``balancedness`` = max_j ‖W_{j+1}ᵀ W_{j+1} − W_j W_jᵀ‖_F (Arora et al.
  2018: zero at a balanced init and conserved by gradient flow).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from . import spectral
from .models import Params
from .objective import Objective


def balancedness(factors: list[jax.Array]) -> jax.Array:
    """max_j ‖W_{j+1}ᵀ W_{j+1} − W_j W_jᵀ‖_F over consecutive factors (0 for depth 1)."""
    gaps = [jnp.linalg.norm(b.T @ b - a @ a.T) for a, b in zip(factors, factors[1:])]
    return jnp.max(jnp.stack(gaps)) if gaps else jnp.zeros(())


def param_norm(params: Params) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(p**2) for p in jax.tree_util.tree_leaves(params)))


@eqx.filter_jit
def compute_metrics(objective: Objective, params: Params, top_k: int) -> dict[str, jax.Array]:
    """Every logged metric at ``params`` (one compiled call per objective structure)."""
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
    if W is None:
        out["test_error"] = jnp.asarray(jnp.nan, loss.dtype)
        out["test_loss"] = problem.test_loss(lambda X: model.apply(params, X))
        return out
    out.update({
        "test_error": problem.test_error(W),
        "end_to_end_norm": jnp.linalg.norm(W.ravel()),
        "end_to_end_l1": jnp.sum(jnp.abs(W)),
    })
    if getattr(problem, "X_test", None) is not None:
        out["test_loss"] = problem.test_loss(lambda X: X @ W)
    if getattr(problem, "test_rows", None) is not None:
        out["test_loss"] = problem.held_out_loss(W)
    if W.ndim == 2:
        s = jnp.linalg.svd(W, compute_uv=False)
        out["singular_values"] = s[:top_k]
        out["effective_rank"] = spectral.effective_rank_from_singular_values(s)
        out["nuclear_norm"] = jnp.sum(s)
    factors = objective.model.factors(params)
    if factors:
        out["balancedness"] = balancedness(factors)
    return out
