"""The oracles of the diagonal-large-steps reproduction, against mathematics they must obey: the
hyperbolic-entropy solution interpolates the basis-pursuit (α → 0) and minimum-ℓ2 (α → ∞) limits of
Woodworth et al. 2020, the dense Hessian is the autodiff one, and the replay's identity holds for
steps that flip the sign of a factor."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import implicit_bias  # noqa: F401 - switches on float64
from implicit_bias.reproduce.diagonal_large_steps import (ALPHA, basis_pursuit, dense_sharpness, mirror_solution,
                                                          replay)


@pytest.fixture
def sparse_problem():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((10, 25))
    truth = np.zeros(25)
    truth[[2, 11]] = [1.5, -0.8]
    return X, X @ truth


def test_the_mirror_solution_interpolates_and_meets_its_optimality_condition(sparse_problem):
    X, y = sparse_problem
    rng = np.random.default_rng(0)
    scale, shift = rng.uniform(0.05, 0.3, 25), rng.normal(0, 0.1, 25)
    beta = mirror_solution(X, y, scale, shift)
    np.testing.assert_allclose(X @ beta, y, atol=1e-12)
    # ∇ψ_a(β) − φ̃ = arcsinh(β/2a²) − φ̃ lies in the row space of X
    z = np.arcsinh(beta / (2 * scale**2)) - shift
    residual = z - X.T @ np.linalg.lstsq(X.T, z, rcond=None)[0]
    assert np.linalg.norm(residual) <= 1e-9 * np.linalg.norm(z)


def test_small_scale_is_basis_pursuit_and_large_scale_is_minimum_l2(sparse_problem):
    X, y = sparse_problem
    bp_l1 = np.sum(np.abs(basis_pursuit(X, y)))
    excess = [np.sum(np.abs(mirror_solution(X, y, np.full(25, a), np.zeros(25)))) / bp_l1 - 1
              for a in (1e-4, 1e-8, 1e-12)]
    assert 0 <= excess[2] < excess[1] < excess[0] and excess[1] <= 0.01  # the ℓ1 excess closes like 1/ln(1/α)
    min_norm = np.linalg.pinv(X) @ y
    large = mirror_solution(X, y, np.full(25, 1e3), np.zeros(25))
    np.testing.assert_allclose(large, min_norm, rtol=0, atol=1e-6 * np.linalg.norm(min_norm))


def test_dense_sharpness_is_the_autodiff_hessian(sparse_problem):
    X, y = sparse_problem
    rng = np.random.default_rng(1)
    u, v = rng.normal(0, 0.5, 25), rng.normal(0, 0.5, 25)

    def loss(theta):
        a, b = theta[:25], theta[25:]
        return 0.5 * jnp.mean((jnp.asarray(X) @ (a * a - b * b) - jnp.asarray(y)) ** 2)

    H = np.asarray(jax.hessian(loss)(jnp.asarray(np.concatenate([u, v]))))
    np.testing.assert_allclose(dense_sharpness(X, y, u, v), np.linalg.eigvalsh(H)[-1], rtol=1e-12)


def test_the_replay_keeps_the_identity_through_sign_flips(sparse_problem):
    X, y = sparse_problem
    out = replay(X, y, np.array([0.01, 1.0]), 40, None)  # the step 1 overshoots: some |2γg| > 1
    for j in range(2):
        u, v = out["u"][j], out["v"][j]
        np.testing.assert_allclose(np.abs(u * v), ALPHA**2 * np.exp(-out["gain"][j]), rtol=1e-12)
        np.testing.assert_allclose(out["beta"][j], u * u - v * v)
    assert np.any(out["u"][1] < 0) or np.any(out["v"][1] < 0)
