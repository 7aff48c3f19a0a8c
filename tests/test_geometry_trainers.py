"""The trainers of the geometry of implicit bias (issue 16): steepest descent w.r.t. ℓ1/ℓ2/ℓ∞, mirror
descent (ℓp, hypentropy), normalized steps, Adagrad, the power step-size schedule, Adam with ε = 0
and the ``underflow`` status.

The mirror-descent oracle is independent of the trainer: the limit on an under-determined least
squares problem is argmin D_ψ(w, w₀) s.t. Xw = y, whose KKT conditions say w = ∇ψ*(∇ψ(w₀) + Xᵀλ)
with Xw = y; λ is found with scipy's root finder (Gunasekar, Lee, Soudry & Srebro 2018,
"Characterizing implicit bias in terms of optimization geometry"). Float64 throughout.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.optimize

import implicit_bias as ib
from implicit_bias.errors import ConfigError
from implicit_bias.execution.single import Experiment, as_config
from implicit_bias.keys import named_key
from implicit_bias.settings.typed import section_settings
from implicit_bias.sweeps.sweep import execute, expand
from implicit_bias.trainers import train
from implicit_bias.trainers import geometry
from implicit_bias.rundir import checkpoint
from implicit_bias.settings import run_dir_name

LS = {"kind": "least_squares", "n_samples": 5, "n_features": 12}
SENSING = {"kind": "matrix_sensing", "n_rows": 3, "n_cols": 3, "rank": 1, "n_measurements": 10}


def _cfg(trainer: dict, *, problem: dict | None = None, model: dict | None = None, seed: int = 0, **extra) -> dict:
    return {"name": "geometry", "seed": seed, "problem": dict(problem or LS),
            "model": dict(model or {"kind": "linear", "init_scale": 0.5}), "trainer": dict(trainer), **extra}


def _experiment(cfg: dict) -> Experiment:
    return Experiment.build(as_config(cfg))


def _flat(tree) -> np.ndarray:
    return np.concatenate([np.asarray(x).ravel() for x in jax.tree_util.tree_leaves(tree)])


def _one_step(trainer: dict, model: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(θ₀, θ₁, ∇C(θ₀)) flattened in tree order, θ₁ after one step of the trainer."""
    cfg = _cfg({**trainer, "steps": 1, "log_every": 1}, problem=SENSING, model=model)
    experiment = _experiment(cfg)
    result = ib.run(cfg)
    grads = jax.grad(experiment.objective)(experiment.params0)
    return _flat(experiment.params0), _flat(result.params), _flat(grads)


# =========================================================================== steepest descent

DIAGONAL = {"kind": "diagonal", "form": "difference", "power": 2, "alpha": 0.7}  # two leaves u, v


def test_l1_step_moves_exactly_one_coordinate_of_all_parameters_by_the_sup_norm():
    lr = 0.05
    theta0, theta1, g = _one_step({"kind": "steepest_descent", "norm": "l1", "lr": lr}, DIAGONAL)
    moved = np.flatnonzero(theta1 != theta0)
    j = int(np.argmax(np.abs(g)))
    assert list(moved) == [j]  # one coordinate over BOTH leaves u and v together
    assert theta1[j] - theta0[j] == pytest.approx(-lr * np.max(np.abs(g)) * np.sign(g[j]), rel=1e-14)
    assert np.count_nonzero(g) > 1  # negative control: gd would have moved several


