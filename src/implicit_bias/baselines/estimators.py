"""Convex baselines: the explicit estimators that implicit biases are compared with.

Pure functions of numpy (or JAX) arrays; they know nothing of configs. Every
docstring states the optimization problem, its reference and the solver.

Conventions shared with the engine (``problems.py``):

- least squares has n samples, X ∈ ℝ^{n×d}, y ∈ ℝ^n, and the loss is the MEAN
  L(β) = (1/n) Σ_i ½ (x_iᵀβ − y_i)², whose Hessian is H = XᵀX/n with eigenvalues
  h_j = σ_j²/n (σ_j the singular values of X);
- ridge uses the same normalization: L(β) + (λ/2)‖β‖², which is what the engine minimizes
  with ``[penalty] kind = "l2"`` (R = ½‖W‖², weight λ) or with ``weight_decay = λ`` on the
  linear model. In the unnormalized form of Clara's slides, ‖Y − Xβ‖² + λ'‖β‖², λ' = nλ;
- the diagonal networks are the engine's ``[model] kind = "diagonal"``: β = u^N − v^N with
  u(0) = v(0) = α (times ``shape``).

Functions: :func:`min_norm`, :func:`ridge`, :func:`ridge_path`, :func:`basis_pursuit`,
:func:`q_alpha`, :func:`diagonal_limit`, :func:`q_alpha_potential`,
:func:`min_nuclear_norm`, and the NTK helpers :func:`ntk_relu`, :func:`relu_network`,
:func:`init_relu_network`, :func:`empirical_ntk`, :func:`kernel_regression`,
:func:`ntk_linearized_predictions`.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "min_norm", "ridge", "ridge_path", "basis_pursuit", "q_alpha", "q_alpha_potential", "diagonal_limit",
    "min_nuclear_norm", "NuclearNormInfo", "ntk_relu", "relu_network", "init_relu_network", "empirical_ntk",
    "kernel_regression", "ntk_linearized_predictions",
]


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _default_rcond(shape: tuple[int, ...]) -> float:
    """numpy's ``lstsq`` default: machine epsilon × max(n, d)."""
    return np.finfo(np.float64).eps * max(shape)


# --------------------------------------------------------------------------- least norm and ridge

def min_norm(X, y, x0=None, rcond: float | None = None) -> np.ndarray:
    """The limit of gradient descent (or flow) on least squares started at ``x0``.

    Problem: argmin ‖β − x0‖₂ s.t. β minimizes ‖Xβ − y‖₂, i.e.

        β = x_LN + V₂V₂ᵀ x0,   x_LN = V₁ Σ₁⁻¹ U₁ᵀ y = X⁺ y,

    with X = U₁Σ₁V₁ᵀ the thin SVD restricted to the singular values kept and V₂ a basis of
    the null space of X. For a consistent system (y ∈ range X, e.g. a fat full-row-rank X)
    this is the interpolant closest to x0; x0 = None (or 0) gives the minimum-norm
    solution. Reference: Gunasekar et al. 2017, "Implicit regularization in matrix factorization" (as in
    the course notes "Advanced Topics in Machine Learning – Notes part 1" (DSSC, University of Trieste),
    "Minimum norm solution in least-square problem"); GD with any stable step size converges to it.

    Solver: one SVD. Singular values σ ≤ ``rcond``·σ_max are treated as zero (their
    directions join the null space); ``rcond`` defaults to eps·max(n, d), numpy's
    ``lstsq`` convention. ``y`` may be a vector or a matrix of right-hand sides.
    """
    X, y = _f64(X), _f64(y)
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    rcond = _default_rcond(X.shape) if rcond is None else rcond
    keep = s > rcond * (s[0] if s.size else 0.0)
    U1, s1, V1t = U[:, keep], s[keep], Vt[keep]
    beta = V1t.T @ ((U1.T @ y) / (s1 if y.ndim == 1 else s1[:, None]))
    if x0 is not None:
        x0 = _f64(x0)
        beta = beta + x0 - V1t.T @ (V1t @ x0)
    return beta


