"""Hard-margin (max-margin) linear separators in the ℓ2, ℓ1, ℓ∞ and Fourier-ℓ1 geometries.

Pure functions of NumPy arrays (X ∈ ℝ^{n×d}, labels y ∈ {−1, +1}^n; no intercept), independent
of the training code: they are the oracles for the directions gradient methods converge to on
separable data. With z_i = y_i x_i (the rows of Z = diag(y) X) the unit-margin problem is

    ŵ_p = argmin ‖w‖_p  s.t.  y_i⟨x_i, w⟩ ≥ 1  (i = 1 … n),                       (MM_p)

and γ_p = 1/‖ŵ_p‖_p = max_{‖w‖_p ≤ 1} min_i y_i⟨x_i, w⟩ is the max normalized margin.

- ``"l2"``: the hard-margin SVM without intercept, the limit direction of gradient descent on the
  logistic or exponential loss (Soudry, Hoffer, Nacson, Gunasekar & Srebro 2018, "The implicit
  bias of gradient descent on separable data"). A QP, solved by cvxpy + Clarabel and then
  *polished*: on the support set S the KKT system y_i⟨x_i, w⟩ = 1 (i ∈ S), w = Σ_{i∈S} α_i y_i x_i
  is solved by least squares (an active-set loop adds violated points and drops α_i < 0), and the
  polished point is kept only if the KKT residual is ≤ 1e-10 (status ``optimal``); otherwise
  Clarabel's point is returned with status ``optimal_unpolished``.
- ``"l1"``, ``"linf"``: the limits of steepest descent w.r.t. ℓ1 (coordinate descent) and ℓ∞
  (sign descent) (Gunasekar, Lee, Soudry & Srebro 2018, "Characterizing implicit bias in terms
  of optimization geometry"). LPs with ``scipy.optimize.linprog(method="highs")``:
  ℓ1 as min 1ᵀ(p + q) s.t. Z(p − q) ≥ 1, p, q ≥ 0; ℓ∞ as min t s.t. −t ≤ w_j ≤ t, Zw ≥ 1.
  The duals are the HiGHS marginals of the margin rows.
- ``"fourier_l1"``: min Σ_k |(Fw)_k| with the unitary DFT F_{jk} = e^{−2πijk/d}/√d (complex
  coefficients; |·| as the 2-norm of (Re, Im)), the limit direction of full-width circular
  linear convolutional networks of depth 2 (Gunasekar, Lee, Soudry & Srebro 2018, "Implicit bias
  of gradient descent on linear convolutional networks"). An SOCP via cvxpy + Clarabel, in the
  real orthonormal Fourier basis (:func:`real_fourier_basis`).

Dual certificate (one convention for every norm): α are the multipliers of the margin constraints
of min ½‖w‖_p² s.t. Zw ≥ 1, whose dual is max_{α ≥ 0} Σ_i α_i − ½‖Zᵀα‖_*² (‖·‖_* the dual norm:
ℓ2 ↔ ℓ2, ℓ1 ↔ ℓ∞, Fourier-ℓ1 ↔ ‖F·‖_∞). At the optimum

    Zᵀα ∈ ‖ŵ‖ ∂‖ŵ‖  (so ‖Zᵀα‖_* = ‖ŵ‖ and ⟨Zᵀα, ŵ⟩ = ‖ŵ‖²),   Σ_i α_i = ‖ŵ‖²,
    α_i ≥ 0,  α_i (y_i⟨x_i, ŵ⟩ − 1) = 0.

For ℓ2 this is the SVM's α with the KKT identity ŵ = Σ_i α_i y_i x_i (the α of Soudry et al.'s
w̃ equation η·exp(−y_n⟨x_n, w̃⟩) = α_n). The LP/SOCP multipliers λ of (MM_p) itself are α/‖ŵ‖.

Every solver's point is finally rescaled by its smallest margin (min_i y_i⟨x_i, w⟩ = 1 exactly; a
change of ~the solver tolerance, direction unchanged). Non-separable data (the LP feasibility
problem Zw ≥ 1 is infeasible) raise :class:`NotSeparableError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

NORMS = ("l2", "l1", "linf", "fourier_l1")
DUAL_NORMS = {"l2": "l2", "l1": "linf", "linf": "l1", "fourier_l1": "fourier_linf"}
#: polished ℓ2 solutions must meet this KKT residual (relative, see :func:`kkt_residual`)
POLISH_TOL = 1e-10
SOFT_MARGIN_HINT = ("use a soft-margin alternative instead: the hinge-loss SVM min ½‖w‖² + C Σ_i max(0, 1 − "
                    "y_i⟨x_i, w⟩), or logistic regression with an ℓ2 penalty ([penalty] kind = \"l2\")")


class NotSeparableError(ValueError):
    """No w has y_i⟨x_i, w⟩ ≥ 1 for all i: the hard-margin problem has no solution."""


@dataclass(frozen=True)
class MaxMarginSolution:
    """The solution of (MM_p) with its dual certificate (see the module docstring)."""

    norm: str
    w: np.ndarray            # the unit-margin solution ŵ (min_i y_i⟨x_i, ŵ⟩ = 1)
    dual: np.ndarray         # α ≥ 0, one per sample (the multipliers of min ½‖w‖² s.t. Zw ≥ 1)
    support: np.ndarray      # indices i with α_i > 0 (the support vectors)
    status: str              # "optimal" (KKT residual ≤ CERTIFIED_TOL; ℓ2: polished, ≤ POLISH_TOL) |
    #                          "optimal_unpolished" (ℓ2: polish rejected, the QP solver's point) |
    #                          "optimal_inaccurate" (the solver's point fails the KKT check)
    solver: str
    kkt_residual: float      # see kkt_residual()

    @property
    def norm_value(self) -> float:
        """‖ŵ‖_p."""
        return norm_value(self.w, self.norm)

    @property
    def margin(self) -> float:
        """The max normalized margin γ_p = min_i y_i⟨x_i, ŵ⟩ / ‖ŵ‖_p = 1/‖ŵ‖_p."""
        return 1.0 / self.norm_value

    def summary(self, Z: np.ndarray | None = None) -> dict[str, Any]:
        """The diagnostics written to summary.json's ``solver`` (docs/run-directory.md)."""
        out: dict[str, Any] = {
            "solver": self.solver, "status": self.status, "norm": self.norm, "norm_value": self.norm_value,
            "margin": self.margin, "support_size": int(self.support.size),
            "support": [int(i) for i in self.support], "dual": [float(a) for a in self.dual],
            "dual_objective": float(self.dual.sum()), "kkt_residual": self.kkt_residual,
        }
        if Z is not None:
            out["unit_margin"] = float(np.min(Z @ self.w))
        return out


