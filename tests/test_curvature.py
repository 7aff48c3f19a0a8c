"""core.curvature against dense Hessians (``jax.hessian`` + ``eigvalsh``) on small random problems.

Least squares L(β) = (1/2n)‖Xβ − y‖² has H = XᵀX/n exactly; the diagonal network
L(u, v) = (1/2n)‖X(u² − v²) − y‖² is non-convex away from its minima (negative eigenvalues), so
"top algebraic" and "top in magnitude" differ there. Lanczos with m = d steps and full
reorthogonalization is exact up to round-off: tolerance 1e-8 relative (measured ~1e-14).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import implicit_bias  # noqa: F401  (float64)
from implicit_bias.core import curvature


def _data(n, d, seed):
    kx, ky = jax.random.split(jax.random.key(seed))
    return jax.random.normal(kx, (n, d)), jax.random.normal(ky, (n,))


def _least_squares(X, y):
    def loss(p):  # the parameters as a pytree of two blocks
        beta = jnp.concatenate([p["a"], p["b"]])
        return 0.5 * jnp.mean((X @ beta - y) ** 2)
    return loss


def _diagonal(X, y):
    def loss(p):
        return 0.5 * jnp.mean((X @ (p["u"] ** 2 - p["v"] ** 2) - y) ** 2)
    return loss


def _dense(loss, params):
    theta, unravel = ravel_pytree(params)
    return np.asarray(jax.hessian(lambda t: loss(unravel(t)))(theta))


def _rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))


@pytest.mark.parametrize("n, d, seed", [(30, 8, 0), (12, 20, 1), (50, 15, 2)])
def test_lambda_max_least_squares_is_the_top_eigenvalue_of_xtx_over_n(n, d, seed):
    X, y = _data(n, d, seed)
    params = {"a": jnp.zeros(3), "b": jnp.ones(d - 3)}
    exact = np.linalg.eigvalsh(np.asarray(X.T @ X) / n)[::-1]
    top = curvature.hessian_top_eigenvalues(_least_squares(X, y), params, k=3, num_iter=d)
    assert _rel(top, exact[:3]) <= 1e-8
    assert _rel(top[0], exact[0]) <= 1e-8
    # the dense Hessian of the same loss is XᵀX/n (the oracle itself is right)
    assert _rel(_dense(_least_squares(X, y), params), np.asarray(X.T @ X) / n) <= 1e-12


def test_rank_deficient_hessian_full_spectrum_through_breakdowns():
    """n < d: H = XᵀX/n has d − n zero eigenvalues; the Krylov space is exhausted after n + 1 steps
    and the iteration restarts orthogonally, so m = d steps still give the whole spectrum."""
    X, y = _data(5, 12, 3)
    params = {"a": jnp.zeros(4), "b": jnp.zeros(8)}
    exact = np.sort(np.linalg.eigvalsh(np.asarray(X.T @ X) / 5))[::-1]
    every = curvature.hessian_top_eigenvalues(_least_squares(X, y), params, k=12, num_iter=12)
    assert float(np.max(np.abs(np.asarray(every) - exact))) <= 1e-8 * exact[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_diagonal_network_top_eigenvalues_match_jax_hessian(seed):
    n, d = 10, 12
    X, y = _data(n, d, seed)
    ku, kv = jax.random.split(jax.random.key(100 + seed))
    params = {"u": jax.random.normal(ku, (d,)), "v": 0.5 * jax.random.normal(kv, (d,))}
    loss = _diagonal(X, y)
    dense = np.linalg.eigvalsh(_dense(loss, params))[::-1]
    assert dense[-1] < 0 < dense[0]  # non-convex here: "algebraic" matters
    top = curvature.hessian_top_eigenvalues(loss, params, k=4, num_iter=2 * d)
    assert _rel(top, dense[:4]) <= 1e-8
    assert _rel(top[0], dense[0]) <= 1e-8
    # with fewer steps than d the extreme Ritz value still converges (and the residual says so)
    res = curvature.lanczos_top_eigenvalues(curvature._flat_hvp(loss, params)[1], 2 * d, k=1, num_iter=18)
    assert abs(float(res.eigenvalues[0]) - dense[0]) <= max(float(res.residuals[0]), 1e-10 * dense[0])
    # a wrong sign convention (top of −L, i.e. −λ_min) or "largest in magnitude" would fail the check
    flipped = curvature.hessian_top_eigenvalues(lambda p: -loss(p), params, k=1, num_iter=2 * d)
    assert _rel(flipped[0], dense[0]) > 1e-2
    assert _rel(-flipped[0], dense[-1]) <= 1e-8


def test_hvp_is_forward_over_reverse_product_with_the_dense_hessian():
    X, y = _data(10, 6, 4)
    params = {"u": jnp.linspace(-1, 1, 6), "v": jnp.linspace(0.5, 1.5, 6)}
    v = {"u": jnp.arange(6.0), "v": -jnp.ones(6)}
    loss = _diagonal(X, y)
    got = ravel_pytree(curvature.hvp(loss, params, v))[0]
    assert _rel(got, _dense(loss, params) @ np.asarray(ravel_pytree(v)[0])) <= 1e-12


def test_exact_trace_and_diagonal_match_the_dense_hessian():
    X, y = _data(10, 7, 5)
    params = {"u": jnp.linspace(-1, 1, 7), "v": jnp.linspace(0.5, 1.5, 7)}
    loss = _diagonal(X, y)
    H = _dense(loss, params)
    assert _rel(curvature.hessian_diagonal(loss, params), np.diag(H)) <= 1e-12
    assert abs(float(curvature.hessian_trace_exact(loss, params)) - np.trace(H)) <= 1e-12 * np.abs(H).sum()


def test_hutchinson_trace_is_unbiased_with_the_stated_standard_error():
    """E zᵀHz = tr H; Var zᵀHz = 2(‖H‖_F² − Σ H_ii²) for Rademacher z. With s = 4000 samples the
    estimate is within 4 standard errors of tr H and the reported SE is within 10% of the formula
    (its own relative sampling error is ~ √(kurtosis/s) ≈ 3%)."""
    X, y = _data(20, 10, 6)
    params = {"u": jnp.linspace(-1, 1, 10), "v": jnp.linspace(0.5, 1.5, 10)}
    loss = _diagonal(X, y)
    H = _dense(loss, params)
    s = 4000
    estimate, se = curvature.hessian_trace(loss, params, s, jax.random.key(7))
    predicted_se = np.sqrt(2 * (np.sum(H**2) - np.sum(np.diag(H) ** 2)) / s)
    assert abs(float(estimate) - np.trace(H)) <= 4 * float(se)
    assert abs(float(se) / predicted_se - 1) <= 0.1
    # a biased estimator (e.g. Gaussian z scaled wrongly by 2) would be many SEs off
    assert abs(2 * float(estimate) - np.trace(H)) > 4 * float(se)


def test_jittable():
    X, y = _data(15, 6, 8)
    params = {"a": jnp.zeros(3), "b": jnp.zeros(3)}
    fn = jax.jit(lambda p: curvature.hessian_top_eigenvalues(_least_squares(X, y), p, k=2, num_iter=6))
    assert _rel(fn(params), np.linalg.eigvalsh(np.asarray(X.T @ X) / 15)[::-1][:2]) <= 1e-8
