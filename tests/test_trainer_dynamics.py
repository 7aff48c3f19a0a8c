"""Mathematical claims about the trainers' dynamics (float64), each with tolerances from the math.

1. GD with step η follows the gradient flow to O(η) and the modified flow of Smith et al. (2021),
   C̃ = C + (η/4)‖∇C‖², to O(η²) over a fixed flow time (seed 002).
2. Random reshuffling: the mean over orders of one epoch of SGD matches the flow of the
   random-shuffling modified loss C + ε/(4m) Σ_k ‖∇Ĉ_k‖² to O(ε³), with-replacement SGD only to O(ε²)
   (seed 002); the engine's random_reshuffling takes each sample once per epoch; euler_same_batch
   (n Euler steps of ε/n per batch) follows the same modified flow with the bare step ε/n.
3. Balancedness W_{j+1}ᵀW_{j+1} − W_jW_jᵀ is conserved by gradient flow and drifts O(η) under GD.
4. Stochastic SAM on a diagonal network w2 ⊙ w1 with orthogonal design (seed 004): ℓ2-penalized
   critical points are soft-thresholded, stochastic SAM with ρ = η lands on them, and
   w1⊙w1 − w2⊙w2 decays like e^{−2η²t} under the penalized flow.
5. Dropout (unscaled keep-mask, keep probability p) on least squares: the stationary mean of GD is
   (p XᵀX + (1 − p) Diag(XᵀX))⁻¹ Xᵀy; input noise σ gives the ridge estimator with λ = σ².

Loss convention of the engine: C = (1/m) Σ_i ½ (prediction_i − target_i)².
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from scipy import stats

import implicit_bias as ib
from implicit_bias.keys import named_key
from implicit_bias.core.objective import Objective
from implicit_bias.execution.single import Experiment, as_config
from implicit_bias.settings.typed import section_settings
from implicit_bias.trainers import train
from implicit_bias.trainers.gradients import StepSpec, batch_indices


def _flat(params) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(params[k])) for k in sorted(params)])


def _slope(xs, ys) -> float:
    """Least-squares slope of log(ys) against log(xs)."""
    return float(np.polyfit(np.log(np.asarray(xs)), np.log(np.asarray(ys)), 1)[0])


def _experiment(cfg: dict) -> tuple[dict, Experiment]:
    resolved = as_config(cfg)
    return resolved, Experiment.build(resolved)


# =========================================================================== 1. GD vs (modified) flow

FLOW_BASE = {
    "name": "gd-vs-flow",
    "seed": 0,
    # 6x6 rank-2 Gaussian sensing, depth-2 factorization from a moderately large Gaussian init: the
    # loss drops from ~3 to ~0.07 over T = 1, so the dynamics are far from linear.
    "problem": {"kind": "matrix_sensing", "n_rows": 6, "n_cols": 6, "rank": 2, "n_measurements": 30},
    "model": {"kind": "deep_matrix", "depth": 2, "init_scale": 0.5},
}
FLOW_T = 1.0
FLOW_LRS = [0.04, 0.02, 0.01, 0.005]


@pytest.fixture(scope="module")
def gd_endpoints():
    """Final parameters of GD with lr ∈ FLOW_LRS run to the same flow time T = k·lr."""
    out = {}
    for lr in FLOW_LRS:
        steps = round(FLOW_T / lr)
        result = ib.run({**FLOW_BASE, "trainer": {"kind": "gd", "lr": lr, "steps": steps, "log_every": 25}})
        assert result.status == "max_steps"
        assert result.trajectory["t"].iloc[-1] == pytest.approx(FLOW_T, rel=1e-12)
        out[lr] = result
    return out


def _flow_endpoint(kind: str, lr: float | None = None):
    trainer = {"kind": kind, "t_max": FLOW_T, "log_dt": FLOW_T, "rtol": 1e-10, "atol": 1e-12}
    if lr is not None:
        trainer["lr"] = lr
    result = ib.run({**FLOW_BASE, "trainer": trainer})
    assert result.status == "max_steps"
    assert result.trajectory["t"].iloc[-1] == pytest.approx(FLOW_T, rel=1e-12)
    return result


@pytest.mark.slow
def test_gd_tracks_gradient_flow_to_first_order(gd_endpoints):
    # Euler's method has global error O(η) over a fixed time: ‖θ_GD(T/η) − θ(T)‖ = c·η + O(η²).
    # The solver error (rtol 1e-10) is ~1e-9, far below the smallest gap (~2e-3).
    flow = _flat(_flow_endpoint("flow").params)
    gaps = [np.linalg.norm(_flat(gd_endpoints[lr].params) - flow) for lr in FLOW_LRS]
    assert gaps[-1] > 1e-4, "the gap must be far above the ODE tolerance for the slope to mean anything"
    slope = _slope(FLOW_LRS, gaps)
    assert 0.9 <= slope <= 1.1, (slope, gaps)
    # The loss really moved (a nonlinear regime, not the lazy/linear one).
    traj = gd_endpoints[FLOW_LRS[-1]].trajectory
    assert traj["loss"].iloc[-1] < 0.1 * traj["loss"].iloc[0]


@pytest.mark.slow
def test_gd_tracks_modified_flow_to_second_order(gd_endpoints):
    # Smith et al. (2021): GD with step η solves θ' = −∇C̃, C̃ = C + (η/4)‖∇C‖², up to O(η²) globally.
    # The modified flow is re-solved with its own η = lr for every lr.
    gaps = []
    for lr in FLOW_LRS:
        modified = _flat(_flow_endpoint("modified_flow", lr).params)
        gaps.append(np.linalg.norm(_flat(gd_endpoints[lr].params) - modified))
    slope = _slope(FLOW_LRS, gaps)
    assert 1.85 <= slope <= 2.15, (slope, gaps)
    assert gaps[-1] > 1e-6  # well above the solver tolerance
    # Negative control: the modified flow solved with the wrong η (2·lr: a factor-2 error in the
    # correction term, like using η/2 instead of η/4) is only first-order accurate.
    wrong = [np.linalg.norm(_flat(gd_endpoints[lr].params) - _flat(_flow_endpoint("modified_flow", 2 * lr).params))
             for lr in FLOW_LRS[-2:]]
    assert np.log2(wrong[0] / wrong[1]) < 1.3, wrong
    assert wrong[-1] > 10 * gaps[-1]


# =========================================================================== 2. random reshuffling

RR_M = 4  # observations; batch_size = 1, so an epoch is m = 4 steps and the "batches" are the samples
RR_BASE = {
    "name": "rr",
    "seed": 0,
    # β = u² − v² (depth-2 diagonal "difference" net) on 4 Gaussian samples in 3 dimensions: a
    # nonlinear model whose per-sample Hessians differ, so batch order matters at O(ε²).
    "problem": {"kind": "least_squares", "n_samples": RR_M, "n_features": 3},
    "model": {"kind": "diagonal", "form": "difference", "alpha": 0.3},
}
RR_EPS = [0.02, 0.01, 0.005, 0.0025]


def _rr_config(sampling: str, lr: float, steps: int, seed: int = 0) -> dict:
    return {**RR_BASE, "seed": seed, "trainer": {"kind": "sgd", "batch_size": 1, "sampling": sampling, "lr": lr,
                                                 "steps": steps, "log_every": steps}}


class _PerSample:
    """The full objective C and the per-sample objectives Ĉ_k on a flat parameter vector."""

    def __init__(self, experiment: Experiment, rk4_steps: int = 100):
        self.objective = experiment.objective
        self.theta0, self.unravel = ravel_pytree(experiment.params0)
        self.m = self.objective.problem.n_observations
        self._epoch_mean = jax.jit(self._epoch_mean_impl)
        self._flow = jax.jit(self._flow_impl, static_argnums=(2, 3))
        self.rk4_steps = rk4_steps

    def C(self, theta):
        return self.objective(self.unravel(theta))

    def C_k(self, theta, k):
        problem = self.objective.problem.take(jnp.reshape(k, (1,)))
        return Objective(problem=problem, model=self.objective.model, penalty=self.objective.penalty)(
            self.unravel(theta))

    def grad_k(self, theta, k):
        return jax.grad(self.C_k)(theta, k)

    def _epoch_mean_impl(self, seqs, eps):
        def one(seq):
            return jax.lax.scan(lambda th, k: (th - eps * self.grad_k(th, k), None), self.theta0, seq)[0]
        return jnp.mean(jax.vmap(one)(seqs), axis=0)

    def epoch_mean(self, sequences: np.ndarray, eps: float) -> np.ndarray:
        """Exact mean over the given index sequences of θ ← θ − ε ∇Ĉ_{k_j}(θ), from θ0."""
        return np.asarray(self._epoch_mean(jnp.asarray(sequences), jnp.asarray(eps)))

    def _flow_impl(self, eps, lam, modified, n):
        m = self.m

        def C_tilde(theta):
            if not modified:
                return self.C(theta)
            norms = jax.vmap(lambda k: jnp.sum(self.grad_k(theta, k) ** 2))(jnp.arange(m))
            return self.C(theta) + lam / (4 * m) * jnp.sum(norms)

        field = jax.grad(lambda th: -C_tilde(th))
        h = m * eps / n

        def rk4(_, th):
            k1 = field(th)
            k2 = field(th + h / 2 * k1)
            k3 = field(th + h / 2 * k2)
            k4 = field(th + h * k3)
            return th + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

        return jax.lax.fori_loop(0, n, rk4, self.theta0)

    def flow(self, eps: float, modified: bool, lam: float | None = None) -> np.ndarray:
        """RK4 of θ' = −∇C̃ on [0, m·ε], C̃ = C + λ/(4m) Σ_k ‖∇Ĉ_k‖² with λ = ε by default (or C):
        local error O(h⁵) with h = mε/100 ≤ 8e-4, i.e. ~1e-15, far below the measured gaps."""
        lam = eps if lam is None else lam
        return np.asarray(self._flow(jnp.asarray(eps), jnp.asarray(lam), modified, self.rk4_steps))


@pytest.fixture(scope="module")
def rr_setup():
    cfg, experiment = _experiment(_rr_config("random_reshuffling", 0.01, RR_M))
    return cfg, experiment, _PerSample(experiment)


def test_random_reshuffling_takes_each_sample_once_per_epoch():
    # Seed 002's update rule needs every example exactly once per epoch.
    for m, batch_size in [(4, 1), (6, 2), (7, 2)]:
        cfg = as_config({**RR_BASE, "problem": {**RR_BASE["problem"], "n_samples": m},
                         "trainer": {"kind": "sgd", "batch_size": batch_size, "sampling": "random_reshuffling"}})
        spec = StepSpec.from_settings(section_settings("trainer", cfg["trainer"]))
        key = named_key(cfg["seed"], "sampling")
        per_epoch = m // batch_size
        epochs = []
        for epoch in range(6):
            idx = np.concatenate([np.asarray(batch_indices(spec, key, jnp.asarray(epoch * per_epoch + j), m))
                                  for j in range(per_epoch)])
            assert len(set(idx.tolist())) == per_epoch * batch_size, (m, batch_size, epoch, idx)
            if m % batch_size == 0:
                assert sorted(idx.tolist()) == list(range(m))
            epochs.append(tuple(idx.tolist()))
        assert len(set(epochs)) > 1, "a fresh permutation every epoch"


def test_engine_random_reshuffling_epoch_is_the_update_rule_on_its_permutation(rr_setup):
    # What the engine does in one epoch (m steps of batch size 1) must be exactly the update rule
    # θ ← θ − ε∇Ĉ_{π(j)}(θ) on the permutation π it drew; the test's exact order-average below is then
    # the expectation of the engine's iterate.
    cfg, _, _ = rr_setup
    spec = StepSpec.from_settings(section_settings("trainer", cfg["trainer"]))
    seen = set()
    for seed in range(4):  # the seed changes the data, the init and the sampling key
        config = _rr_config("random_reshuffling", 0.01, RR_M, seed=seed)
        result = ib.run(config)
        key = named_key(seed, "sampling")
        perm = [int(batch_indices(spec, key, jnp.asarray(j), RR_M)[0]) for j in range(RR_M)]
        assert sorted(perm) == list(range(RR_M))
        seen.add(tuple(perm))
        expected = _PerSample(_experiment(config)[1]).epoch_mean(np.asarray([perm]), 0.01)
        np.testing.assert_allclose(_flat(result.params), expected, rtol=0, atol=1e-14)
    assert len(seen) > 1


def test_modified_loss_metric_is_the_random_shuffling_modified_loss(rr_setup):
    # The logged `modified_loss` of sgd (batch size 1) at step 0 is C + ε/(4m) Σ_k ‖∇Ĉ_k‖².
    _, _, ps = rr_setup
    eps = 0.01
    result = ib.run(_rr_config("random_reshuffling", eps, RR_M))
    if "modified_loss" not in result.trajectory:
        pytest.skip("this engine version does not log modified_loss")
    theta = ps.theta0
    expected = float(ps.C(theta) + eps / (4 * RR_M) * sum(jnp.sum(ps.grad_k(theta, k) ** 2) for k in range(RR_M)))
    assert result.trajectory["modified_loss"].iloc[0] == pytest.approx(expected, rel=1e-12)


def test_random_reshuffling_mean_follows_the_modified_flow_to_third_order_per_epoch(rr_setup):
    # Seed 002: E_order[ω_m] = ω(mε) + O(m³ε³) with ω' = −∇C̃_SGD, C̃_SGD = C + ε/(4m) Σ_k ‖∇Ĉ_k‖².
    # We measure the error after ONE epoch (t = mε → 0 with ε), so the expected slopes are:
    #   random reshuffling vs modified flow: 3 (the claim; the per-unit-time error is then O(ε²));
    #   random reshuffling vs plain flow:   2 (negative control: the ε²-term matters);
    #   with-replacement vs modified flow:  2 (i.i.d. draws have E[ξ] = m(m−1)/2 ∇²C∇C, not the
    #                                          reshuffling value, so no modified flow of this form fits).
    # All expectations are exact: all m! = 24 orders (batch size 1: order = composition) and all
    # m^m = 256 with-replacement sequences are enumerated, so there is no Monte-Carlo error at all.
    _, _, ps = rr_setup
    perms = np.asarray(list(itertools.permutations(range(RR_M))))
    draws = np.asarray(list(itertools.product(range(RR_M), repeat=RR_M)))
    err = {"rr_mod": [], "rr_flow": [], "wr_mod": []}
    for eps in RR_EPS:
        rr = ps.epoch_mean(perms, eps)
        wr = ps.epoch_mean(draws, eps)
        modified, plain = ps.flow(eps, True), ps.flow(eps, False)
        err["rr_mod"].append(np.linalg.norm(rr - modified))
        err["rr_flow"].append(np.linalg.norm(rr - plain))
        err["wr_mod"].append(np.linalg.norm(wr - modified))
    slopes = {name: _slope(RR_EPS, e) for name, e in err.items()}
    assert 2.7 <= slopes["rr_mod"] <= 3.3, (slopes, err)
    assert 1.7 <= slopes["rr_flow"] <= 2.3, (slopes, err)
    assert 1.7 <= slopes["wr_mod"] <= 2.3, (slopes, err)
    # At the smallest ε the modified flow is >10x closer to the reshuffling mean than to the
    # with-replacement mean, and >10x closer than the plain flow.
    assert err["wr_mod"][-1] > 10 * err["rr_mod"][-1]
    assert err["rr_flow"][-1] > 10 * err["rr_mod"][-1]


def test_euler_same_batch_epoch_is_n_inner_steps_on_each_sample_of_its_permutation():
    # Seed 002's experiment: n Euler steps of size α = ε/n on each sampled batch.
    n_inner, lr = 3, 0.01
    cfg = {**RR_BASE, "trainer": {"kind": "euler_same_batch", "batch_size": 1, "sampling": "random_reshuffling",
                                  "n_inner": n_inner, "lr": lr, "steps": RR_M, "log_every": RR_M}}
    resolved, experiment = _experiment(cfg)
    result = ib.run(resolved)
    spec = StepSpec.from_settings(section_settings("trainer", resolved["trainer"]))
    key = named_key(resolved["seed"], "sampling")
    perm = [int(batch_indices(spec, key, jnp.asarray(j), RR_M)[0]) for j in range(RR_M)]
    assert sorted(perm) == list(range(RR_M))
    expected = _PerSample(experiment).epoch_mean(np.repeat([perm], n_inner, axis=1), lr / n_inner)
    np.testing.assert_allclose(_flat(result.params), expected, rtol=0, atol=1e-14)


def test_euler_same_batch_mean_follows_the_modified_flow_with_the_bare_step(rr_setup):
    # Same expansion as for SGD with n Euler steps of α = ε/n per sample: one sample's n steps give
    # θ − εg_k + (ε²/2)(1 − 1/n)H_kg_k, and the order average of an epoch becomes
    # θ0 − mεg + ε²(m²/2)Hg − (ε²/(2n)) Σ_k H_kg_k: the flow of C + (α/(4m)) Σ_k ‖∇Ĉ_k‖², α = ε/n, to
    # O(ε³). (With n → ∞ the correction vanishes: the plain flow, "discretization error" of seed 002.)
    # Negative control: the same flow with λ = ε (the SGD value) is only O(ε²) accurate.
    _, _, ps = rr_setup
    n_inner = 3
    sequences = np.repeat(np.asarray(list(itertools.permutations(range(RR_M)))), n_inner, axis=1)
    bare, sgd_value = [], []
    for eps in RR_EPS:
        mean = ps.epoch_mean(sequences, eps / n_inner)
        bare.append(np.linalg.norm(mean - ps.flow(eps, True, lam=eps / n_inner)))
        sgd_value.append(np.linalg.norm(mean - ps.flow(eps, True, lam=eps)))
    assert 2.7 <= _slope(RR_EPS, bare) <= 3.3, bare
    assert 1.7 <= _slope(RR_EPS, sgd_value) <= 2.3, sgd_value
    assert sgd_value[-1] > 10 * bare[-1]


def test_modified_loss_metric_of_euler_same_batch_uses_the_bare_step(rr_setup):
    _, _, ps = rr_setup
    n_inner, lr = 3, 0.01
    result = ib.run({**RR_BASE, "trainer": {"kind": "euler_same_batch", "batch_size": 1, "n_inner": n_inner,
                                            "lr": lr, "steps": 1, "log_every": 1}})
    theta = ps.theta0
    alpha = lr / n_inner
    expected = float(ps.C(theta) + alpha / (4 * RR_M) * sum(jnp.sum(ps.grad_k(theta, k) ** 2) for k in range(RR_M)))
    assert result.trajectory["modified_loss"].iloc[0] == pytest.approx(expected, rel=1e-12)


# =========================================================================== 3. balancedness

BAL_BASE = {
    "name": "balancedness",
    "seed": 0,
    "problem": {"kind": "matrix_sensing", "n_rows": 4, "n_cols": 4, "rank": 1, "n_measurements": 20},
    "model": {"kind": "deep_matrix", "depth": 3, "init": "gaussian", "init_scale": 0.6},
}


def _gaps(params, depth: int = 3) -> list[np.ndarray]:
    W = [np.asarray(params[f"W{j}"]) for j in range(1, depth + 1)]
    return [W[j + 1].T @ W[j + 1] - W[j] @ W[j].T for j in range(depth - 1)]


def test_balancedness_is_conserved_by_gradient_flow():
    # d/dt (W_{j+1}ᵀW_{j+1} − W_jW_jᵀ) = 0 exactly for a loss of W_N⋯W_1 (Arora et al. 2018).
    # From an unbalanced Gaussian init the gaps are O(1); the solve (rtol 1e-10) must keep them to 1e-7.
    cfg, experiment = _experiment({**BAL_BASE, "trainer": {"kind": "flow", "t_max": 3.0, "rtol": 1e-10,
                                                             "atol": 1e-12, "log_dt": 0.5}})
    result = ib.run(cfg)
    assert result.status == "max_steps"
    traj = result.trajectory
    assert traj["loss"].iloc[-1] < 0.01 * traj["loss"].iloc[0]
    b = traj["balancedness"].to_numpy()
    assert b[0] > 0.5
    assert np.max(np.abs(b - b[0])) <= 1e-7 * b[0]
    for before, after in zip(_gaps(experiment.params0), _gaps(result.params)):
        assert np.linalg.norm(after - before) <= 1e-7 * np.linalg.norm(before)


def test_one_gd_step_changes_balancedness_by_exactly_lr_squared_gradient_gaps():
    # W_j ← W_j − ηG_j gives D_j ← D_j + η²(G_{j+1}ᵀG_{j+1} − G_jG_jᵀ): the first-order terms cancel
    # because W_{j+1}ᵀG_{j+1} = G_jW_jᵀ for any loss of the product.
    lr = 0.05
    cfg, experiment = _experiment({**BAL_BASE, "trainer": {"kind": "gd", "lr": lr, "steps": 1, "log_every": 1}})
    result = ib.run(cfg)
    G = jax.grad(experiment.objective)(experiment.params0)
    G = [np.asarray(G[f"W{j}"]) for j in (1, 2, 3)]
    for j, (before, after) in enumerate(zip(_gaps(experiment.params0), _gaps(result.params))):
        predicted = lr**2 * (G[j + 1].T @ G[j + 1] - G[j] @ G[j].T)
        assert np.linalg.norm(predicted) > 1e-4
        np.testing.assert_allclose(after - before, predicted, rtol=1e-9, atol=1e-13)
    # The reason: the first-order terms W_{j+1}ᵀG_{j+1} − G_jW_jᵀ vanish (they are O(1) each).
    W = [np.asarray(experiment.params0[f"W{j}"]) for j in (1, 2, 3)]
    for j in range(2):
        assert np.linalg.norm(W[j + 1].T @ G[j + 1]) > 0.1
        np.testing.assert_allclose(W[j + 1].T @ G[j + 1], G[j] @ W[j].T, rtol=1e-10, atol=1e-12)


def test_gd_drifts_from_balancedness_linearly_in_lr():
    # From a balanced init (Arora et al. 2019, Procedure 1: D_j = 0) each step adds O(η²), so over a
    # fixed time T the drift is O(η): slope 1 in η.
    lrs = [0.02, 0.01, 0.005]
    drift = []
    for lr in lrs:
        model = {**BAL_BASE["model"], "init": "balanced"}
        result = ib.run({**BAL_BASE, "model": model,
                         "trainer": {"kind": "gd", "lr": lr, "steps": round(3.0 / lr), "log_every": 50}})
        b = result.trajectory["balancedness"].to_numpy()
        assert b[0] < 1e-12
        drift.append(b[-1] - b[0])
    assert drift[-1] > 1e-4  # far above the flow's 1e-7
    slope = _slope(lrs, drift)
    assert 0.9 <= slope <= 1.1, (slope, drift)


# =========================================================================== 4. SAM on a diagonal network

# Orthogonal design with n = d = 6: XᵀX = n·I, so our loss (1/n) Σ ½ (x_iᵀβ − y_i)² with y = Xβ* is
# exactly ½‖β − β*‖², the seed's unnormalized loss ½‖w* − w2⊙w1‖². Stochastic SAM with ρ = η then
# minimizes E ½‖w* − (v+ξ₂)⊙(u+ξ₁)‖² = ½‖w* − u⊙v‖² + (η²/2)(‖u‖² + ‖v‖²) + dη⁴/2, i.e. our
# l2-on-params penalty (weight·½Σθ²) with weight = η² (no extra 1/n or ½ factors).
# Seed 2 gives β* = [-0.722, -1.431, -0.220, 0.732, 0.172, 2.848]; η² = 0.36 separates every
# |β*_i| from the threshold by >= 0.14.
ETA2 = 0.36
SAM_BASE = {
    "name": "sam-diagonal",
    "seed": 2,
    "problem": {"kind": "least_squares", "n_samples": 6, "n_features": 6, "design": "orthogonal"},
    "model": {"kind": "diagonal", "form": "product", "alpha": 0.5},
}


def _soft_threshold(w, t):
    return np.sign(w) * np.maximum(np.abs(w) - t, 0.0)


def _sam_experiment(**extra):
    return _experiment({**SAM_BASE, **extra})


def test_orthogonal_design_loss_is_half_squared_distance():
    cfg, experiment = _sam_experiment()
    problem = experiment.objective.problem
    X, w_star = np.asarray(problem.X), np.asarray(problem.ground_truth)
    np.testing.assert_allclose(X.T @ X, 6 * np.eye(6), atol=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(3):
        params = {"u": jnp.asarray(rng.normal(size=6)), "v": jnp.asarray(rng.normal(size=6))}
        beta = np.asarray(params["u"] * params["v"])
        assert float(experiment.objective(params)) == pytest.approx(0.5 * np.sum((beta - w_star) ** 2), rel=1e-12)


@pytest.mark.parametrize("trainer", [
    {"kind": "gd", "lr": 0.05, "steps": 4000, "log_every": 2000},
    {"kind": "flow", "t_max": 200.0, "log_dt": 100.0, "rtol": 1e-10, "atol": 1e-12},
], ids=["gd", "flow"])
def test_l2_penalized_diagonal_net_converges_to_soft_thresholded_critical_point(trainer):
    # Seed 004's theorem: critical points have |w1_i| = |w2_i| = √(|w*_i| − η²) on a set S (with
    # |w*_i| ≥ η²) and 0 off S, sign(w1_i w2_i) = sign(w*_i). Our product model starts at u = v = α > 0
    # and the penalized dynamics keep u = v (symmetric updates) and u > 0 (u' = (w* − η² − u²)u), so
    # from this init S = {i: w*_i > η²}: the negative coordinates go to the (saddle) critical point 0.
    # Limitation of the model, not of the theorem: u = v can never reach w*_i < 0.
    cfg, experiment = _sam_experiment(penalty={"kind": "l2", "on": "params", "weight": ETA2}, trainer=trainer)
    result = ib.run(cfg)
    w_star = np.asarray(experiment.objective.problem.ground_truth)
    expected = np.sqrt(np.maximum(w_star - ETA2, 0.0))
    tol = 1e-10 if trainer["kind"] == "gd" else 1e-7
    np.testing.assert_allclose(result.params["u"], expected, atol=tol)
    np.testing.assert_allclose(result.params["v"], expected, atol=tol)
    # A critical point of the penalized objective: the gradient vanishes.
    grads = jax.grad(experiment.objective)({k: jnp.asarray(v) for k, v in result.params.items()})
    assert max(float(jnp.max(jnp.abs(g))) for g in grads.values()) < 10 * tol
    # Negative control: the unpenalized minimizer √w* (or the η²/2 threshold of a mis-scaled
    # penalty) is far away.
    assert np.max(np.abs(np.sqrt(np.maximum(w_star - ETA2 / 2, 0)) - expected)) > 0.05


def test_stochastic_sam_lands_on_the_soft_thresholded_minimizer():
    # Stochastic SAM (ξ ~ N(0, ρ²I), ρ = η) is an unbiased step on E C(θ + ξ) = C + (η²/2)‖θ‖² + const,
    # whose global minimizers are β_i = u_iv_i = sign(w*_i)(|w*_i| − η²)₊ with |u_i| = |v_i|. Unlike
    # deterministic GD (test above) the noise breaks u = v, so SAM also escapes the saddle u = v = 0 of
    # the negative coordinates and reaches u = −v.
    # Estimator: 6 independent chains (keys), burn-in t = 60, then the average of u⊙v over 50
    # snapshots 2 time units apart (longer than the relaxation time 1/(2·0.14)). Tolerance: 5 standard
    # errors of the between-chain spread + 2·lr for the O(lr) stationary bias of a constant-step
    # stochastic approximation (measured offline: |bias| ≈ 0.9·lr on the worst coordinate).
    lr, eta = 0.01, float(np.sqrt(ETA2))
    burn_in, seg, n_seg, n_chains = round(60 / lr), round(2 / lr), 50, 6
    cfg, experiment = _sam_experiment(trainer={"kind": "sam", "variant": "stochastic", "rho": eta, "lr": lr,
                                               "steps": burn_in, "log_every": seg})
    segment = dict(cfg["trainer"], steps=seg)
    w_star = np.asarray(experiment.objective.problem.ground_truth)
    target = _soft_threshold(w_star, ETA2)
    beta_means, imbalance_means = [], []
    for chain in range(n_chains):
        key = jax.random.fold_in(named_key(0, "sampling"), chain)
        params = train(experiment.objective, experiment.params0, section_settings("trainer", cfg["trainer"]),
                       key=key).params
        betas, imbalance = [], []
        for j in range(n_seg):
            params = train(experiment.objective, params, section_settings("trainer", segment),
                           key=jax.random.fold_in(key, 1000 + j)).params
            u, v = np.asarray(params["u"]), np.asarray(params["v"])
            betas.append(u * v)
            imbalance.append(u**2 - v**2)
        # Each chain ends with sign(u_i v_i) = sign(w*_i) on S = {|w*_i| > η²}.
        support = np.abs(w_star) > ETA2
        assert np.all(np.sign(u * v)[support] == np.sign(w_star)[support]), (chain, u, v)
        beta_means.append(np.mean(betas, axis=0))
        imbalance_means.append(np.mean(imbalance, axis=0))
    beta_means, imbalance_means = np.asarray(beta_means), np.asarray(imbalance_means)
    mean = beta_means.mean(axis=0)
    se = beta_means.std(axis=0, ddof=1) / np.sqrt(n_chains)
    tol = 5 * se + 2 * lr
    assert np.all(np.abs(mean - target) <= tol), (mean, target, se)
    # |u| = |v| at the minimizer: the mean of u² − v² vanishes too.
    imb_mean = imbalance_means.mean(axis=0)
    imb_se = imbalance_means.std(axis=0, ddof=1) / np.sqrt(n_chains)
    assert np.all(np.abs(imb_mean) <= 5 * imb_se + 4 * lr), (imb_mean, imb_se)
    # Negative controls, rejected by the same tolerance: the unregularized solution w*, the
    # deterministic (u = v) critical point that zeroes the negative coordinates, and the threshold η²/2
    # of a mis-scaled induced penalty.
    for wrong in (w_star, np.maximum(target, 0.0), _soft_threshold(w_star, ETA2 / 2)):
        assert np.any(np.abs(mean - wrong) > 3 * tol), wrong


@pytest.mark.parametrize("design", ["orthogonal", "gaussian"])
@pytest.mark.parametrize("weight", [ETA2, 0.0])
def test_imbalance_decays_like_exp_minus_two_eta_squared_t_under_penalized_flow(design, weight):
    # d/dt(u² − v²) = 2u·(−g⊙v − η²u) − 2v·(−g⊙u − η²v) = −2η²(u² − v²) with g = ∇_β L, for ANY
    # design (seed 004 states it for the orthogonal one). Our model initializes u = v, so the flow is
    # started from hand-made params u ≠ v through the trainer API. weight = 0: conserved (control).
    problem = {**SAM_BASE["problem"], "design": design, "n_samples": 10}
    cfg, experiment = _experiment({**SAM_BASE, "problem": problem,
                                   "penalty": {"kind": "l2", "on": "params", "weight": weight},
                                   "trainer": {"kind": "flow", "t_max": 1.0, "log_dt": 1.0, "rtol": 1e-10,
                                               "atol": 1e-12}})
    rng = np.random.default_rng(1)
    params0 = {"u": jnp.asarray(rng.normal(size=6)), "v": jnp.asarray(rng.normal(size=6))}
    imbalance0 = np.asarray(params0["u"] ** 2 - params0["v"] ** 2)
    for t in (0.5, 2.0, 4.0):
        trainer_cfg = dict(cfg["trainer"], t_max=t, log_dt=t)
        traj = train(experiment.objective, params0, section_settings("trainer", trainer_cfg),
                     key=named_key(0, "sampling"))
        assert traj.status == "max_steps" and traj.time == pytest.approx(t)
        u, v = np.asarray(traj.params["u"]), np.asarray(traj.params["v"])
        np.testing.assert_allclose(u**2 - v**2, np.exp(-2 * weight * t) * imbalance0, rtol=1e-7, atol=1e-10)
        if weight > 0:
            # Negative control: the rate of a penalty η²/2 (e^{−η²t}) is rejected.
            assert not np.allclose(u**2 - v**2, np.exp(-weight * t) * imbalance0, rtol=1e-3)
        # β really moved (the flow is not trivially at rest).
        assert np.max(np.abs(u * v - np.asarray(params0["u"] * params0["v"]))) > 0.05


# =========================================================================== 5. dropout and input noise

NOISE_PROBLEM = {"kind": "least_squares", "n_samples": 40, "n_features": 5, "noise": 0.5}


def _chain_endpoints(trainer: dict, R: int = 64):
    """Final iterates of R independent chains (keys) of a linear model on NOISE_PROBLEM, plus X, y."""
    cfg, experiment = _experiment({"name": "noise-injection", "seed": 0, "problem": dict(NOISE_PROBLEM),
                                   "model": {"kind": "linear"}, "trainer": trainer})
    X = np.asarray(experiment.objective.problem.X)
    y = np.asarray(experiment.objective.problem.targets)
    trainer_settings = section_settings("trainer", cfg["trainer"])
    samples = np.asarray([np.asarray(train(experiment.objective, experiment.params0, trainer_settings,
                                           key=jax.random.fold_in(named_key(0, "sampling"), r)).params["W"])
                          for r in range(R)])
    return samples, X, y


def _hotelling(samples: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Hotelling's T² of the sample mean against ``reference`` and its 1 − 1e-3 critical value."""
    R, d = samples.shape
    diff = samples.mean(axis=0) - reference
    t2 = R * diff @ np.linalg.solve(np.cov(samples, rowvar=False), diff)
    return float(t2), d * (R - 1) / (R - d) * float(stats.f.ppf(1 - 1e-3, d, R - d))


