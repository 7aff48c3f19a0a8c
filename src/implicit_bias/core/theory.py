"""Closed-form predictions of the theory the engine is tested against.

Each function names its source. Conventions are the engine's (see ``problems.py``):
the loss is the MEAN L = (1/m) Σ ½(prediction − target)², gradient descent with
learning rate η for k steps corresponds to flow time t = ηk, and least squares has
Hessian H = XᵀX/n with eigenvalues h_j = σ_j²/n (σ_j the singular values of X).

- Arora, Cohen, Hazan (2018) end-to-end dynamics and Arora, Cohen, Hu & Luo (2019)
  singular-value dynamics of deep linear networks: :func:`arora_end_to_end_rhs`,
  :func:`arora_singular_value_rhs`;
- Saxe, McClelland & Ganguli (2014) mode dynamics: :func:`saxe_mode`, :func:`saxe_time`;
- early stopping vs ridge (Goodfellow, Bengio & Courville 2016 §7.8): :func:`gd_filter`,
  :func:`flow_filter`, :func:`ridge_filter`, :func:`early_stopping_lambda`,
  :func:`spectral_filters`, :func:`gd_iterate`;
- GD on least squares from x0 (after Gunasekar et al. 2017): :func:`gd_limit`;
- dropout in linear regression (Clara, Langer & Schmidt-Hieber 2024):
  :func:`dropout_solution`, :func:`dropout_expected_loss`;
- stochastic SAM on diagonal linear networks (Clara et al. 2025;
  Clara, "Regularization in the Age of Machine Learning" (slides, 2025)): :func:`sam_expected_loss`,
  :func:`sam_critical_points`, :func:`sam_balance`;
- modified losses of Smith, Dherin, Barrett & De (2021):
  :func:`modified_loss_gd`, :func:`modified_loss_rr` (and, from a gradient function,
  :func:`modified_gradient_gd`, :func:`modified_gradient_rr`).
"""

from __future__ import annotations

import operator
from itertools import combinations
from typing import Callable, Iterable

import numpy as np

__all__ = [
    "arora_end_to_end_rhs", "arora_singular_value_rhs", "saxe_mode", "saxe_time", "hessian_eigenvalues",
    "gd_filter", "flow_filter", "ridge_filter", "early_stopping_lambda", "spectral_filters", "gd_iterate",
    "gd_limit", "dropout_solution", "dropout_expected_loss", "sam_expected_loss", "sam_critical_points",
    "sam_all_critical_points", "sam_balance", "modified_loss_gd", "modified_loss_rr", "modified_gradient_gd",
    "modified_gradient_rr",
]


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _as_matrix(W: np.ndarray) -> np.ndarray:
    return W if W.ndim == 2 else W.reshape(1, -1)


def _gram_powers(W: np.ndarray, p: float):
    """(WWᵀ)^p and (WᵀW)^p from one SVD of W (exact zeros for the null directions; 0^0 = 1)."""
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    keep = s > np.finfo(np.float64).eps * max(W.shape) * (s[0] if s.size else 0.0)
    if p == 0:
        return np.eye(W.shape[0]), np.eye(W.shape[1])
    sp = s[keep] ** (2 * p)
    return (U[:, keep] * sp) @ U[:, keep].T, (Vt[keep].T * sp) @ Vt[keep]


# --------------------------------------------------------------------------- deep linear networks

def arora_end_to_end_rhs(W, grad, depth: int) -> np.ndarray:
    """dW/dt of the end-to-end matrix of a balanced depth-N linear network under gradient flow.

    Arora, Cohen & Hazan (2018, "On the optimization of deep networks: implicit acceleration
    by overparameterization", Thm 1): if W = W_N ⋯ W_1 with W_{j+1}ᵀW_{j+1} = W_j W_jᵀ at
    t = 0 (balanced, e.g. ``init = "balanced"``), gradient flow on the factors makes

        dW/dt = −Σ_{j=1}^{N} (WWᵀ)^{(j−1)/N} ∇L(W) (WᵀW)^{(N−j)/N}.

    ``grad`` = ∇L(W) of the engine's loss (a vector problem is the 1×d case); t = lr × step.
    """
    W, G = _as_matrix(_f64(W)), _as_matrix(_f64(grad))
    out = np.zeros_like(W)
    for j in range(1, depth + 1):
        left, _ = _gram_powers(W, (j - 1) / depth)
        _, right = _gram_powers(W, (depth - j) / depth)
        out -= left @ G @ right
    return out.reshape(np.shape(grad))