# --------------------------------------------------------------------------- norms and margins

def fourier_coefficients(w) -> np.ndarray:
    """Fw with the unitary DFT, (Fw)_k = Σ_j w_j e^{−2πijk/d}/√d (``numpy.fft.fft(w, norm="ortho")``)."""
    return np.fft.fft(np.asarray(w, dtype=np.float64), norm="ortho")


def norm_value(w, norm: str) -> float:
    """‖w‖_p for p in :data:`NORMS` and the dual norms (``fourier_linf`` = max_k |(Fw)_k|)."""
    w = np.asarray(w, dtype=np.float64).ravel()
    if norm == "l2":
        return float(np.linalg.norm(w))
    if norm == "l1":
        return float(np.abs(w).sum())
    if norm == "linf":
        return float(np.abs(w).max(initial=0.0))
    if norm == "fourier_l1":
        return float(np.abs(fourier_coefficients(w)).sum())
    if norm == "fourier_linf":
        return float(np.abs(fourier_coefficients(w)).max(initial=0.0))
    raise ValueError(f"unknown norm {norm!r}; one of {', '.join(NORMS)}")


def normalized_margin(X, y, beta, norm: str) -> float:
    """min_i y_i⟨x_i, β⟩ / ‖β‖_p (−inf for β = 0)."""
    Z = _signed_rows(X, y)
    scale = norm_value(beta, norm)
    return float(np.min(Z @ np.asarray(beta, dtype=np.float64).ravel()) / scale) if scale > 0 else -np.inf


