"""spectral.py: singular values with a gap-free derivative, and the spectral penalties built on it.

A symmetric function F(σ) of the singular values has gradient U diag(∂F/∂σ) Vᵀ (Lewis 1995),
which stays well defined where singular values coincide because ∂F/∂σ_i is then the same for
all i in the cluster. The tests compare against that closed form, against central finite
differences and against JAX's own SVD derivative where the latter is defined (float64).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import implicit_bias  # noqa: F401  (switches on float64)
from implicit_bias.core import spectral
from implicit_bias.core.penalties import make_penalty
from implicit_bias.settings import resolve_section


def _orthogonal(n: int, seed: int) -> np.ndarray:
    Q, R = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return Q * np.sign(np.diag(R))


Q1, Q2 = _orthogonal(4, 1), _orthogonal(4, 2)
SIGMA_REPEATED = np.array([3.0, 2.0, 2.0, 1.0])
REPEATED = jnp.asarray(Q1 @ np.diag(SIGMA_REPEATED) @ Q2.T)  # σ = (3, 2, 2, 1): a repeated σ
IDENTITY = jnp.eye(4)  # all four σ equal
RANDOM = jnp.asarray(np.random.default_rng(0).normal(size=(6, 4)))  # distinct σ, rectangular
DIRECTION = jnp.asarray(np.random.default_rng(3).normal(size=(4, 4)))


def _central_difference(f, W, D, h=1e-5):
    # error O(h²·|f'''|) + O(ε|f|/h) ≈ 1e-10 + 1e-11 for the O(1) functions used here
    return (float(f(W + h * D)) - float(f(W - h * D))) / (2 * h)


# --------------------------------------------------------------------------- the custom JVP

def test_singular_values_match_numpy():
    np.testing.assert_allclose(np.asarray(spectral.singular_values(RANDOM)),
                               np.linalg.svd(np.asarray(RANDOM), compute_uv=False), rtol=1e-14)


def test_singular_values_jvp_matches_finite_differences_and_jax_svd():
    W = RANDOM
    dW = jnp.asarray(np.random.default_rng(4).normal(size=W.shape))
    _, ds = jax.jvp(spectral.singular_values, (W,), (dW,))
    _, ds_jax = jax.jvp(lambda A: jnp.linalg.svd(A, compute_uv=False), (W,), (dW,))
    h = 1e-6
    fd = (np.linalg.svd(np.asarray(W + h * dW), compute_uv=False)
          - np.linalg.svd(np.asarray(W - h * dW), compute_uv=False)) / (2 * h)
    # distinct σ: each σ_i is smooth; central differences are accurate to O(h²) + O(ε/h) ≈ 1e-10
    np.testing.assert_allclose(np.asarray(ds), fd, atol=1e-7)
    np.testing.assert_allclose(np.asarray(ds), np.asarray(ds_jax), rtol=1e-12, atol=1e-13)
    # reverse mode (the transpose of the custom JVP) against JAX's own derivative
    jac = jax.jacrev(spectral.singular_values)(W)
    jac_jax = jax.jacrev(lambda A: jnp.linalg.svd(A, compute_uv=False))(W)
    np.testing.assert_allclose(np.asarray(jac), np.asarray(jac_jax), rtol=1e-12, atol=1e-13)
    # negative control: a wrong formula, u_iᵀ dW (column i of Vᵀ) instead of u_iᵀ dW v_i
    U, _, Vt = np.linalg.svd(np.asarray(W), full_matrices=False)
    wrong = np.einsum("ir,ij,jr->r", U, np.asarray(dW), Vt)
    assert np.abs(wrong - fd).max() > 0.1


# --------------------------------------------------------------------------- closed-form gradients

def _closed_forms(W: np.ndarray, U: np.ndarray, s: np.ndarray, Vt: np.ndarray, p: float, eps: float):
    """Gradients of the spectral functions from U diag(∂F/∂σ) Vᵀ (Lewis 1995)."""
    nuc, fro = s.sum(), np.linalg.norm(s)
    prob = s / nuc
    H = -np.sum(prob * np.log(prob))
    erank = np.exp(H)
    return {
        "nuclear": U @ Vt,
        "schatten": U @ np.diag(p * s * (s**2 + eps) ** (p / 2 - 1)) @ Vt,
        "normalized_nuclear": U @ Vt / fro - nuc * W / fro**3,
        # ∂H/∂σ_i = −(log p_i + H)/Σσ, and ∂ exp(H) = exp(H) ∂H
        "effective_rank": U @ np.diag(erank * -(np.log(prob) + H) / nuc) @ Vt,
    }


P, EPS = 0.5, 1e-8
FUNCTIONS = {
    "nuclear": spectral.nuclear_norm,
    "schatten": lambda W: spectral.schatten(W, P, EPS),
    "normalized_nuclear": spectral.normalized_nuclear_norm,
    "effective_rank": spectral.effective_rank,
}


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("point", ["identity", "repeated", "random"])
def test_spectral_gradients_are_finite_and_match_the_closed_form(name, point):
    if point == "identity":
        W, U, s, Vt = IDENTITY, np.eye(4), np.ones(4), np.eye(4)
    elif point == "repeated":
        W, U, s, Vt = REPEATED, Q1, SIGMA_REPEATED, Q2.T
    else:
        W = RANDOM
        U, s, Vt = np.linalg.svd(np.asarray(W), full_matrices=False)
    f = FUNCTIONS[name]
    grad = np.asarray(jax.grad(f)(W))
    assert np.all(np.isfinite(grad))
    expected = _closed_forms(np.asarray(W), U, s, Vt, P, EPS)[name]
    # float64 SVD-based formulas: agreement to ~1e-14 relative; 1e-11 leaves room for the
    # conditioning of the σ = 2 cluster (gap 1 to its neighbours).
    np.testing.assert_allclose(grad, expected, rtol=0, atol=1e-11)
    # F is differentiable at these full-rank points: the directional derivative agrees
    D = DIRECTION if W.shape == (4, 4) else jnp.asarray(np.random.default_rng(5).normal(size=W.shape))
    assert float(jnp.vdot(grad, D)) == pytest.approx(_central_difference(f, W, D), abs=1e-7)


def test_known_values_at_the_identity():
    np.testing.assert_array_equal(np.asarray(jax.grad(spectral.nuclear_norm)(IDENTITY)), np.eye(4))
    # identity maximizes ‖W‖_*/‖W‖_F and the effective rank among 4x4 matrices: zero gradient
    np.testing.assert_allclose(np.asarray(jax.grad(spectral.normalized_nuclear_norm)(IDENTITY)), 0, atol=1e-15)
    np.testing.assert_allclose(np.asarray(jax.grad(spectral.effective_rank)(IDENTITY)), 0, atol=1e-15)
    assert float(spectral.effective_rank(IDENTITY)) == pytest.approx(4.0, rel=1e-14)
    assert float(spectral.normalized_nuclear_norm(IDENTITY)) == pytest.approx(2.0, rel=1e-14)


def test_nuclear_gradient_at_rank_deficient_matrix_is_a_subgradient():
    # W = Q1 diag(2, 1, 0, 0) Q2ᵀ: σ = 0 is repeated and ‖·‖_* is not differentiable. The
    # returned U Vᵀ must still be finite and a subgradient: ‖G‖_2 ≤ 1 and ⟨G, W⟩ = ‖W‖_*.
    for W in (jnp.asarray(Q1 @ np.diag([2.0, 1.0, 0.0, 0.0]) @ Q2.T), jnp.zeros((4, 4))):
        G = np.asarray(jax.grad(spectral.nuclear_norm)(W))
        assert np.all(np.isfinite(G))
        assert np.linalg.norm(G, 2) <= 1 + 1e-12
        assert float(np.sum(G * np.asarray(W))) == pytest.approx(float(spectral.nuclear_norm(W)), abs=1e-12)


@pytest.mark.parametrize("kind", ["nuclear", "schatten", "normalized_nuclear", "effective_rank"])
def test_penalties_route_through_the_gap_free_singular_values(kind):
    shape = {"p": P, "eps": EPS} if kind == "schatten" else {}  # the other kinds have no p, eps
    penalty = make_penalty(resolve_section("penalty", {"kind": kind, "weight": 2.0, "on": "end_to_end", **shape}),
                           "float64")
    grad = np.asarray(jax.grad(lambda W: penalty({}, W))(REPEATED))
    assert np.all(np.isfinite(grad))
    expected = _closed_forms(np.asarray(REPEATED), Q1, SIGMA_REPEATED, Q2.T, P, EPS)[kind]
    np.testing.assert_allclose(grad, 2.0 * expected, atol=1e-11)


# --------------------------------------------------------------------------- contrast with jnp.linalg.svd

def test_contrast_with_jax_svd_derivative():
    # In this JAX version (0.10) the derivative of jnp.linalg.svd's *singular values* is already
    # gap-free (s_dot = diag(Uᵀ dA V), with or without compute_uv), so it is finite at the
    # identity and agrees with spectral.singular_values. What JAX cannot differentiate there are
    # the singular *vectors* (its rule divides by σ_j² − σ_i²): any function of U, V is NaN at
    # the identity. spectral.py never differentiates through U, V in first order.
    for W in (IDENTITY, REPEATED):
        ours = np.asarray(jax.grad(spectral.nuclear_norm)(W))
        for compute_uv in (False, True):
            def nuc(A, compute_uv=compute_uv):
                out = jnp.linalg.svd(A, compute_uv=compute_uv)
                return jnp.sum(out[1] if compute_uv else out)
            theirs = np.asarray(jax.grad(nuc)(W))
            assert np.all(np.isfinite(theirs))
            np.testing.assert_allclose(theirs, ours, atol=1e-12)

    def through_vectors(A):
        U, _, Vt = jnp.linalg.svd(A, full_matrices=False)
        return jnp.sum(U @ Vt)

    assert not np.all(np.isfinite(np.asarray(jax.grad(through_vectors)(IDENTITY))))
    assert np.all(np.isfinite(np.asarray(jax.grad(through_vectors)(RANDOM))))  # distinct σ: fine


@pytest.mark.xfail(strict=True, reason="second derivatives of spectral functions go through the SVD's "
                   "singular-vector derivative (σ_j² − σ_i² division) and are NaN at coinciding σ; "
                   "modified_flow (a Hessian-vector product) with a spectral penalty from an identity "
                   "init therefore reports 'diverged' at t = 0. Remove this marker when fixed.")
def test_spectral_hessian_vector_product_is_finite_at_coinciding_singular_values():
    grad = jax.grad(lambda W: spectral.schatten(W, P, EPS))
    _, hvp = jax.jvp(grad, (IDENTITY,), (DIRECTION,))
    assert np.all(np.isfinite(np.asarray(hvp)))