def test_dropout_gd_stationary_mean_is_the_dropout_ridge_estimator():
    # Keep-mask M_ni ~ Bernoulli(p), predictions (M⊙X)β unscaled, loss (1/2n)‖(M⊙X)β − y‖².
    # E[(M⊙X)ᵀ(M⊙X)] = p²XᵀX + p(1−p)Diag(XᵀX) and E[(M⊙X)ᵀy] = pXᵀy, so the expected loss is
    # stationary at β_p = (pXᵀX + (1−p)Diag(XᵀX))⁻¹Xᵀy (no 1/n, no p rescaling: they cancel).
    # The gradient is affine in β with coefficients independent of β_k, so E β_{k+1} = E β_k − lr·(A Eβ_k − b):
    # the mean of the iterates converges to β_p EXACTLY (no O(lr) bias), for any stable lr; after
    # 1500 steps of lr 0.02 the transient is < e^{-13}.
    # Estimator: the final iterate of R = 64 independent chains; test: Hotelling T² at level 1e-3.
    p = 0.7
    samples, X, y = _chain_endpoints({"kind": "gd", "dropout": p, "lr": 0.02, "steps": 1500, "log_every": 1500})
    G = X.T @ X
    beta_p = np.linalg.solve(p * G + (1 - p) * np.diag(np.diag(G)), X.T @ y)
    t2, critical = _hotelling(samples, beta_p)
    assert t2 < critical, (samples.mean(axis=0), beta_p)
    # Negative controls: the OLS solution and the inverted-dropout (X/p) stationary point p·β_p.
    assert _hotelling(samples, np.linalg.solve(G, X.T @ y))[0] > 10 * critical
    assert _hotelling(samples, p * beta_p)[0] > 10 * critical


