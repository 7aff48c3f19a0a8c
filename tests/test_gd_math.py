"""Mathematical claims about gradient descent that the engine must reproduce (float64).

Each test derives its tolerance from the mathematics (see the comment in each test) and
carries a cheap negative control: a deliberately wrong formula, projector or step size that
the same assertion machinery rejects, so that a passing test is evidence and not luck.

Loss convention of the engine: L(W) = (1/m) Σ_i ½ (𝒜(W)_i − y_i)², so for least squares
∇L(x) = Xᵀ(Xx − y)/n and the Hessian is XᵀX/n.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import implicit_bias as ib
from implicit_bias.core.problems import make_problem
from implicit_bias.settings import section_settings
from implicit_bias.execution.single import Experiment, as_config


def _loglog_slope(xs, ys) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


# --------------------------------------------------------------------------- (a) least squares

LS_PROBLEM = {"kind": "least_squares", "n_samples": 20, "n_features": 50, "design": "gaussian",
              "target": "dense", "noise": 0.0}


def _ls_config(init_scale: float, lr: float, steps: int) -> dict:
    return {"name": "gd-least-squares", "seed": 3, "problem": dict(LS_PROBLEM),
            "model": {"kind": "linear", "init_scale": init_scale},
            "trainer": {"kind": "gd", "lr": lr, "steps": steps, "log_every": 500, "stop_loss": 0.0}}


def _ls_data(result) -> tuple[np.ndarray, np.ndarray]:
    """X and y as written to problem.npz, checked against a regeneration from the config."""
    with np.load(result.path / "problem.npz", allow_pickle=False) as data:
        X, y = data["X"], data["y"]
    again = make_problem(section_settings("problem", result.config["problem"]), result.config["seed"],
                         result.config["dtype"])
    np.testing.assert_array_equal(np.asarray(again.X), X)
    np.testing.assert_array_equal(np.asarray(again.targets), y)
    return X, y


def _row_and_null_space(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Σ₁, V₁ (row space) and V₂ (null space) from the full SVD X = U [Σ₁ 0] [V₁ V₂]ᵀ."""
    _, s, Vt = np.linalg.svd(X, full_matrices=True)
    r = int(np.sum(s > s[0] * 1e-12))
    assert r == X.shape[0], "a Gaussian 20x50 design has full row rank"
    return s, Vt[:r].T, Vt[r:].T


def test_gd_from_x0_converges_to_min_norm_plus_null_space_part_of_x0(tmp_path):
    # Seed 002 (Gunasekar et al. 2017): x_k = (I − ηH)^k x₀ + …, H = XᵀX/n, so
    # x_∞ = V₂V₂ᵀx₀ + x_LN with x_LN = pinv(X) y: GD never moves the null-space part of x₀.
    lr, steps = 0.1, 2000
    result = ib.run(_ls_config(init_scale=1.0, lr=lr, steps=steps), out=tmp_path)
    assert result.status == "max_steps"
    X, y = _ls_data(result)
    n = X.shape[0]
    x0, x_gd = result.end_to_end_init, result.end_to_end
    s, V1, V2 = _row_and_null_space(X)
    x_ln = np.linalg.pinv(X) @ y
    np.testing.assert_allclose(x_ln, X.T @ np.linalg.solve(X @ X.T, y), atol=1e-12)
    expected = x_ln + V2 @ (V2.T @ x0)

    # Tolerance. In the row space the error contracts by ρ = max_i |1 − η σ_i²/n| per step, so
    # after k steps it is ≤ ρ^k ‖x₀ − x_∞‖; we check that this bound is < 1e-12 for the chosen
    # η and k (and that η < 2/λ_max, the stability condition). The null-space part is invariant
    # in exact arithmetic; rounding adds ≈ k · ε · ‖x‖ ≈ 2000 · 2.2e-16 · 10 ≈ 4e-12. Both are
    # far below the 1e-8 asserted.
    lam = s**2 / n
    rho = max(abs(1 - lr * lam.max()), abs(1 - lr * lam.min()))
    assert lr < 2 / lam.max()
    assert rho**steps * np.linalg.norm(x0 - expected) < 1e-12
    print(f"least squares: ‖x_GD − (x_LN + V₂V₂ᵀx₀)‖ = {np.linalg.norm(x_gd - expected):.2e}, "
          f"‖x_GD − x_LN‖ = {np.linalg.norm(x_gd - x_ln):.3f}")
    assert np.linalg.norm(x_gd - expected) <= 1e-8
    # the trajectory ends interpolating, and the invariant V₂ᵀx is exactly V₂ᵀx₀ up to rounding
    assert result.trajectory["loss"].iloc[-1] < 1e-25
    np.testing.assert_allclose(V2.T @ x_gd, V2.T @ x0, atol=1e-10)

    # Negative controls: the min-norm interpolator alone, the wrong projector (row space V₁V₁ᵀ)
    # and no projection at all are all O(1) away from the GD solution.
    assert np.linalg.norm(x_gd - x_ln) > 1.0
    assert np.linalg.norm(x_gd - (x_ln + V1 @ (V1.T @ x0))) > 1.0
    assert np.linalg.norm(x_gd - (x_ln + x0)) > 1.0


