"""Closed forms of implicit_bias.theory against independent computations: the engine's own
gradients, gradient descent / flow runs, numerical ODE solves and Monte Carlo."""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import itertools  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402
from scipy.linalg import expm  # noqa: E402

import implicit_bias as ib  # noqa: E402
from implicit_bias.baselines import estimators as bl  # noqa: E402
from implicit_bias.core import theory as th  # noqa: E402
from implicit_bias.settings import resolve, section_settings  # noqa: E402
from implicit_bias.core.models import make_model  # noqa: E402
from implicit_bias.core.problems import make_problem  # noqa: E402


def _problem(seed=0, **problem):
    return make_problem(section_settings("problem", resolve({"problem": problem, "model": {"kind": "linear"}})["problem"]),
                        seed)


def _rel(a, b):
    return float(np.linalg.norm(np.ravel(a) - np.ravel(b)) / np.linalg.norm(np.ravel(b)))


# --------------------------------------------------------------------------- Arora et al.

@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_arora_dynamics_match_the_factorized_gradient(depth):
    """For balanced factors, pushing the parameter gradient flow −∇_θ L(W(θ)) through W(θ)
    gives exactly Arora et al.'s end-to-end rhs, and u_rᵀẆv_r their singular-value rhs."""
    P = _problem(0, kind="matrix_sensing", n_rows=6, n_cols=5, rank=2, n_measurements=20)
    model_settings = section_settings("model", resolve(
        {"problem": {"kind": "matrix_sensing", "n_rows": 6, "n_cols": 5, "rank": 2, "n_measurements": 20},
         "model": {"kind": "deep_matrix", "depth": depth, "width": 7, "init": "balanced", "init_scale": 1.0}})["model"])
    model = make_model(model_settings, P.shape)
    params = model.init(jax.random.key(1), model_settings, jnp.float64)
    W = model.end_to_end(params)
    grads = jax.grad(lambda p: P.loss(model.end_to_end(p)))(params)
    velocity = jax.tree_util.tree_map(jnp.negative, grads)
    W_dot = np.asarray(jax.jvp(model.end_to_end, (params,), (velocity,))[1])
    grad_W = np.asarray(jax.grad(P.loss)(W))
    assert _rel(th.arora_end_to_end_rhs(np.asarray(W), grad_W, depth), W_dot) < 1e-10
    U, s, Vt = np.linalg.svd(np.asarray(W), full_matrices=False)
    sigma_dot = np.einsum("ir,ij,rj->r", U, W_dot, Vt)
    assert np.min(np.diff(-s)) > 1e-3  # distinct singular values
    assert _rel(th.arora_singular_value_rhs(np.asarray(W), grad_W, depth), sigma_dot) < 1e-9
    if depth > 1:  # depth really changes the rhs (the factor N σ^{2−2/N})
        assert _rel(th.arora_singular_value_rhs(np.asarray(W), grad_W, 1), sigma_dot) > 1e-2


def test_arora_vector_case_shapes():
    w = np.array([3.0, -4.0])
    g = np.array([1.0, 0.5])
    out = th.arora_end_to_end_rhs(w, g, 2)
    assert out.shape == (2,)
    # depth 2, rank one: −(‖w‖ g + g ww ᵀ/‖w‖)
    assert np.allclose(out, -(5.0 * g + (g @ w) * w / 5.0))
    assert np.allclose(th.arora_singular_value_rhs(w, g, 2), -2 * 5.0 * (g @ w / 5.0))


# --------------------------------------------------------------------------- Saxe et al.

