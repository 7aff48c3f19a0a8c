"""The trainers' contracts: optimizer updates against hand computations, the relations between
trainer kinds (weight decay = l2 penalty, euler_same_batch ⊃ sgd and gd, zero noise = gd), stopping
and divergence, compile reuse, and a battery over every trainer × model × problem kind.

All in float64; the tolerances are round-off level wherever the claim is an identity.
"""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import implicit_bias as ib
from implicit_bias import settings as config_mod
from implicit_bias.diagnostics import CompileCounter
from implicit_bias.keys import named_key
from implicit_bias.execution.single import Experiment, as_config, load_run
from implicit_bias.settings.typed import section_settings
from implicit_bias.trainers import train
from implicit_bias.trainers.gradients import StepSpec, batch_indices
from implicit_bias.trainers.loop import train_chunk

LS = {"kind": "least_squares", "n_samples": 12, "n_features": 4}
SENSING = {"kind": "matrix_sensing", "n_rows": 3, "n_cols": 3, "rank": 1, "n_measurements": 10}


def _cfg(trainer: dict, *, problem: dict | None = None, model: dict | None = None, penalty: dict | None = None,
         seed: int = 0) -> dict:
    cfg = {"name": "trainers", "seed": seed, "problem": dict(problem or LS),
           "model": dict(model or {"kind": "linear", "init_scale": 0.3}), "trainer": dict(trainer)}
    if penalty is not None:
        cfg["penalty"] = dict(penalty)
    return cfg


def _experiment(cfg: dict) -> tuple[dict, Experiment]:
    resolved = as_config(cfg)
    return resolved, Experiment.build(resolved)


def _assert_params_equal(a, b, atol=0.0):
    assert sorted(a) == sorted(b)
    for k in a:
        if atol == 0.0:
            np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]), err_msg=k)
        else:
            np.testing.assert_allclose(np.asarray(a[k]), np.asarray(b[k]), rtol=0, atol=atol, err_msg=k)


def _ls_grad(problem, beta):
    """∇ of (1/n) Σ ½(x_iᵀβ − y_i)², by hand."""
    X, y = np.asarray(problem.X), np.asarray(problem.targets)
    return X.T @ (X @ beta - y) / len(y)


# =========================================================================== group_rmsprop

def _group_rmsprop_by_hand(grad_fn, params, lr, decay, eps, steps, group=True):
    """Arora, Cohen, Hu & Luo (2019) reference code (opt.py, GroupRMSprop): ONE scalar
    s ← decay·s + (1 − decay)·Σ_all g², θ ← θ − lr·g/(√(s/(1 − decay^k)) + eps).
    ``group=False``: one such scalar per parameter array (a negative control)."""
    params = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    s = {name: 0.0 for name in params}
    for k in range(1, steps + 1):
        g = grad_fn(params)
        total = sum(float(np.sum(v**2)) for v in g.values())
        for name in params:
            s[name] = decay * s[name] + (1 - decay) * (total if group else float(np.sum(g[name] ** 2)))
        params = {name: params[name] - lr * g[name] / (math.sqrt(s[name] / (1 - decay**k)) + eps)
                  for name in params}
    return params