def angle(a, b) -> float:
    """The angle between two vectors in radians, 2·atan2(‖â − b̂‖, ‖â + b̂‖) (accurate near 0 and π)."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return float("nan")
    u, v = a / na, b / nb
    return float(2.0 * np.arctan2(np.linalg.norm(u - v), np.linalg.norm(u + v)))


def kkt_residual(X, y, w, alpha, norm: str) -> float:
    """The largest relative violation of the optimality conditions of (MM_p) with the dual α:
    primal feasibility max(0, 1 − min_i y_i⟨x_i, w⟩); dual feasibility max(0, −min α)/Σα;
    complementary slackness max_i α_i|y_i⟨x_i, w⟩ − 1|/Σα; stationarity |‖Zᵀα‖_* − ‖w‖|/‖w‖ and
    |⟨Zᵀα, w⟩ − ‖w‖²|/‖w‖² (for ℓ2 also ‖Zᵀα − w‖_∞/‖w‖_∞); strong duality |Σα − ‖w‖²|/‖w‖²."""
    Z = _signed_rows(X, y)
    w, alpha = np.asarray(w, dtype=np.float64).ravel(), np.asarray(alpha, dtype=np.float64).ravel()
    m = Z @ w
    total = max(float(alpha.sum()), 1e-300)
    nw = norm_value(w, norm)
    v = Z.T @ alpha
    parts = [max(0.0, 1.0 - float(m.min())), max(0.0, -float(alpha.min())) / total,
             float(np.max(np.abs(alpha) * np.abs(m - 1.0))) / total,
             abs(norm_value(v, DUAL_NORMS[norm]) - nw) / nw, abs(float(v @ w) - nw**2) / nw**2,
             abs(total - nw**2) / nw**2]
    if norm == "l2":
        parts.append(float(np.abs(v - w).max() / np.abs(w).max()))
    return float(max(parts))


# --------------------------------------------------------------------------- separability

def _signed_rows(X, y) -> np.ndarray:
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64).ravel()
    if X.ndim != 2 or X.shape[0] != y.size:
        raise ValueError(f"X must be n×d and y of length n, got {X.shape} and {y.shape}")
    if not np.all(np.isin(y, (-1.0, 1.0))):
        raise ValueError("labels must be −1 or +1")
    return y[:, None] * X


def is_separable(X, y) -> bool:
    """Whether some w has y_i⟨x_i, w⟩ ≥ 1 for all i (the feasibility LP, HiGHS); linear separability
    through the origin, strictly (equivalent to ≥ 1 after scaling)."""
    from scipy.optimize import linprog

    Z = _signed_rows(X, y)
    n, d = Z.shape
    result = linprog(np.zeros(d), A_ub=-Z, b_ub=-np.ones(n), bounds=(None, None), method="highs")
    if result.status == 2:
        return False
    if result.status != 0:
        raise RuntimeError(f"the separability LP failed: {result.message}")
    return True


def require_separable(X, y) -> None:
    """Raise :class:`NotSeparableError` (naming the soft-margin alternatives) unless separable."""
    if not is_separable(X, y):
        raise NotSeparableError("the data is not linearly separable (the LP y_i⟨x_i, w⟩ ≥ 1 for all i is "
                                "infeasible), so the hard-margin problem has no solution; " + SOFT_MARGIN_HINT)


# --------------------------------------------------------------------------- the oracles

def _finish(norm: str, X, y, w, lam_or_alpha, status: str, solver: str, alpha_given: bool = False) -> MaxMarginSolution:
    """Rescale w to unit margin, convert the multipliers of (MM_p) (λ) to α = ‖ŵ‖·λ, clip the
    solver's tiny negative multipliers, and find the support set."""
    Z = _signed_rows(X, y)
    w = np.asarray(w, dtype=np.float64).ravel()
    w = w / float(np.min(Z @ w))
    mult = np.maximum(np.asarray(lam_or_alpha, dtype=np.float64).ravel(), 0.0)
    alpha = mult if alpha_given else norm_value(w, norm) * mult
    support = np.flatnonzero(alpha > 1e-9 * max(float(alpha.max(initial=0.0)), 1e-300))
    alpha = np.where(np.isin(np.arange(alpha.size), support), alpha, 0.0)
    residual = kkt_residual(X, y, w, alpha, norm)
    if residual > CERTIFIED_TOL and status == "optimal":
        status = "optimal_inaccurate"
    return MaxMarginSolution(norm, w, alpha, support, status, solver, residual)


def _highs(c, A_ub, b_ub, bounds):
    from scipy.optimize import linprog

    result = linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs",
                     options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})
    if result.status != 0:
        raise RuntimeError(f"HiGHS failed: {result.message}")
    return result


def max_margin_l1(X, y) -> MaxMarginSolution:
    """argmin ‖w‖₁ s.t. y_i⟨x_i, w⟩ ≥ 1 by the LP min 1ᵀ(p + q) s.t. Z(p − q) ≥ 1, p, q ≥ 0 (HiGHS).
    Dual: max 1ᵀλ s.t. ‖Zᵀλ‖_∞ ≤ 1, λ ≥ 0 (λ = −marginals). A vertex solution: at most n non-zeros."""
    require_separable(X, y)
    Z = _signed_rows(X, y)
    n, d = Z.shape
    result = _highs(np.ones(2 * d), np.hstack([-Z, Z]), -np.ones(n), (0, None))
    return _finish("l1", X, y, result.x[:d] - result.x[d:], -result.ineqlin.marginals, "optimal", "highs")


