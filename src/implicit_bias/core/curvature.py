"""Matrix-free curvature of a loss: Hessian-vector products, top Hessian eigenvalues (Lanczos)
and the Hessian trace (exact or Hutchinson), on a pytree of parameters.

Everything here only touches the Hessian H = ∇²L(θ) through products v ↦ Hv, computed by
forward-over-reverse differentiation (``jax.jvp`` of ``jax.grad``: one gradient's cost, no
d×d matrix). The parameters are any pytree; vectors are flattened with
``jax.flatten_util.ravel_pytree``, so d is the total number of parameter entries.

- :func:`hvp`: Hv for a pytree v.
- :func:`lanczos_tridiagonal` / :func:`lanczos_top_eigenvalues`: m steps of the symmetric
  Lanczos iteration with full reorthogonalization; the Ritz values (eigenvalues of the m×m
  tridiagonal T) approximate the extreme eigenvalues of H from the outside in. With m = d they are
  all of H's eigenvalues up to round-off (T is then H in an orthonormal basis).
- :func:`hessian_top_eigenvalues`: the k largest (algebraic) eigenvalues of ∇²L(θ), descending.
- :func:`hessian_diagonal` / :func:`hessian_trace_exact`: diag(H) and tr H from d products
  e_iᵀHe_i (exact, for small d).
- :func:`hessian_trace`: Hutchinson's estimator tr H ≈ (1/s) Σ zᵀHz with Rademacher z, and its
  standard error std(zᵀHz)/√s (Hutchinson 1989; the variance is 2(‖H‖_F² − Σ H_ii²) per sample).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

__all__ = ["hvp", "lanczos_tridiagonal", "lanczos_top_eigenvalues", "LanczosResult", "hessian_top_eigenvalues",
           "hessian_diagonal", "hessian_trace_exact", "hessian_trace"]


def hvp(loss: Callable, params, vector):
    """∇²L(θ)·v by forward-over-reverse: the directional derivative of ∇L at θ along v
    (``jax.jvp(jax.grad(loss), (params,), (vector,))``); ``vector`` has the structure of ``params``."""
    return jax.jvp(jax.grad(loss), (params,), (vector,))[1]


def _flat_hvp(loss: Callable, params):
    """(θ flattened, v ↦ Hv on flat vectors) for a pytree ``params``."""
    theta, unravel = ravel_pytree(params)

    def matvec(v):
        return ravel_pytree(hvp(loss, params, unravel(v.astype(theta.dtype))))[0]

    return theta, matvec


class LanczosResult(NamedTuple):
    """``eigenvalues``: the k largest Ritz values, descending; ``residuals``: |β_m·s_{m,i}| for
    each, the norm of H y − θ y for its Ritz pair (y, θ) — an eigenvalue of H lies within it of θ."""

    eigenvalues: jax.Array
    residuals: jax.Array


def lanczos_tridiagonal(matvec: Callable, v0: jax.Array, num_iter: int, key: jax.Array | None = None):
    """``num_iter`` (= m ≤ d) steps of symmetric Lanczos on the operator ``matvec`` from ``v0``.

    Returns (alphas (m,), betas (m,), V (m, d)) with T = tridiag(betas[:-1], alphas, betas[:-1]) =
    V H Vᵀ and V's rows orthonormal; betas[-1] is the residual coupling of the last step. Each new
    vector is orthogonalized against every previous one, twice (classical Gram–Schmidt twice,
    "twice is enough"), so the basis stays orthonormal to round-off and no spurious copies of
    converged eigenvalues appear. On a breakdown (β ≈ 0: the Krylov space is invariant) the
    iteration continues from a random vector (from ``key``) orthogonal to the basis, with β = 0 so
    T splits into blocks and still holds only eigenvalues of H.
    """
    d = v0.shape[0]
    if not 1 <= num_iter <= d:
        raise ValueError(f"num_iter must be in [1, {d}], got {num_iter}")
    dtype = v0.dtype
    key = jax.random.key(0) if key is None else key
    tiny = jnp.finfo(dtype).eps * 1e3

    def orthogonalize(V, w):
        w = w - V.T @ (V @ w)
        return w - V.T @ (V @ w)

    def body(j, state):
        V, alphas, betas, q, scale = state
        V = V.at[j].set(q)
        w = matvec(q)
        alpha = q @ w
        w = orthogonalize(V, w)
        beta = jnp.linalg.norm(w)
        scale = jnp.maximum(scale, jnp.abs(alpha) + beta)
        broke = beta <= tiny * scale

        def restart():  # only on a breakdown (under vmap both branches run: a select)
            r = orthogonalize(V, jax.random.normal(jax.random.fold_in(key, j), (d,), dtype))
            r_norm = jnp.linalg.norm(r)
            return r / jnp.where(r_norm > 0, r_norm, 1.0)

        q_next = jax.lax.cond(broke, restart, lambda: w / jnp.where(broke, 1.0, beta))
        return V, alphas.at[j].set(alpha), betas.at[j].set(jnp.where(broke, 0.0, beta)), q_next, scale

    q0 = v0 / jnp.linalg.norm(v0)
    init = (jnp.zeros((num_iter, d), dtype), jnp.zeros(num_iter, dtype), jnp.zeros(num_iter, dtype), q0,
            jnp.zeros((), dtype))
    V, alphas, betas, _, _ = jax.lax.fori_loop(0, num_iter, body, init)
    return alphas, betas, V


def lanczos_top_eigenvalues(matvec: Callable, d: int, k: int = 1, num_iter: int | None = None,
                            key: jax.Array | None = None, dtype=jnp.float64) -> LanczosResult:
    """The k largest (algebraic) eigenvalues of the symmetric operator ``matvec`` on R^d, by
    ``num_iter`` Lanczos steps (default min(d, max(4k, 64)); m = d is exact up to round-off)
    from a Gaussian start vector drawn from ``key``."""
    m = min(d, max(4 * k, 64)) if num_iter is None else num_iter
    if not 1 <= k <= m:
        raise ValueError(f"k must be in [1, num_iter = {m}], got {k}")
    key = jax.random.key(0) if key is None else key
    start_key, restart_key = jax.random.split(key)
    alphas, betas, _ = lanczos_tridiagonal(matvec, jax.random.normal(start_key, (d,), dtype), m, restart_key)
    T = jnp.diag(alphas) + jnp.diag(betas[:-1], 1) + jnp.diag(betas[:-1], -1)
    theta, S = jnp.linalg.eigh(T)
    top = jnp.argsort(theta)[::-1][:k]
    return LanczosResult(theta[top], jnp.abs(betas[-1] * S[-1, top]))


def hessian_top_eigenvalues(loss: Callable, params, k: int = 1, num_iter: int | None = None,
                            key: jax.Array | None = None) -> jax.Array:
    """The k largest (algebraic) eigenvalues of ∇²loss at ``params`` (a pytree), descending:
    matrix-free Lanczos (:func:`lanczos_top_eigenvalues`) on forward-over-reverse products.
    ``num_iter`` = the number of parameters gives every eigenvalue to round-off."""
    theta, matvec = _flat_hvp(loss, params)
    return lanczos_top_eigenvalues(matvec, theta.size, k, num_iter, key, theta.dtype).eigenvalues


def hessian_diagonal(loss: Callable, params) -> jax.Array:
    """diag ∇²loss (flattened like ``ravel_pytree(params)``), exactly, from d products e_iᵀHe_i."""
    theta, matvec = _flat_hvp(loss, params)
    basis = jnp.eye(theta.size, dtype=theta.dtype)
    return jax.lax.map(lambda e: e @ matvec(e), basis)


def hessian_trace_exact(loss: Callable, params) -> jax.Array:
    """tr ∇²loss = Σ_i e_iᵀHe_i (d Hessian-vector products; for small d)."""
    return jnp.sum(hessian_diagonal(loss, params))


def hessian_trace(loss: Callable, params, num_samples: int, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Hutchinson's estimate of tr ∇²loss and its standard error: (mean, std(ddof=1)/√s) of
    zᵀHz over ``num_samples`` = s ≥ 2 Rademacher vectors z (E zᵀHz = tr H)."""
    if num_samples < 2:
        raise ValueError("num_samples must be at least 2 for a standard error")
    theta, matvec = _flat_hvp(loss, params)
    z = jax.random.rademacher(key, (num_samples, theta.size), theta.dtype)
    samples = jax.lax.map(lambda v: v @ matvec(v), z)
    return jnp.mean(samples), jnp.std(samples, ddof=1) / jnp.sqrt(num_samples)