def test_gd_from_zero_gives_the_minimum_norm_interpolator(tmp_path):
    lr, steps = 0.1, 2000
    result = ib.run(_ls_config(init_scale=0.0, lr=lr, steps=steps), out=tmp_path)
    X, y = _ls_data(result)
    assert np.all(result.end_to_end_init == 0.0)
    x_ln = np.linalg.pinv(X) @ y
    x_lstsq = np.linalg.lstsq(X, y, rcond=None)[0]  # LAPACK's minimum-norm least-squares solution
    # Same tolerance argument as above with x₀ = 0: the null-space part stays exactly 0.
    print(f"least squares from 0: ‖x_GD − x_LN‖ = {np.linalg.norm(result.end_to_end - x_ln):.2e}")
    assert np.linalg.norm(result.end_to_end - x_ln) <= 1e-8
    assert np.linalg.norm(result.end_to_end - x_lstsq) <= 1e-8
    # Any other interpolator x_ln + z (z ∈ null(X)) has a larger norm (negative control).
    _, _, V2 = _row_and_null_space(X)
    z = V2 @ np.random.default_rng(0).normal(size=V2.shape[1])
    assert np.linalg.norm(X @ (x_ln + z) - y) < 1e-10
    assert np.linalg.norm(x_ln + z) > np.linalg.norm(result.end_to_end) + 1.0


def test_gd_step_size_condition_is_sharp():
    # Negative control of the step size: for η > 2/λ_max the top eigen-direction of H is
    # amplified by |1 − ηλ_max| > 1 per step and GD diverges; just below 2/λ_max it converges.
    problem = make_problem(section_settings("problem", as_config(_ls_config(1.0, 0.1, 1))["problem"]), 3)
    X = np.asarray(problem.X)
    lam_max = np.linalg.eigvalsh(X.T @ X / X.shape[0]).max()
    stable = ib.run(_ls_config(init_scale=1.0, lr=1.9 / lam_max, steps=4000))
    unstable = ib.run(_ls_config(init_scale=1.0, lr=2.2 / lam_max, steps=4000))
    assert stable.summary["final"]["loss"] < 1e-20
    assert unstable.status == "diverged"


# --------------------------------------------------------------------------- (b) Arora et al. ODE

SENSING = {"kind": "matrix_sensing", "n_rows": 8, "n_cols": 8, "rank": 2, "n_measurements": 40,
           "measurements": "gaussian", "target_norm": 3.0}


def _deep_config(depth: int, init: str, lr: float = 0.01, steps: int = 1, log_every: int | None = None,
                 init_scale: float = 0.3) -> dict:
    return {"name": "deep", "seed": 0, "problem": dict(SENSING),
            "model": {"kind": "deep_matrix", "depth": depth, "init": init, "init_scale": init_scale},
            "trainer": {"kind": "gd", "lr": lr, "steps": steps, "log_every": log_every or steps}}


@eqx.filter_jit
def _gd_step(objective, params, lr):
    """θ ← θ − η∇C(θ), written out independently of the engine's optax loop."""
    g = jax.grad(objective)(params)
    return {name: params[name] - lr * g[name] for name in params}


def _gd_steps(objective, params, lr: float, k: int):
    for _ in range(k):
        params = _gd_step(objective, params, jnp.asarray(lr))
    return params