@pytest.mark.parametrize("hyper", [{}, {"decay": 0.9, "eps": 0.05}], ids=["defaults", "decay0.9-eps0.05"])
@pytest.mark.parametrize("model", ["linear", "deep_matrix"])
def test_group_rmsprop_matches_hand_computation(hyper, model):
    lr = 0.05
    decay, eps = hyper.get("decay", 0.99), hyper.get("eps", 1e-4)  # the documented defaults
    if model == "linear":
        model_cfg, problem = {"kind": "linear", "init_scale": 0.3}, LS
    else:  # several parameter arrays: the running average is ONE scalar over all of them
        model_cfg, problem = {"kind": "deep_matrix", "depth": 2, "init_scale": 0.5}, SENSING
    for steps in (1, 2):
        cfg, experiment = _experiment(_cfg({"kind": "group_rmsprop", "lr": lr, "steps": steps, "log_every": 1,
                                            **hyper}, problem=problem, model=model_cfg))
        result = ib.run(cfg)
        if model == "linear":  # gradient by hand too
            grad_fn = lambda p: {"W": _ls_grad(experiment.objective.problem, p["W"])}  # noqa: E731
        else:
            grad_fn = lambda p: {k: np.asarray(v) for k, v in  # noqa: E731
                                 jax.grad(experiment.objective)({k: jnp.asarray(v) for k, v in p.items()}).items()}
        expected = _group_rmsprop_by_hand(grad_fn, experiment.params0, lr, decay, eps, steps)
        _assert_params_equal(result.params, expected, atol=1e-14)
        if steps == 1:
            # First step: ŝ = Σg², so the step is lr·g/(‖g‖ + eps) — a normalized gradient step.
            g = grad_fn({k: np.asarray(v) for k, v in experiment.params0.items()})
            norm = math.sqrt(sum(float(np.sum(v**2)) for v in g.values()))
            moved = math.sqrt(sum(float(np.sum((result.params[k] - np.asarray(experiment.params0[k])) ** 2))
                                  for k in g))
            assert moved == pytest.approx(lr * norm / (norm + eps), rel=1e-12)
    if model == "deep_matrix":
        # Negative control: per-array scalars (RMSprop "by layer") give a different iterate.
        per_leaf = _group_rmsprop_by_hand(grad_fn, experiment.params0, lr, decay, eps, 2, group=False)
        assert max(np.max(np.abs(result.params[k] - per_leaf[k])) for k in per_leaf) > 1e-6


# =========================================================================== optax sanity

@pytest.mark.parametrize("trainer, reference", [
    ({"kind": "adam", "lr": 0.01, "b1": 0.8, "b2": 0.95, "eps": 1e-6},
     lambda: optax.adam(0.01, b1=0.8, b2=0.95, eps=1e-6)),
    ({"kind": "rmsprop", "lr": 0.01, "decay": 0.8, "eps": 1e-6},
     lambda: optax.rmsprop(0.01, decay=0.8, eps=1e-6)),
    ({"kind": "momentum", "lr": 0.05, "momentum": 0.7}, lambda: optax.sgd(0.05, momentum=0.7)),
    ({"kind": "momentum", "lr": 0.05, "momentum": 0.7, "nesterov": True},
     lambda: optax.sgd(0.05, momentum=0.7, nesterov=True)),
], ids=["adam", "rmsprop", "momentum", "nesterov"])
def test_optimizers_match_optax(trainer, reference):
    steps = 4
    cfg, experiment = _experiment(_cfg({**trainer, "steps": steps, "log_every": steps},
                                       problem=SENSING, model={"kind": "deep_matrix", "depth": 2, "init_scale": 0.5}))
    result = ib.run(cfg)
    tx = reference()
    params, state = experiment.params0, tx.init(experiment.params0)
    for _ in range(steps):
        updates, state = tx.update(jax.grad(experiment.objective)(params), state, params)
        params = optax.apply_updates(params, updates)
    _assert_params_equal(result.params, params, atol=1e-13)
    # Negative control: plain GD with the same lr ends elsewhere.
    gd = ib.run(_cfg({"kind": "gd", "lr": trainer["lr"], "steps": steps, "log_every": steps},
                     problem=SENSING, model={"kind": "deep_matrix", "depth": 2, "init_scale": 0.5}))
    assert max(np.max(np.abs(gd.params[k] - result.params[k])) for k in params) > 1e-6