def test_saxe_modes_against_the_network_ode():
    """Integrate the two-layer network ODE Ẇ1 = W2ᵀ(S − W2W1), Ẇ2 = (S − W2W1)W1ᵀ (gradient
    flow of ½‖W2W1 − S‖²) from a balanced, mode-aligned init; each mode uᵀWv follows Saxe's
    a(t) = s e^{2st}/(e^{2st} − 1 + s/a0)."""
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.normal(size=(4, 3)))
    V, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    R, _ = np.linalg.qr(rng.normal(size=(5, 3)))
    s = np.array([3.0, 1.5, 0.5])
    a0 = np.array([1e-3, 1e-2, 2e-3])
    S = U @ np.diag(s) @ V.T
    W1 = R @ np.diag(np.sqrt(a0)) @ V.T   # 5 × 3
    W2 = U @ np.diag(np.sqrt(a0)) @ R.T   # 4 × 5

    def rhs(t, z):
        A, B = z[:15].reshape(5, 3), z[15:].reshape(4, 5)
        E = S - B @ A
        return np.concatenate([(B.T @ E).ravel(), (E @ A.T).ravel()])

    times = np.array([0.5, 1.0, 2.0, 3.0, 5.0, 10.0])
    sol = solve_ivp(rhs, (0, times[-1]), np.concatenate([W1.ravel(), W2.ravel()]), t_eval=times,
                    rtol=1e-12, atol=1e-14, method="DOP853")
    for k, t in enumerate(times):
        A, B = sol.y[:15, k].reshape(5, 3), sol.y[15:, k].reshape(4, 5)
        modes = U.T @ (B @ A) @ V
        predicted = th.saxe_mode(t, s, a0)
        assert np.allclose(np.diag(modes), predicted, rtol=1e-7, atol=1e-12)
        assert np.max(np.abs(modes - np.diag(np.diag(modes)))) < 1e-8  # modes stay decoupled
    # learning times: the mode with the largest s is learned first (t ≈ ln(s/a0)/2s)
    t_half = th.saxe_time(s, a0, s / 2)
    assert np.allclose(th.saxe_mode(t_half, s, a0), s / 2)
    assert np.argmin(t_half) == 0
    # mirror symmetry and the s = 0 limit
    assert np.isclose(th.saxe_mode(1.0, -2.0, -0.1), -th.saxe_mode(1.0, 2.0, 0.1))
    assert np.isclose(th.saxe_mode(2.0, 0.0, 0.5), 0.5 / (1 + 2 * 0.5 * 2.0))
    with pytest.raises(ValueError):
        th.saxe_mode(1.0, 1.0, -0.1)


def test_saxe_mode_in_the_engine_normalization():
    """Least squares with XᵀX = n (orthogonal design, d = 1) has L = ½(β − β*)² + const, so a
    balanced depth-2 chain W2W1 run by the engine's gradient flow follows saxe_mode(t, β*, β0)
    in the engine's time t."""
    for seed in range(20):
        cfg = {"seed": seed, "problem": {"kind": "least_squares", "n_samples": 4, "n_features": 1,
                                         "design": "orthogonal"},
               "model": {"kind": "deep_matrix", "depth": 2, "width": 1, "init": "balanced", "init_scale": 0.05},
               "trainer": {"kind": "flow", "t_max": 8.0, "log_dt": 0.5, "rtol": 1e-10, "atol": 1e-12}}
        result = ib.run(cfg)
        target = float(np.asarray(_problem(seed, **cfg["problem"]).ground_truth)[0])
        a0 = float(result.end_to_end_init[0])
        if a0 * target > 0 and abs(target) > 0.5:
            break
    else:  # pragma: no cover
        pytest.fail("no seed with a mode-aligned init")
    frame = result.trajectory
    predicted = np.abs(th.saxe_mode(frame["t"].to_numpy(), target, a0))
    assert np.allclose(frame["end_to_end_norm"].to_numpy(), predicted, rtol=1e-6)
    assert abs(result.end_to_end[0] - target) < 1e-2 * abs(target)  # learned by t = 8


# --------------------------------------------------------------------------- early stopping vs ridge