def test_balanced_deep_matrix_singular_values_follow_arora_ode_to_first_order_in_lr():
    # Arora, Cohen, Hu & Luo (2019), seed 003: under gradient flow from a balanced init, the
    # singular values of W = W₃W₂W₁ obey dσ_r/dt = −N (σ_r²)^{1−1/N} ⟨∇L(W), u_r v_rᵀ⟩.
    # GD with step η is a first-order (Euler) discretization of that flow, so after k steps
    # (σ(kη) − σ(0))/(kη) = RHS(0) + O(kη): the discrepancy must scale like η¹.
    N = 3
    exp = Experiment.build(as_config(_deep_config(N, "balanced")))
    objective, params0, model = exp.objective, exp.params0, exp.objective.model
    W0 = np.asarray(model.end_to_end(params0))
    U, s, Vt = np.linalg.svd(W0)
    assert s.min() > 1e-3 and np.min(-np.diff(s)) > 1e-3, "distinct, non-zero singular values"
    grad_L = np.asarray(jax.grad(objective.problem.loss)(jnp.asarray(W0)))
    projection = np.einsum("ir,ij,rj->r", U, grad_L, Vt)  # ⟨∇L, u_r v_rᵀ⟩
    rhs = -N * (s**2) ** (1 - 1 / N) * projection
    rhs_depth1 = -projection  # the law of an unfactorized W: a wrong formula for depth 3

    # The engine's own GD step is the update used below (one step through run()).
    one = ib.run(_deep_config(N, "balanced", lr=1e-3, steps=1))
    manual = _gd_steps(objective, params0, 1e-3, 1)
    for name in manual:
        np.testing.assert_allclose(one.params[name], np.asarray(manual[name]), rtol=0, atol=1e-14)

    lrs = 2e-3 * 0.5 ** np.arange(4)
    for k in (1, 3):
        gaps, wrong_gaps = [], []
        for lr in lrs:
            s_after = np.linalg.svd(np.asarray(model.end_to_end(_gd_steps(objective, params0, lr, k))),
                                    compute_uv=False)
            rate = (s_after - s) / (k * lr)
            gaps.append(np.max(np.abs(rate - rhs)))
            wrong_gaps.append(np.max(np.abs(rate - rhs_depth1)))
        slope = _loglog_slope(lrs, gaps)
        print(f"Arora ODE, k={k}: max|Δσ/(kη) − RHS| = {np.round(gaps, 5)}, log-log slope {slope:.3f}")
        # Tolerance: a first-order method's local error is O(η); the slope of log error vs
        # log η must be 1 (we accept [0.8, 1.2]). Rounding (ε‖W‖/η ≈ 1e-13) is negligible.
        assert 0.8 <= slope <= 1.2
        assert gaps[-1] < 0.02 * np.max(np.abs(rhs))  # and a good approximation at the smallest η
        # Negative control: the depth-1 law does not become exact as η → 0.
        assert abs(_loglog_slope(lrs, wrong_gaps)) < 0.1
        assert min(wrong_gaps) > 0.1 * np.max(np.abs(rhs))


# --------------------------------------------------------------------------- (c) balancedness

def _balancedness_matrices(params: dict, depth: int) -> list[np.ndarray]:
    Ws = [np.asarray(params[f"W{j}"]) for j in range(1, depth + 1)]
    return [b.T @ b - a @ a.T for a, b in zip(Ws, Ws[1:])]


def _wrong_balancedness_matrices(params: dict, depth: int) -> list[np.ndarray]:
    Ws = [np.asarray(params[f"W{j}"]) for j in range(1, depth + 1)]
    return [b @ b.T - a.T @ a for a, b in zip(Ws, Ws[1:])]


