"""The curvature columns (``sharpness``, ``hessian_eigenvalues``, ``hessian_trace``,
``batch_sharpness``) and ``trainer.lr_relative`` (issue 17, §1 and §3) against exact Hessians.

Oracles: for least squares with the linear model, C(β) = (1/2n)‖Xβ − y‖² (+ (λ/2)‖β‖² with an l2
penalty), so ∇²C = XᵀX/n (+ λI) at every iterate; for the diagonal network and a small mlp, the
dense ``jax.hessian`` of the objective on the flattened parameters, at the initial parameters
(row 0) and at the final ones (the last row), eigendecomposed by ``numpy.linalg.eigvalsh``.
"""

import copy
import tomllib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from implicit_bias.execution import batched
from implicit_bias.execution.single import Experiment, as_config, run
from implicit_bias.settings import ConfigError, config_hash

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "woodworth_diagonal.toml"
LS = {"name": "sh", "problem": {"kind": "least_squares", "n_samples": 30, "n_features": 12},
      "model": {"kind": "linear"}, "trainer": {"steps": 40, "log_every": 10, "lr": 0.05},
      "metrics": {"sharpness": True, "hessian_top_k": 3}}


def dense_hessian(objective, params):
    """The d×d Hessian of C on the flattened parameters (ravel_pytree order)."""
    theta, unravel = ravel_pytree(params)
    return np.asarray(jax.jit(jax.hessian(lambda t: objective(unravel(t))))(theta))


def gauss_newton(objective, params):
    """The Gauss–Newton part JᵀJ/n of a half-mean-squared loss (no penalty): the wrong oracle."""
    theta, unravel = ravel_pytree(params)
    J = np.asarray(jax.jit(jax.jacfwd(lambda t: objective.model.predict(unravel(t), objective.problem).ravel()))(theta))
    return J.T @ J / J.shape[0]


def final_params(result):
    return {k: jnp.asarray(v) for k, v in result.params.items()}


# --------------------------------------------------------------------------- least squares: exact


@pytest.mark.parametrize("n_features, weight", [(12, 0.0), (12, 0.3), (100, 0.0), (100, 0.3)])
def test_least_squares_sharpness_is_the_top_eigenvalue_of_XtX_over_n(n_features, weight):
    """Every row (initial iterate included) equals λ_max(XᵀX/n) + λ to 1e-8 relative; also with
    d = 100 > 64 Lanczos steps (rank 30: the Krylov space is exhausted after 31 steps)."""
    cfg = copy.deepcopy(LS)
    cfg["problem"]["n_features"] = n_features
    if weight:
        cfg["penalty"] = {"kind": "l2", "weight": weight}
    result = run(cfg)
    X = np.asarray(Experiment.build(as_config(cfg)).objective.problem.X)
    exact = np.sort(np.linalg.eigvalsh(X.T @ X / X.shape[0] + weight * np.eye(X.shape[1])))[::-1]
    rows = result.trajectory
    assert len(rows) == 5 and rows["step"].iloc[0] == 0
    np.testing.assert_allclose(rows["sharpness"], exact[0], rtol=1e-8)
    for row in rows["hessian_eigenvalues"]:
        np.testing.assert_allclose(np.asarray(row), exact[:3], rtol=1e-8)
    assert result.summary["final"]["sharpness"] == pytest.approx(exact[0], rel=1e-8)
    assert list(result.summary["final"]["hessian_eigenvalues"]) == pytest.approx(list(exact[:3]), rel=1e-8)


def test_the_least_squares_check_can_fail():
    """A Hessian without the 1/n (what a sum-of-squares convention would give) is far outside 1e-8."""
    result = run(LS)
    X = np.asarray(Experiment.build(as_config(LS)).objective.problem.X)
    wrong = np.linalg.eigvalsh(X.T @ X).max()
    assert abs(result.trajectory["sharpness"].iloc[0] / wrong - 1) > 1e-2


def test_float32():
    cfg = {**LS, "dtype": "float32"}
    result = run(cfg)
    X = np.asarray(Experiment.build(as_config(cfg)).objective.problem.X, np.float64)
    exact = np.linalg.eigvalsh(X.T @ X / X.shape[0]).max()
    assert isinstance(result.summary["final"]["sharpness"], float)
    np.testing.assert_allclose(result.trajectory["sharpness"], exact, rtol=1e-5)


# --------------------------------------------------------------------------- nonlinear models: dense Hessian

DIAGONAL = {"name": "shd", "problem": {"kind": "least_squares", "n_samples": 10, "n_features": 8, "target": "sparse",
                                       "sparsity": 2},
            "model": {"kind": "diagonal", "alpha": 0.7},
            "trainer": {"steps": 30, "log_every": 10, "lr": 0.05}}
#: σ_w = 2: far enough from a minimum that the Hessian is indefinite and its residual term has a trace.
MLP = {"name": "shm", "problem": {"kind": "teacher_student", "n_samples": 12, "n_features": 3, "n_test": 5,
                                  "teacher_widths": [4], "activation": "tanh"},
       "model": {"kind": "mlp", "widths": [6], "activation": "tanh", "bias": True, "parameterization": "standard",
                 "init_scale": 2.0},
       "trainer": {"steps": 30, "log_every": 10, "lr": 0.1}}