def arora_singular_value_rhs(W, grad, depth: int) -> np.ndarray:
    """dσ_r/dt of the singular values (descending) of a balanced depth-N linear network.

    Arora, Cohen, Hu & Luo (2019, "Implicit regularization in deep matrix factorization",
    Thm 3; Cohen & Hu 2019, Off the Convex Path): with W = Σ_r σ_r u_r v_rᵀ,

        dσ_r/dt = −N (σ_r²)^{1 − 1/N} ⟨∇L(W), u_r v_rᵀ⟩,

    valid where the σ_r are distinct (for N = 1 it is plain gradient flow on W). ``grad`` =
    ∇L(W) of the engine's loss; t = lr × step.
    """
    W, G = _as_matrix(_f64(W)), _as_matrix(_f64(grad))
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    proj = np.einsum("ir,ij,rj->r", U, G, Vt)
    return -depth * (s**2) ** (1 - 1 / depth) * proj


def saxe_mode(t, s, a0):
    """Strength a(t) of one input–output mode of a two-layer linear network (Saxe et al. 2014).

    Saxe, McClelland & Ganguli (2014, "Exact solutions to the nonlinear dynamics of learning
    in deep linear neural networks", eq. 10 with τ = 1):

        a(t) = s e^{2st} / (e^{2st} − 1 + s/a0),

    the solution of da/dt = 2a(s − a). Setting: W = W2 W1 trained by gradient flow on
    L(W) = ½‖W − S‖_F² (our mean loss on least squares with whitened inputs, XᵀX/n = I,
    where S = Σ_yx = YᵀX/n), S = Σ_α s_α u_α v_αᵀ, and a balanced init aligned with the
    modes (W1 = Σ √a0_α r_α v_αᵀ, W2 = Σ √a0_α u_α r_αᵀ, orthonormal r_α); then
    a_α = u_αᵀ W v_α evolves independently. Our t is flow time (lr × step); Saxe's τ is 1/lr.

    Needs s·a0 > 0 (the sign of a mode is conserved; s, a0 < 0 is the mirror image); s = 0
    gives a0/(1 + 2a0 t). Evaluated in the overflow-safe form s / (1 + (s/a0 − 1) e^{−2st}).
    """
    t, s, a0 = np.broadcast_arrays(_f64(t), _f64(s), _f64(a0))
    if np.any(s * a0 < 0) or np.any(a0 == 0):
        raise ValueError("saxe_mode needs a0 != 0 with the sign of s")
    sign = np.where(a0 < 0, -1.0, 1.0)
    s_abs, a_abs = np.abs(s), np.abs(a0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        e = np.exp(-2 * s_abs * t)
        general = s_abs / (1 + (s_abs / a_abs - 1) * e)
        zero = a_abs / (1 + 2 * a_abs * t)
    out = sign * np.where(s_abs > 0, general, zero)
    return out if out.ndim else float(out)


def saxe_time(s, a0, a):
    """Flow time at which the Saxe mode of :func:`saxe_mode` reaches a (0 < a0, a < s):

        t = (1/2s) · ln( a (s − a0) / (a0 (s − a)) ).
    """
    s, a0, a = _f64(s), _f64(a0), _f64(a)
    return np.log(a * (s - a0) / (a0 * (s - a))) / (2 * s)


# --------------------------------------------------------------------------- least squares: GD, early stopping, ridge

def hessian_eigenvalues(X) -> np.ndarray:
    """h_j = σ_j²/n: the eigenvalues (thin SVD, descending) of H = XᵀX/n, the Hessian of our loss."""
    X = _f64(X)
    return np.linalg.svd(X, compute_uv=False) ** 2 / X.shape[0]


def gd_filter(h, lr: float, steps):
    """Spectral filter of GD from β0 = 0 after k steps: φ_k(h) = 1 − (1 − lr·h)^k.

    Early stopping (Goodfellow, Bengio & Courville 2016, §7.8): in the
    eigenbasis of H, β_k = φ_k(h) ⊙ β̂ with β̂ the (minimum-norm) least-squares solution.
    """
    return 1.0 - (1.0 - lr * _f64(h)) ** _f64(steps)


def flow_filter(h, t):
    """Gradient-flow filter 1 − e^{−h t} (t = lr × steps), the lr → 0 limit of :func:`gd_filter`."""
    return -np.expm1(-_f64(h) * _f64(t))


def ridge_filter(h, lam):
    """Ridge filter h/(h + λ) for argmin L(β) + (λ/2)‖β‖² (= σ²/(σ² + nλ); Clara's
    slides with λ' = nλ)."""
    h = _f64(h)
    return h / (h + _f64(lam))


def early_stopping_lambda(lr: float, steps) -> np.ndarray:
    """λ ≈ 1/(lr·k): the ridge parameter matching k GD steps (Goodfellow et al. 2016, §7.8).

    Derived for lr·h ≪ 1 and h ≪ λ: (1 − lr h)^k ≈ e^{−lr k h} ≈ 1 − h/λ ≈ λ/(h + λ). The
    two filters agree at both ends (→ h/λ for h ≪ λ, → 1 for h ≫ λ) and differ in between
    by at most max_x [(1 − e^{−x}) − x/(1 + x)] ≈ 0.2036 (at x = h/λ ≈ 2.51) for the flow
    filter, which always lies between the two: ridge ≤ flow ≤ GD (for 0 ≤ lr·h ≤ 1); see
    :func:`spectral_filters`.
    """
    return 1.0 / (lr * _f64(steps))


def spectral_filters(X, lr: float, steps) -> dict[str, np.ndarray]:
    """GD, flow and ridge (λ = 1/(lr·k)) filters side by side on the Hessian spectrum of X.

    Returns {"h", "gd", "flow", "ridge", "lambda"}; with several ``steps`` the filters
    have shape (len(steps), len(h)).
    """
    h = hessian_eigenvalues(X)
    k = np.atleast_1d(_f64(steps))[:, None]
    lam = early_stopping_lambda(lr, k)
    out = {"h": h, "gd": gd_filter(h, lr, k), "flow": flow_filter(h, lr * k), "ridge": ridge_filter(h, lam),
           "lambda": lam[:, 0]}
    if np.ndim(steps) == 0:
        out = {key: (v[0] if key != "h" else v) for key, v in out.items()}
    return out


def gd_iterate(X, y, lr: float, steps: int, x0=None) -> np.ndarray:
    """The k-th iterate of GD on L(β) = (1/n) Σ ½ (x_iᵀβ − y_i)² from x0, in closed form.

    β_k = V₁ diag((1 − (1 − lr h)^k)/σ) U₁ᵀ y + V₁ diag((1 − lr h)^k) V₁ᵀ x0 + V₂V₂ᵀ x0,
    with h = σ²/n (Goodfellow et al.'s derivation with our 1/n). For lr < 2/h_max, k → ∞ gives
    :func:`gd_limit`.
    """
    X, y = _f64(X), _f64(y)
    n = X.shape[0]
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    h = s**2 / n
    decay = (1.0 - lr * h) ** steps
    safe = np.where(s > 0, s, 1.0)
    beta = Vt.T @ (np.where(s > 0, (1.0 - decay) / safe, lr * steps * s / n) * (U.T @ y))
    if x0 is not None:
        x0 = _f64(x0)
        coef = Vt @ x0
        beta = beta + x0 - Vt.T @ coef + Vt.T @ (decay * coef)
    return beta


def gd_limit(X, y, x0=None) -> np.ndarray:
    """lim_k GD on least squares from x0: x_LN + V₂V₂ᵀ x0 (after Gunasekar et al. 2017;
    "Advanced Topics in Machine Learning – Notes part 1" (course notes, DSSC, Trieste), "Minimum norm solution").

    Computed as x0 + X⁺(y − X x0) (``numpy.linalg.lstsq``), the same point as
    :func:`implicit_bias.baselines.estimators.min_norm` by a different formula.
    """
    X, y = _f64(X), _f64(y)
    x0 = np.zeros(X.shape[1]) if x0 is None else _f64(x0)
    return x0 + np.linalg.lstsq(X, y - X @ x0, rcond=None)[0]


# --------------------------------------------------------------------------- dropout

def dropout_solution(X, Y, p: float) -> np.ndarray:
    """Minimizer of the expected dropout loss in linear regression: (pXᵀX + (1 − p)Diag(XᵀX))⁻¹ XᵀY.

    Clara, Langer & Schmidt-Hieber (2024, "Dropout regularization versus
    ℓ2-penalization in the linear model"): with keep probability p and an UNSCALED
    Bernoulli(p) mask on the inputs (the engine's ``trainer.dropout = p``: X ← M ⊙ X),

        E_M L(β) = (1/n) Σ_i ½ [(y_i − p x_iᵀβ)² + p(1 − p) Σ_j X_ij² β_j²],

    whose stationary point is the formula above (n cancels). The same holds for one mask
    per feature shared by all samples (their D = diag(δ)), which has the same expected
    loss. Inverted dropout (M/p) gives p times this. Since the dropout gradient is affine
    in β with a mask independent of β_k, E[β_k] follows GD on E_M L exactly and converges
    to this point (for a stable lr).
    """
    X, Y = _f64(X), _f64(Y)
    G = X.T @ X
    A = p * G + (1 - p) * np.diag(np.diag(G))
    return np.linalg.solve(A, X.T @ Y)


def dropout_expected_loss(beta, X, y, p: float) -> float:
    """E_M of the engine's dropout step loss (1/n) Σ ½ (y_i − Σ_j M_ij X_ij β_j)², M_ij ~ Bernoulli(p)."""
    beta, X, y = _f64(beta), _f64(X), _f64(y)
    return float(np.mean(0.5 * ((y - p * X @ beta) ** 2 + p * (1 - p) * (X**2) @ (beta**2))))


# --------------------------------------------------------------------------- stochastic SAM on diagonal networks

def sam_expected_loss(w1, w2, w_star, eta: float, include_constant: bool = False) -> float:
    """E_ξ ½‖w* − (w2 + ξ2) ⊙ (w1 + ξ1)‖² with ξ1, ξ2 ~ N(0, η² I) (Clara et al. 2025; Clara's slides):

        ½‖w* − w2 ⊙ w1‖² + (η²/2)(‖w1‖² + ‖w2‖²)  [+ d η⁴/2, the constant].

    In the engine: least squares with ``design = "orthogonal"`` (XᵀX = n I, so L(β) =
    ½‖β − β*‖² + const), the diagonal model with ``form = "product"`` (β = u ⊙ v, w1 = u,
    w2 = v) and ``trainer.kind = "sam"``, ``variant = "stochastic"``, ``rho = η``; or
    deterministically ``[penalty] kind = "l2"``, ``on = "params"``, ``weight = η²``.
    """
    w1, w2, w_star = _f64(w1), _f64(w2), _f64(w_star)
    value = 0.5 * np.sum((w_star - w1 * w2) ** 2) + eta**2 / 2 * (np.sum(w1**2) + np.sum(w2**2))
    return float(value + (w_star.size * eta**4 / 2 if include_constant else 0.0))


def sam_critical_points(w_star, eta: float, support: Iterable[int] | None = None):
    """A critical point of :func:`sam_expected_loss` (Clara's slides, "Diagonal linear networks with
    ℓ2-penalty", Theorem): for a subset S of coordinates,

        |w1_i| = |w2_i| = √(|w*_i| − η²)  if i ∈ S and |w*_i| ≥ η²,   0 otherwise,

    with sign(w1_i)·sign(w2_i) = sign(w*_i). Returns (w1, w2) with w1 ≥ 0 and w2 carrying
    the sign. ``support = None`` takes S = all coordinates, which gives the global
    minimizer (every |w*_i| > η² coordinate is fitted, shrunk to β_i = sign(w*_i)(|w*_i| − η²),
    a soft-threshold of w* at η²).
    """
    w_star = _f64(w_star)
    mask = np.ones(w_star.shape, bool) if support is None else np.isin(np.arange(w_star.size), list(support))
    mask &= np.abs(w_star) >= eta**2
    mag = np.where(mask, np.sqrt(np.clip(np.abs(w_star) - eta**2, 0.0, None)), 0.0)
    return mag, np.sign(w_star) * mag


def sam_all_critical_points(w_star, eta: float):
    """All critical points of :func:`sam_expected_loss` up to the sign symmetry (w1, w2) → (−w1, −w2)
    per coordinate: one (w1, w2) per subset S of the coordinates with |w*_i| > η²."""
    w_star = _f64(w_star)
    eligible = [i for i in range(w_star.size) if abs(w_star[i]) > eta**2]
    for r in range(len(eligible) + 1):
        for S in combinations(eligible, r):
            yield sam_critical_points(w_star, eta, S)


def sam_balance(t, w1_0, w2_0, eta: float):
    """w1(t)² − w2(t)² = e^{−2η²t} (w1(0)² − w2(0)²) along the gradient flow of
    :func:`sam_expected_loss` (Clara's slides, "The ℓ2-penalized flow", Theorem)."""
    return np.exp(-2 * eta**2 * _f64(t)) * (_f64(w1_0) ** 2 - _f64(w2_0) ** 2)


# --------------------------------------------------------------------------- modified losses (backward error analysis)



def _squared_norm(tree):
    import optax

    return optax.tree.norm(tree, squared=True)


def modified_loss_gd(loss_fn: Callable, lr: float) -> Callable:
    """C̃(θ) = C(θ) + (lr/4)‖∇C(θ)‖²: full-batch GD with step lr follows the gradient flow of
    C̃ up to O(lr²) per unit time (Barrett & Dherin 2021; Smith, Dherin, Barrett & De 2021).
    ``loss_fn`` maps a parameter pytree to a scalar (JAX-differentiable); the
    engine's ``modified_flow`` trainer integrates −∇C̃ = −∇C − (lr/2)∇²C∇C."""
    import jax

    grad = jax.grad(loss_fn)

    def modified(params):
        return loss_fn(params) + lr / 4 * _squared_norm(grad(params))

    return modified


def modified_loss_rr(batch_loss: Callable, n_batches: int, lr: float) -> Callable:
    """C̃_SGD(θ) = C(θ) + lr/(4m) Σ_{k=0}^{m−1} ‖∇Ĉ_k(θ)‖² for random reshuffling
    (Smith, Dherin, Barrett & De 2021, "On the origin of implicit regularization in stochastic
    gradient descent", eq. 1).

    ``batch_loss(θ, k)`` is the mean loss Ĉ_k of the k-th of the m = ``n_batches`` batches of
    one epoch (so C = (1/m) Σ_k Ĉ_k). Claim: averaged over the order of the batches,
    E[θ_m] = θ(m·lr) + O(m³lr³) with θ(t) the gradient flow of C̃_SGD.
    """
    import jax

    grad = jax.grad(batch_loss)

    def modified(params):
        losses = [batch_loss(params, k) for k in range(n_batches)]
        penalty = sum(_squared_norm(grad(params, k)) for k in range(n_batches))
        return sum(losses) / n_batches + lr / (4 * n_batches) * penalty

    return modified


def _hvp(grad_fn: Callable, params, vector):
    import jax

    return jax.jvp(grad_fn, (params,), (vector,))[1]


def modified_gradient_gd(grad_fn: Callable, lr: float) -> Callable:
    """∇C̃ = ∇C + (lr/2) ∇²C ∇C from a gradient function θ ↦ ∇C(θ) (a pytree map), by one
    Hessian-vector product (``jax.jvp``); the gradient of :func:`modified_loss_gd`."""
    import jax

    def modified(params):
        g = grad_fn(params)
        return jax.tree_util.tree_map(lambda a, b: a + lr / 2 * b, g, _hvp(grad_fn, params, g))

    return modified


def modified_gradient_rr(batch_grad: Callable, n_batches: int, lr: float) -> Callable:
    """∇C̃_SGD = (1/m) Σ_k [∇Ĉ_k + (lr/2) ∇²Ĉ_k ∇Ĉ_k] from ``batch_grad(θ, k)`` = ∇Ĉ_k(θ);
    the gradient of :func:`modified_loss_rr`."""
    import jax

    def modified(params):
        total = None
        for k in range(n_batches):
            grad_k = lambda p, k=k: batch_grad(p, k)  # noqa: E731
            g = grad_k(params)
            term = jax.tree_util.tree_map(lambda a, b: (a + lr / 2 * b) / n_batches, g, _hvp(grad_k, params, g))
            total = term if total is None else jax.tree_util.tree_map(operator.add, total, term)
        return total

    return modified
