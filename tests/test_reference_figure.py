"""The whole-figure benchmark (``benchmarks/reference_figure.py``, issue 15), checked without timing.

- without a checkout of the reference code it is skipped with a message and records no ratio;
- the reference's 48-run serial total is extrapolated as Σ over cells of the mean measured time × seeds;
- our side is one ``implicit-bias sweep`` whose runs are matched back to their problem and depth,
  each with the test error over all entries of its own W*.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import benchmark_module


@pytest.fixture(scope="module")
def figure():
    with benchmark_module("reference_figure") as module:
        yield module


def test_skipped_without_a_checkout(figure, tmp_path, capsys):
    out = tmp_path / "result.json"
    assert figure.main(["--json-out", str(out)]) == 0
    assert "skipped" in capsys.readouterr().out
    assert json.loads(out.read_text()) == {"benchmark": "reference_figure", "skipped": True,
                                           "reason": json.loads(out.read_text())["reason"], "ratios": {}}


def test_not_a_checkout_is_refused(figure, tmp_path):
    assert figure.main(["--reference-code", str(tmp_path)]) == 2


def test_serial_total_is_cell_means_times_seeds(figure):
    measured = [{"depth": 1, "n_obs": 2000, "wall_seconds": 30.0}, {"depth": 1, "n_obs": 2000, "wall_seconds": 34.0},
                {"depth": 3, "n_obs": 2000, "wall_seconds": 40.0}]
    assert figure.extrapolated_serial_total(measured, 3) == pytest.approx(3 * 32.0 + 3 * 40.0)
    assert figure.extrapolated_serial_total(measured, 1) == pytest.approx(72.0)


def test_one_sweep_covers_the_grid_and_scores_each_run_on_its_own_matrix(figure, tmp_path):
    with benchmark_module("reference_code") as reference_code:
        problems = {}
        for seed in (0, 1):  # two problems of the grid, depth 1 only (converges in tens of steps)
            W, rows, cols = reference_code.generate_problem(30, 2, 600, seed)
            path = reference_code.write_ratings(tmp_path / f"ratings{seed}.txt", W, rows, cols)
            problems[(600, seed)] = {"ratings": path, "W": W}
    result = figure.run_ours(problems, [1], tmp_path / "sweep", jobs=1, cache=tmp_path / "cache")
    runs = sorted(result["runs"], key=lambda r: r["seed"])
    assert [(r["depth"], r["n_obs"], r["seed"]) for r in runs] == [(1, 600, 0), (1, 600, 1)]
    assert all(r["status"] == "converged" for r in runs)
    # depth 1 from a small init fits the observed entries and leaves the others near 0: the test
    # MSE over all entries is ≈ the unobserved fraction (1 − 600/900) of the mean of W*² = 1
    for run in runs:
        W = problems[(600, run["seed"])]["W"].astype(float)
        observed = np.zeros(W.shape, bool)
        lines = np.loadtxt(problems[(600, run["seed"])]["ratings"])
        observed[lines[:, 0].astype(int), lines[:, 1].astype(int)] = True
        assert run["test_mse_all_entries"] == pytest.approx(np.sum(W[~observed] ** 2) / W.size, rel=1e-3)
    assert "--zip" in result["command"] and "trainer.lr=1000.0" in result["command"]