@pytest.mark.parametrize("variant", ["sam", "usam"])
def test_sam_step_is_the_gradient_at_the_ascent_point(variant):
    # Foret et al. (2021): θ ← θ − lr·∇C(θ + ε), ε = ρ∇C/‖∇C‖ (sam) or ρ∇C (usam), ‖·‖ over all arrays.
    lr, rho = 0.05, 0.2
    model = {"kind": "deep_matrix", "depth": 2, "init_scale": 0.5}
    cfg, experiment = _experiment(_cfg({"kind": "sam", "variant": variant, "rho": rho, "lr": lr, "steps": 1,
                                        "log_every": 1}, problem=SENSING, model=model))
    result = ib.run(cfg)
    theta = experiment.params0
    g = jax.grad(experiment.objective)(theta)
    norm = math.sqrt(sum(float(jnp.sum(v**2)) for v in g.values()))
    scale = rho / norm if variant == "sam" else rho
    g_ascent = jax.grad(experiment.objective)({k: theta[k] + scale * g[k] for k in theta})
    expected = {k: theta[k] - lr * g_ascent[k] for k in theta}
    _assert_params_equal(result.params, expected, atol=1e-14)
    # Negative control: the plain GD step is elsewhere.
    assert max(float(jnp.max(jnp.abs(theta[k] - lr * g[k] - expected[k]))) for k in theta) > 1e-4


# =========================================================================== relations between trainers

@pytest.mark.parametrize("kind", ["gd", "momentum", "adam"])
def test_weight_decay_is_a_coupled_l2_penalty_on_params(kind):
    # weight_decay λ adds λθ to the gradient before the optimizer; the l2 penalty on params
    # λ·½Σθ² has exactly that gradient. (Coupled, also for Adam: not AdamW.)
    lam, lr = 0.3, 0.05
    trainer = {"kind": kind, "lr": lr, "steps": 20, "log_every": 10}
    model = {"kind": "deep_matrix", "depth": 2, "init_scale": 0.5}
    decayed = ib.run(_cfg({**trainer, "weight_decay": lam}, problem=SENSING, model=model))
    penalized = ib.run(_cfg(trainer, problem=SENSING, model=model,
                            penalty={"kind": "l2", "on": "params", "weight": lam}))
    _assert_params_equal(decayed.params, penalized.params, atol=1e-13)
    plain = ib.run(_cfg(trainer, problem=SENSING, model=model))
    assert max(np.max(np.abs(plain.params[k] - decayed.params[k])) for k in plain.params) > 1e-4


@pytest.mark.parametrize("sampling", ["with_replacement", "random_reshuffling"])
def test_euler_same_batch_with_one_inner_step_is_sgd(sampling):
    common = {"lr": 0.05, "steps": 12, "log_every": 6, "batch_size": 3, "sampling": sampling}
    sgd = ib.run(_cfg({"kind": "sgd", **common}))
    euler = ib.run(_cfg({"kind": "euler_same_batch", "n_inner": 1, **common}))
    _assert_params_equal(sgd.params, euler.params)  # bit-identical: same batches, same arithmetic


@pytest.mark.parametrize("sampling", ["with_replacement", "random_reshuffling"])
def test_euler_same_batch_on_all_observations_is_gd_with_the_bare_step(sampling):
    # Full batch: each outer step is n_inner GD steps of lr/n_inner, whatever the sampling (only the
    # order of the summands in the mean changes: round-off).
    n_inner, lr, steps = 4, 0.2, 5
    euler = ib.run(_cfg({"kind": "euler_same_batch", "n_inner": n_inner, "lr": lr, "steps": steps, "log_every": 5,
                         "batch_size": LS["n_samples"], "sampling": sampling}))
    gd = ib.run(_cfg({"kind": "gd", "lr": lr / n_inner, "steps": n_inner * steps, "log_every": 20}))
    _assert_params_equal(euler.params, gd.params, atol=1e-13)
    assert euler.trajectory["t"].iloc[-1] == pytest.approx(gd.trajectory["t"].iloc[-1])  # same flow time
    # Negative control: GD with the outer lr for `steps` steps is elsewhere.
    big = ib.run(_cfg({"kind": "gd", "lr": lr, "steps": steps, "log_every": 5}))
    assert np.max(np.abs(big.params["W"] - euler.params["W"])) > 1e-4


