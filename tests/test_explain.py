"""`explain`: the rankings of the issue's examples (Woodworth et al. 2020; Arora et al. 2019).

Diagonal u²−v² on an underdetermined sparse regression (20 x 60, 3-sparse target):
- α = 1e-3 (rich regime): Q_α's minimizer is the exact limit, then basis pursuit (ℓ1), and the
  minimum ℓ2-norm interpolant is last;
- α = 10 (kernel regime): Q_α ≈ ℓ2, so min_norm comes before basis_pursuit, which is last.
Measured on 2026-11-25 (seed 0): α = 1e-3: distances 3.5e-4 (q_alpha), 3.6e-3 (basis_pursuit),
1.04 (min_norm); α = 10: 3.3e-7 (q_alpha), 3.3e-7 (min_norm), 0.72 (basis_pursuit).
"""

import json

import numpy as np

import pytest

import implicit_bias as ib
from implicit_bias.cli import main
from implicit_bias.analysis.explain import explain


def _diagonal_run(tmp_path, alpha: float, lr: float, steps: int):
    config = {"name": f"diag-{alpha:g}",
              "problem": {"kind": "least_squares", "n_samples": 20, "n_features": 60, "target": "sparse",
                          "sparsity": 3},
              "model": {"kind": "diagonal", "form": "difference", "power": 2, "alpha": alpha},
              "trainer": {"kind": "gd", "lr": lr, "steps": steps, "log_every": steps // 10, "stop_loss": 1e-14}}
    return ib.run(config, out=tmp_path)


def test_small_alpha_ranks_l1_before_l2(tmp_path):
    result = _diagonal_run(tmp_path, 1e-3, 0.05, 200_000)
    ranking = [row["baseline"] for row in explain(result.path)["ranking"]]
    assert ranking.index("basis_pursuit") < ranking.index("min_norm")
    assert ranking[-1] == "min_norm"
    assert ranking[0] == "q_alpha"  # the exact theory at the run's α beats both


def test_large_alpha_ranks_l2_before_l1(tmp_path, capsys):
    # lr small enough for the kernel regime to be stable: 8α²·lr·λ_max(XᵀX/n) ≈ 0.6 < 2
    result = _diagonal_run(tmp_path, 10.0, 1e-4, 20_000)
    assert main(["explain", str(result.path)]) == 0
    out = capsys.readouterr().out
    assert "min_norm" in out and "closest to" in out
    report = json.loads((result.path / "explain.json").read_text())
    ranking = [row["baseline"] for row in report["ranking"]]
    assert ranking.index("min_norm") < ranking.index("basis_pursuit")
    assert ranking[-1] == "basis_pursuit"
    assert (result.path / "baselines" / "min_norm.npz").is_file()  # cached


def test_explain_rejects_a_directory_that_is_not_a_finished_run(tmp_path, capsys):
    assert main(["explain", str(tmp_path)]) == 2
    assert "RUN_DIR" in capsys.readouterr().err


@pytest.mark.slow
def test_deep_completion_is_lower_rank_but_higher_nuclear_norm_than_min_nuclear_norm(tmp_path):
    """Arora et al. 2019: with 2,000 of 10,000 entries, depth 3 beats nuclear-norm minimization
    with a solution of *lower* effective rank and *higher* nuclear norm (measured: effective rank
    4.90 vs 8.13, nuclear norm 219.1 vs 214.4, test error 8.4e-4 vs 0.23)."""
    result = ib.run(None, out=tmp_path)  # the embedded default: 100x100 rank 5, depth 3
    report = explain(result.path)
    by_name = {row["baseline"]: row for row in report["ranking"]}
    trained, nuclear = report["trained"], by_name["min_nuclear_norm"]
    assert trained["criteria"]["effective_rank"] < nuclear["criteria"]["effective_rank"]
    assert trained["criteria"]["nuclear"] > nuclear["criteria"]["nuclear"]
    assert trained["test_error"] < nuclear["baseline_test_error"]


def test_mlp_runs_are_compared_with_lazy_training_and_report_the_function_spectrum(tmp_path):
    """A wide NTK-parameterized net trained briefly stays close to its linearization (the
    empirical-NTK prediction at the same t), closer than a narrow one; the report carries the
    function-spectrum criteria (seed 001) of the trained and the initial network."""
    distances = {}
    for width in (16, 2048):
        result = ib.run({"name": f"mlp{width}",
                         "problem": {"kind": "teacher_student", "n_samples": 20, "n_features": 5, "n_test": 50},
                         "model": {"kind": "mlp", "widths": [width]},
                         "trainer": {"kind": "gd", "lr": 0.05, "steps": 200, "log_every": 100}}, out=tmp_path)
        report = explain(result.path)
        by_name = {row["baseline"]: row for row in report["ranking"]}
        assert set(by_name) == {"ntk_empirical", "ntk_analytic"}
        for key in ("function_effective_rank", "function_nuclear_fro_ratio"):
            assert np.isfinite(report["trained"]["criteria"][key]) and np.isfinite(report["init"]["criteria"][key])
        distances[width] = by_name["ntk_empirical"]["distance"]
    assert distances[2048] < 0.5 * distances[16]
