"""Convex baselines (implicit_bias.baselines) against independent computations.

Each closed form or solver is checked against something computed another way:
gradient descent / gradient flow run through the engine (``implicit_bias.run``), a second
solver (cvxpy), optimality conditions, or Monte Carlo. Tolerances come from the math
(discretization O(lr), Monte-Carlo O(1/√m), solver tolerances) and are stated inline.
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import implicit_bias as ib  # noqa: E402
from implicit_bias.baselines import estimators as bl  # noqa: E402
from implicit_bias.core import theory  # noqa: E402
from implicit_bias.settings import resolve, section_settings  # noqa: E402
from implicit_bias.core.problems import make_problem  # noqa: E402


def _problem(seed=0, **problem):
    return make_problem(section_settings("problem", resolve({"problem": problem, "model": {"kind": "linear"}})["problem"]),
                        seed)


def _least_squares(seed=0, **kw):
    P = _problem(seed, kind="least_squares", **kw)
    return np.asarray(P.X), np.asarray(P.targets), P


def _rel(a, b):
    return float(np.linalg.norm(np.ravel(a) - np.ravel(b)) / np.linalg.norm(np.ravel(b)))


# --------------------------------------------------------------------------- min norm, ridge

def test_min_norm_is_the_gd_limit_from_x0():
    """GD on the linear model from a random x0 ends at x_LN + V2V2ᵀx0 (seed 002)."""
    problem = {"kind": "least_squares", "n_samples": 10, "n_features": 30}
    # lr·h_max ≈ 0.2·7.5 < 2 and h_min ≈ 0.5: 2,000 steps contract the error by (1 − 0.1)^2000.
    result = ib.run({"problem": problem, "model": {"kind": "linear", "init_scale": 0.5},
                     "trainer": {"kind": "gd", "lr": 0.2, "steps": 2000, "log_every": 1000}})
    X, y, _ = _least_squares(**{k: v for k, v in problem.items() if k != "kind"})
    x0 = result.end_to_end_init
    assert np.linalg.norm(x0) > 1.0  # a genuinely non-zero start
    expected = bl.min_norm(X, y, x0=x0)
    assert _rel(result.end_to_end, expected) < 1e-10
    # the two formulas (SVD and lstsq) agree, and x0 = 0 is the minimum-norm interpolant
    assert _rel(theory.gd_limit(X, y, x0), expected) < 1e-12
    assert _rel(bl.min_norm(X, y), np.linalg.pinv(X) @ y) < 1e-12
    # and it differs from the minimum-norm solution by exactly the null-space part of x0
    assert np.linalg.norm(X @ (expected - bl.min_norm(X, y))) < 1e-10
    assert _rel(expected, bl.min_norm(X, y)) > 0.1


def test_min_norm_rank_deficient_and_inconsistent():
    """rcond cuts exactly-dependent directions; an inconsistent y gives the min-norm LS solution."""
    rng = np.random.default_rng(0)
    A = rng.normal(size=(12, 4))
    X = A @ rng.normal(size=(4, 20))  # rank 4, 12 × 20
    y = rng.normal(size=12)  # not in range(X)
    beta = bl.min_norm(X, y)
    assert _rel(beta, np.linalg.lstsq(X, y, rcond=None)[0]) < 1e-10
    # optimality: the residual is orthogonal to range(X) and β ∈ range(Xᵀ)
    assert np.linalg.norm(X.T @ (X @ beta - y)) < 1e-9 * np.linalg.norm(X) ** 2
    P_row = np.linalg.pinv(X) @ X
    assert np.linalg.norm(beta - P_row @ beta) < 1e-10
    x0 = rng.normal(size=20)
    assert _rel(bl.min_norm(X, y, x0), beta + x0 - P_row @ x0) < 1e-9


def test_ridge_is_the_penalized_gd_limit_in_our_normalization():
    """ridge(X, y, λ) = the minimizer of mean ½ residual² + (λ/2)‖β‖², which the engine
    reaches with penalty l2 (weight λ) and with weight_decay = λ."""
    problem = {"kind": "least_squares", "n_samples": 15, "n_features": 25, "noise": 0.3}
    X, y, _ = _least_squares(**{k: v for k, v in problem.items() if k != "kind"})
    lam = 0.3
    expected = bl.ridge(X, y, lam)
    n = X.shape[0]
    assert _rel(expected, np.linalg.solve(X.T @ X / n + lam * np.eye(X.shape[1]), X.T @ y / n)) < 1e-12
    base = {"problem": problem, "model": {"kind": "linear"}}
    # contraction per step ≥ lr·λ = 0.03: 1,500 steps reach 1e-20
    by_penalty = ib.run({**base, "penalty": {"kind": "l2", "weight": lam},
                         "trainer": {"kind": "gd", "lr": 0.1, "steps": 1500, "log_every": 500}})
    by_decay = ib.run({**base, "trainer": {"kind": "gd", "lr": 0.1, "steps": 1500, "log_every": 500,
                                           "weight_decay": lam}})
    assert _rel(by_penalty.end_to_end, expected) < 1e-10
    assert _rel(by_decay.end_to_end, expected) < 1e-10
    # seed 004's form (‖Y − Xβ‖² + λ'‖β‖²) with λ' = nλ is the same estimator
    assert _rel(np.linalg.solve(X.T @ X + n * lam * np.eye(X.shape[1]), X.T @ y), expected) < 1e-12


def test_ridge_path_filters_and_limits():
    X, y, _ = _least_squares(n_samples=20, n_features=8, noise=0.5)
    lams = np.array([0.0, 1e-3, 0.1, 10.0])
    path = bl.ridge_path(X, y, lams)
    assert path.shape == (4, 8)
    for lam, beta in zip(lams, path):
        assert _rel(beta, bl.ridge(X, y, lam)) < 1e-13
    assert _rel(path[0], bl.min_norm(X, y)) < 1e-12
    # norms shrink monotonically with λ
    norms = np.linalg.norm(path, axis=1)
    assert np.all(np.diff(norms) < 0)
    # the filter is h/(h+λ) on the Hessian eigenvalues h = σ²/n
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    coef = (Vt @ path[2]) / ((U.T @ y) / s)
    assert np.allclose(coef, theory.ridge_filter(s**2 / X.shape[0], 0.1), rtol=1e-10)
    with pytest.raises(ValueError):
        bl.ridge(X, y, -1.0)


# --------------------------------------------------------------------------- basis pursuit and Q_alpha

def test_basis_pursuit_recovers_and_matches_cvxpy():
    import cvxpy as cp

    X, y, P = _least_squares(n_samples=20, n_features=40, target="sparse", sparsity=3)
    beta = bl.basis_pursuit(X, y)
    assert np.linalg.norm(X @ beta - y) < 1e-12  # polished: rounding-level feasibility
    assert _rel(beta, np.asarray(P.ground_truth)) < 1e-10  # exact recovery (k = 3 ≪ n = 20)
    # not recovered with too few measurements, but still the ℓ1 minimum (cvxpy/Clarabel)
    X2, y2, P2 = _least_squares(n_samples=8, n_features=40, target="sparse", sparsity=5)
    b2 = bl.basis_pursuit(X2, y2)
    var = cp.Variable(40)
    value = cp.Problem(cp.Minimize(cp.norm1(var)), [X2 @ var == y2]).solve(solver="CLARABEL")
    assert abs(np.abs(b2).sum() - value) < 1e-7 * value
    assert np.linalg.norm(X2 @ b2 - y2) < 1e-10
    assert np.count_nonzero(np.abs(b2) > 1e-12) <= 8  # a vertex: at most n non-zeros
    assert _rel(b2, np.asarray(P2.ground_truth)) > 0.05


def test_q_alpha_feasibility_and_optimality():
    """KKT of argmin Q_α s.t. Xβ = y: ‖Xβ − y‖ ≤ 1e-10 and ∇Q_α(β) = arcsinh(β/2α²) ∈ range(Xᵀ);
    and an independent minimization of Q_α over the affine set (L-BFGS in null-space
    coordinates) finds the same point."""
    from scipy.optimize import minimize

    X, y, _ = _least_squares(n_samples=10, n_features=30, target="sparse", sparsity=3)
    U, s, Vt = np.linalg.svd(X)
    null = Vt[10:].T  # 30 × 20 basis of null(X)
    for alpha in (1e-6, 1e-3, 0.1, 1.0, 10.0, 1e3):
        beta = bl.q_alpha(X, y, alpha)
        assert np.linalg.norm(X @ beta - y) <= 1e-10
        grad_q = np.arcsinh(beta / (2 * alpha**2))
        assert np.linalg.norm(null.T @ grad_q) <= 1e-8 * max(1.0, np.linalg.norm(grad_q))
    alpha = 0.3
    beta = bl.q_alpha(X, y, alpha)
    base = bl.min_norm(X, y)

    def objective(z):
        b = base + null @ z
        return bl.q_alpha_potential(b, alpha), null.T @ np.arcsinh(b / (2 * alpha**2))

    found = minimize(objective, np.zeros(20), jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-15})
    other = base + null @ found.x
    assert _rel(other, beta) < 1e-5
    assert bl.q_alpha_potential(beta, alpha) <= bl.q_alpha_potential(other, alpha) + 1e-12
    # per-coordinate α (the engine's alpha·shape) enters as α_i
    alphas = np.linspace(0.2, 1.0, 30)
    b_shape = bl.q_alpha(X, y, alphas)
    assert np.linalg.norm(null.T @ np.arcsinh(b_shape / (2 * alphas**2))) < 1e-8


def test_q_alpha_limits_basis_pursuit_and_min_norm():
    """α → 0: basis pursuit; α → ∞: minimum ℓ2 norm, with error ∝ α⁻⁴ (Q_α = ‖β‖²/4α² − O(β⁴/α⁶))."""
    X, y, _ = _least_squares(n_samples=20, n_features=40, target="sparse", sparsity=3)
    bp, ln = bl.basis_pursuit(X, y), bl.min_norm(X, y)
    to_bp = [_rel(bl.q_alpha(X, y, a), bp) for a in (1e-2, 1e-4, 1e-6, 1e-8)]
    assert all(b < a for a, b in zip(to_bp, to_bp[1:]))
    assert to_bp[-1] < 1e-6
    to_ln = [_rel(bl.q_alpha(X, y, a), ln) for a in (10.0, 100.0)]
    slope = np.log(to_ln[1] / to_ln[0]) / np.log(10.0)
    assert -4.2 < slope < -3.8
    assert to_ln[1] < 1e-10


_DIAG_PROBLEM = {"kind": "least_squares", "n_samples": 10, "n_features": 30, "target": "sparse", "sparsity": 3}


@pytest.mark.parametrize("alpha, lr, steps", [
    (1e-3, 0.01, 300_000),   # rich regime: long escape time, measured rel. error ≈ 4e-4
    (0.1, 0.003, 300_000),   # the O(lr) bias of GD vs flow is ≈ 0.1·lr here: ≈ 3e-4
    (1.0, 0.01, 100_000),    # ≈ 1e-4
    (10.0, 2e-4, 20_000),    # kernel regime: lr·8α²·h_max < 2 needs lr ≲ 3e-4; ≈ 2e-8
])
def test_q_alpha_matches_gradient_descent(alpha, lr, steps):
    """GD on β = u² − v² from u = v = α (the engine's diagonal model) ends at argmin Q_α with our α:
    Woodworth et al.'s α is the init of u and v, the α² in Q_α comes from the square."""
    result = ib.run({"problem": _DIAG_PROBLEM, "model": {"kind": "diagonal", "form": "difference", "power": 2,
                                                          "alpha": alpha},
                     "trainer": {"kind": "gd", "lr": lr, "steps": steps, "log_every": 10_000, "stop_loss": 1e-26}})
    X, y, _ = _least_squares(**{k: v for k, v in _DIAG_PROBLEM.items() if k != "kind"})
    assert result.trajectory["loss"].iloc[-1] < 1e-20
    assert _rel(result.end_to_end, bl.q_alpha(X, y, alpha)) < 1e-3
    if alpha < 1:  # the mapping is α, not α² or √α (in the kernel regime α barely matters)
        assert _rel(result.end_to_end, bl.q_alpha(X, y, alpha**2)) > 1e-2
        assert _rel(result.end_to_end, bl.q_alpha(X, y, np.sqrt(alpha))) > 1e-2


def test_q_alpha_matches_gradient_flow_tightly():
    """The diffrax flow (no discretization bias) agrees to ~1e-8: the limit formula is exact."""
    alpha = 1e-3
    result = ib.run({"problem": _DIAG_PROBLEM, "model": {"kind": "diagonal", "form": "difference", "power": 2,
                                                          "alpha": alpha},
                     "trainer": {"kind": "flow", "t_max": 2000.0, "rtol": 1e-10, "atol": 1e-12, "log_dt": 500.0,
                                 "stop_loss": 1e-26}})
    X, y, _ = _least_squares(**{k: v for k, v in _DIAG_PROBLEM.items() if k != "kind"})
    assert _rel(result.end_to_end, bl.q_alpha(X, y, alpha)) < 1e-6


def test_deeper_diagonal_limit_matches_gradient_flow():
    """power N = 3: β = α³[(1 − s)^{−3} − (1 + s)^{−3}] at s ∈ range(Xᵀ) (Woodworth et al., depth D),
    against the engine's gradient flow (GD would add an O(lr) bias: ≈ 1.5e-3 at lr = 0.01)."""
    alpha = 0.3
    result = ib.run({"problem": _DIAG_PROBLEM, "model": {"kind": "diagonal", "form": "difference", "power": 3,
                                                          "alpha": alpha},
                     "trainer": {"kind": "flow", "t_max": 1000.0, "rtol": 1e-10, "atol": 1e-12, "log_dt": 250.0,
                                 "stop_loss": 1e-26}})
    X, y, _ = _least_squares(**{k: v for k, v in _DIAG_PROBLEM.items() if k != "kind"})
    expected = bl.diagonal_limit(X, y, alpha, power=3)
    assert np.linalg.norm(X @ expected - y) < 1e-10
    assert _rel(result.end_to_end, expected) < 1e-6
    assert _rel(expected, bl.q_alpha(X, y, alpha)) > 1e-2  # depth changes the bias


# --------------------------------------------------------------------------- nuclear norm

def _completion(n_obs, seed=0):
    return _problem(seed, kind="matrix_completion", n_rows=100, n_cols=100, rank=5, n_obs=n_obs, target_norm=100.0)


def _test_error(W, P):
    return _rel(W, np.asarray(P.ground_truth))


def test_nuclear_norm_recovery_threshold_first_order():
    """Arora et al. 2019's setting: 100×100 rank 5, ‖W*‖_F = 100. Nuclear-norm minimization
    recovers W* from 5,000 entries (test error ≤ 1e-3) but not from 2,000 (≥ 0.1)."""
    P = _completion(5000)
    W, info = bl.min_nuclear_norm(P, solver="first_order", tol=1e-9, return_info=True)
    assert info.converged and info.solver == "first_order"
    assert info.feasibility < 1e-13  # the constraint is enforced exactly
    assert info.gap < 1e-7  # certified by the dual iterate
    assert _test_error(W, P) < 1e-3
    assert info.rank == 5
    P2 = _completion(2000)
    W2, info2 = bl.min_nuclear_norm(P2, solver="first_order", tol=1e-9, return_info=True)
    assert info2.converged and info2.gap < 1e-7 and info2.feasibility < 1e-13
    assert _test_error(W2, P2) > 0.1
    # the minimizer has smaller nuclear norm than the (feasible) ground truth
    assert info2.objective < np.linalg.svd(np.asarray(P2.ground_truth), compute_uv=False).sum()


def test_nuclear_norm_solvers_agree_5000():
    P = _completion(5000)
    W_fo, i_fo = bl.min_nuclear_norm(P, solver="first_order", tol=1e-10, return_info=True)
    W_cvx, i_cvx = bl.min_nuclear_norm(P, solver="cvxpy", scs_eps=1e-9, return_info=True)
    assert i_cvx.solver == "cvxpy" and i_cvx.converged
    assert _rel(W_fo, W_cvx) < 1e-5
    assert abs(i_fo.objective - i_cvx.objective) < 1e-7 * i_cvx.objective
    assert _test_error(W_cvx, P) < 1e-3


@pytest.mark.slow
def test_nuclear_norm_solvers_agree_2000():
    P = _completion(2000)
    W_fo, i_fo = bl.min_nuclear_norm(P, solver="first_order", tol=1e-10, return_info=True)
    W_cvx, i_cvx = bl.min_nuclear_norm(P, solver="cvxpy", scs_eps=1e-9, return_info=True)
    assert _rel(W_fo, W_cvx) < 1e-5
    assert _test_error(W_cvx, P) > 0.1
    print(f"\nfirst_order {i_fo.seconds:.2f}s ({i_fo.iterations} it), cvxpy+SCS {i_cvx.seconds:.2f}s")


def test_nuclear_norm_sensing_and_psd():
    """Sensing (general A_i) and the PSD variant min tr W, W ⪰ 0 (Gunasekar et al. 2017): the
    first-order solver agrees with cvxpy+SCS; PSD recovery from symmetric Gaussian measurements."""
    P = _problem(0, kind="matrix_sensing", n_rows=12, n_cols=9, rank=2, n_measurements=80)
    W_fo, info = bl.min_nuclear_norm(P, solver="first_order", tol=1e-10, return_info=True)
    W_cvx = bl.min_nuclear_norm(P, solver="cvxpy")
    assert info.feasibility < 1e-12 and info.gap < 1e-8
    assert _rel(W_fo, W_cvx) < 1e-5
    Ps = _problem(0, kind="matrix_sensing", n_rows=15, n_cols=15, rank=2, n_measurements=45,
                  measurements="symmetric_gaussian")
    W_psd, info_psd = bl.min_nuclear_norm(Ps, psd=True, solver="first_order", tol=1e-10, return_info=True)
    W_psd_cvx = bl.min_nuclear_norm(Ps, psd=True, solver="cvxpy")
    assert _rel(W_psd, W_psd_cvx) < 1e-5
    assert np.allclose(W_psd, W_psd.T) and np.linalg.eigvalsh(W_psd)[0] > -1e-9
    assert info_psd.gap < 1e-8
    assert abs(info_psd.objective - np.trace(W_psd)) < 1e-12 * info_psd.objective
    assert _test_error(W_psd, Ps) < 1e-6  # 45 measurements ≥ 2·(15·2 − 1): recovery
    # the PSD problem has the smaller feasible set: min tr W (W ⪰ 0) ≥ min ‖W‖_*
    _, info_gen = bl.min_nuclear_norm(Ps, solver="first_order", tol=1e-10, return_info=True)
    assert info_psd.objective >= info_gen.objective * (1 - 1e-8)


def test_nuclear_norm_psd_completion_arrays():
    """PSD completion from a symmetric set of observed entries given as arrays (shape needed)."""
    rng = np.random.default_rng(3)
    G = rng.normal(size=(30, 2))
    M = G @ G.T
    iu = np.array([(i, j) for i in range(30) for j in range(i, 30) if rng.random() < 0.45])
    rows = np.concatenate([iu[:, 0], iu[iu[:, 0] != iu[:, 1], 1]])
    cols = np.concatenate([iu[:, 1], iu[iu[:, 0] != iu[:, 1], 0]])
    arrays = {"rows": rows, "cols": cols, "values": M[rows, cols]}
    with pytest.raises(ValueError):
        bl.min_nuclear_norm(arrays)
    W, info = bl.min_nuclear_norm(arrays, shape=(30, 30), psd=True, solver="first_order", tol=1e-10,
                                  return_info=True)
    W_cvx = bl.min_nuclear_norm(arrays, shape=(30, 30), psd=True, solver="cvxpy")
    assert _rel(W, W_cvx) < 1e-5
    assert _rel(W, M) < 1e-6 and info.rank == 2


# --------------------------------------------------------------------------- NTK

def test_ntk_formula_by_monte_carlo():
    """The empirical NTK of f(x) = (1/√m) Σ a_j relu(w_jᵀx/√d) converges to the analytic
    kernel with relative error ∝ m^{-1/2} (CLT): fitted log-log slope in [−0.6, −0.4]."""
    d = 5
    X = np.random.default_rng(0).normal(size=(6, d))
    K = bl.ntk_relu(X)
    assert np.allclose(K, K.T) and np.linalg.eigvalsh(K)[0] > 0
    widths = 2 ** np.arange(8, 15, 2)
    errors = []
    for m in widths:
        per_seed = [_rel(bl.empirical_ntk(bl.init_relu_network(jax.random.key(s), d, int(m)), X), K)
                    for s in range(8)]
        errors.append(np.sqrt(np.mean(np.square(per_seed))))
    slope = np.polyfit(np.log(widths), np.log(errors), 1)[0]
    assert -0.6 <= slope <= -0.4, (slope, errors)
    assert errors[-1] < 0.03
    # the diagonal has the closed form |x|²/d · (1/2 + 1/2) = |x|²/d
    assert np.allclose(np.diag(K), np.sum(X**2, axis=1) / d)


def _train_gd(fn, params, X, Y, lr, steps):
    loss = lambda p: 0.5 * jnp.mean((fn(p, X) - Y) ** 2)  # the engine's mean ½ residual² loss
    grad = jax.grad(loss)

    @jax.jit
    def run(p):
        def body(p, _):
            return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, grad(p)), None
        return jax.lax.scan(body, p, None, length=steps)[0]

    return run(params)