def ridge_path(X, y, lams) -> np.ndarray:
    """Ridge regression for several λ from one SVD, in the engine's normalization.

    Problem: β_λ = argmin_β (1/n) Σ_i ½ (x_iᵀβ − y_i)² + (λ/2)‖β‖²
                 = (XᵀX/n + λ I)⁻¹ Xᵀy/n
                 = Σ_j  σ_j / (σ_j² + nλ) · v_j u_jᵀ y,

    i.e. the spectral filter h/(h + λ) on the eigenvalues h_j = σ_j²/n of the Hessian
    of our loss (Clara's slides, "Regularization in the Age of Machine Learning", write the
    same filter σ/(σ² + λ') for ‖Y − Xβ‖² + λ'‖β‖², so
    λ' = nλ). λ = 0 gives :func:`min_norm` (the λ → 0 limit). Returns shape (len(lams), d).

    Solver: one thin SVD of X; the filter is applied to Uᵀy for each λ.
    """
    X, y = _f64(X), _f64(y)
    lams = np.atleast_1d(_f64(lams))
    if np.any(lams < 0):
        raise ValueError("ridge needs λ >= 0")
    n = X.shape[0]
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    coef = U.T @ y
    out = []
    cutoff = _default_rcond(X.shape) * (s[0] if s.size else 0.0)
    for lam in lams:
        if lam == 0:
            filt = np.where(s > cutoff, 1.0 / np.where(s > cutoff, s, 1.0), 0.0)
        else:
            filt = s / (s**2 + n * lam)
        out.append(Vt.T @ (filt * coef if y.ndim == 1 else filt[:, None] * coef))
    return np.stack(out)


def ridge(X, y, lam: float) -> np.ndarray:
    """β_λ = argmin (1/n) Σ ½ (x_iᵀβ − y_i)² + (λ/2)‖β‖² (see :func:`ridge_path`; one SVD)."""
    return ridge_path(X, y, [lam])[0]


# --------------------------------------------------------------------------- sparse recovery

def basis_pursuit(X, y, polish: bool = True) -> np.ndarray:
    """Basis pursuit: argmin ‖β‖₁ s.t. Xβ = y (Chen, Donoho & Saunders 1998).

    The α → 0 limit of the depth-2 diagonal network (Woodworth et al. 2020) when the
    minimizer is unique.

    Solver: the linear program min 1ᵀ(p + q) s.t. X(p − q) = y, p, q ≥ 0, with
    ``scipy.optimize.linprog(method="highs")`` (a vertex solution: at most rank(X)
    non-zeros). ``polish``: the constraint is then re-solved exactly on the support S found,
    β_S = argmin ‖X_S β_S − y‖ (least squares), and the polished point is kept if it
    keeps the signs and does not increase ‖β‖₁ by more than 1e-9 relative — this
    brings ‖Xβ − y‖ from HiGHS's ~1e-9 feasibility tolerance to rounding level.
    Raises ``ValueError`` if the system has no solution.
    """
    from scipy.optimize import linprog

    X, y = _f64(X), _f64(y)
    n, d = X.shape
    result = linprog(np.ones(2 * d), A_eq=np.hstack([X, -X]), b_eq=y, bounds=(0, None), method="highs",
                     options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})
    if result.status != 0:
        raise ValueError(f"basis pursuit failed: {result.message}")
    beta = result.x[:d] - result.x[d:]
    if not polish:
        return beta
    scale = np.max(np.abs(beta)) if beta.size else 0.0
    support = np.abs(beta) > 1e-9 * max(scale, 1e-300)
    if 0 < support.sum() <= n:
        XS = X[:, support]
        sol, _, rank, _ = np.linalg.lstsq(XS, y, rcond=None)
        if rank == support.sum():
            polished = np.zeros(d)
            polished[support] = sol
            l1, l1_new = np.abs(beta).sum(), np.abs(polished).sum()
            if np.all(np.sign(sol) == np.sign(beta[support])) and l1_new <= l1 * (1 + 1e-9) + 1e-300:
                if np.linalg.norm(X @ polished - y) <= np.linalg.norm(X @ beta - y):
                    return polished
    return beta


