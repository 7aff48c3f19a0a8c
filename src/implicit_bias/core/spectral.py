"""Spectral functions of a matrix, differentiable where singular values coincide.

Every spectral quantity used here is a *symmetric* function F(σ) of the singular values,
whose gradient is U diag(∂F/∂σ) Vᵀ (Lewis 1995, "The convex analysis of unitarily invariant
matrix functions"). That only needs dσ_i = u_iᵀ dW v_i, which :func:`singular_values`
provides through a custom JVP that never touches the derivatives of U and V (those divide by
σ_i² − σ_j² and are NaN at an identity init). The JVP of an individual σ_i is ambiguous inside
a degenerate cluster, but any symmetric F built from it has the correct derivative. (In JAX
0.10 the built-in singular-value derivative is finite too; the custom rule keeps us
independent of that and avoids computing the singular-vector tangents.)

Limitation: second derivatives (Hessian-vector products, as in ``modified_flow``) of these
functions are NOT defined at coinciding singular values (the Lewis–Sendov divided differences
are not implemented); the config rejects ``modified_flow`` with a spectral penalty.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


@jax.custom_jvp
def singular_values(W: jax.Array) -> jax.Array:
    """Singular values σ_1 ≥ σ_2 ≥ … of a matrix, with a gap-free derivative."""
    return jnp.linalg.svd(W, compute_uv=False)


@singular_values.defjvp
def _singular_values_jvp(primals, tangents):
    (W,), (dW,) = primals, tangents
    U, s, Vt = jnp.linalg.svd(W, full_matrices=False)
    ds = jnp.einsum("ir,ij,rj->r", U, dW, Vt)
    return s, ds


def nuclear_norm(W: jax.Array) -> jax.Array:
    """‖W‖_* = Σ σ_i."""
    return jnp.sum(singular_values(W))


def schatten(W: jax.Array, p: float, eps: float = 0.0) -> jax.Array:
    """Smoothed Schatten-p^p: Σ (σ_i² + ε)^{p/2} (a quasi-norm for p < 1)."""
    return jnp.sum((singular_values(W) ** 2 + eps) ** (p / 2))


def normalized_nuclear_norm(W: jax.Array) -> jax.Array:
    """‖W‖_* / ‖W‖_F (Zhao 2022), scale invariant, between 1 and √rank."""
    return nuclear_norm(W) / jnp.linalg.norm(W)


def effective_rank_from_singular_values(s: jax.Array) -> jax.Array:
    """Roy & Vetterli (2007): exp(H(p)) with p_i = σ_i / Σ_j σ_j and H the Shannon entropy."""
    p = s / jnp.sum(s)
    positive = p > 0
    safe_p = jnp.where(positive, p, 1.0)
    return jnp.exp(-jnp.sum(jnp.where(positive, p * jnp.log(safe_p), 0.0)))


def effective_rank(W: jax.Array) -> jax.Array:
    """Effective rank exp(H(σ/Σσ)) of a matrix (Roy & Vetterli 2007)."""
    return effective_rank_from_singular_values(singular_values(W))


def stable_rank(W: jax.Array) -> jax.Array:
    """‖W‖_F² / ‖W‖_2²."""
    s = singular_values(W)
    return jnp.sum(s**2) / s[0] ** 2


def function_spectrum(apply, params, X: jax.Array) -> jax.Array:
    """Singular values of the input-output Jacobian stacked over the data (a spectrum for general
    models that reduces to the singular values of W for a linear map):

        S(f; X) = σ( (1/√n) [J(x_1); …; J(x_n)] ),   J(x) = ∂f(x)/∂x ∈ ℝ^{d_out × d_in}.

    For a linear map f(x) = W x every J(x_n) = W, and the stacked matrix (1/√n)[W; …; W] has
    exactly the singular values of W, so S reduces to the spectrum of the end-to-end matrix for
    linear and deep linear networks; for nonlinear models it measures how many input directions
    the function uses on the data. ``apply(params, X)`` maps the rows of X to outputs of shape
    (n,) or (n, d_out).
    """
    def single(x):
        return jnp.atleast_1d(apply(params, x[None, :])[0])

    J = jax.vmap(jax.jacrev(single))(X)  # (n, d_out, d_in)
    n, d_out, d_in = J.shape
    return jnp.linalg.svd(J.reshape(n * d_out, d_in) / jnp.sqrt(n), compute_uv=False)
