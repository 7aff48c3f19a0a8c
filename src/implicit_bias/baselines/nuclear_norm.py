"""Minimum nuclear norm (and minimum trace PSD) interpolation: our ADMM and cvxpy + SCS.

Part of the baselines (``baselines.py`` re-exports :func:`min_nuclear_norm`); conventions as
stated there.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _default_rcond(shape: tuple[int, ...]) -> float:
    """numpy's ``lstsq`` default: machine epsilon × max(n, d)."""
    return np.finfo(np.float64).eps * max(shape)



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

    ``problem``: a :class:`~implicit_bias.core.problems.Problem` (matrix_completion or
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
