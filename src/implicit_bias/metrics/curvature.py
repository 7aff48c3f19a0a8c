"""Curvature of the training objective as logged columns: ``sharpness``, ``hessian_eigenvalues``,
``hessian_trace`` / ``hessian_trace_stderr`` and ``batch_sharpness`` (issue 17).

H = ∇²C(θ) is the true Hessian (not a Gauss–Newton part) of the training objective
C = L + weight·R — exactly the function the trainer differentiates (``Objective.__call__``; a
trainer's coupled ``weight_decay`` is not part of C and would shift every eigenvalue by its
value) — with respect to every trained parameter (all leaves of the parameter pytree, i.e. the
arrays of ``final.npz`` but ``end_to_end``/``end_to_end_init``), at the logged iterate.
H is only touched through products v ↦ Hv by forward-over-reverse autodiff
(:func:`implicit_bias.core.curvature.hvp`, one gradient's cost each): no d×d matrix is formed.

- ``sharpness`` = λ_max(H), the largest *algebraic* eigenvalue, and ``hessian_eigenvalues`` =
  the K largest, descending: the top Ritz values of m = min(d, ``hessian_iterations``) steps of
  symmetric Lanczos with full reorthogonalization (:func:`~implicit_bias.core.curvature.lanczos_top_eigenvalues`;
  Lanczos 1950; Golub & Van Loan, "Matrix Computations", §10.1), started from the same Gaussian
  vector at every row (drawn from ``named_key(seed, "curvature")``). Accuracy: a Ritz value is a
  Rayleigh quotient, so θ_1 ≤ λ_max always, and with m = d it equals λ_max to rounding (T is H in
  an orthonormal basis); for m < d the error of θ_1 decays like a Chebyshev polynomial of degree
  m − 1 in the relative gap (λ_1 − λ_2)/(λ_2 − λ_d) (Kaniel–Paige–Saad bound) — with the default
  m = 64, machine precision for every gap above a few percent; a nearly degenerate top pair is
  still found to within that gap. Cost per row: m Hessian-vector products (≈ 2m gradients) plus
  O(m²d) for the reorthogonalization.
- ``hessian_trace`` = (1/s) Σ_j z_jᵀHz_j over s = ``hessian_probes`` Rademacher vectors
  (Hutchinson 1989: unbiased, variance 2(‖H‖_F² − Σ H_ii²)/s) and ``hessian_trace_stderr`` =
  std_ddof=1(z_jᵀHz_j)/√s; the probes are fixed per run (from the same named key), so the rows of
  a run differ by the Hessian, not by the probes. Cost: s products.
- ``batch_sharpness`` = (1/m_b) Σ_k λ_max(∇²Ĉ_k) over the m_b = ⌊N/B⌋ consecutive minibatches of
  B = ``batch_size`` observations in storage order (the partition that ``modified_loss`` uses;
  Ĉ_k includes the penalty, as the step objective does). Cost: m_b Lanczos runs.

Everything is one traced function of (objective, params), so it runs inside the run's one
compiled metrics call and under ``jax.vmap`` for batched sweeps (the key is a leaf: one per member).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from implicit_bias.core.curvature import _flat_hvp, hvp, lanczos_top_eigenvalues
from implicit_bias.core.models import Params
from implicit_bias.core.objective import Objective
from implicit_bias.metrics.base import At, Metric

__all__ = ["CurvatureSpec", "Curvature", "top_eigenvalues", "sharpness", "hutchinson_trace", "batch_sharpness",
           "curvature_metric"]

#: the columns of :class:`Curvature`, in their documented order (docs/run-directory.md).
CURVATURE_COLUMNS = ("sharpness", "hessian_eigenvalues", "hessian_trace", "hessian_trace_stderr", "batch_sharpness")


@dataclass(frozen=True)
class CurvatureSpec:
    """The static choices of the curvature columns (the ``[metrics]`` keys of issue 17)."""

    sharpness: bool = False
    top_k: int = 0  # hessian_top_k
    trace: bool = False
    probes: int = 16
    batch_sharpness: bool = False
    iterations: int = 64

    @classmethod
    def from_settings(cls, metrics: Any) -> "CurvatureSpec":
        """From typed (or resolved-table) ``[metrics]`` settings; keys absent take their off value."""
        get = (lambda k, d: metrics.get(k, d)) if isinstance(metrics, dict) else (lambda k, d: getattr(metrics, k, d))
        return cls(sharpness=bool(get("sharpness", False)), top_k=int(get("hessian_top_k", 0)),
                   trace=bool(get("hessian_trace", False)), probes=int(get("hessian_probes", 16)),
                   batch_sharpness=bool(get("batch_sharpness", False)),
                   iterations=int(get("hessian_iterations", 64)))

    @property
    def active(self) -> bool:
        return self.sharpness or self.top_k > 0 or self.trace or self.batch_sharpness


def _lanczos_steps(d: int, k: int, iterations: int) -> int:
    return min(d, max(iterations, 2 * k))


def top_eigenvalues(objective: Objective, params: Params, k: int, key: jax.Array, iterations: int = 64) -> jax.Array:
    """The k largest eigenvalues of ∇²C(θ), descending (Lanczos, m = min(d, max(iterations, 2k)) steps)."""
    theta, matvec = _flat_hvp(objective, params)
    m = _lanczos_steps(theta.size, k, iterations)
    return lanczos_top_eigenvalues(matvec, theta.size, min(k, m), m, key, theta.dtype).eigenvalues


def sharpness(objective: Objective, params: Params, key: jax.Array, iterations: int = 64) -> jax.Array:
    """λ_max(∇²C(θ)), the largest algebraic eigenvalue (what the ``sharpness`` column logs)."""
    return top_eigenvalues(objective, params, 1, key, iterations)[0]


def hutchinson_trace(objective: Objective, params: Params, probes: int, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean, std_ddof=1/√s) of zᵀ∇²C(θ)z over ``probes`` = s Rademacher vectors z drawn from ``key``."""
    theta, unravel = ravel_pytree(params)
    z = jax.random.rademacher(key, (probes, theta.size), theta.dtype)
    samples = jax.lax.map(lambda v: v @ ravel_pytree(hvp(objective, params, unravel(v)))[0], z)
    return jnp.mean(samples), jnp.std(samples, ddof=1) / jnp.sqrt(probes)