def test_gd_iterates_and_filters_vs_ridge():
    """GD from 0 on least squares is the spectral filter 1 − (1 − lr h)^k of the OLS solution;
    ridge with λ = 1/(lr·k) is h/(h + λ); they agree at both ends and differ by < 0.204
    (flow) in between, with ridge ≤ flow ≤ GD (seed 002)."""
    problem = {"kind": "least_squares", "n_samples": 50, "n_features": 20, "noise": 0.5}
    P = _problem(0, **problem)
    X, y = np.asarray(P.X), np.asarray(P.targets)
    n = X.shape[0]
    lr = 0.05
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    h = s**2 / n
    ols = bl.min_norm(X, y)
    assert lr * h.max() < 1
    for k in (10, 100, 1000):
        result = ib.run({"problem": problem, "model": {"kind": "linear"},
                         "trainer": {"kind": "gd", "lr": lr, "steps": k, "log_every": 10}})
        beta_k = result.end_to_end
        assert _rel(beta_k, th.gd_iterate(X, y, lr, k)) < 1e-10
        filt = (Vt @ beta_k) / (Vt @ ols)
        assert np.allclose(filt, th.gd_filter(h, lr, k), rtol=1e-8, atol=1e-12)
        lam = th.early_stopping_lambda(lr, k)
        ridge_coef = (Vt @ bl.ridge(X, y, lam)) / (Vt @ ols)
        assert np.allclose(ridge_coef, th.ridge_filter(h, lam), rtol=1e-10)
        gd, flow, rdg = th.gd_filter(h, lr, k), th.flow_filter(h, lr * k), th.ridge_filter(h, lam)
        assert np.all(rdg <= flow + 1e-15) and np.all(flow <= gd + 1e-15)
        assert np.max(flow - rdg) < 0.2037
        assert np.max(gd - flow) <= k * (lr * h.max()) ** 2  # (1−x)^k vs e^{−xk}
        # λ in the wrong normalization (‖Y − Xβ‖² + λ‖β‖², i.e. λ' = 1/(lr k) without 1/n) is far off
        assert np.max(np.abs(th.ridge_filter(h, lam * n) - gd)) > 0.3
    table = th.spectral_filters(X, lr, [10, 100])
    assert table["gd"].shape == (2, 20) and np.allclose(table["lambda"], [2.0, 0.2])
    # with a start x0 (random init), closed form vs the engine
    result = ib.run({"problem": problem, "model": {"kind": "linear", "init_scale": 1.0},
                     "trainer": {"kind": "gd", "lr": lr, "steps": 100, "log_every": 10}})
    assert _rel(result.end_to_end, th.gd_iterate(X, y, lr, 100, x0=result.end_to_end_init)) < 1e-10


# --------------------------------------------------------------------------- dropout

def test_dropout_closed_form():
    """(pXᵀX + (1−p)Diag(XᵀX))⁻¹XᵀY (seed 004) is where the expected gradient of the engine's
    dropout step (unscaled Bernoulli(p) input mask) vanishes: Monte Carlo over 20,000 masks,
    the engine's dropout GD, and the analytic expected loss all agree."""
    problem = {"kind": "least_squares", "n_samples": 50, "n_features": 5}
    P = _problem(0, **problem)
    X, y = np.asarray(P.X), np.asarray(P.targets)
    n, d = X.shape
    p = 0.6
    beta = th.dropout_solution(X, y, p)
    ols = bl.min_norm(X, y)
    assert _rel(beta, ols) > 0.1

    rng = np.random.default_rng(0)
    masks = rng.random((20_000, n, d)) < p

    def mc_gradient(b):
        Xm = masks * X  # (N, n, d)
        r = Xm @ b - y  # (N, n)
        g = np.einsum("knd,kn->kd", Xm, r) / n  # gradient of mean ½ r² for each mask
        return g.mean(0), g.std(0) / np.sqrt(len(masks))

    g, se = mc_gradient(beta)
    assert np.all(np.abs(g) < 5 * se)
    g_ols, se_ols = mc_gradient(ols)
    assert np.max(np.abs(g_ols) / se_ols) > 20
    # expected loss: MC mean of the step loss and its analytic form; stationary point
    values = 0.5 * np.mean(((masks * X) @ beta - y) ** 2, axis=1)
    assert abs(values.mean() - th.dropout_expected_loss(beta, X, y, p)) < 5 * values.std() / np.sqrt(len(values))
    eps = 1e-6
    for j in range(d):
        e = np.zeros(d)
        e[j] = eps
        slope = (th.dropout_expected_loss(beta + e, X, y, p) - th.dropout_expected_loss(beta - e, X, y, p)) / (2 * eps)
        assert abs(slope) < 1e-8
    # the engine's dropout GD hovers around it (stationary spread ∝ √lr: ~1% here)
    result = ib.run({"problem": problem, "model": {"kind": "linear"},
                     "trainer": {"kind": "gd", "dropout": p, "lr": 0.01, "steps": 20_000, "log_every": 5000}})
    assert _rel(result.end_to_end, beta) < 0.05


