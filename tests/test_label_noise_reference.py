"""The label-noise benchmark against HaoChen et al.'s code (``benchmarks/label_noise_reference.py``),
checked without timing anything and without their code:

- without a checkout it is skipped with a message and records no ratio; a directory that is not a
  checkout is refused;
- the data it regenerates are the draws of NumPy's global generator after ``np.random.seed(123)``
  (what the reference script does), and its iteration-0 train error is the reference's first log
  line (27.635294, printed by ``train_quadratic.py --opt=LNGD`` at the README's setting);
- the reference's log is parsed; the lr schedule has the script's ÷10 milestones;
- our worker on those data keeps u = v exactly (so β = u ⊙ u is their v ⊙ v) and lowers the loss.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import benchmark_module


@pytest.fixture(scope="module")
def bench():
    with benchmark_module("label_noise_reference") as module:
        yield module


def test_skipped_without_a_checkout(bench, tmp_path, capsys):
    out = tmp_path / "result.json"
    assert bench.main(["--json-out", str(out)]) == 0
    assert "skipped" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["skipped"] is True and result["ratios"] == {}


def test_not_a_checkout_is_refused(bench, tmp_path):
    assert bench.main(["--reference-code", str(tmp_path)]) == 2


def test_data_are_the_reference_scripts_draws(bench):
    X, y, w_star = bench.generate_reference_data(100, 40, 5, 123)
    np.random.seed(123)  # the reference's own sequence of global-generator calls
    np.random.rand(100)
    xs = np.random.randn(40, 100)
    np.testing.assert_array_equal(X, xs.astype(np.float32))
    np.testing.assert_array_equal(w_star, np.r_[np.ones(5), np.zeros(95)])
    np.testing.assert_array_equal(y, (xs @ w_star).astype(np.float32))
    # the reference's first log line at this setting: "iter:   0 | train error: 27.635294 | ..."
    assert bench.initial_train_error(X, y, 1.0) == pytest.approx(27.635294, abs=5e-6)


def test_reference_log_is_parsed(bench):
    log = ("iter:   0 | train error: 27.635294 | test error: 95.000008 | \n"
           "iter:  20 | train error: 5.166614 | test error: 69.132385 | \n"
           "iter: 299980 | train error: 0.000012 | test error: 0.001234 | \n")
    parsed = bench.parse_reference_log(log)
    assert parsed["first"] == {"iter": 0, "train_error": 27.635294, "test_error": 95.000008}
    assert parsed["last"] == {"iter": 299980, "train_error": 1.2e-05, "test_error": 0.001234}
    assert parsed["rows"] == 3
    with pytest.raises(RuntimeError):
        bench.parse_reference_log("Traceback ...")


def test_schedule_has_the_scripts_milestones(bench):
    assert bench.schedule(300_000) == [(0.01, 100_000), (0.001, 100_000), (0.0001, 100_000)]
    assert bench.schedule(20_000) == [(0.01, 20_000)]
    assert bench.schedule(150_000) == [(0.01, 100_000), (0.001, 50_000)]


def test_our_worker_keeps_u_equal_v_and_fits(bench, tmp_path):
    X, y, _ = bench.generate_reference_data(100, 40, 5, 123)
    npz = tmp_path / "data.npz"
    np.savez(npz, X=X.astype(float), y=y.astype(float))
    out = tmp_path / "ours.json"
    bench.ours_worker(npz, 2_000, out)
    got = json.loads(out.read_text())
    assert got["u_minus_v"] == 0.0  # identical updates of u and v: β = u ⊙ u, their v ⊙ v
    # 2,000 steps of lr 0.01 from v = 1 bring their ¼-loss from 27.6 below 1 (their log: 0.11 at 1,980)
    assert got["data_loss"] / 2 < 1.0


def test_run_all_entry_names_this_module_with_arguments_it_accepts(bench, tmp_path):
    with benchmark_module("run_all") as run_all:
        entries = run_all.LABEL_NOISE_BENCHMARKS
    assert set(entries) == {"label_noise_reference"}
    for mode in ("full", "quick"):
        out = tmp_path / f"{mode}.json"
        assert bench.main([*entries["label_noise_reference"][mode], "--json-out", str(out)]) == 0  # skipped
        assert json.loads(out.read_text())["skipped"] is True