@pytest.mark.parametrize("init", ["gaussian", "balanced"])
def test_balancedness_drift_is_first_order_in_lr(init):
    # Arora, Cohen & Hazan (2018): d/dt (W_{j+1}ᵀW_{j+1} − W_jW_jᵀ) = 0 under gradient flow.
    # One GD step changes it by η²(G_{j+1}ᵀG_{j+1} − G_jG_jᵀ) (the O(η) terms cancel exactly,
    # G_j = ∂L/∂W_j), so over a fixed flow time T = η·steps the drift is η·∫(…)dt + O(η²):
    # halving η halves the drift (log-log slope 1, accepted in [0.8, 1.2]).
    N, T = 3, 2.0
    lrs = np.array([0.02, 0.01, 0.005])
    drifts, wrong_drifts, metric_drifts = [], [], []
    for lr in lrs:
        cfg = _deep_config(N, init, lr=float(lr), steps=int(round(T / lr)))
        result = ib.run(cfg)
        assert result.trajectory["t"].iloc[-1] == pytest.approx(T)
        assert result.trajectory["loss"].iloc[-1] < 0.1 * result.trajectory["loss"].iloc[0]  # it moved
        params0 = Experiment.build(as_config(cfg)).params0
        drifts.append(max(np.linalg.norm(a - b) for a, b in
                          zip(_balancedness_matrices(result.params, N), _balancedness_matrices(params0, N))))
        wrong_drifts.append(max(np.linalg.norm(a - b) for a, b in zip(
            _wrong_balancedness_matrices(result.params, N), _wrong_balancedness_matrices(params0, N))))
        metric_drifts.append(result.trajectory["balancedness"].iloc[-1])
        if init == "balanced":
            assert result.trajectory["balancedness"].iloc[0] < 1e-12
    slope = _loglog_slope(lrs, drifts)
    print(f"balancedness drift ({init}): {np.round(drifts, 5)}, slope {slope:.3f}, "
          f"transposed quantity: {np.round(wrong_drifts, 3)}")
    assert 0.8 <= slope <= 1.2
    ratios = np.array(drifts[:-1]) / np.array(drifts[1:])
    assert np.all((ratios > 1.7) & (ratios < 2.3))
    if init == "balanced":
        # starting from 0, the logged metric max_j ‖D_j‖_F is the drift itself
        np.testing.assert_allclose(metric_drifts, drifts, rtol=1e-9)
    # Negative control: the transposed (non-conserved) quantity drifts O(1), independent of η.
    assert abs(_loglog_slope(lrs, wrong_drifts)) < 0.1
    assert min(wrong_drifts) > 10 * max(drifts)


# --------------------------------------------------------------------------- (d) depth helps completion

def test_depth_two_and_three_beat_depth_one_on_matrix_completion():
    # 30x30 rank 2 (‖W*‖_F = 30) from 250 of 900 entries. From a small init, depth 1 never moves
    # an unobserved entry (∇L is supported on the observed ones), so it ends ≈ the minimum
    # Frobenius norm completion (zero fill): test error ≈ √(unobserved share) ≈ 0.85.
    # Depth 2 and 3 bias GD towards low rank (Arora et al. 2019) and recover W* far better.
    problem = {"kind": "matrix_completion", "n_rows": 30, "n_cols": 30, "rank": 2, "n_obs": 250,
               "target_norm": 30.0}
    settings = {1: (50.0, 3000), 2: (4.0, 10000), 3: (2.0, 10000)}
    results = {}
    for depth, (lr, steps) in settings.items():
        cfg = {"name": f"depth{depth}", "seed": 0, "problem": dict(problem),
               "model": {"kind": "deep_matrix", "depth": depth, "init": "gaussian", "init_scale": 1e-3},
               "trainer": {"kind": "gd", "lr": lr, "steps": steps, "log_every": 1000, "stop_loss": 1e-10}}
        results[depth] = ib.run(cfg)
    errors = {d: r.summary["final"]["test_error"] for d, r in results.items()}
    print("matrix completion test error by depth:", {d: round(e, 4) for d, e in errors.items()})
    for r in results.values():
        assert r.summary["final"]["loss"] < 1e-6  # every depth fits the observed entries
    # depth 1: unobserved entries are exactly their initial values
    exp = Experiment.build(as_config(results[1].config))
    mask = np.zeros((30, 30), bool)
    mask[np.asarray(exp.objective.problem.rows), np.asarray(exp.objective.problem.cols)] = True
    np.testing.assert_array_equal(results[1].end_to_end[~mask], results[1].end_to_end_init[~mask])
    assert errors[1] > 0.7
    assert errors[2] < 0.5 * errors[1]
    assert errors[3] < 0.5 * errors[1]
    assert results[3].summary["final"]["effective_rank"] < 2.5
