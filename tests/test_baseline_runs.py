"""[baseline] runs: the same run directory as a trained run, on exactly the same data."""

import numpy as np
import pytest

import implicit_bias as ib

SPARSE = {"kind": "least_squares", "n_samples": 10, "n_features": 30, "target": "sparse", "sparsity": 2}


def test_min_norm_from_the_model_init_is_the_limit_of_gd(tmp_path):
    """GD's null-space term: same seed and [model] → same x0, so the baseline is GD's limit."""
    model = {"kind": "linear", "init_scale": 1.0}
    baseline = ib.run({"problem": SPARSE, "baseline": {"kind": "min_norm"}, "model": model}, out=tmp_path)
    trained = ib.run({"problem": SPARSE, "model": model,
                      "trainer": {"lr": 0.02, "steps": 20000, "log_every": 5000}})
    np.testing.assert_allclose(trained.end_to_end, baseline.end_to_end, atol=1e-10)
    np.testing.assert_allclose(trained.end_to_end_init, baseline.end_to_end_init, atol=0)
    for name in ("config.json", "metrics.parquet", "summary.json", "final.npz", "problem.npz"):
        assert (baseline.path / name).is_file()
    assert baseline.status == "converged"


def test_ridge_path_has_one_row_per_lambda_and_shrinks():
    result = ib.run({"problem": SPARSE, "baseline": {"kind": "ridge", "lambda": 0.1, "path": [1e-4, 1e-2, 1.0]}})
    frame = result.trajectory
    assert list(frame["lambda"]) == [1e-4, 1e-2, 1.0, 0.1]
    norms = frame["end_to_end_norm"].iloc[:3].to_numpy()
    assert np.all(np.diff(norms) < 0)  # a larger λ gives a smaller solution
    single = ib.run({"problem": SPARSE, "baseline": {"kind": "ridge", "lambda": 0.1}})
    assert len(single.trajectory) == 1
    np.testing.assert_allclose(single.end_to_end, result.end_to_end, rtol=1e-12)


def test_matrix_baselines_report_rank_measures():
    problem = {"kind": "matrix_completion", "n_rows": 30, "n_cols": 30, "rank": 2, "n_obs": 400, "target_norm": 30.0}
    nuclear = ib.run({"problem": problem, "baseline": {"kind": "min_nuclear_norm"}})
    frobenius = ib.run({"problem": problem, "baseline": {"kind": "min_norm"}})
    for result in (nuclear, frobenius):
        for key in ("effective_rank", "nuclear_fro_ratio", "stable_rank", "test_error"):
            assert np.isfinite(result.summary["final"][key])
    assert nuclear.summary["final"]["test_error"] < 0.5 * frobenius.summary["final"]["test_error"]
    assert nuclear.summary["final"]["effective_rank"] < frobenius.summary["final"]["effective_rank"]
    assert nuclear.summary["solver"]["feasibility"] < 1e-8


def test_ntk_regression_is_kernel_regression_with_the_analytic_ntk():
    """t = ∞ (time = 0): the held-out predictions are Θ(X_test, X) Θ(X, X)⁻¹ Y (f0 = 0 at infinite
    width); a finite time gives the linearized dynamics f(t) = (I − e^{−Θt/n})Y on the training set."""
    from implicit_bias.baselines.estimators import ntk_relu
    from implicit_bias.core.problems import make_problem
    from implicit_bias.settings import section_settings

    problem = {"kind": "teacher_student", "n_samples": 30, "n_features": 4, "n_test": 100}
    result = ib.run({"problem": problem, "baseline": {"kind": "ntk_regression", "kernel": "analytic"}})
    data = make_problem(section_settings("problem", result.config["problem"]), result.config["seed"])
    X, Y, X_test, Y_test = (np.asarray(a) for a in (data.X, data.targets, data.X_test, data.y_test))
    predictions = ntk_relu(X_test, X) @ np.linalg.solve(ntk_relu(X), Y)
    expected = 0.5 * np.mean((predictions - Y_test) ** 2)
    assert result.summary["final"]["test_loss"] == pytest.approx(expected, rel=1e-8)
    np.testing.assert_allclose(result.end_to_end, Y, atol=1e-12)  # interpolates at t = ∞

    t = 5.0
    finite = ib.run({"problem": problem, "baseline": {"kind": "ntk_regression", "kernel": "analytic", "time": t}})
    lam, Q = np.linalg.eigh(ntk_relu(X))
    np.testing.assert_allclose(finite.end_to_end, Q @ ((1 - np.exp(-lam * t / 30)) * (Q.T @ Y)), atol=1e-10)


@pytest.mark.parametrize("config, key", [
    ({"problem": SPARSE, "baseline": {"kind": "min_nuclear_norm"}}, "baseline.kind"),
    ({"problem": SPARSE, "baseline": {"kind": "q_alpha"}, "trainer": {"kind": "gd"}}, "trainer"),
    ({"problem": SPARSE, "baseline": {"kind": "ntk_regression"}}, "model"),
    ({"problem": SPARSE, "baseline": {"kind": "basis_pursuit"}, "model": {"kind": "linear"}}, "model"),
])
def test_inconsistent_baseline_configs_name_the_key(config, key):
    with pytest.raises(ib.ConfigError) as info:
        ib.run(config)
    assert info.value.key == key