CURVATURE = {"sharpness": True, "hessian_top_k": 4, "hessian_trace": True, "hessian_probes": 64}


@pytest.fixture(scope="module")
def mlp_run():
    cfg = {**MLP, "metrics": {**CURVATURE, "hessian_probes": 4096}}
    return run(cfg), Experiment.build(as_config(cfg))


@pytest.fixture(scope="module")
def diagonal_run():
    cfg = {**DIAGONAL, "metrics": CURVATURE}
    return run(cfg), Experiment.build(as_config(cfg))


@pytest.mark.parametrize("which", ["diagonal_run", "mlp_run"], ids=["diagonal", "mlp"])
def test_nonlinear_models_against_a_dense_hessian(which, request):
    result, experiment = request.getfixturevalue(which)
    rows = result.trajectory
    for row, params in ((rows.iloc[0], experiment.params0), (rows.iloc[-1], final_params(result))):
        H = dense_hessian(experiment.objective, params)
        assert H.shape[0] < 64  # m = d Lanczos steps: exact to rounding
        eig = np.sort(np.linalg.eigvalsh(H))[::-1]
        assert row["sharpness"] == pytest.approx(eig[0], rel=1e-9, abs=1e-12)
        np.testing.assert_allclose(np.asarray(row["hessian_eigenvalues"]), eig[:4], rtol=1e-9, atol=1e-12)
        band = 4 * row["hessian_trace_stderr"]
        assert abs(row["hessian_trace"] - np.trace(H)) <= band
        assert band > 0


def test_the_sharpness_is_algebraic_not_in_magnitude(mlp_run):
    """At a point of negative curvature the largest algebraic eigenvalue is what is logged, not the
    largest in magnitude (checked where the two differ)."""
    result, experiment = mlp_run
    eig = np.linalg.eigvalsh(dense_hessian(experiment.objective, experiment.params0))
    assert eig.min() < 0
    assert result.trajectory["sharpness"].iloc[0] == pytest.approx(eig.max(), rel=1e-9)
    assert abs(result.trajectory["sharpness"].iloc[0] - eig.max()) < 1e-3 * abs(eig.max() - eig.min())


def test_the_trace_band_rejects_the_gauss_newton_trace(mlp_run):
    """Negative control: where the residual term of the Hessian has a trace, the Gauss–Newton
    trace lies outside the 4-stderr band that holds the exact trace."""
    result, experiment = mlp_run
    row = result.trajectory.iloc[0]
    exact = np.trace(dense_hessian(experiment.objective, experiment.params0))
    wrong = np.trace(gauss_newton(experiment.objective, experiment.params0))
    band = 4 * row["hessian_trace_stderr"]
    assert abs(row["hessian_trace"] - exact) <= band
    assert abs(row["hessian_trace"] - wrong) > band


def test_batch_sharpness_is_the_mean_over_storage_order_batches():
    cfg = {"name": "shb", "problem": {"kind": "least_squares", "n_samples": 22, "n_features": 6},
           "model": {"kind": "linear"},
           "trainer": {"kind": "sgd", "batch_size": 5, "steps": 20, "log_every": 10, "lr": 0.01},
           "metrics": {"batch_sharpness": True, "sharpness": True}}
    result = run(cfg)
    X = np.asarray(Experiment.build(as_config(cfg)).objective.problem.X)
    per_batch = [np.linalg.eigvalsh(X[k * 5:(k + 1) * 5].T @ X[k * 5:(k + 1) * 5] / 5).max() for k in range(4)]
    np.testing.assert_allclose(result.trajectory["batch_sharpness"], np.mean(per_batch), rtol=1e-8)
    np.testing.assert_allclose(result.trajectory["sharpness"], np.linalg.eigvalsh(X.T @ X / 22).max(), rtol=1e-8)
    with pytest.raises(ConfigError) as err:
        as_config({**cfg, "trainer": {"kind": "gd"}})
    assert err.value.key == "metrics.batch_sharpness"


def test_a_batched_sweep_equals_single_runs():
    cfgs = [as_config({**DIAGONAL, "seed": s, "model": {**DIAGONAL["model"], "alpha": a}, "metrics": CURVATURE})
            for s, a in ((0, 0.7), (1, 0.7), (0, 0.3))]
    together = batched.run_batch(cfgs, mode="on")
    for cfg, member in zip(cfgs, together):
        alone = run(cfg)
        for name in ("sharpness", "hessian_trace", "hessian_trace_stderr"):
            np.testing.assert_allclose(member.trajectory[name], alone.trajectory[name], rtol=1e-10)
        np.testing.assert_allclose(np.stack(member.trajectory["hessian_eigenvalues"]),
                                   np.stack(alone.trajectory["hessian_eigenvalues"]), rtol=1e-10)
    assert together[0].trajectory["hessian_trace"].iloc[-1] != together[1].trajectory["hessian_trace"].iloc[-1]


