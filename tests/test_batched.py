"""vmap-batched sweep runs (batched.py) give the same run directories as separate runs.

The batched step is the same XLA computation with a leading member axis; XLA may vectorize a
reduction or a matrix product across that axis differently, so equality is to rounding: every
number is compared to 1e-12 relative (float64 rounding is 1.1e-16 per operation; a few hundred
steps of a contracting iteration keep the accumulated difference far below 1e-12). In practice
the numbers below come out bit-identical on CPU, but a vmapped sum has been seen to differ by one
rounding (docs/sweeps.md): the tolerance is the claim, not the measurement.
"""

import json

import numpy as np
import pandas as pd
import pytest

from implicit_bias.execution import batched
from implicit_bias.settings import ConfigError, run_dir_name
from implicit_bias.execution.single import Experiment, as_config, run
from implicit_bias.sweeps.sweep import execute, expand

RTOL = 1e-12

#: depth-2 completion, GD: seeds 0–2 (seeds 1 and 2 reach stop_loss early, at different steps),
#: lr 2 and 3 (diverge at different steps), init scale 0.3 — one vmap group.
MATRIX = {"name": "vb", "problem": {"kind": "matrix_completion", "n_rows": 8, "n_cols": 8, "rank": 1, "n_obs": 40},
          "model": {"kind": "deep_matrix", "depth": 2, "init_scale": 0.1},
          "trainer": {"steps": 600, "log_every": 50, "lr": 0.5, "stop_loss": 1e-4}}
MATRIX_ZIP = {"seed": [0, 1, 2, 0, 0, 0], "trainer.lr": [0.5, 0.5, 0.5, 3.0, 2.0, 0.5],
              "model.init_scale": [0.1, 0.1, 0.1, 0.1, 0.1, 0.3]}
#: diagonal network, minibatch SGD: the stochastic convergence test is made on the host at the end
#: of a chunk (seeds 0 and 1 converge at different chunks); lr 0.2 diverges.
SGD = {"name": "vs", "problem": {"kind": "least_squares", "n_samples": 20, "n_features": 30},
       "model": {"kind": "diagonal", "alpha": 0.5},
       "trainer": {"kind": "sgd", "batch_size": 5, "steps": 600, "log_every": 50, "lr": 0.05, "stop_loss": 1e-4}}
SGD_ZIP = {"seed": [0, 1, 0], "trainer.lr": [0.05, 0.05, 0.2]}