def q_alpha_potential(beta, alpha) -> float:
    """Q_α(β) = α² Σ_i q(β_i/α²), q(z) = 2 − √(4 + z²) + z·arcsinh(z/2) (Woodworth et al. 2020).

    ``alpha`` may be a scalar or one value per coordinate (then α_i² replaces α²).
    Q_α ≈ ‖β‖₂²/(4α²) for α → ∞ and ≈ log(1/α²)·‖β‖₁ (plus lower order) for α → 0.
    """
    beta = _f64(beta)
    a2 = np.broadcast_to(_f64(alpha) ** 2, beta.shape)
    z = beta / a2
    return float(np.sum(a2 * (2 - np.sqrt(4 + z**2) + z * np.arcsinh(z / 2))))


def _diag_link(s: np.ndarray, log_scale: np.ndarray, power: int):
    """β(s), dβ/ds and the dual potential Φ(s) − Φ(0) (Φ' = β) of the diagonal-network limit.

    power 2: β = 2α² sinh s, Φ − Φ(0) = 2α²(cosh s − 1), in overflow-safe forms.
    power N > 2: β = α^N h(s), h(s) = (1 − s)^{−N/(N−2)} − (1 + s)^{−N/(N−2)} on |s| < 1,
    Φ − Φ(0) = α^N (N−2)/2 [(1 − s)^{−2/(N−2)} + (1 + s)^{−2/(N−2)} − 2].
    Outside the domain (overflow, |s| >= 1) Φ = +inf. Subtracting Φ(0) keeps the dual
    objective free of a huge constant (α → ∞), so its decrease stays above rounding.
    """
    if power == 2:
        a_s = np.abs(s)
        big = a_s + log_scale + math.log(2.0)
        with np.errstate(over="ignore", under="ignore"):
            e = np.exp(np.minimum(big, 800.0))
            small = np.exp(-2 * a_s)
            beta = np.sign(s) * e * (-np.expm1(-2 * a_s)) / 2
            dbeta = e * (1 + small) / 2
            a = np.exp(np.minimum(log_scale, 700.0))
            phi = np.where(a_s < 20, 4 * a * np.sinh(np.minimum(a_s, 20) / 2) ** 2, dbeta - 2 * a)
        bad = np.any(big > 700.0) or np.any(log_scale > 700.0)
        return beta, dbeta, np.where(big > 700.0, np.inf, phi), bool(bad)
    p = power / (power - 2)
    q = 2 / (power - 2)
    out = np.abs(s) >= 1.0
    sc = np.where(out, 0.0, s)
    a = np.exp(log_scale)
    log_lo, log_hi = np.log1p(-sc), np.log1p(sc)
    # (1 − s)^{−p} − (1 + s)^{−p} as a difference of two expm1's of opposite signs: no cancellation
    beta = a * (np.expm1(-p * log_lo) - np.expm1(-p * log_hi))
    dbeta = a * p * (np.exp(-(p + 1) * log_lo) + np.exp(-(p + 1) * log_hi))
    phi = a * (power - 2) / 2 * (np.expm1(-q * log_lo) + np.expm1(-q * log_hi))
    bad = bool(np.any(out)) or not np.all(np.isfinite(phi))
    return beta, dbeta, np.where(out, np.inf, phi), bad


