"""Checkpoints: an interrupted or killed discrete run resumes from its last checkpoint and ends
bit-identical to a run that was never stopped (sampling keys are fold_in(key, step))."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import implicit_bias as ib
from implicit_bias.rundir import checkpoint

CONFIG = {"name": "resume",
          "problem": {"kind": "matrix_completion", "n_rows": 20, "n_cols": 20, "rank": 2, "n_obs": 150,
                      "target_norm": 20.0},
          "model": {"kind": "deep_matrix", "depth": 3, "init_scale": 0.1},
          "trainer": {"kind": "sgd", "lr": 0.5, "batch_size": 30, "steps": 4000, "log_every": 100,
                      "checkpoint_every": 500}}


def _identical(a, b):
    assert a.params.keys() == b.params.keys()
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key])
    assert a.trajectory["loss"].tolist() == b.trajectory["loss"].tolist()
    assert a.trajectory["step"].tolist() == b.trajectory["step"].tolist()


def test_an_interrupted_run_resumes_bit_identically(tmp_path):
    uninterrupted = ib.run(CONFIG)
    polls = {"n": 0}

    def stop_after_twelve_chunks():
        polls["n"] += 1
        return polls["n"] >= 12

    part = ib.run(CONFIG, out=tmp_path, should_stop=stop_after_twelve_chunks)
    assert part.status == "interrupted" and part.summary["steps"] == 1200
    assert (part.path / checkpoint.CHECKPOINT).is_file()
    resumed = ib.run(CONFIG, out=tmp_path)
    assert resumed.summary["resumed_from_step"] == 1200
    assert resumed.status == "max_steps" and not (resumed.path / checkpoint.CHECKPOINT).exists()
    _identical(uninterrupted, resumed)


def test_force_discards_the_checkpoint(tmp_path):
    part = ib.run(CONFIG, out=tmp_path, should_stop=lambda: True)
    assert part.status == "interrupted"
    rerun = ib.run(CONFIG, out=tmp_path, force=True)
    assert "resumed_from_step" not in rerun.summary


def test_a_corrupt_checkpoint_starts_over(tmp_path):
    part = ib.run(CONFIG, out=tmp_path, should_stop=lambda: True)
    (part.path / checkpoint.CHECKPOINT).write_bytes(b"not an npz")
    rerun = ib.run(CONFIG, out=tmp_path)
    assert "resumed_from_step" not in rerun.summary and rerun.status == "max_steps"


@pytest.mark.slow
def test_sigkill_loses_at_most_checkpoint_every_steps(tmp_path):
    """A real process killed with SIGKILL after its first checkpoint: the rerun resumes from it."""
    config = {**CONFIG, "trainer": {**CONFIG["trainer"], "steps": 20_000, "checkpoint_every": 1000}}
    toml = tmp_path / "exp.toml"
    toml.write_text(
        'name = "resume"\n'
        '[problem]\nkind = "matrix_completion"\nn_rows = 20\nn_cols = 20\nrank = 2\nn_obs = 150\ntarget_norm = 20.0\n'
        '[model]\nkind = "deep_matrix"\ndepth = 3\ninit_scale = 0.1\n'
        '[trainer]\nkind = "sgd"\nlr = 0.5\nbatch_size = 30\nsteps = 20000\nlog_every = 100\n'
        'checkpoint_every = 1000\n')
    out = tmp_path / "runs"
    process = subprocess.Popen([sys.executable, "-m", "implicit_bias.cli", "run", str(toml), "--out", str(out),
                                "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob(f"*/{checkpoint.CHECKPOINT}")):
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    run_dir = next(out.glob("resume-*"))
    assert not (run_dir / "summary.json").exists()
    resumed = ib.run(config, out=out)
    assert resumed.path == run_dir  # the TOML and the dict are the same config (same hash)
    assert resumed.summary["resumed_from_step"] >= 1000
    assert resumed.summary["resumed_from_step"] % 1000 == 0
    _identical(ib.run(config), resumed)