def test_euler_same_batch_takes_its_inner_steps_on_one_minibatch():
    n_inner, lr, steps, B = 3, 0.1, 4, 3
    cfg, experiment = _experiment(_cfg({"kind": "euler_same_batch", "n_inner": n_inner, "lr": lr, "steps": steps,
                                        "log_every": steps, "batch_size": B}))
    result = ib.run(cfg)
    spec = StepSpec.from_settings(section_settings("trainer", cfg["trainer"]))
    key = named_key(cfg["seed"], "sampling")
    problem = experiment.objective.problem
    beta = np.asarray(experiment.params0["W"])
    for step in range(steps):
        idx = batch_indices(spec, key, jnp.asarray(step), problem.n_observations)
        batch = problem.take(idx)
        for _ in range(n_inner):
            beta = beta - lr / n_inner * _ls_grad(batch, beta)
    np.testing.assert_allclose(result.params["W"], beta, rtol=0, atol=1e-14)


def test_zero_label_noise_is_exact_gd():
    trainer = {"kind": "gd", "lr": 0.1, "steps": 30, "log_every": 10}
    gd = ib.run(_cfg(trainer))
    noiseless = ib.run(_cfg({**trainer, "label_noise": 0.0, "input_noise": 0.0, "dropout": 1.0}))
    _assert_params_equal(gd.params, noiseless.params)


def test_label_noise_step_is_gd_plus_gaussian_with_the_right_covariance():
    # y ← y + σξ: one step from θ0 is θ_GD + lr·σ·Xᵀξ/n, ξ ~ N(0, I_n), with covariance
    # Σ = (lr σ/n)² XᵀX. The whitened deviations z = Σ^{-1/2}(θ1 − θ_GD) are N(0, I_d): their mean
    # squared norm / d is 1 ± √(2/(dR)) (tolerance: 4 standard deviations) and their mean is 0.
    sigma, lr, R = 0.5, 0.1, 100
    cfg, experiment = _experiment(_cfg({"kind": "gd", "lr": lr, "steps": 1, "log_every": 1, "label_noise": sigma}))
    problem = experiment.objective.problem
    X = np.asarray(problem.X)
    n, d = X.shape
    beta0 = np.asarray(experiment.params0["W"])
    gd_step = beta0 - lr * _ls_grad(problem, beta0)
    cov = (lr * sigma / n) ** 2 * X.T @ X
    whiten = np.linalg.inv(np.linalg.cholesky(cov))
    trainer = section_settings("trainer", cfg["trainer"])
    z = np.asarray([whiten @ (np.asarray(train(experiment.objective, experiment.params0, trainer,
                                                key=jax.random.fold_in(named_key(0, "sampling"), r)).params["W"])
                              - gd_step) for r in range(R)])
    ratio = np.mean(np.sum(z**2, axis=1)) / d
    assert abs(ratio - 1) < 4 * math.sqrt(2 / (d * R)), ratio
    assert np.all(np.abs(z.mean(axis=0)) < 4 / math.sqrt(R))
    # Negative control: a noise of std σ² (a variance/std mix-up) would give ratio σ² = 0.25.
    assert abs(ratio - sigma**2) > 8 * math.sqrt(2 / (d * R))


# =========================================================================== stopping and divergence

OVERPARAM = {"kind": "least_squares", "n_samples": 10, "n_features": 20}


def test_gd_stops_at_the_first_step_below_stop_loss():
    stop = 1e-3
    trainer = {"kind": "gd", "lr": 0.1, "steps": 100000, "log_every": 100, "stop_loss": stop}
    result = ib.run(_cfg(trainer, problem=OVERPARAM, model={"kind": "linear"}))
    assert result.status == "converged"
    k = result.summary["converged_step"]
    assert result.summary["steps"] == k and 0 < k < 100000
    assert result.trajectory["loss"].iloc[-1] <= stop
    assert result.trajectory["step"].iloc[-1] == k
    # θ_k is the first iterate with L ≤ stop_loss: θ_{k−1} is above it.
    before = ib.run(_cfg({**trainer, "steps": k - 1, "stop_loss": 0.0}, problem=OVERPARAM, model={"kind": "linear"}))
    assert before.trajectory["loss"].iloc[-1] > stop
    _assert_params_equal(ib.run(_cfg({**trainer, "steps": k, "stop_loss": 0.0}, problem=OVERPARAM,
                                     model={"kind": "linear"})).params, result.params)