def batch_sharpness(objective: Objective, params: Params, batch_size: int, key: jax.Array,
                    iterations: int = 64) -> jax.Array:
    """Mean over the ⌊N/B⌋ consecutive storage-order minibatches k of λ_max(∇²Ĉ_k(θ))."""
    n_batches = objective.problem.n_observations // batch_size
    batches = jnp.arange(n_batches * batch_size).reshape(n_batches, batch_size)

    def one(idx):
        batch = eqx.tree_at(lambda o: o.problem, objective, objective.problem.take(idx))
        return sharpness(batch, params, key, iterations)

    return jnp.mean(jax.lax.map(one, batches))


class Curvature(Metric):
    """The curvature columns chosen by ``spec`` (see the module docstring). ``key`` (a leaf, so one
    per vmapped member) seeds the Lanczos start vector and the Hutchinson probes."""

    key: jax.Array
    spec: CurvatureSpec = eqx.field(static=True)
    batch_size: int = eqx.field(static=True, default=0)

    def applies(self, objective):
        return self.spec.active

    def sharpness_at(self, objective: Objective, params: Params) -> jax.Array:
        """λ_max(∇²C(θ)) as the ``sharpness`` column computes it (same start vector, same m)."""
        k = max(self.spec.top_k, 1)
        return top_eigenvalues(objective, params, k, jax.random.split(self.key, 3)[0], self.spec.iterations)[0]

    def compute(self, at: At) -> dict[str, jax.Array]:
        spec, out = self.spec, {}
        lanczos_key, trace_key, batch_key = jax.random.split(self.key, 3)
        if spec.sharpness or spec.top_k > 0:
            top = top_eigenvalues(at.objective, at.params, max(spec.top_k, 1), lanczos_key, spec.iterations)
            if spec.sharpness:
                out["sharpness"] = top[0]
            if spec.top_k > 0:
                out["hessian_eigenvalues"] = top[:spec.top_k]
        if spec.trace:
            out["hessian_trace"], out["hessian_trace_stderr"] = hutchinson_trace(at.objective, at.params,
                                                                                 spec.probes, trace_key)
        if spec.batch_sharpness and self.batch_size > 0:
            out["batch_sharpness"] = batch_sharpness(at.objective, at.params, self.batch_size, batch_key,
                                                     spec.iterations)
        return out


def curvature_metric(metrics: Any, key: jax.Array, batch_size: int = 0) -> Curvature | None:
    """The run's :class:`Curvature` family from its ``[metrics]`` settings, or None when every
    curvature column is off (so that a run without them traces exactly what it traced before)."""
    spec = CurvatureSpec.from_settings(metrics)
    return Curvature(key=key, spec=spec, batch_size=batch_size) if spec.active else None