def _diag_newton(B, c, mu, log_scale, power, tol, ynorm, max_iter):
    """Newton with backtracking on the dual Σ Φ(Bμ) − cᵀμ; returns (μ, β) or raises RuntimeError.

    When s = Bμ sits so close to the barrier |s| = 1 (N > 2, tiny α) that β(s) cannot be
    evaluated to the tolerance (relative precision ~ eps/(1 − |s|)), Newton stalls at a
    gradient ≤ 1e-7·‖y‖; the last digits are then set by one linearized Newton step taken in
    β-space, β ← β + D B (BᵀDB)⁻¹(c − Bᵀβ) with D = diag(dβ/ds), which makes Bᵀβ = c hold to
    rounding.
    """

    def polish(mu, beta, dbeta):
        # Δ = D B (BᵀDB)⁻¹ r computed stably as D^{1/2} (Bᵀ D^{1/2})⁺ r
        root = np.sqrt(dbeta)
        z = np.linalg.lstsq(B.T * root, c - B.T @ beta, rcond=None)[0]
        return mu, beta + root * z

    def dual(mu):
        beta, dbeta, phi, bad = _diag_link(B @ mu, log_scale, power)
        return (float(np.sum(phi) - c @ mu) if not bad else np.inf), beta, dbeta

    F, beta, dbeta = dual(mu)
    if not np.isfinite(F):
        mu = np.zeros_like(mu)
        F, beta, dbeta = dual(mu)
    for _ in range(max_iter):
        grad = B.T @ beta - c
        gnorm = float(np.linalg.norm(grad))
        if gnorm <= tol * ynorm:
            return mu, beta
        H = (B.T * dbeta) @ B
        try:
            step = -np.linalg.solve(H, grad)
        except np.linalg.LinAlgError:
            step = -np.linalg.lstsq(H, grad, rcond=None)[0]
        decrement = float(-grad @ step)
        t = 1.0
        while True:
            F_new, beta_new, dbeta_new = dual(mu + t * step)
            if F_new <= F - 0.25 * t * decrement:
                break
            # Near the optimum F's decrease falls below its rounding error: accept a step
            # that does not increase F beyond rounding and halves the gradient instead.
            if np.isfinite(F_new) and F_new <= F + 1e-13 * (1 + abs(F)) and \
                    np.linalg.norm(B.T @ beta_new - c) <= 0.5 * gnorm:
                break
            t *= 0.5
            if t < 1e-20:
                if gnorm <= 1e-7 * ynorm:
                    return polish(mu, beta, dbeta)
                raise RuntimeError("diagonal_limit: line search failed")
        mu, F, beta, dbeta = mu + t * step, F_new, beta_new, dbeta_new
    if float(np.linalg.norm(B.T @ beta - c)) <= 1e-7 * ynorm:
        return polish(mu, beta, dbeta)
    raise RuntimeError(f"diagonal_limit did not converge in {max_iter} Newton steps")