def max_margin_linf(X, y) -> MaxMarginSolution:
    """argmin ‖w‖_∞ s.t. y_i⟨x_i, w⟩ ≥ 1 by the LP min t s.t. ±w_j ≤ t, Zw ≥ 1 (HiGHS).
    Dual: max 1ᵀλ s.t. ‖Zᵀλ‖₁ ≤ 1, λ ≥ 0 (λ = −marginals of the margin rows)."""
    require_separable(X, y)
    Z = _signed_rows(X, y)
    n, d = Z.shape
    eye, ones = np.eye(d), np.ones((d, 1))
    A = np.vstack([np.hstack([eye, -ones]), np.hstack([-eye, -ones]), np.hstack([-Z, np.zeros((n, 1))])])
    b = np.concatenate([np.zeros(2 * d), -np.ones(n)])
    c = np.zeros(d + 1)
    c[-1] = 1.0
    result = _highs(c, A, b, [(None, None)] * d + [(0, None)])
    return _finish("linf", X, y, result.x[:d], -result.ineqlin.marginals[2 * d:], "optimal", "highs")


_CLARABEL = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "max_iter": 500}
#: a solver's answer is reported ``optimal`` when its KKT residual (:func:`kkt_residual`) is below this
CERTIFIED_TOL = 1e-8


def _cvxpy_solve(problem) -> str:
    import warnings

    import cvxpy as cp

    with warnings.catch_warnings():  # "solution may be inaccurate": judged by our own KKT check instead
        warnings.simplefilter("ignore", UserWarning)
        problem.solve(solver=cp.CLARABEL, **_CLARABEL)
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise RuntimeError(f"cvxpy/Clarabel failed: {problem.status}")
    return "optimal"


def _polish_l2(Z: np.ndarray, alpha0: np.ndarray, max_rounds: int = 10):
    """The exact KKT point on a support set: w = min-norm solution of Z_S w = 1 (then w ∈ row space
    of Z_S), α_S = least squares of Z_Sᵀα = w (NNLS if that has a negative entry). S starts at the
    solver's α > 1e-7·max α; violated points are added and α_i = 0 dropped. None if it fails."""
    from scipy.optimize import nnls

    n = Z.shape[0]
    S = set(np.flatnonzero(alpha0 > 1e-7 * max(float(alpha0.max(initial=0.0)), 1e-300)).tolist())
    for _ in range(max_rounds):
        if not S:
            return None
        idx = np.array(sorted(S))
        ZS = Z[idx]
        w = np.linalg.lstsq(ZS, np.ones(idx.size), rcond=None)[0]
        w = w + np.linalg.lstsq(ZS, np.ones(idx.size) - ZS @ w, rcond=None)[0]  # one refinement step
        aS = np.linalg.lstsq(ZS.T, w, rcond=None)[0]
        if aS.min() < 0:
            aS = nnls(ZS.T, w)[0]
        alpha = np.zeros(n)
        alpha[idx] = aS
        m = Z @ w
        violated = set(np.flatnonzero(m < 1.0 - 1e-13).tolist()) - S
        zero = {i for i, a in zip(idx.tolist(), aS) if a <= 0.0}
        if not violated and not zero:
            return w, alpha
        S = (S | violated) - (zero if not violated else set())
    return None


def max_margin_l2(X, y, polish: bool = True) -> MaxMarginSolution:
    """The hard-margin SVM without intercept, argmin ½‖w‖² s.t. y_i⟨x_i, w⟩ ≥ 1 (QP, cvxpy +
    Clarabel), polished on its support set to KKT residual ≤ :data:`POLISH_TOL` (module docstring)."""
    import cvxpy as cp

    require_separable(X, y)
    Z = _signed_rows(X, y)
    w = cp.Variable(Z.shape[1])
    constraint = Z @ w >= 1
    status = _cvxpy_solve(cp.Problem(cp.Minimize(0.5 * cp.sum_squares(w)), [constraint]))
    raw = _finish("l2", X, y, w.value, constraint.dual_value, status, "clarabel", alpha_given=True)
    if not polish:
        return raw
    polished = _polish_l2(Z, raw.dual)
    if polished is not None:
        w_p, alpha_p = polished
        residual = kkt_residual(X, y, w_p, alpha_p, "l2")
        if residual <= POLISH_TOL and np.all(alpha_p >= 0):
            support = np.flatnonzero(alpha_p > 0)
            return MaxMarginSolution("l2", w_p, alpha_p, support, "optimal", "clarabel+polish", residual)
    return MaxMarginSolution("l2", raw.w, raw.dual, raw.support, "optimal_unpolished", raw.solver, raw.kkt_residual)