def test_flow_stops_by_event_below_stop_loss():
    stop = 1e-3
    trainer = {"kind": "flow", "t_max": 1000.0, "log_dt": 10.0, "stop_loss": stop}
    result = ib.run(_cfg(trainer, problem=OVERPARAM, model={"kind": "linear"}))
    assert result.status == "converged"
    traj = result.trajectory
    assert traj["loss"].iloc[-1] <= stop
    assert traj["loss"].iloc[-2] > stop
    assert traj["t"].iloc[-1] < 1000.0
    assert result.summary["time"] == pytest.approx(traj["t"].iloc[-1])


def test_stop_loss_already_met_at_init():
    for trainer in ({"kind": "gd", "steps": 50, "log_every": 10}, {"kind": "flow", "t_max": 5.0}):
        result = ib.run(_cfg({**trainer, "stop_loss": 1e6}))
        assert result.status == "converged"
        _assert_params_equal(result.params, {k: np.asarray(v) for k, v in
                                             _experiment(_cfg({**trainer, "stop_loss": 1e6}))[1].params0.items()})


@pytest.mark.parametrize("trainer", [
    {"kind": "gd", "lr": 100.0},
    {"kind": "momentum", "lr": 50.0},
    {"kind": "sgd", "lr": 100.0, "batch_size": 4},
], ids=["gd", "momentum", "sgd"])
def test_huge_lr_diverges(trainer):
    result = ib.run(_cfg({**trainer, "steps": 2000, "log_every": 50}))
    assert result.status == "diverged"
    assert 0 < result.summary["diverged_step"] < 2000
    # The loop keeps the last finite iterate.
    assert all(np.all(np.isfinite(v)) for v in result.params.values())


# =========================================================================== compile reuse

def _train_chunk_cache_size() -> int | None:
    cached = getattr(train_chunk, "_cached", None)
    return cached._cache_size() if hasattr(cached, "_cache_size") else None


def test_new_lr_seed_init_scale_do_not_recompile():
    model = {"kind": "deep_matrix", "depth": 2, "init_scale": 0.5}
    first = _cfg({"kind": "sgd", "lr": 0.05, "steps": 20, "log_every": 10, "batch_size": 4, "label_noise": 0.1},
                 model=model, problem=SENSING)
    ib.run(first)  # warm
    size = _train_chunk_cache_size()
    second = _cfg({"kind": "sgd", "lr": 0.01, "steps": 30, "log_every": 10, "batch_size": 4, "label_noise": 0.3,
                   "weight_decay": 0.1}, model={**model, "init_scale": 0.2}, problem=SENSING, seed=7)
    with CompileCounter() as counter:
        result = ib.run(second)
    assert result.status == "max_steps"
    assert counter.count == 0
    if size is not None:
        assert _train_chunk_cache_size() == size
    # Negative control (the counter works): a new batch size is a new static shape.
    with CompileCounter() as counter:
        ib.run({**second, "trainer": {**second["trainer"], "batch_size": 5}})
    assert counter.count > 0
    if size is not None:
        assert _train_chunk_cache_size() == size + 1


def test_new_lr_t_max_tolerances_do_not_recompile_the_flow():
    model = {"kind": "deep_matrix", "depth": 2, "init_scale": 0.5}
    ib.run(_cfg({"kind": "modified_flow", "lr": 0.1, "t_max": 1.0, "log_dt": 0.5}, model=model, problem=SENSING))
    with CompileCounter() as counter:
        result = ib.run(_cfg({"kind": "modified_flow", "lr": 0.03, "t_max": 2.0, "log_dt": 0.25, "rtol": 1e-9,
                              "atol": 1e-11, "stop_loss": 1e-9}, model={**model, "init_scale": 0.3},
                             problem=SENSING, seed=4))
    assert result.status in ("max_steps", "converged")
    assert counter.count == 0


# =========================================================================== contract battery