def diagonal_limit(X, y, alpha, power: int = 2, tol: float = 1e-12, max_iter: int = 500,
                   return_dual: bool = False):
    """Where gradient flow on the diagonal network β = u^N − v^N from u(0) = v(0) = α ends.

    Derivation (our model, any loss whose gradient in β is g(t) = Xᵀr(t)/n): the flow
    u̇ = −N u^{N−1} g, v̇ = +N v^{N−1} g integrates coordinate-wise, with s(t) ∈ range(Xᵀ)
    a multiple of −∫₀ᵗ g, to

        N = 2:  u = α e^{s/2}, v = α e^{−s/2} (s = −4∫g),  β = α²(e^{s} − e^{−s}) = 2α² sinh(s),
        N > 2:  u^{2−N} = α^{2−N}(1 − s), v^{2−N} = α^{2−N}(1 + s) (s = −N(N−2)α^{N−2}∫g),
                β = α^N [(1 − s)^{−N/(N−2)} − (1 + s)^{−N/(N−2)}],   |s| < 1.

    At convergence Xβ = y, and β = ∇Φ*(Xᵀν) for some ν: β is the minimizer of the convex
    potential Q(β) = Σ_i Φ_i*(β_i) subject to Xβ = y (Woodworth, Gunasekar, Lee, Moroshko,
    Savarese, Golan, Soudry & Srebro 2020, "Kernel and rich regimes in overparametrized
    models", Thm 1 for N = 2 and Thm 3 for depth N). For N = 2 this is Q_α of
    :func:`q_alpha` with **our α** (u(0) = v(0) = α, β(0) = 0): the α of Woodworth et al. is
    the same number, the α² in Q_α comes from β = u² − v². ``alpha`` may be one value per
    coordinate (the engine's ``alpha·shape``), then α_i replaces α coordinate-wise.

    Solver: the smooth, strictly convex dual min_ν Σ_i Φ_i((Xᵀν)_i) − yᵀν (its gradient is
    Xβ(ν) − y) by Newton's method with Armijo backtracking (and domain checks), warm
    started so that β(ν₀) ≈ the minimum-norm interpolant. ν is restricted to range(X)
    (rank-deficient X is fine if y ∈ range X). Converges quadratically; stops when
    ‖Xβ − y‖ ≤ tol·max(1, ‖y‖). If the direct solve fails (extreme α, mostly N > 2 where
    s approaches the barrier |s| = 1), it is repeated by continuation in α from the
    scale α^N ≈ max|β_LN| in steps of 2. Raises ``RuntimeError`` if not converged. Tested
    range: N = 2 for α from 1e-12 to 1e3; N = 3 for α ≥ 1e-6, N = 4 for α ≥ 1e-4,
    N = 6 for α ≥ 1e-2 (deeper and smaller is the barrier-hugging regime, which gradient
    descent itself would need ~α^{−(N−2)} time to reach).
    """
    X, y = _f64(X), _f64(y)
    if power < 2:
        raise ValueError("power must be >= 2")
    n, d = X.shape
    alpha = np.broadcast_to(_f64(alpha), (d,)).copy()
    if np.any(alpha <= 0):
        raise ValueError("alpha must be > 0")
    # Work in an orthonormal basis of range(X): X = U1 S1 V1ᵀ, ν = U1 μ, s = V1 S1 μ = B μ.
    U, sv, Vt = np.linalg.svd(X, full_matrices=False)
    keep = sv > _default_rcond(X.shape) * sv[0]
    B = Vt[keep].T * sv[keep]           # d × r, s = B μ
    c = U[:, keep].T @ y                 # the constraint in reduced form: Bᵀβ = c
    if np.linalg.norm(y - U[:, keep] @ c) > 1e-8 * max(1.0, np.linalg.norm(y)):
        raise ValueError("y is not in the range of X: no interpolating solution")
    ynorm = max(1.0, float(np.linalg.norm(y)))
    beta_ln = min_norm(X, y)

    def warm_start(alpha):
        """μ₀ with s₀ = projection onto range(B) of the link inverse at β_LN."""
        if power == 2:
            s_target = np.arcsinh(beta_ln / (2 * alpha**2))
        else:
            s_target = np.clip(beta_ln / (alpha**power * 2 * power / (power - 2)), -0.5, 0.5)
        mu = np.linalg.lstsq(B, s_target, rcond=None)[0]
        if power > 2 and np.max(np.abs(B @ mu)) >= 0.99:
            mu *= 0.5 / np.max(np.abs(B @ mu))
        return mu

    def solve(alpha, mu0):
        return _diag_newton(B, c, mu0, power * np.log(alpha), power, tol, ynorm, max_iter)

    try:
        mu, beta = solve(alpha, warm_start(alpha))
    except RuntimeError:
        # continuation: from the scale where α^N ~ |β| (between the regimes) to the target
        ref = max(float(np.max(np.abs(beta_ln))), 1e-300) ** (1.0 / power)
        typical = float(np.exp(np.mean(np.log(alpha))))
        n_steps = max(1, int(np.ceil(abs(np.log2(ref / typical)))))
        scales = (ref / typical) ** (1 - np.arange(n_steps + 1) / n_steps)
        mu = warm_start(alpha * scales[0])
        for scale in scales:
            mu, beta = solve(alpha * scale, mu)
    if return_dual:
        return beta, U[:, keep] @ mu
    return beta


def q_alpha(X, y, alpha, **kwargs) -> np.ndarray:
    """argmin Q_α(β) s.t. Xβ = y (Woodworth et al. 2020, Thm 1), Q_α of :func:`q_alpha_potential`.

    The limit of gradient flow on β = u² − v² (the engine's diagonal model with
    ``form = "difference"``, ``power = 2``) from u(0) = v(0) = α: the stationarity
    condition is β = 2α² sinh(Xᵀν), i.e. ∇Q_α(β) = arcsinh(β/(2α²)) ∈ range(Xᵀ).
    α → 0 gives basis pursuit (min ‖β‖₁), α → ∞ the minimum ℓ2-norm interpolant.
    Solver: Newton on the dual, see :func:`diagonal_limit` (power = 2).
    """
    return diagonal_limit(X, y, alpha, power=2, **kwargs)


# --------------------------------------------------------------------------- re-exports
from implicit_bias.baselines.nuclear_norm import NuclearNormInfo, min_nuclear_norm  # noqa: E402
from implicit_bias.core.ntk import (  # noqa: E402
    empirical_ntk, init_relu_network, kernel_regression, ntk_linearized_predictions, ntk_relu, relu_network,
)
