"""Time to solution (issue 15), checked without timing anything.

- ``benchmarks/reference_code.py`` without a checkout of the reference code is skipped with a
  message and records no number; the problem it writes in the reference's format (``gt.pt``,
  ``obs.pt``) and as a ratings file reads back to the same W*, indices and values;
- ``examples/fast_completion.toml`` runs on a small generated ratings file and recovers the matrix;
- the persistent compilation cache (``execution/compile_cache.py``): its directory rule, and a
  second run served from the cache gives the same bits as a run without it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import benchmark_module

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "examples" / "fast_completion.toml"


@pytest.fixture(scope="module")
def reference_code():
    with benchmark_module("reference_code") as module:
        yield module


def test_skipped_without_a_checkout(reference_code, tmp_path, capsys):
    out = tmp_path / "result.json"
    assert reference_code.main(["--json-out", str(out)]) == 0
    assert "skipped" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["skipped"] is True and result["ratios"] == {}


def test_not_a_checkout_is_refused(reference_code, tmp_path):
    assert reference_code.main(["--reference-code", str(tmp_path)]) == 2


def test_problem_in_the_reference_format_reads_back(reference_code, tmp_path):
    pytest.importorskip("torch")
    from implicit_bias.core.datasets import read_ratings

    W, rows, cols = reference_code.generate_problem(12, 2, 70, seed=3)
    assert W.dtype == np.float32 and np.isclose(np.linalg.norm(W), 12, rtol=1e-5)
    s = np.linalg.svd(W.astype(float), compute_uv=False)
    assert s[2] < 1e-5 * s[0] < s[1]  # rank 2, to float32 rounding
    assert len(set(zip(rows.tolist(), cols.tolist()))) == 70  # without replacement
    gt, obs = reference_code.write_reference_files(tmp_path, W, rows, cols)
    W2, us, vs, ys = reference_code.read_reference_files(gt, obs)
    assert W2.dtype == np.float32 and us.dtype == np.int64 and vs.dtype == np.int64 and ys.dtype == np.float32
    np.testing.assert_array_equal(W2, W)
    np.testing.assert_array_equal(us, rows)
    np.testing.assert_array_equal(vs, cols)
    np.testing.assert_array_equal(ys, W[rows, cols])
    # the same observations, as ours reads them: exact float32 values, ids = matrix indices
    r, c, v = read_ratings(reference_code.write_ratings(tmp_path / "ratings.txt", W, rows, cols))
    np.testing.assert_array_equal(r, rows)
    np.testing.assert_array_equal(c, cols)
    np.testing.assert_array_equal(v, W[rows, cols].astype(float))


def test_reference_log_is_parsed(reference_code):
    log = ("2026-12-04 03:07:27,919 - main.py:79 - [check] e2e fro norm: 1.03e-02, desired = 1.00e-02\n"
           "2026-12-04 03:07:28,000 - main.py:313 - Iter #0: train = 1.0e+00, test = 1.0e+00, x\n"
           "2026-12-04 03:07:59,636 - main.py:313 - Iter #28123: train = 9.9e-07, test = 1.5e-05, x\n"
           "2026-12-04 03:07:59,637 - main.py:332 - train loss = 9.996e-07. test loss = 1.527e-05\n")
    parsed = reference_code.parse_reference_log(log)
    assert parsed["steps"] == 28123 and parsed["test_mse_all_entries"] == 1.527e-05
    assert parsed["training_seconds"] == pytest.approx(31.718, abs=1e-6)


def _ratings_file(path: Path, n: int = 100, rank: int = 5, n_obs: int = 2000, seed: int = 1):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, n))
    W *= n / np.linalg.norm(W)
    flat = rng.choice(n * n, n_obs, replace=False)
    rows, cols = flat // n, flat % n
    assert np.unique(rows).size == n and np.unique(cols).size == n
    path.write_text("".join(f"{r} {c} {float(W[r, c])!r}\n" for r, c in zip(rows, cols)))
    return W


def test_fast_completion_recipe_runs_on_a_ratings_file(tmp_path):
    from implicit_bias.execution.single import run

    W = _ratings_file(tmp_path / "observed.txt")
    result = run(RECIPE, overrides=[f"problem.path={tmp_path / 'observed.txt'}"])
    assert result.status == "converged" and result.summary["final"]["loss"] <= 1e-7
    assert result.end_to_end.shape == W.shape
    # the scale the recipe is tuned for (100x100, rank 5, 2,000 entries, RMS 1): recovers the other 80% too
    assert np.linalg.norm(result.end_to_end - W) / np.linalg.norm(W) < 1e-2


def test_compilation_cache_directory_rule(monkeypatch, tmp_path):
    import jax

    from implicit_bias.execution.compile_cache import ENV, cache_dir
    from implicit_bias.version import __version__

    for off in ("0", "off", "False", ""):
        assert cache_dir({ENV: off}) is None
    assert cache_dir({ENV: str(tmp_path / "c")}) == tmp_path / "c"
    default = cache_dir({"XDG_CACHE_HOME": str(tmp_path)})
    assert default == tmp_path / "implicit-bias" / f"jax-{__version__}-{jax.__version__}"


def _cli_run(tmp_path: Path, out: str, cache: str, cli_env) -> bytes:
    cfg = tmp_path / "exp.toml"
    if not cfg.exists():
        cfg.write_text('name = "cache"\n[problem]\nkind = "matrix_completion"\nn_rows = 8\nn_cols = 8\nrank = 2\n'
                       'n_obs = 40\ntarget_norm = 8.0\n[model]\nkind = "deep_matrix"\ndepth = 2\ninit_scale = 0.1\n'
                       '[trainer]\nkind = "gd"\nlr = 0.5\nsteps = 100\nlog_every = 50\n')
    env = {**cli_env, "IMPLICIT_BIAS_COMPILATION_CACHE": cache}
    proc = subprocess.run([sys.executable, "-m", "implicit_bias.cli", "run", str(cfg), "--out", str(tmp_path / out),
                           "--quiet"], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    return (run_dir / "final.npz").read_bytes(), (run_dir / "metrics.parquet").read_bytes()


def test_cached_run_is_bit_identical(tmp_path, cli_env):
    cache = tmp_path / "jax-cache"
    plain = _cli_run(tmp_path, "plain", "off", cli_env)
    first = _cli_run(tmp_path, "first", str(cache), cli_env)
    assert any(cache.iterdir())  # the executables were written
    second = _cli_run(tmp_path, "second", str(cache), cli_env)
    assert plain[0] == first[0] == second[0]
    assert plain[1] == first[1] == second[1]