def dft_matrix(d: int) -> np.ndarray:
    """The unitary DFT matrix, F_{kj} = e^{−2πijk/d}/√d (F @ w = ``fourier_coefficients(w)``)."""
    return np.fft.fft(np.eye(d), axis=0, norm="ortho")


def real_fourier_basis(d: int) -> tuple[np.ndarray, list[int], list[tuple[int, int]]]:
    """The orthonormal real Fourier basis Q (d×d, QᵀQ = I) in which the Fourier-ℓ1 norm is a
    group norm: columns 1/√d; √(2/d)·cos(2πkj/d) and √(2/d)·sin(2πkj/d) for 0 < k < d/2; and
    (−1)^j/√d for even d. For real w = Qc, (Fw)_0 = c_0, (Fw)_{d/2} = c_{d/2} and, for 0 < k < d/2,
    |(Fw)_k| = |(Fw)_{d−k}| = ‖(c_cos,k, c_sin,k)‖₂/√2, so

        Σ_k |(Fw)_k| = Σ_{singles} |c_s| + √2 Σ_{pairs} ‖(c_cos,k, c_sin,k)‖₂.

    Returns (Q, the single columns, the (cos, sin) column pairs)."""
    j = np.arange(d)
    columns, singles, pairs = [np.full(d, 1 / np.sqrt(d))], [0], []
    for k in range(1, (d + 1) // 2):
        columns += [np.sqrt(2 / d) * np.cos(2 * np.pi * k * j / d), np.sqrt(2 / d) * np.sin(2 * np.pi * k * j / d)]
        pairs.append((len(columns) - 2, len(columns) - 1))
    if d % 2 == 0 and d > 1:
        singles.append(len(columns))
        columns.append((-1.0) ** j / np.sqrt(d))
    return np.stack(columns, axis=1), singles, pairs


def max_margin_fourier_l1(X, y) -> MaxMarginSolution:
    """argmin Σ_k |(Fw)_k| s.t. y_i⟨x_i, w⟩ ≥ 1 (F the unitary DFT, complex coefficients): an SOCP,
    solved by cvxpy + Clarabel in the real orthonormal Fourier basis w = Qc of
    :func:`real_fourier_basis` (d variables, the conjugate pair ±k of the DFT as one 2-norm; forming
    the d×d complex DFT in cvxpy is ~100× slower at d = 1000). Dual: max 1ᵀλ s.t.
    max_k |(F Zᵀλ)_k| ≤ 1, λ ≥ 0 (for real v the dual norm of ‖F·‖₁ is ‖Fv‖_∞, the coefficients of
    a real vector being conjugate-symmetric)."""
    import cvxpy as cp

    require_separable(X, y)
    Z = _signed_rows(X, y)
    Q, singles, pairs = real_fourier_basis(Z.shape[1])
    c = cp.Variable(Z.shape[1])
    constraint = (Z @ Q) @ c >= 1
    objective = cp.sum(cp.abs(c[singles]))
    if pairs:
        cos, sin = (list(idx) for idx in zip(*pairs))
        objective = objective + np.sqrt(2) * cp.sum(cp.norm(cp.vstack([c[cos], c[sin]]), 2, axis=0))
    status = _cvxpy_solve(cp.Problem(cp.Minimize(objective), [constraint]))
    return _finish("fourier_l1", X, y, Q @ c.value, constraint.dual_value, status, "clarabel")


ORACLES = {"l2": max_margin_l2, "l1": max_margin_l1, "linf": max_margin_linf, "fourier_l1": max_margin_fourier_l1}


def max_margin(X, y, norm: str = "l2") -> MaxMarginSolution:
    """The unit-margin solution of (MM_p) for ``norm`` in :data:`NORMS` (see the module docstring).
    Raises :class:`NotSeparableError` on non-separable data, ``ValueError`` on labels other than ±1."""
    if norm not in ORACLES:
        raise ValueError(f"unknown norm {norm!r}; one of {', '.join(NORMS)}")
    return ORACLES[norm](X, y)