def test_linf_step_moves_every_coordinate_by_lr_times_the_l1_norm():
    lr = 0.01
    theta0, theta1, g = _one_step({"kind": "steepest_descent", "norm": "linf", "lr": lr}, DIAGONAL)
    l1 = np.sum(np.abs(g))  # over both leaves
    np.testing.assert_allclose(theta1 - theta0, -lr * l1 * np.sign(g), rtol=1e-12, atol=1e-15)
    assert np.all(g != 0)
    per_leaf = np.sum(np.abs(g[: g.size // 2]))  # negative control: a per-leaf ℓ1 norm is smaller
    assert abs(np.abs(theta1 - theta0)[0] - lr * per_leaf) > 1e-6


def test_l2_steepest_descent_is_gd_bit_for_bit():
    common = {"lr": 0.05, "steps": 60, "log_every": 20}
    model = {"kind": "deep_matrix", "depth": 2, "init_scale": 0.5}
    sd = ib.run(_cfg({"kind": "steepest_descent", "norm": "l2", **common}, problem=SENSING, model=model))
    gd = ib.run(_cfg({"kind": "gd", **common}, problem=SENSING, model=model))
    for k in gd.params:
        np.testing.assert_array_equal(sd.params[k], gd.params[k])
    np.testing.assert_array_equal(sd.trajectory["loss"].to_numpy(), gd.trajectory["loss"].to_numpy())


def test_tie_moves_the_first_index():
    g = jnp.asarray([0.5, -2.0, 2.0, 1.0])
    out = geometry.steepest_descent({"norm": "l1", "lr": jnp.asarray(1.0)}).update({"a": g}, None)[0]["a"]
    np.testing.assert_array_equal(np.asarray(out), [0.0, 2.0, 0.0, 0.0])


# =========================================================================== mirror descent vs its oracle

def _data(cfg):
    experiment = _experiment(cfg)
    problem = experiment.objective.problem
    return np.asarray(problem.X), np.asarray(problem.targets), _flat(experiment.params0)


def bregman_projection(X, y, w0, grad_psi, grad_psi_star) -> np.ndarray:
    """argmin D_ψ(w, w₀) s.t. Xw = y: w = ∇ψ*(∇ψ(w₀) + Xᵀλ), λ solving Xw(λ) = y (scipy root)."""
    z0 = grad_psi(w0)
    residual = lambda lam: X @ grad_psi_star(z0 + X.T @ lam) - y  # noqa: E731
    sol = scipy.optimize.root(residual, np.zeros(len(y)), tol=1e-14)
    assert sol.success and np.max(np.abs(residual(sol.x))) < 1e-12
    return grad_psi_star(z0 + X.T @ sol.x)


P = 1.5
LP_MAPS = (lambda w: np.sign(w) * np.abs(w) ** (P - 1), lambda z: np.sign(z) * np.abs(z) ** (1 / (P - 1)))
BETA = 0.5
HYP_MAPS = (lambda w: np.arcsinh(w / BETA), lambda z: BETA * np.sinh(z))


@pytest.mark.parametrize("potential, extra, init, maps", [
    ("lp", {"p": P}, 0.5, LP_MAPS),  # w₀ ≠ 0: ∇ψ = sign(w)|w|^{p−1} is not smooth at 0
    ("hypentropy", {"beta": BETA}, 0.0, HYP_MAPS),  # smooth everywhere: from 0
], ids=["lp", "hypentropy"])
def test_mirror_descent_converges_to_the_bregman_projection_for_every_step_size(potential, extra, init, maps):
    trainer = {"kind": "mirror_descent", "potential": potential, **extra, "steps": 20000, "log_every": 5000}
    X, y, w0 = _data(_cfg(trainer, model={"kind": "linear", "init_scale": init}))
    oracle = bregman_projection(X, y, w0, *maps)
    min_distance = w0 + np.linalg.pinv(X) @ (y - X @ w0)  # GD's limit (ψ = ½‖w‖²)
    assert np.max(np.abs(oracle - min_distance)) > 0.05  # the geometry matters here
    for lr in (0.05, 0.2):
        result = ib.run(_cfg({**trainer, "lr": lr}, model={"kind": "linear", "init_scale": init}))
        assert result.summary["final"]["loss"] < 1e-24
        np.testing.assert_allclose(result.params["W"].ravel(), oracle, rtol=0, atol=1e-10)


@pytest.mark.parametrize("trainer, lrs", [
    ({"kind": "steepest_descent", "norm": "l1"}, (0.02, 0.2)),
    ({"kind": "steepest_descent", "norm": "linf"}, (0.002, 0.02)),
    ({"kind": "adagrad"}, (0.05, 0.2)),
], ids=["l1", "linf", "adagrad"])
def test_steepest_descent_and_adagrad_limits_move_with_the_step_size(trainer, lrs):
    """Not characterized by a potential: two step sizes, two different interpolating limits."""
    limits = []
    for lr in lrs:
        result = ib.run(_cfg({**trainer, "lr": lr, "steps": 20000, "log_every": 5000}))
        assert result.summary["final"]["loss"] < 1e-12  # both interpolate
        limits.append(result.params["W"].ravel())
    assert np.max(np.abs(limits[0] - limits[1])) > 1e-2


# =========================================================================== normalized steps, adagrad

def test_normalized_gd_steps_along_grad_loss_over_loss():
    lr = 0.01
    cfg = _cfg({"kind": "normalized_gd", "lr": lr, "steps": 1, "log_every": 1})
    experiment = _experiment(cfg)
    result = ib.run(cfg)
    w0 = experiment.params0
    loss, g = jax.value_and_grad(experiment.objective.data_loss)(w0)
    np.testing.assert_allclose(result.params["W"], np.asarray(w0["W"] - lr * g["W"] / loss), rtol=1e-13)
    assert float(loss) < 0.5 or float(loss) > 2  # negative control: 1/L is far from 1, so it is not gd
    steepest = ib.run(_cfg({"kind": "steepest_descent", "norm": "l2", "normalize": True, "lr": lr, "steps": 1,
                            "log_every": 1}))
    np.testing.assert_array_equal(steepest.params["W"], result.params["W"])


def test_normalized_mirror_step_is_the_dual_step_on_grad_loss_over_loss():
    lr, beta = 0.05, 0.4
    cfg = _cfg({"kind": "mirror_descent", "potential": "hypentropy", "beta": beta, "normalize": True, "lr": lr,
                "steps": 1, "log_every": 1})
    experiment = _experiment(cfg)
    result = ib.run(cfg)
    w0 = np.asarray(experiment.params0["W"])
    loss, g = jax.value_and_grad(experiment.objective.data_loss)(experiment.params0)
    expected = beta * np.sinh(np.arcsinh(w0 / beta) - lr * np.asarray(g["W"]) / float(loss))
    np.testing.assert_allclose(result.params["W"], expected, rtol=1e-12)
    unnormalized = beta * np.sinh(np.arcsinh(w0 / beta) - lr * np.asarray(g["W"]))  # negative control
    assert np.max(np.abs(unnormalized - expected)) > 1e-4


def test_adagrad_is_optax_adagrad():
    lr, steps = 0.1, 5
    cfg = _cfg({"kind": "adagrad", "lr": lr, "initial_accumulator": 0.3, "eps": 1e-6, "steps": steps,
                "log_every": steps})
    experiment = _experiment(cfg)
    result = ib.run(cfg)
    tx = optax.adagrad(lr, initial_accumulator_value=0.3, eps=1e-6)
    params, state = experiment.params0, tx.init(experiment.params0)
    for _ in range(steps):
        updates, state = tx.update(jax.grad(experiment.objective)(params), state, params)
        params = optax.apply_updates(params, updates)
    np.testing.assert_allclose(result.params["W"], np.asarray(params["W"]), rtol=1e-13)


# =========================================================================== schedule

def test_power_schedule_uses_lr_times_k_plus_one_to_the_minus_a_and_logs_the_sum_as_t():
    lr, a, steps = 0.1, 0.7, 6
    cfg = _cfg({"kind": "gd", "lr": lr, "lr_schedule": "power", "lr_power": a, "steps": steps, "log_every": 2})
    experiment = _experiment(cfg)
    result = ib.run(cfg)
    w = experiment.params0
    for k in range(steps):
        w = jax.tree_util.tree_map(lambda x, g: x - lr * (k + 1) ** (-a) * g, w, jax.grad(experiment.objective)(w))
    np.testing.assert_allclose(result.params["W"], np.asarray(w["W"]), rtol=1e-13)
    etas = lr * np.arange(1, steps + 1) ** (-a)
    np.testing.assert_allclose(result.trajectory["t"].to_numpy(), [0.0, *np.cumsum(etas)[1::2]], rtol=1e-14)
    assert result.summary["time"] == pytest.approx(np.sum(etas), rel=1e-14)
    constant = ib.run(_cfg({"kind": "gd", "lr": lr, "steps": steps, "log_every": 2}))  # negative control
    assert np.max(np.abs(constant.params["W"] - result.params["W"])) > 1e-4


def test_power_schedule_with_zero_power_is_the_constant_step_bit_for_bit():
    common = {"kind": "adam", "lr": 0.01, "steps": 30, "log_every": 10}
    a = ib.run(_cfg({**common, "lr_schedule": "power", "lr_power": 0.0}))
    b = ib.run(_cfg(common))
    np.testing.assert_array_equal(a.params["W"], b.params["W"])


def test_a_resumed_run_continues_the_schedule_and_the_dual_iterate(tmp_path):
    trainer_table = {"kind": "mirror_descent", "potential": "hypentropy", "beta": 0.3, "lr": 0.1,
                     "lr_schedule": "power", "lr_power": 0.5, "steps": 8, "log_every": 2, "checkpoint_every": 4}
    resolved = as_config(_cfg(trainer_table))
    experiment = Experiment.build(resolved)
    trainer = section_settings("trainer", resolved["trainer"])
    key = named_key(0, "sampling")
    saved = []
    full = train(experiment.objective, experiment.params0, trainer, key=key, on_checkpoint=saved.append)
    checkpoint.save(tmp_path, [c for c in saved if c.step == 4][0])  # through checkpoint.npz
    first = checkpoint.load(tmp_path, trainer, experiment.params0)
    assert first.step == 4
    resumed = train(experiment.objective, experiment.params0, trainer, key=key, resume=first)
    np.testing.assert_array_equal(np.asarray(resumed.params["W"]), np.asarray(full.params["W"]))
    assert [r["t"] for r in resumed.rows] == [r["t"] for r in full.rows]
    assert resumed.time == full.time
    # Negative control: a resume that restarts the schedule at k = 0 ends elsewhere.
    restarted = train(experiment.objective, first.params, trainer.replace(steps=4), key=key)
    assert np.max(np.abs(np.asarray(restarted.params["W"]) - np.asarray(full.params["W"]))) > 1e-6


# =========================================================================== adam with eps = 0

COMPLETION = {"kind": "matrix_completion", "n_rows": 4, "n_cols": 4, "rank": 1, "n_obs": 6}
DIRECT = {"kind": "deep_matrix", "depth": 1, "init_scale": 0.5}  # W itself: unobserved entries get g = 0


def test_adam_without_eps_gives_a_zero_update_where_the_gradient_was_always_zero():
    cfg = _cfg({"kind": "adam", "lr": 0.01, "eps": 0.0, "steps": 20, "log_every": 10},
               problem=COMPLETION, model=DIRECT)
    experiment = _experiment(cfg)
    result = ib.run(cfg)
    assert result.status == "max_steps"
    g = _flat(jax.grad(experiment.objective)(experiment.params0))
    theta0, theta1 = _flat(experiment.params0), _flat(result.params)
    assert np.all(np.isfinite(theta1))
    unobserved = g == 0
    assert 0 < unobserved.sum() < g.size
    np.testing.assert_array_equal(theta1[unobserved], theta0[unobserved])
    assert np.all(theta1[~unobserved] != theta0[~unobserved])
    # Negative control: optax's adam with eps = 0 gives 0/0 = NaN there.
    tx = optax.adam(0.01, eps=0.0)
    updates, _ = tx.update(jax.grad(experiment.objective)(experiment.params0), tx.init(experiment.params0))
    assert np.all(np.isnan(_flat(updates)[unobserved]))


def test_adam_with_eps_is_optax_bit_for_bit():
    rng = np.random.default_rng(0)
    params = {"a": jnp.asarray(rng.normal(size=(3, 4))), "b": jnp.asarray(rng.normal(size=5))}
    hyper = {"lr": jnp.asarray(0.01), "b1": jnp.asarray(0.9), "b2": jnp.asarray(0.999), "eps": jnp.asarray(1e-8)}
    ours, ref = geometry.adam(hyper), optax.adam(0.01, b1=0.9, b2=0.999, eps=1e-8)
    s1, s2 = ours.init(params), ref.init(params)
    for k in range(5):
        g = jax.tree_util.tree_map(lambda x: jnp.asarray(rng.normal(size=x.shape)) * (k % 2), params)  # zeros too
        u1, s1 = ours.update(g, s1, params)
        u2, s2 = ref.update(g, s2, params)
        for name in params:
            np.testing.assert_array_equal(np.asarray(u1[name]), np.asarray(u2[name]))


# =========================================================================== underflow

def _npz_problem(tmp_path, X, y) -> dict:
    path = tmp_path / "data.npz"
    np.savez(path, X=np.asarray(X, float), y=np.asarray(y, float))
    return {"kind": "dataset", "path": str(path), "test_fraction": 0.0, "standardize": False}


@pytest.mark.parametrize("kind", ["gd", "normalized_gd", "mirror_descent"])
def test_a_loss_exactly_zero_with_stop_loss_zero_is_underflow_not_converged(tmp_path, kind):
    problem = _npz_problem(tmp_path, np.random.default_rng(0).normal(size=(6, 3)), np.zeros(6))
    model = {"kind": "linear", "init_scale": 0.0}
    result = ib.run(_cfg({"kind": kind, "steps": 50, "log_every": 10}, problem=problem, model=model),
                    out=tmp_path / "runs")
    assert result.status == "underflow"  # also for normalized_gd, whose ∇ln L is NaN there: not diverged
    assert result.summary["underflow_step"] == 0 and result.summary["steps"] == 0
    assert ib.run(_cfg({"kind": kind, "steps": 50, "log_every": 10}, problem=problem, model=model),
                  out=tmp_path / "runs").skipped  # a finished status: not rerun
    # With stop_loss > 0 the same run is converged, as before.
    positive = ib.run(_cfg({"kind": kind, "steps": 50, "log_every": 10, "stop_loss": 1e-12}, problem=problem,
                           model=model))
    assert positive.status == "converged"


def test_a_gradient_exactly_zero_with_stop_loss_zero_is_underflow(tmp_path):
    problem = _npz_problem(tmp_path, np.zeros((6, 3)), np.ones(6))  # L = ½ > 0, ∇L = 0
    result = ib.run(_cfg({"kind": "gd", "steps": 50, "log_every": 10}, problem=problem,
                         model={"kind": "linear", "init_scale": 0.0}))
    assert result.status == "underflow" and result.summary["final"]["loss"] == pytest.approx(0.5)


def test_a_stochastic_run_whose_full_loss_is_zero_is_underflow(tmp_path):
    problem = _npz_problem(tmp_path, np.random.default_rng(0).normal(size=(6, 3)), np.zeros(6))
    result = ib.run(_cfg({"kind": "sgd", "batch_size": 2, "steps": 50, "log_every": 10}, problem=problem,
                         model={"kind": "linear", "init_scale": 0.0}))
    assert result.status == "underflow" and result.summary["steps"] == 10


# =========================================================================== batched sweep

@pytest.mark.parametrize("trainer", [
    {"kind": "mirror_descent", "potential": "hypentropy", "beta": 0.5},
    {"kind": "steepest_descent", "norm": "l1", "lr_schedule": "power", "lr_power": 0.3},
], ids=["mirror_descent", "steepest_descent_power"])
def test_batched_sweep_over_lr_equals_the_single_runs(tmp_path, trainer):
    base = _cfg({**trainer, "steps": 300, "log_every": 100}, model={"kind": "linear", "init_scale": 0.0})
    sweep = expand(base, grid={"trainer.lr": [0.02, 0.05, 0.1]})
    together = execute(sweep, tmp_path / "batched", jobs=1, batch="on")
    assert all(r.get("batch_size") == 3 for r in together.results)
    for cfg in sweep.configs:
        single = ib.run(cfg)
        batched_dir = tmp_path / "batched" / run_dir_name(cfg)
        np.testing.assert_allclose(np.load(batched_dir / "final.npz")["end_to_end"], single.end_to_end,
                                   rtol=1e-12, atol=1e-300)
        summary = json.loads((batched_dir / "summary.json").read_text())
        assert summary["status"] == single.status and summary["time"] == single.summary["time"]
        assert summary["final"]["loss"] == pytest.approx(single.summary["final"]["loss"], rel=1e-12)


# =========================================================================== config errors

@pytest.mark.parametrize("trainer, key", [
    ({"kind": "mirror_descent", "p": 1.0}, "trainer.p"),
    ({"kind": "mirror_descent", "potential": "hypentropy", "beta": 0.0}, "trainer.beta"),
    ({"kind": "mirror_descent", "potential": "entropy"}, "trainer.potential"),
    ({"kind": "steepest_descent", "norm": "l3"}, "trainer.norm"),
    ({"kind": "steepest_descent", "normalize": 1}, "trainer.normalize"),
    ({"kind": "gd", "lr_power": -1.0, "lr_schedule": "power"}, "trainer.lr_power"),
    ({"kind": "gd", "lr_power": 0.5}, "trainer.lr_power"),  # without lr_schedule = "power"
    ({"kind": "adam", "lr_schedule": "cosine"}, "trainer.lr_schedule"),
    ({"kind": "adagrad", "eps": -1.0}, "trainer.eps"),
    ({"kind": "adagrad", "initial_accumulator": -0.1}, "trainer.initial_accumulator"),
    ({"kind": "normalized_gd", "weight_decay": 0.1}, "trainer.normalize"),
])
def test_bad_values_name_the_key(trainer, key):
    with pytest.raises(ConfigError) as info:
        as_config(_cfg(trainer))
    assert info.value.key == key
    assert "\n" not in str(info.value)


def test_normalize_with_a_penalty_is_refused():
    with pytest.raises(ConfigError) as info:
        as_config(_cfg({"kind": "steepest_descent", "normalize": True}, penalty={"kind": "l2", "weight": 0.1}))
    assert info.value.key == "trainer.normalize"
    as_config(_cfg({"kind": "steepest_descent", "normalize": True}, penalty={"kind": "l2", "weight": 0.0}))