# --------------------------------------------------------------------------- SAM on diagonal networks

def _sam_grad(w1, w2, w_star, eta):
    r = w_star - w1 * w2
    return -r * w2 + eta**2 * w1, -r * w1 + eta**2 * w2


def test_sam_critical_points_and_expected_loss():
    w_star = np.array([1.3, -0.8, 0.1, 0.5, -0.05])
    eta = 0.5
    count = 0
    best = None
    for w1, w2 in th.sam_all_critical_points(w_star, eta):
        g1, g2 = _sam_grad(w1, w2, w_star, eta)
        assert np.max(np.abs(g1)) < 1e-14 and np.max(np.abs(g2)) < 1e-14
        assert np.all(np.sign(w1 * w2) * np.sign(w_star) >= 0)
        value = th.sam_expected_loss(w1, w2, w_star, eta)
        best = value if best is None else min(best, value)
        count += 1
    assert count == 2**3  # three coordinates with |w*_i| > η² = 0.25
    w1, w2 = th.sam_critical_points(w_star, eta)  # S = all: the global minimizer
    assert np.isclose(th.sam_expected_loss(w1, w2, w_star, eta), best)
    assert np.allclose(w1 * w2, np.sign(w_star) * np.maximum(np.abs(w_star) - eta**2, 0))  # soft threshold
    # a non-critical point has a non-zero gradient
    assert np.max(np.abs(_sam_grad(w1 + 0.1, w2, w_star, eta)[0])) > 1e-2
    # Monte Carlo: E_ξ ½‖w* − (w2 + ξ2)(w1 + ξ1)‖², ξ ~ N(0, η²I)
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=5), rng.normal(size=5)
    xi1, xi2 = eta * rng.normal(size=(2, 200_000, 5))
    samples = 0.5 * np.sum((w_star - (v + xi2) * (u + xi1)) ** 2, axis=1)
    exact = th.sam_expected_loss(u, v, w_star, eta, include_constant=True)
    assert abs(samples.mean() - exact) < 5 * samples.std() / np.sqrt(len(samples))


def test_sam_balance_along_the_flow():
    """w1² − w2² decays as e^{−2η²t} along the gradient flow of the penalized loss (seed 004)."""
    w_star = np.array([1.0, -0.7, 0.2])
    eta = 0.6
    u0, v0 = np.array([0.3, 1.2, -0.4]), np.array([0.9, 0.1, 0.5])

    def rhs(t, z):
        g1, g2 = _sam_grad(z[:3], z[3:], w_star, eta)
        return -np.concatenate([g1, g2])

    times = np.array([0.5, 1.0, 3.0])
    sol = solve_ivp(rhs, (0, 3.0), np.concatenate([u0, v0]), t_eval=times, rtol=1e-12, atol=1e-14)
    for k, t in enumerate(times):
        u, v = sol.y[:3, k], sol.y[3:, k]
        assert np.allclose(u**2 - v**2, th.sam_balance(t, u0, v0, eta), rtol=1e-8, atol=1e-12)


def test_sam_penalty_limit_in_the_engine():
    """The deterministic equivalent of stochastic SAM (l2 on the parameters with weight η²) on
    β = u ⊙ v from u = v = α > 0 converges to the critical point with S = {i : w*_i > η²}
    (u = v keeps β ≥ 0, so negative targets go to 0)."""
    eta = 0.5
    problem = {"kind": "least_squares", "n_samples": 8, "n_features": 8, "design": "orthogonal"}
    result = ib.run({"problem": problem, "model": {"kind": "diagonal", "form": "product", "alpha": 0.5},
                     "penalty": {"kind": "l2", "on": "params", "weight": eta**2},
                     "trainer": {"kind": "gd", "lr": 0.05, "steps": 4000, "log_every": 1000}})
    w_star = np.asarray(_problem(0, **problem).ground_truth)
    S = np.flatnonzero(w_star > eta**2)
    assert 0 < len(S) < 8
    w1, w2 = th.sam_critical_points(w_star, eta, support=S)
    assert np.max(np.abs(result.params["u"] - w1)) < 1e-8
    assert np.max(np.abs(result.end_to_end - w1 * w2)) < 1e-8