def test_input_noise_gd_stationary_mean_is_ridge_with_lambda_sigma_squared():
    # Seed 002 ("connection with noisy input"): X ← X + σΞ adds E ½((x+σξ)ᵀβ − y)² − ½(xᵀβ − y)² = (σ²/2)‖β‖²
    # per sample, i.e. our l2 penalty on the end-to-end β with weight σ²: β_σ = (XᵀX + nσ²I)⁻¹Xᵀy.
    # Same exactness argument as for dropout (E[(X+σΞ)ᵀ(X+σΞ)]/n = XᵀX/n + σ²I).
    sigma = 0.6
    samples, X, y = _chain_endpoints({"kind": "gd", "input_noise": sigma, "lr": 0.02, "steps": 1500,
                                      "log_every": 1500})
    n, d = X.shape
    beta_ridge = np.linalg.solve(X.T @ X + n * sigma**2 * np.eye(d), X.T @ y)
    # The engine's own explicit penalty agrees with the closed form (normalization check).
    ridge_run = ib.run({"name": "ridge", "seed": 0, "problem": dict(NOISE_PROBLEM), "model": {"kind": "linear"},
                        "penalty": {"kind": "l2", "weight": sigma**2},
                        "trainer": {"kind": "gd", "lr": 0.5, "steps": 2000, "log_every": 2000}})
    np.testing.assert_allclose(ridge_run.params["W"], beta_ridge, rtol=0, atol=1e-10)
    t2, critical = _hotelling(samples, beta_ridge)
    assert t2 < critical, (samples.mean(axis=0), beta_ridge)
    # Negative controls: OLS and the ridge with λ = σ (a std/variance mix-up).
    assert _hotelling(samples, np.linalg.solve(X.T @ X, X.T @ y))[0] > 10 * critical
    assert _hotelling(samples, np.linalg.solve(X.T @ X + n * sigma * np.eye(d), X.T @ y))[0] > 10 * critical