def test_ntk_linearized_dynamics_time_normalization():
    """The exactly linearized network f_lin(θ) = f0 + J(θ − θ0) trained by GD with lr for k
    steps follows f(t) = e^{−Kt/n}f0 + (I − e^{−Kt/n})Y with t = lr·k (mean loss → 1/n);
    the only discrepancy is GD vs flow, |(1 − lr λ/n)^k − e^{−lr λ k/n}| ≤ k(lr λ/n)²/2."""
    d, n = 5, 8
    rng = np.random.default_rng(1)
    X, Xt, Y = rng.normal(size=(n, d)), rng.normal(size=(4, d)), rng.normal(size=n)
    p0 = bl.init_relu_network(jax.random.key(0), d, 512)
    f0, f0t = np.asarray(bl.relu_network(p0, X)), np.asarray(bl.relu_network(p0, Xt))
    K = bl.empirical_ntk(p0, X)
    Kt = bl.empirical_ntk(p0, Xt, X)

    def linearized(p, Z):
        delta = jax.tree_util.tree_map(lambda a, b: a - b, p, p0)
        return bl.relu_network(p0, Z) + jax.jvp(lambda q: bl.relu_network(q, Z), (p0,), (delta,))[1]

    lr, steps = 0.01, 5000
    p = _train_gd(linearized, p0, X, Y, lr, steps)
    f_k, f_k_test = np.asarray(linearized(p, X)), np.asarray(linearized(p, Xt))
    # GD on the linearized model is exactly f_k = Y + (I − lr K/n)^k (f0 − Y) ...
    lam, Q = np.linalg.eigh(K)
    discrete = Y + Q @ ((1 - lr * lam / n) ** steps * (Q.T @ (f0 - Y)))
    assert _rel(f_k, discrete) < 1e-9
    # ... and the flow formula at t = lr·k differs by at most max_λ |(1 − x)^k − e^{−kx}|, x = lr λ/n
    pred, pred_test = bl.ntk_linearized_predictions(K, f0, Y, lr * steps, Kt, f0t)
    x = lr * lam / n
    bound = np.max(np.abs((1 - x) ** steps - np.exp(-steps * x))) * np.linalg.norm(f0 - Y) + 1e-9
    assert np.linalg.norm(f_k - pred) <= bound
    motion = np.linalg.norm(pred - f0)
    assert bound < 0.02 * motion  # the check is far tighter than the motion
    coef = Q @ ((1 - (1 - lr * lam / n) ** steps) / lam * (Q.T @ (Y - f0)))
    assert _rel(f_k_test, f0t + Kt @ coef) < 1e-8
    assert np.linalg.norm(f_k_test - pred_test) < 0.02 * np.linalg.norm(pred_test - f0t)
    # a wrong normalization (no 1/n) would be far off
    wrong = bl.ntk_linearized_predictions(K, f0, Y, lr * steps * n)
    assert np.linalg.norm(f_k - wrong) > 5 * bound
    # t → ∞ from f0 = 0: kernel regression (the min-RKHS-norm interpolant)
    Kinf, Ktinf = bl.ntk_relu(X), bl.ntk_relu(Xt, X)
    _, far = bl.ntk_linearized_predictions(Kinf, np.zeros(n), Y, 1e6, Ktinf)
    assert _rel(far, bl.kernel_regression(Kinf, Y, Ktinf)) < 1e-8
    assert _rel(bl.kernel_regression(Kinf, Y), Y) < 1e-10
    # several times at once
    many = bl.ntk_linearized_predictions(K, f0, Y, np.array([0.0, 1.0]))
    assert np.allclose(many[0], f0)


def test_wide_network_follows_the_infinite_width_prediction():
    """Real GD on the ReLU network vs the analytic-NTK linearized prediction: the gap shrinks
    with width (≈ 1/√m: a 64× wider net is ≥ 4× closer)."""
    d, n = 5, 8
    rng = np.random.default_rng(1)
    X, Xt, Y = rng.normal(size=(n, d)), rng.normal(size=(4, d)), rng.normal(size=n)
    K, Kt = bl.ntk_relu(X), bl.ntk_relu(Xt, X)
    lr, steps = 0.5, 400
    gaps = []
    for m in (2**8, 2**14):
        err = []
        for s in range(3):
            p0 = bl.init_relu_network(jax.random.key(s), d, m)
            f0, f0t = np.asarray(bl.relu_network(p0, X)), np.asarray(bl.relu_network(p0, Xt))
            p = _train_gd(bl.relu_network, p0, X, Y, lr, steps)
            _, pred_t = bl.ntk_linearized_predictions(K, f0, Y, lr * steps, Kt, f0t)
            err.append(_rel(np.asarray(bl.relu_network(p, Xt)), pred_t))
        gaps.append(np.mean(err))
    assert gaps[1] < gaps[0] / 4 and gaps[1] < 0.03, gaps