@pytest.mark.slow
def test_stochastic_sam_in_the_engine():
    """Stochastic SAM (ε ~ N(0, η²I)) itself: the iterate fluctuates (∝ √lr) around the same point,
    far from the unregularized fit w*."""
    eta = 0.5
    problem = {"kind": "least_squares", "n_samples": 8, "n_features": 8, "design": "orthogonal"}
    result = ib.run({"problem": problem, "model": {"kind": "diagonal", "form": "product", "alpha": 0.5},
                     "trainer": {"kind": "sam", "variant": "stochastic", "rho": eta, "lr": 0.002,
                                 "steps": 100_000, "log_every": 10_000}})
    w_star = np.asarray(_problem(0, **problem).ground_truth)
    w1, w2 = th.sam_critical_points(w_star, eta, support=np.flatnonzero(w_star > eta**2))
    assert np.max(np.abs(result.end_to_end - w1 * w2)) < 0.15
    assert np.max(np.abs(np.maximum(w_star, 0) - w1 * w2)) > 0.2


# --------------------------------------------------------------------------- modified losses

def test_modified_loss_gd_is_the_engine_modified_flow():
    """−∇(C + (lr/4)‖∇C‖²) equals the engine's modified_flow vector field on a non-quadratic C."""
    from implicit_bias.execution.single import Experiment
    from implicit_bias.trainers.flow import flow_vector_field

    cfg = resolve({"problem": {"kind": "matrix_sensing", "n_rows": 4, "n_cols": 3, "rank": 1, "n_measurements": 6},
                   "model": {"kind": "deep_matrix", "depth": 3, "init_scale": 0.5}})
    experiment = Experiment.build(cfg)
    lr = 0.3
    modified = th.modified_loss_gd(experiment.objective, lr)
    ours = jax.grad(modified)(experiment.params0)
    field = flow_vector_field(experiment.objective, True, jnp.asarray(lr))(0.0, experiment.params0, None)
    for key in ours:
        assert np.allclose(np.asarray(ours[key]), -np.asarray(field[key]), rtol=1e-10, atol=1e-14)
    g = jax.grad(experiment.objective)(experiment.params0)
    penalty = sum(float(jnp.sum(v**2)) for v in g.values())
    assert np.isclose(float(modified(experiment.params0)),
                      float(experiment.objective(experiment.params0)) + lr / 4 * penalty)


def test_modified_gradients_from_gradient_functions():
    """The gradient-function forms (one Hessian-vector product) equal the gradients of the
    modified losses, here on a non-quadratic loss."""
    rng = np.random.default_rng(2)
    X, y = jnp.asarray(rng.normal(size=(6, 3))), jnp.asarray(rng.normal(size=6))

    def batch_loss(theta, k):
        rows = slice(2 * k, 2 * k + 2)
        return jnp.mean(jnp.log(jnp.cosh(X[rows] @ theta["w"] * theta["s"] - y[rows])))

    full = lambda theta: sum(batch_loss(theta, k) for k in range(3)) / 3  # noqa: E731
    theta = {"w": jnp.asarray(rng.normal(size=3)), "s": jnp.asarray(1.3)}
    lr = 0.2
    a = jax.grad(th.modified_loss_gd(full, lr))(theta)
    b = th.modified_gradient_gd(jax.grad(full), lr)(theta)
    c = jax.grad(th.modified_loss_rr(batch_loss, 3, lr))(theta)
    d = th.modified_gradient_rr(jax.grad(batch_loss), 3, lr)(theta)
    for key in theta:
        assert np.allclose(a[key], b[key], rtol=1e-12, atol=1e-14)
        assert np.allclose(c[key], d[key], rtol=1e-12, atol=1e-14)
        assert not np.allclose(a[key], c[key], rtol=1e-3)  # the RR correction differs from GD's