BATTERY_PROBLEMS = {
    "least_squares": {"n_samples": 6, "n_features": 4},
    "matrix_completion": {"n_rows": 4, "n_cols": 4, "rank": 1, "n_obs": 8},
    "matrix_sensing": {"n_rows": 3, "n_cols": 3, "rank": 1, "n_measurements": 6},
    "razin_2x2": {},
}
BATTERY_MODELS = {
    "linear": {"init_scale": 0.1},
    "deep_matrix": {"depth": 2, "init_scale": 0.3},
    "symmetric": {"init_scale": 0.3},
    "diagonal": {"alpha": 0.5},
}
TRAINER_KINDS = list(config_mod.TRAINERS)
_VALID_PAIRS = [(p, m) for p in BATTERY_PROBLEMS for m in BATTERY_MODELS
                if not (m == "symmetric" and p == "least_squares")]  # W = UUᵀ needs a square problem


def _battery_cases(full: bool) -> list[tuple[str, str, str, int]]:
    """(trainer, problem, model, variant). Fast: 2 cases per trainer kind, cycling through the 15 valid
    (problem, model) pairs so that every trainer, every pair, every problem and every model kind is
    run (20 cases); ``variant`` (0, 1) picks the sampling / SAM variant. Full (IB_FULL_TRAINER_MATRIX=1):
    the whole product (150 cases; several minutes, mostly compilation)."""
    if full:
        return [(t, p, m, j) for t in TRAINER_KINDS for j, (p, m) in enumerate(_VALID_PAIRS)]
    n = len(TRAINER_KINDS)
    return [(TRAINER_KINDS[i % n], *_VALID_PAIRS[i % len(_VALID_PAIRS)], i // n) for i in range(2 * n)]


_FULL = os.environ.get("IB_FULL_TRAINER_MATRIX") == "1"


def _battery_config(trainer: str, problem: str, model: str, variant: int) -> dict:
    spec = config_mod.TRAINERS[trainer]
    if trainer in ("flow", "modified_flow"):
        tr = {"kind": trainer, "t_max": 0.2, "log_dt": 0.1}
    else:
        tr = {"kind": trainer, "lr": 0.01, "steps": 5, "log_every": 2}
    if "batch_size" in spec:
        tr["batch_size"] = 2
        tr["sampling"] = ("with_replacement", "random_reshuffling")[variant % 2]
    if trainer == "euler_same_batch":
        tr["n_inner"] = 2
    if trainer == "sam":
        tr["variant"] = ("sam", "stochastic", "usam")[variant % 3]
    return {"name": f"battery-{trainer}-{problem}-{model}", "seed": 1,
            "problem": {"kind": problem, **BATTERY_PROBLEMS[problem]},
            "model": {"kind": model, **BATTERY_MODELS[model]}, "trainer": tr}


def _expected_param_shapes(model: str, shape: tuple[int, ...], cfg: dict) -> dict[str, tuple[int, ...]]:
    if model == "linear":
        return {"W": shape}
    if model == "diagonal":
        return {"u": shape, "v": shape}
    if model == "symmetric":
        return {"U": (shape[0], shape[0])}
    n_rows, n_cols = (1, shape[0]) if len(shape) == 1 else shape
    width = max(n_rows, n_cols)
    dims = [n_cols] + [width] * (cfg["model"]["depth"] - 1) + [n_rows]
    return {f"W{j}": (dims[j], dims[j - 1]) for j in range(1, len(dims))}


@pytest.mark.parametrize("trainer, problem, model, variant", _battery_cases(_FULL),
                         ids=lambda v: str(v))
def test_trainer_contract(tmp_path, trainer, problem, model, variant):
    cfg = _battery_config(trainer, problem, model, variant)
    result = ib.run(cfg, out=tmp_path)
    resolved = result.config
    shape = config_mod.end_to_end_shape(resolved["problem"])

    # Status, shapes, finiteness.
    assert result.status == "max_steps", result.summary
    assert {k: v.shape for k, v in result.params.items()} == _expected_param_shapes(model, shape, resolved)
    assert result.end_to_end.shape == shape and result.end_to_end_init.shape == shape
    assert all(np.all(np.isfinite(v)) for v in result.params.values())
    assert np.all(np.isfinite(result.end_to_end))

    # Trajectory: starts at step 0 / t 0, time axis consistent, finite losses.
    traj = result.trajectory
    assert {"step", "t", "loss", "objective", "penalty", "param_norm"} <= set(traj.columns)
    assert traj["step"].iloc[0] == 0 and traj["t"].iloc[0] == 0.0
    assert np.all(np.diff(traj["t"].to_numpy()) > 0)
    assert np.all(np.isfinite(traj[["loss", "objective", "param_norm"]].to_numpy()))
    tr = resolved["trainer"]
    if trainer in ("flow", "modified_flow"):
        assert traj["t"].iloc[-1] == pytest.approx(tr["t_max"])
    else:
        assert traj["step"].iloc[-1] == tr["steps"] == result.summary["steps"]
        np.testing.assert_allclose(traj["t"].to_numpy(), tr["lr"] * traj["step"].to_numpy(), rtol=1e-12)
        assert traj["step"].tolist() == [0, 2, 4, 5]

    # Run directory contract.
    run_dir = result.path
    assert run_dir == tmp_path / config_mod.run_dir_name(resolved)
    for name in ("config.json", "metrics.parquet", "summary.json", "final.npz", "problem.npz"):
        assert (run_dir / name).is_file(), name
    loaded = load_run(run_dir)
    assert loaded.status == result.status
    _assert_params_equal(loaded.params, result.params)
    np.testing.assert_array_equal(loaded.end_to_end, result.end_to_end)
    assert len(loaded.trajectory) == len(traj)
    assert ib.run(cfg, out=tmp_path).skipped  # a finished run with the same hash is loaded, not rerun

    # Determinism: the same config again (not from disk) gives bit-identical parameters and metrics.
    again = ib.run(cfg)
    assert not again.skipped
    _assert_params_equal(again.params, result.params)
    np.testing.assert_array_equal(again.trajectory["loss"].to_numpy(), traj["loss"].to_numpy())


def test_battery_covers_every_kind():
    cases = _battery_cases(False)
    assert {c[0] for c in cases} == set(TRAINER_KINDS)
    assert {(c[1], c[2]) for c in cases} == set(_VALID_PAIRS)
    assert set(TRAINER_KINDS) >= {"gd", "sgd", "euler_same_batch", "adam", "rmsprop", "group_rmsprop", "momentum",
                                  "sam", "flow", "modified_flow"}


def test_flow_out_of_solver_steps_is_not_divergence():
    """A finite state that ran out of solver steps is reported as such, not as `diverged`."""
    result = ib.run({"problem": {"kind": "least_squares", "n_samples": 10, "n_features": 20},
                     "model": {"kind": "linear"},
                     "trainer": {"kind": "flow", "t_max": 10.0, "log_dt": 5.0, "max_solver_steps": 3}})
    assert result.status == "max_solver_steps"
    assert np.isfinite(result.summary["final"]["loss"])


def test_modified_flow_differentiates_twice_through_the_deep_matrix_product():
    """modified_flow needs a Hessian-vector product (forward over reverse mode) through
    models.matmul, whose custom JVP must support both; GD's gap to it is far below its gap to
    the plain flow at the same lr."""
    base = {"problem": {"kind": "matrix_sensing", "n_rows": 4, "n_cols": 4, "rank": 1, "n_measurements": 8},
            "model": {"kind": "deep_matrix", "depth": 3, "init_scale": 0.5}}
    lr, steps = 0.02, 50
    gd = ib.run({**base, "trainer": {"kind": "gd", "lr": lr, "steps": steps, "log_every": steps}})
    flow = {"t_max": lr * steps, "log_dt": lr * steps, "rtol": 1e-10, "atol": 1e-12}
    flows = {"flow": ib.run({**base, "trainer": {"kind": "flow", **flow}}),
             "modified_flow": ib.run({**base, "trainer": {"kind": "modified_flow", "lr": lr, **flow}})}
    gap = {kind: np.linalg.norm(gd.end_to_end - r.end_to_end) for kind, r in flows.items()}
    assert flows["modified_flow"].status == "max_steps"
    assert gap["modified_flow"] < 0.2 * gap["flow"]