def test_curvature_keys_are_hash_neutral_at_their_defaults():
    plain = as_config(LS | {"metrics": {}})
    explicit = as_config(LS | {"metrics": {"sharpness": False, "hessian_top_k": 0, "hessian_trace": False,
                                           "hessian_probes": 16, "batch_sharpness": False,
                                           "hessian_iterations": 64}})
    assert config_hash(plain) == config_hash(explicit)
    assert config_hash(plain) != config_hash(as_config(LS))
    result = run(LS | {"metrics": {}})
    assert "sharpness" not in result.trajectory


# --------------------------------------------------------------------------- lr_relative


def _example(alpha: float, steps: int) -> dict:
    cfg = tomllib.loads(EXAMPLE.read_text())
    cfg["model"]["alpha"] = alpha
    cfg["trainer"].update(steps=steps, log_every=steps // 4)
    return cfg


def test_the_example_diverges_at_alpha_1_with_its_fixed_lr():
    """The issue's observation: at the example's lr = 0.1, α = 1 diverges within 7 steps."""
    cfg = _example(1.0, 40)
    cfg["trainer"]["log_every"] = 1
    summary = run(cfg).summary
    assert summary["status"] == "diverged" and summary["diverged_step"] <= 7


def test_lr_relative_sweep_over_alpha_never_diverges_and_resolves_c_times_2_over_lambda():
    cfgs = []
    for alpha in (0.01, 0.1, 1.0):
        cfg = _example(alpha, 400)
        del cfg["trainer"]["lr"]
        cfg["trainer"]["lr_relative"] = 0.5
        cfg["metrics"] = {"sharpness": True}
        cfgs.append(as_config(cfg))
    assert all(c["trainer"]["lr"] is None for c in cfgs)
    results = batched.run_batch(cfgs, mode="on")
    lrs = []
    for cfg, result in zip(cfgs, results):
        assert result.status != "diverged", cfg["model"]["alpha"]
        experiment = Experiment.build(cfg)
        lam = np.linalg.eigvalsh(dense_hessian(experiment.objective, experiment.params0)).max()
        assert result.summary["resolved_lr"] == pytest.approx(0.5 * 2 / lam, rel=1e-9)
        assert result.summary["initial_sharpness"] == pytest.approx(lam, rel=1e-9)
        assert result.trajectory["sharpness"].iloc[0] == pytest.approx(lam, rel=1e-9)
        assert result.trajectory["t"].iloc[-1] == pytest.approx(result.summary["resolved_lr"] * result.summary["steps"])
        assert result.trajectory["loss"].iloc[-1] < result.trajectory["loss"].iloc[0]
        lrs.append(result.summary["resolved_lr"])
    assert len(set(lrs)) == 3  # one step per member
    alone = run(cfgs[2])  # batched members equal single runs (each its own lr)
    assert alone.summary["resolved_lr"] == pytest.approx(lrs[2], rel=1e-12)
    np.testing.assert_allclose(alone.trajectory["loss"], results[2].trajectory["loss"], rtol=1e-9)


def test_lr_relative_is_exclusive_with_lr_and_hash_neutral():
    cfg = _example(1.0, 10)
    with pytest.raises(ConfigError) as err:
        as_config({**cfg, "trainer": {**cfg["trainer"], "lr_relative": 0.5}})
    assert "trainer.lr" in str(err.value) and "trainer.lr_relative" in str(err.value)
    for bad in (0.0, -1.0, "x"):
        with pytest.raises(ConfigError) as err:
            as_config({**cfg, "trainer": {"kind": "gd", "lr_relative": bad}})
        assert err.value.key == "trainer.lr_relative"
    assert config_hash(as_config(cfg)) == config_hash(as_config({**cfg, "trainer": {**cfg["trainer"],
                                                                                      "lr_relative": None}}))
    relative = as_config({**cfg, "trainer": {"kind": "sgd", "batch_size": 4, "lr_relative": 0.5}})
    assert as_config(relative) == relative  # resolving a resolved config is the identity


# --------------------------------------------------------------------------- explain and the report


def test_explain_shows_the_final_sharpness_next_to_2_over_lr(tmp_path):
    from implicit_bias.analysis.explain import explain, format_table
    from implicit_bias.analysis.report.html import render

    logged = run({**LS, "metrics": {"sharpness": True, "hessian_trace": True}}, out=tmp_path)
    plain = run({**LS, "metrics": {}}, out=tmp_path)
    X = np.asarray(Experiment.build(as_config(LS)).objective.problem.X)
    exact = np.linalg.eigvalsh(X.T @ X / X.shape[0]).max()
    for result, source in ((logged, "logged"), (plain, "computed by explain")):
        report = explain(result.path)
        flat = report["flatness"]
        assert flat["source"] == source
        assert flat["sharpness"] == pytest.approx(exact, rel=1e-8)
        assert flat["two_over_lr"] == pytest.approx(2 / LS["trainer"]["lr"])
        line = format_table(report).splitlines()[-1]
        assert line.startswith("did training end flat?") and "2/lr = 40" in line
        assert ("Hessian trace" in line) == (source == "logged")
    html = render(tmp_path)
    assert "Sharpness against 2/lr" in html or "sharpness against 2/lr" in html