def _close(a, b) -> bool:
    """Equal to RTOL relative, NaN where the other is NaN (lists compared entrywise)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or not np.array_equal(np.isnan(a), np.isnan(b)):
        return False
    finite = ~np.isnan(a)
    return bool(np.all(np.abs(a[finite] - b[finite]) <= RTOL * np.maximum(np.abs(b[finite]), 1e-300)
                       + (a[finite] == b[finite])))


def _frames_close(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    return all(_close(np.stack([np.atleast_1d(np.asarray(v, float)) for v in a[c]]),
                      np.stack([np.atleast_1d(np.asarray(v, float)) for v in b[c]])) for c in a.columns)


def assert_same_run_dir(batched_dir, separate_dir) -> None:
    """Same files; same config and problem; metrics, final arrays and summary equal to RTOL."""
    names = sorted(p.name for p in batched_dir.iterdir())
    assert names == sorted(p.name for p in separate_dir.iterdir())
    assert names == ["config.json", "final.npz", "metrics.parquet", "problem.npz", "summary.json"]
    assert json.loads((batched_dir / "config.json").read_text()) == json.loads((separate_dir / "config.json").read_text())
    for name in ("problem.npz", "final.npz"):
        a, b = np.load(batched_dir / name), np.load(separate_dir / name)
        assert a.files == b.files
        for key in a.files:
            assert _close(a[key], b[key]), (name, key)
    assert _frames_close(pd.read_parquet(batched_dir / "metrics.parquet"), pd.read_parquet(separate_dir / "metrics.parquet"))
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (batched_dir, separate_dir))
    assert list(sa) == list(sb)
    for key in sa:
        if key == "final":
            assert list(sa["final"]) == list(sb["final"])
            for metric in sa["final"]:
                va, vb = (np.nan if v is None else v for v in (sa["final"][metric], sb["final"][metric]))
                assert _close(va, vb), metric
        elif key != "wall_seconds":
            assert sa[key] == sb[key], key


@pytest.mark.parametrize("base, zipped, expected", [
    (MATRIX, MATRIX_ZIP, ["max_steps", "converged", "converged", "diverged", "diverged", "max_steps"]),
    (SGD, SGD_ZIP, ["converged", "converged", "diverged"]),
], ids=["deep_matrix-gd", "diagonal-sgd"])
def test_vmap_batched_runs_equal_separate_runs(tmp_path, base, zipped, expected):
    sweep = expand(base, zipped=zipped)
    together = execute(sweep, tmp_path / "batched", jobs=1, batch="on")
    apart = execute(sweep, tmp_path / "separate", jobs=1, batch="off")
    assert all(r.get("batch_size") == len(sweep.configs) for r in together.results)  # really one batch
    assert not any("batch_size" in r for r in apart.results)
    statuses = [json.loads((tmp_path / "separate" / run_dir_name(c) / "summary.json").read_text())
                for c in sweep.configs]
    assert [s["status"] for s in statuses] == expected
    stop_steps = [s.get("converged_step", s.get("diverged_step")) for s in statuses]
    assert len({s for s in stop_steps if s is not None}) == sum(e != "max_steps" for e in expected)  # all distinct
    for cfg in sweep.configs:
        assert_same_run_dir(tmp_path / "batched" / run_dir_name(cfg), tmp_path / "separate" / run_dir_name(cfg))


def test_the_comparison_detects_a_relative_change_of_1e_10():
    """Negative control: the same run with lr changed by 1e-10 relative fails the comparison."""
    cfg = as_config({**MATRIX, "trainer": {**MATRIX["trainer"], "steps": 200}})
    nudged = as_config({**MATRIX, "trainer": {**MATRIX["trainer"], "steps": 200, "lr": 0.5 * (1 + 1e-10)}})
    other = as_config({**MATRIX, "seed": 1, "trainer": {**MATRIX["trainer"], "steps": 200}})
    a, _ = batched.run_batch([cfg, other], mode="on")  # a real batch of two
    b = run(nudged)
    assert a.status == b.status == "max_steps"
    assert not _frames_close(a.trajectory, b.trajectory)
    assert _frames_close(a.trajectory, run(cfg).trajectory)


def test_plan_groups_only_what_is_traced(tmp_path):
    sweep = expand(MATRIX, grid={"seed": [0, 1, 2, 3], "model.depth": [2, 3], "trainer.lr": [0.1, 0.2]})
    tasks = batched.plan(sweep.configs, tmp_path, "on", jobs=2)
    assert sorted(len(t) for t in tasks) == [4, 4, 4, 4]  # two depths, each cut into 2 batches (jobs)
    for task in tasks:
        assert len({sweep.configs[i]["model"]["depth"] for i in task}) == 1
    assert len(batched.plan(sweep.configs, tmp_path, "off", jobs=2)) == 16
    flows = expand({**MATRIX, "trainer": {"kind": "flow", "t_max": 1.0}}, grid={"seed": [0, 1]})
    assert batched.plan(flows.configs, tmp_path, "on", jobs=1) == [[0], [1]]
    timed = expand({**MATRIX, "trainer": {**MATRIX["trainer"], "max_time": 5.0}}, grid={"seed": [0, 1]})
    assert batched.plan(timed.configs, tmp_path, "on", jobs=1) == [[0], [1]]
    with pytest.raises(ConfigError) as info:
        expand({**MATRIX, "sweep": {"batch": "sometimes"}})
    assert info.value.key == "sweep.batch"
    assert expand({**MATRIX, "sweep": {"batch": "off"}}).batch == "off"


def test_members_with_different_static_structure_are_not_stacked():
    """For an MLP, init_scale is σ_w, a static field of the model: same group key, different signature."""
    mlp = {"problem": {"kind": "teacher_student", "n_samples": 10, "n_features": 3},
           "model": {"kind": "mlp", "widths": 4, "parameterization": "ntk"}, "trainer": {"steps": 10, "log_every": 5}}
    a, b = (as_config({**mlp, "model": {**mlp["model"], "init_scale": s}}) for s in (1.0, 2.0))
    assert batched.group_key(a) == batched.group_key(b)
    assert batched._signature(Experiment.build(a)) != batched._signature(Experiment.build(b))
    c = as_config({**mlp, "seed": 1, "model": {**mlp["model"], "init_scale": 1.0}})
    assert batched._signature(Experiment.build(a)) == batched._signature(Experiment.build(c))
    results = batched.run_batch([a, b], mode="on")  # falls back to two separate runs
    for result, cfg in zip(results, (a, b)):
        assert _frames_close(result.trajectory, run(cfg).trajectory)
