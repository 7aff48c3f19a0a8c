"""Convex baselines: the explicit estimators that implicit biases are compared with.

Pure functions of numpy (or JAX) arrays; they know nothing of configs. Every
docstring states the optimization problem, its reference and the solver.

Conventions shared with the engine (``problems.py``):

- least squares has n samples, X ∈ ℝ^{n×d}, y ∈ ℝ^n, and the loss is the MEAN
  L(β) = (1/n) Σ_i ½ (x_iᵀβ − y_i)², whose Hessian is H = XᵀX/n with eigenvalues
  h_j = σ_j²/n (σ_j the singular values of X);
- ridge uses the same normalization: L(β) + (λ/2)‖β‖², which is what the engine minimizes
  with ``[penalty] kind = "l2"`` (R = ½‖W‖², weight λ) or with ``weight_decay = λ`` on the
  linear model. In the unnormalized form of seed 004, ‖Y − Xβ‖² + λ'‖β‖², λ' = nλ;
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
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

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
    solution. Reference: seed 002 ("Minimum norm solution in least-square problem",
    after Gunasekar et al. 2017); GD with any stable step size converges to it.

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
    of our loss (seed 004 writes the same filter σ/(σ² + λ') for ‖Y − Xβ‖² + λ'‖β‖², so
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


# --------------------------------------------------------------------------- nuclear norm

@dataclass
class NuclearNormInfo:
    """Diagnostics of :func:`min_nuclear_norm`."""

    solver: str
    iterations: int = 0
    seconds: float = 0.0
    objective: float = float("nan")
    feasibility: float = float("nan")   # ‖𝒜(W) − y‖ / max(1, ‖y‖)
    dual_value: float = float("nan")    # a certified lower bound on the optimum (first_order)
    rank: int = 0
    converged: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def gap(self) -> float:
        """Relative duality gap (objective − dual_value)/objective (first-order solver only)."""
        return (self.objective - self.dual_value) / max(abs(self.objective), 1e-300)


class _Operator:
    """The measurement operator 𝒜: completion (rows, cols) or sensing (A: m×n1×n2)."""

    def __init__(self, arrays: Mapping[str, Any], shape):
        if "rows" in arrays:
            self.kind = "completion"
            self.rows = np.asarray(arrays["rows"], dtype=np.int64)
            self.cols = np.asarray(arrays["cols"], dtype=np.int64)
            self.y = _f64(arrays["values"] if "values" in arrays else arrays["y"])
            if shape is None:
                raise ValueError("matrix completion needs the matrix shape (pass shape= or a Problem)")
            self.shape = tuple(int(s) for s in shape)
            flat = self.rows * self.shape[1] + self.cols
            if np.unique(flat).size != flat.size:
                raise ValueError("repeated observed entries are not supported")
        elif "A" in arrays:
            self.kind = "sensing"
            A = _f64(arrays["A"])
            self.y = _f64(arrays["y"])
            self.shape = tuple(A.shape[1:])
            self.Aflat = A.reshape(A.shape[0], -1)
            G = self.Aflat @ self.Aflat.T
            # G⁻¹ through an eigendecomposition (pseudo-inverse if the A_i are dependent).
            w, Q = np.linalg.eigh(G)
            keep = w > _default_rcond(G.shape) * max(w[-1], 1e-300)
            self.G_pinv = (Q[:, keep] / w[keep]) @ Q[:, keep].T
        else:
            raise ValueError("need completion arrays (rows, cols, values) or sensing arrays (A, y)")

    def measure(self, W):
        if self.kind == "completion":
            return W[self.rows, self.cols]
        return self.Aflat @ W.ravel()

    def adjoint(self, r):
        if self.kind == "completion":
            out = np.zeros(self.shape)
            out[self.rows, self.cols] = r
            return out
        return (self.Aflat.T @ r).reshape(self.shape)

    def project(self, W):
        """Euclidean projection onto {W : 𝒜(W) = y}; also returns G⁻¹(𝒜W − y)."""
        if self.kind == "completion":
            mult = W[self.rows, self.cols] - self.y
            out = W.copy()
            out[self.rows, self.cols] = self.y
            return out, mult
        mult = self.G_pinv @ (self.measure(W) - self.y)
        return W - self.adjoint(mult), mult


def _as_arrays(problem) -> tuple[dict, tuple | None]:
    if hasattr(problem, "arrays") and callable(problem.arrays):
        return problem.arrays(), tuple(problem.shape)
    if isinstance(problem, Mapping):
        return dict(problem), problem.get("shape")
    raise TypeError("problem must be a Problem or a mapping of its arrays")


def _prox_nuclear(M, tau, psd):
    """prox of τ‖·‖_* (singular value thresholding) or of τ·tr + indicator(PSD)."""
    if psd:
        w, Q = np.linalg.eigh((M + M.T) / 2)
        w = w - tau
        keep = w > 0
        return (Q[:, keep] * w[keep]) @ Q[:, keep].T, int(keep.sum())
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    keep = s > tau
    return (U[:, keep] * (s[keep] - tau)) @ Vt[keep], int(keep.sum())


def _nuclear(W, psd):
    if psd:
        return float(np.trace(W))
    return float(np.linalg.svd(W, compute_uv=False).sum())


def _nuclear_first_order(op: _Operator, psd: bool, tol: float, max_iter: int, rho: float | None,
                         relax: float, anderson: int, verbose: bool, warmup: int = 50, balance: float = 3.0):
    """Douglas–Rachford splitting with adaptive ρ and safeguarded Anderson acceleration.

    Splitting: min f(W) + g(W) with f = indicator{𝒜(W) = y} and g = ‖W‖_* (or tr W +
    indicator{W ⪰ 0}). Iteration (Eckstein & Bertsekas 1992; equivalent to ADMM on the
    split W = Z):

        W = Π_affine(x),   Z = prox_{g/ρ}(2W − x),   x ← x + relax·(Z − W).

    ρ is adapted by residual balancing (Boyd et al. 2011, §3.4.1) during a warm-up; x is
    rescaled so that the dual estimate ρ(x − W) is kept. The fixed-point map x ↦ T(x) is
    then accelerated with type-II Anderson acceleration (memory ``anderson``) with a
    residual-decrease safeguard (as in SCS 3, O'Donoghue 2021; Zhang, O'Donoghue & Boyd
    2020). Stops when ‖Z − W‖ ≤ tol·‖Z‖ and ‖Z − Z_prev‖ ≤ tol·‖Z‖; the distance to the
    exact minimizer is then typically ~10·tol (relative). Default ρ₀ = √min(n1, n2)/‖y‖
    (a scale-free choice: W ∝ y and the dual is O(1)).
    """
    shape = op.shape
    ynorm = max(float(np.linalg.norm(op.y)), 1e-300)
    if rho is None:
        rho = math.sqrt(min(shape)) / ynorm
    x = np.zeros(shape)
    history_x: list[np.ndarray] = []
    history_g: list[np.ndarray] = []

    def T(x, rho):
        W, _ = op.project(x)
        Z, rank = _prox_nuclear(2 * W - x, 1.0 / rho, psd)
        return W, Z, x + relax * (Z - W), rank

    warmup = max(0, min(max_iter // 4, warmup))
    W, Z, Tx, rank = T(x, rho)
    Z_prev = np.zeros(shape)
    it = 0
    n_aa = 0
    converged = False
    last_rho_change = 0
    for it in range(1, max_iter + 1):
        znorm = max(float(np.linalg.norm(Z)), 1e-300)
        r = float(np.linalg.norm(Z - W))
        s = float(np.linalg.norm(Z - Z_prev))
        if r <= tol * znorm and s <= tol * znorm:
            converged = True
            break
        # Residual balancing during the warm-up, in relative terms: the primal residual
        # ‖Z − W‖/‖Z‖ against the dual one ρ‖Z − Z_prev‖/‖Λ‖, Λ = ρ(x − W) the dual estimate.
        r_rel = r / znorm
        s_rel = s / max(float(np.linalg.norm(x - W)), 1e-300)
        if it <= warmup and it - last_rho_change >= 5 and (r_rel > balance * s_rel or s_rel > balance * r_rel):
            factor = 2.0 if r_rel > balance * s_rel else 0.5
            new_rho = rho * factor
            x = W + (x - W) * (rho / new_rho)
            rho = new_rho
            history_x.clear()
            history_g.clear()
            last_rho_change = it
            Z_prev = Z
            W, Z, Tx, rank = T(x, rho)
            continue
        g = Tx - x
        Z_prev = Z
        accepted = False
        if anderson > 0 and it > warmup:
            history_x.append(x.ravel())
            history_g.append(g.ravel())
            if len(history_x) > anderson + 1:
                history_x.pop(0)
                history_g.pop(0)
            if len(history_x) >= 2:
                dX = np.stack([b - a for a, b in zip(history_x[:-1], history_x[1:])], axis=1)
                dG = np.stack([b - a for a, b in zip(history_g[:-1], history_g[1:])], axis=1)
                M = dG.T @ dG
                reg = 1e-10 * np.trace(M) + 1e-300
                try:
                    gamma = np.linalg.solve(M + reg * np.eye(M.shape[0]), dG.T @ g.ravel())
                except np.linalg.LinAlgError:
                    gamma = None
                if gamma is not None and np.all(np.isfinite(gamma)):
                    xa = (Tx.ravel() - (dX + dG) @ gamma).reshape(shape)
                    Wa, Za, Txa, ranka = T(xa, rho)
                    if np.linalg.norm(Txa - xa) <= np.linalg.norm(g):
                        x, W, Z, Tx, rank = xa, Wa, Za, Txa, ranka
                        accepted = True
                        n_aa += 1
                    else:
                        history_x.clear()
                        history_g.clear()
        if not accepted:
            x = Tx
            W, Z, Tx, rank = T(x, rho)
        if verbose and it % 50 == 0:
            print(f"it {it} rho {rho:.3g} r {r / znorm:.2e} s {s / znorm:.2e} rank {rank} aa {n_aa}")
    # A feasible output: the low-rank Z with the constraint enforced exactly.
    W_out, _ = op.project(Z)
    if psd:
        W_out = (W_out + W_out.T) / 2
    # Dual certificate. The prox step gives ρ(W − x) ∈ ∂g(W) at a fixed point, and
    # x − Π(x) = 𝒜*(mult), so ν = −ρ·mult is the dual iterate. Dual problems:
    #   nuclear: max ⟨y, ν⟩ s.t. ‖𝒜*ν‖₂ ≤ 1;   psd: max ⟨y, ν⟩ s.t. I − sym(𝒜*ν) ⪰ 0.
    # Dividing ν by max(1, violation) makes it feasible, so ⟨y, ν⟩/max(1, ·) is a lower bound.
    _, mult = op.project(x)
    nu = -rho * mult
    A_nu = op.adjoint(nu)
    if psd:
        violation = float(np.linalg.eigvalsh((A_nu + A_nu.T) / 2)[-1])
    else:
        violation = float(np.linalg.norm(A_nu, 2))
    dual_value = float(op.y @ nu) / max(violation, 1.0)
    info = dict(iterations=it, rank=rank, converged=converged, dual_value=dual_value,
                extra={"rho": rho, "anderson_steps": n_aa})
    return W_out, info


def _nuclear_cvxpy(op: _Operator, psd: bool, eps: float, max_iters: int, verbose: bool):
    import cvxpy as cp

    n1, n2 = op.shape
    if psd:
        if n1 != n2:
            raise ValueError("psd=True needs a square matrix")
        W = cp.Variable((n1, n2), PSD=True)
        objective = cp.trace(W)
    else:
        W = cp.Variable((n1, n2))
        objective = cp.normNuc(W)
    if op.kind == "completion":
        constraints = [W[op.rows, op.cols] == op.y]
    else:
        # cvxpy's vec is column-major: ⟨A_i, W⟩ = vec_F(A_i)·vec_F(W).
        A_F = op.Aflat.reshape(-1, n1, n2).transpose(0, 2, 1).reshape(op.Aflat.shape[0], -1)
        constraints = [A_F @ cp.vec(W, order="F") == op.y]
    problem = cp.Problem(cp.Minimize(objective), constraints)
    problem.solve(solver="SCS", eps_abs=eps, eps_rel=eps, max_iters=max_iters, verbose=verbose)
    if W.value is None:
        raise RuntimeError(f"cvxpy/SCS failed: {problem.status}")
    stats = problem.solver_stats
    return np.asarray(W.value), dict(iterations=int(stats.num_iters or 0),
                                     converged=problem.status == "optimal",
                                     extra={"status": problem.status, "solve_time": stats.solve_time})


def min_nuclear_norm(problem, *, shape=None, psd: bool = False, solver: str = "auto", tol: float = 1e-9,
                     max_iter: int = 20000, rho: float | None = None, relax: float = 1.0, anderson: int = 10,
                     warmup: int = 50, balance: float = 3.0, scs_eps: float = 1e-9, return_info: bool = False,
                     verbose: bool = False):
    """Exact minimum nuclear norm: argmin ‖W‖_* s.t. 𝒜(W) = y (Recht, Fazel & Parrilo 2010;
    Candès & Recht 2009 for completion), or, with ``psd=True``, argmin tr W s.t. 𝒜(W) = y,
    W ⪰ 0 (the conjectured limit of gradient flow on W = UUᵀ from a small init,
    Gunasekar et al. 2017).

    ``problem``: a :class:`~implicit_bias.problems.Problem` (matrix_completion or
    matrix_sensing), or its ``arrays()`` dict: completion {rows, cols, values} (then
    ``shape`` is needed) or sensing {A, y}. Noisy data are interpolated exactly.

    Solvers:

    - ``"first_order"``: Douglas–Rachford splitting (ADMM) between the affine set and the
      nuclear-norm prox (singular value thresholding, or a shifted PSD projection), with
      adaptive ρ and safeguarded Anderson acceleration; see :func:`_nuclear_first_order`.
      The output is the low-rank prox iterate with 𝒜(W) = y then enforced exactly
      (projection), so feasibility is at rounding level. ``info.dual_value`` is a
      certified lower bound from the dual iterate (the duality gap is ``info.gap``).
    - ``"cvxpy"``: cvxpy with SCS (an SDP), ``eps_abs = eps_rel = scs_eps``.
    - ``"auto"``: first_order, falling back to cvxpy if it does not converge.

    Returns W (and a :class:`NuclearNormInfo` with ``return_info=True``).
    """
    arrays, default_shape = _as_arrays(problem)
    op = _Operator(arrays, shape if shape is not None else default_shape)
    if psd and op.shape[0] != op.shape[1]:
        raise ValueError("psd=True needs a square matrix")
    if solver not in ("auto", "first_order", "cvxpy"):
        raise ValueError(f"solver must be 'auto', 'first_order' or 'cvxpy', got {solver!r}")
    started = time.perf_counter()
    W = None
    if solver in ("auto", "first_order"):
        W, raw = _nuclear_first_order(op, psd, tol, max_iter, rho, relax, anderson, verbose, warmup, balance)
        used = "first_order"
        if solver == "auto" and not raw["converged"]:
            W = None
    if W is None:
        W, raw = _nuclear_cvxpy(op, psd, scs_eps, max(max_iter, 100000), verbose)
        used = "cvxpy"
    seconds = time.perf_counter() - started
    ynorm = max(1.0, float(np.linalg.norm(op.y)))
    info = NuclearNormInfo(solver=used, seconds=seconds, objective=_nuclear(W, psd),
                           feasibility=float(np.linalg.norm(op.measure(W) - op.y)) / ynorm,
                           **{k: v for k, v in raw.items() if k != "rank"})
    if "rank" in raw:  # the rank of the prox iterate (the projected output adds ~tol noise)
        info.rank = raw["rank"]
    else:
        s = np.linalg.svd(W, compute_uv=False)
        info.rank = int(np.sum(s > 1e-8 * max(s[0], 1e-300)))
    return (W, info) if return_info else W


# --------------------------------------------------------------------------- neural tangent kernel

def ntk_relu(X1, X2=None) -> np.ndarray:
    """Infinite-width NTK of a one-hidden-layer ReLU network in the NTK parameterization.

    Network (no biases): f(x) = (1/√m) Σ_{j=1}^m a_j relu(w_jᵀx/√d), w_j ~ N(0, I_d),
    a_j ~ N(0, 1), all parameters (a and W) trained. Its tangent kernel
    Θ_m(x, x') = ∇_θf(x)·∇_θf(x') converges (m → ∞, law of large numbers, fluctuations
    O(1/√m)) to

        Θ(x, x') = |x||x'|/(2πd) · (sin θ + (π − θ) cos θ)  +  (x·x'/d) · (π − θ)/(2π),

    θ = angle(x, x'): the first term is E[relu(u)relu(u')] from the a-gradients (the
    arc-cosine kernel of order 1, Cho & Saul 2009), the second E[a²]·P(u > 0, u' > 0)·x·x'/d
    from the W-gradients (Jacot, Gabriel & Hongler 2018). Rows of X are inputs.
    """
    X1 = _f64(X1)
    X2 = X1 if X2 is None else _f64(X2)
    d = X1.shape[1]
    n1, n2 = np.linalg.norm(X1, axis=1), np.linalg.norm(X2, axis=1)
    dot = X1 @ X2.T
    norms = np.outer(n1, n2)
    cos = np.clip(np.divide(dot, norms, out=np.ones_like(dot), where=norms > 0), -1.0, 1.0)
    theta = np.arccos(cos)
    first = norms / (2 * np.pi * d) * (np.sqrt(1 - cos**2) + (np.pi - theta) * cos)
    second = dot / d * (np.pi - theta) / (2 * np.pi)
    return first + second


def init_relu_network(key, d: int, m: int, dtype=None) -> dict:
    """Parameters {"W": (m, d) ~ N(0, 1), "a": (m,) ~ N(0, 1)} of :func:`relu_network`."""
    import jax

    kw, ka = jax.random.split(key)
    dtype = dtype or ("float64" if jax.config.jax_enable_x64 else "float32")
    return {"W": jax.random.normal(kw, (m, d), dtype), "a": jax.random.normal(ka, (m,), dtype)}


def relu_network(params: Mapping, X):
    """f(x) = (1/√m) Σ_j a_j relu(w_jᵀx/√d) for the rows x of X (NTK parameterization)."""
    import jax.numpy as jnp

    W, a = params["W"], params["a"]
    m, d = W.shape
    return jnp.maximum(X @ W.T / jnp.sqrt(d), 0.0) @ a / jnp.sqrt(m)


def _ntk_function(fn: Callable) -> Callable:
    """A jitted (params, X1, X2) ↦ J(X1) J(X2)ᵀ for ``fn``, cached per function."""
    cached = _NTK_CACHE.get(fn)
    if cached is None:
        import jax
        import jax.numpy as jnp

        def jac(params, X):
            J = jax.jacobian(lambda p: fn(p, X))(params)
            return jnp.concatenate([j.reshape(X.shape[0], -1) for j in jax.tree_util.tree_leaves(J)], axis=1)

        cached = jax.jit(lambda params, X1, X2: jac(params, X1) @ jac(params, X2).T)
        _NTK_CACHE[fn] = cached
    return cached


_NTK_CACHE: dict = {}


def empirical_ntk(params: Mapping, X1, X2=None, fn: Callable = relu_network) -> np.ndarray:
    """Θ_θ(x, x') = ∇_θ f(x)·∇_θ f(x') at the given parameters (``jax.jacobian``, jitted).

    ``fn(params, X)`` returns the outputs for the rows of X (default :func:`relu_network`);
    the gradient is over every leaf of ``params``.
    """
    import jax.numpy as jnp

    X1 = jnp.asarray(X1)
    X2 = X1 if X2 is None else jnp.asarray(X2)
    return np.asarray(_ntk_function(fn)(dict(params), X1, X2))


def kernel_regression(K_train, Y, K_test_train=None, ridge: float = 0.0) -> np.ndarray:
    """Kernel (ridge) regression: f(X_test) = K(X_test, X)(K(X, X) + ridge·I)⁻¹ Y.

    ``ridge = 0`` is the minimum-RKHS-norm interpolant, the t → ∞ limit of
    :func:`ntk_linearized_predictions` from f0 = 0 (solved by least squares, so a
    singular K gives the pseudo-inverse). Without ``K_test_train`` the training
    predictions are returned.
    """
    K = _f64(K_train)
    Y = _f64(Y)
    A = K + ridge * np.eye(K.shape[0])
    coef = np.linalg.lstsq(A, Y, rcond=None)[0] if ridge == 0 else np.linalg.solve(A, Y)
    return (K if K_test_train is None else _f64(K_test_train)) @ coef


def ntk_linearized_predictions(K, f0, Y, t, K_test_train=None, f0_test=None, n: int | None = None):
    """Predictions of the linearized network under gradient flow on our loss (seed 002).

    With L(θ) = (1/n) Σ_i ½ (f(x_i; θ) − y_i)² and θ̇ = −∇L (GD with lr η for k steps has
    t = ηk, the engine's time), the linearized model f_lin(θ) = f(θ₀) + J(θ − θ₀) obeys
    ḟ = −(1/n) K (f − Y) with K = J Jᵀ, hence

        f(t) = e^{−Kt/n} f0 + (I − e^{−Kt/n}) Y,
        f_test(t) = f0_test + K_test K⁻¹ (I − e^{−Kt/n}) (Y − f0).

    Seed 002 writes e^{−η K t} for the sum-of-squared-residuals loss and t in steps; our
    mean loss contributes the 1/n. ``t`` may be a scalar or a 1-D array (then the leading
    axis of the output is time). K⁻¹(I − e^{−Kt/n}) is evaluated spectrally (its value
    t/n on null directions of K), so a singular K is fine.
    """
    K, f0, Y = _f64(K), _f64(f0), _f64(Y)
    n = K.shape[0] if n is None else n
    lam, Q = np.linalg.eigh((K + K.T) / 2)
    ts = np.atleast_1d(_f64(t))
    r0 = Q.T @ (f0 - Y)
    decay = np.exp(-np.outer(ts, lam) / n)  # (T, n)
    train = Y + (decay * r0) @ Q.T
    out_train = train if np.ndim(t) else train[0]
    if K_test_train is None:
        return out_train
    safe = np.where(np.abs(lam) > 1e-300, lam, 1.0)
    kernel_factor = np.where(np.abs(lam) > 1e-300, -np.expm1(-np.outer(ts, lam) / n) / safe, ts[:, None] / n)
    f0_test = np.zeros(_f64(K_test_train).shape[0]) if f0_test is None else _f64(f0_test)
    test = f0_test - (kernel_factor * r0) @ (_f64(K_test_train) @ Q).T
    return out_train, (test if np.ndim(t) else test[0])