def _affine_flow(loss, theta0, T):
    """Exact gradient flow of a quadratic loss: θ̇ = −(Aθ − b), A and b read off with JAX."""
    A = np.asarray(jax.hessian(loss)(jnp.zeros_like(theta0)))
    b = -np.asarray(jax.grad(loss)(jnp.zeros_like(theta0)))
    star = np.linalg.solve(A, b)
    return star + expm(-A * T) @ (np.asarray(theta0) - star)


def test_modified_loss_gd_backward_error_order():
    """GD stays O(lr²) from the flow of C + (lr/4)‖∇C‖² and O(lr) from the flow of C (fixed time)."""
    rng = np.random.default_rng(0)
    M = rng.normal(size=(4, 4))
    H = M @ M.T / 4 + 0.5 * np.eye(4)
    b = rng.normal(size=4)
    loss = lambda th_: 0.5 * th_ @ (H @ th_) - b @ th_  # noqa: E731
    theta0 = jnp.asarray(rng.normal(size=4))
    T = 2.0
    lrs = np.array([0.04, 0.02, 0.01])
    err_mod, err_plain = [], []
    for lr in lrs:
        theta = np.asarray(theta0)
        for _ in range(int(round(T / lr))):
            theta = theta - lr * (H @ theta - b)
        err_mod.append(np.linalg.norm(theta - _affine_flow(th.modified_loss_gd(loss, lr), theta0, T)))
        err_plain.append(np.linalg.norm(theta - _affine_flow(loss, theta0, T)))
    slope_mod = np.polyfit(np.log(lrs), np.log(err_mod), 1)[0]
    slope_plain = np.polyfit(np.log(lrs), np.log(err_plain), 1)[0]
    assert 1.8 < slope_mod < 2.2 and 0.9 < slope_plain < 1.1, (slope_mod, slope_plain)
    assert err_mod[-1] < err_plain[-1] / 10


def test_modified_loss_random_reshuffling_order():
    """Random reshuffling (seed 002): averaged over the m! batch orders, one epoch lands
    O(m³ε³) from the flow of C + ε/(4m) Σ_k ‖∇Ĉ_k‖² at t = mε, and O(m²ε²) from the flow of C."""
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(6, 3)), rng.normal(size=6)
    batches = [np.array([0, 1]), np.array([2, 3]), np.array([4, 5])]
    m = len(batches)
    Xb = jnp.asarray(np.stack([X[i] for i in batches]))
    yb = jnp.asarray(np.stack([y[i] for i in batches]))

    def batch_loss(theta, k):
        return 0.5 * jnp.mean((Xb[k] @ theta - yb[k]) ** 2)

    full = lambda theta: sum(batch_loss(theta, k) for k in range(m)) / m  # noqa: E731
    assert np.isclose(float(full(jnp.ones(3))), 0.5 * np.mean((X @ np.ones(3) - y) ** 2))
    theta0 = jnp.asarray(rng.normal(size=3))
    grads = [jax.jit(jax.grad(lambda t, k=k: batch_loss(t, k))) for k in range(m)]
    epss = np.array([0.08, 0.04, 0.02])
    err_mod, err_plain = [], []
    for eps in epss:
        ends = []
        for order in itertools.permutations(range(m)):
            theta = theta0
            for k in order:
                theta = theta - eps * grads[k](theta)
            ends.append(np.asarray(theta))
        mean_end = np.mean(ends, axis=0)
        modified = th.modified_loss_rr(batch_loss, m, eps)
        err_mod.append(np.linalg.norm(mean_end - _affine_flow(modified, theta0, m * eps)))
        err_plain.append(np.linalg.norm(mean_end - _affine_flow(full, theta0, m * eps)))
    slope_mod = np.polyfit(np.log(epss), np.log(err_mod), 1)[0]
    slope_plain = np.polyfit(np.log(epss), np.log(err_plain), 1)[0]
    assert 2.7 < slope_mod < 3.3 and 1.8 < slope_plain < 2.2, (slope_mod, slope_plain)
