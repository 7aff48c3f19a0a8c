"""Three extensions, one file each (a trainer, a problem with another loss, a metric), registered
through IMPLICIT_BIAS_PLUGINS and run by the CLI exactly like the built-in kinds (docs/extending.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import subprocess_env

HERE = Path(__file__).resolve().parent
PLUGINS = ",".join(str(HERE / name) for name in ("sign_descent.py", "logistic_problem.py", "grad_norm_metric.py"))
FILES = ("config.json", "problem.npz", "metrics.parquet", "final.npz", "summary.json")
CONFIG = """\
name = "logistic-sign"
seed = 0
[problem]
kind = "logistic_separable"
n_samples = 40
n_features = 5
margin = 0.1
[model]
kind = "linear"
[trainer]
kind = "sign_descent"
lr = 0.01
steps = 200
log_every = 50
"""


def _cli(*args, plugins: str | None = PLUGINS, timeout: float = 300):
    env = subprocess_env()
    if plugins is None:
        env.pop("IMPLICIT_BIAS_PLUGINS", None)
    else:
        env["IMPLICIT_BIAS_PLUGINS"] = plugins
    return subprocess.run([sys.executable, "-m", "implicit_bias.cli", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(name="toml")
def _toml(tmp_path):
    path = tmp_path / "logistic.toml"
    path.write_text(CONFIG)
    return path


def _run_dirs(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_dir())


def test_run_writes_the_five_files_with_the_extensions(toml, tmp_path):
    out = tmp_path / "runs"
    done = _cli("run", toml, "--out", out, "--quiet")
    assert done.returncode == 0, done.stderr
    (run_dir,) = _run_dirs(out)
    assert Path(done.stdout.strip()) == run_dir
    for name in FILES:
        assert (run_dir / name).is_file(), name
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["problem"]["kind"], config["trainer"]["kind"]) == ("logistic_separable", "sign_descent")
    assert set(np.load(run_dir / "problem.npz")) >= {"X", "y"}
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    assert "grad_norm" in metrics and np.all(np.isfinite(metrics["grad_norm"]))
    loss = metrics["loss"].to_numpy()
    assert loss[0] == pytest.approx(np.log(2.0))  # β = 0: log(1 + e^0) for every sample
    assert np.all(np.diff(loss) < 0) and loss[-1] < 0.5 * loss[0]
    assert np.all(np.isfinite(metrics["test_error"]))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "max_steps" and summary["steps"] == 200


def _final(run_dir: Path) -> dict[str, np.ndarray]:
    with np.load(run_dir / "final.npz") as final:
        return {name: final[name] for name in final}


def test_batched_sweep_equals_separate_runs(toml, tmp_path):
    out = tmp_path / "sweep"
    done = _cli("sweep", toml, "--grid", "seed=0:3", "--batch", "on", "--jobs", "1", "--out", out, "--quiet")
    assert done.returncode == 0, done.stderr
    run_dirs = _run_dirs(out)
    assert len(run_dirs) == 3
    for run_dir in run_dirs:
        for name in FILES:
            assert (run_dir / name).is_file(), (run_dir, name)
        assert "grad_norm" in pd.read_parquet(run_dir / "metrics.parquet")
    # the three seeds really form one vmap batch (one task of three members)
    probe = ("import sys, json; from implicit_bias.plugins import load_plugins; load_plugins(); "
             "from implicit_bias.settings import load_toml; from implicit_bias.sweeps.sweep import expand; "
             "from implicit_bias.execution.batched import plan; "
             f"s = expand(load_toml({str(toml)!r}), {{'seed': [0, 1, 2]}}, {{}}, [], batch='on'); "
             f"print(json.dumps(plan(s.configs, {str(tmp_path / 'empty')!r}, mode='on', jobs=1)))")
    planned = subprocess.run([sys.executable, "-c", probe], env=subprocess_env(IMPLICIT_BIAS_PLUGINS=PLUGINS),
                             capture_output=True, text=True, timeout=300)
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout) == [[0, 1, 2]]
    # the batched member of seed 1 equals a separate run of seed 1
    alone = tmp_path / "alone"
    done = _cli("run", toml, "--set", "seed=1", "--out", alone, "--quiet")
    assert done.returncode == 0, done.stderr
    (single,) = _run_dirs(alone)
    batched = out / single.name
    assert batched.is_dir()
    a, b = _final(single), _final(batched)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-12, atol=1e-12)
    ma, mb = pd.read_parquet(single / "metrics.parquet"), pd.read_parquet(batched / "metrics.parquet")
    assert list(ma.columns) == list(mb.columns)
    np.testing.assert_allclose(mb["loss"], ma["loss"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mb["grad_norm"], ma["grad_norm"], rtol=1e-12, atol=1e-12)


def test_without_the_plugins_the_kind_is_unknown(toml, tmp_path):
    done = _cli("run", toml, "--out", tmp_path / "runs", plugins=None)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "problem.kind" in lines[0] and "logistic_separable" in lines[0], done.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("entry", ["/no/such/plugin.py", "no_such_plugin_module_xyz"])
def test_a_bad_plugin_is_one_line_and_exit_2(toml, tmp_path, entry):
    done = _cli("run", toml, "--out", tmp_path / "runs", plugins=entry)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "IMPLICIT_BIAS_PLUGINS" in lines[0], done.stderr


def test_a_plugin_that_raises_is_one_line_and_exit_2(toml, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom\\nsecond line')\n")
    done = _cli("run", toml, "--out", tmp_path / "runs", plugins=str(broken))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "IMPLICIT_BIAS_PLUGINS" in lines[0] and "boom" in lines[0], done.stderr


def test_a_kind_that_exists_is_refused():
    from implicit_bias import engine

    with pytest.raises(ValueError, match="exists already"):
        engine.register_kind("trainer", "gd", dict(engine.DISCRETE_TRAINER_KEYS))
    with pytest.raises(ValueError, match="exists already"):
        engine.register_kind("problem", "least_squares", {})
    with pytest.raises(ValueError, match="exists already"):
        engine.register_trainer("adam", lambda hyper: None)
    with pytest.raises(ValueError, match="has a generator already"):
        engine.register_problem("least_squares", lambda problem, key: None)
    with pytest.raises(ValueError, match="declare the keys"):
        engine.register_trainer("not_declared_xyz", lambda hyper: None)

    class Loss(engine.Metric):  # the name of a built-in family
        pass

    with pytest.raises(ValueError, match="exists already"):
        engine.register_metric(Loss())


def test_docs_show_the_real_files():
    """docs/extending.md includes the three extension files verbatim."""
    doc = (HERE.parents[1] / "docs" / "extending.md").read_text()
    for name in ("sign_descent.py", "logistic_problem.py", "grad_norm_metric.py"):
        assert f"```python\n{(HERE / name).read_text()}```" in doc, name


REPRODUCTION = HERE / "weight_decay_ridge.py"


def test_an_extension_registers_a_reproduction_that_the_cli_lists_and_runs(tmp_path):
    """weight_decay_ridge.py registers itself (``register_reproduction``): ``reproduce --list`` names it,
    ``reproduce weight-decay-ridge --quick`` runs it with the built-in runner (claims.json, report.html)
    and exits 0 because its claim holds."""
    listed = _cli("reproduce", "--list", plugins=str(REPRODUCTION))
    assert listed.returncode == 0, listed.stderr
    assert any(line.startswith("weight-decay-ridge: ") for line in listed.stdout.splitlines()), listed.stdout
    assert "gd-min-norm: " in listed.stdout  # the built-in ones stay, first
    out = tmp_path / "repro"
    done = _cli("reproduce", "weight-decay-ridge", "--quick", "--out", out, plugins=str(REPRODUCTION))
    assert done.returncode == 0, done.stderr[-3000:]
    claims = json.loads((out / "weight-decay-ridge" / "claims.json").read_text())
    assert [c["id"] for c in claims] == ["ridge-limit"] and claims[0]["passed"]
    assert claims[0]["measured"] <= 1e-8
    assert (out / "weight-decay-ridge" / "report.html").is_file()
    unknown = _cli("reproduce", "weight-decay-ridge", "--quick", "--out", out, plugins=None)
    assert unknown.returncode == 2 and "unknown reproduction 'weight-decay-ridge'" in unknown.stderr


def _import_file(path: Path, name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_a_registered_reproduction_can_fail_and_bad_registrations_are_refused(tmp_path, monkeypatch):
    """Its broken setting (no weight decay) fails the claim through the same runner; a second module of
    the same NAME, one lacking ``analyze`` and a NAME that is not lower-case words are ValueErrors."""
    from implicit_bias import reproduce
    from implicit_bias.reproduce.runner import run_reproduction

    monkeypatch.setattr(reproduce, "MODULES", dict(reproduce.MODULES))
    monkeypatch.delitem(sys.modules, "weight_decay_ridge_under_test", raising=False)
    module = _import_file(REPRODUCTION, "weight_decay_ridge_under_test")
    try:
        assert reproduce.MODULES["weight-decay-ridge"] == "weight_decay_ridge_under_test"
        broken = run_reproduction("weight-decay-ridge", quick=True, out=tmp_path, broken=True)
        assert not broken["passed"] and broken["claims"][0].measured > 0.01
        with pytest.raises(ValueError, match="exists already"):
            reproduce.register_reproduction(module)
        lacking = type(sys)("lacking")
        for part in reproduce.REQUIRED:
            setattr(lacking, part, getattr(module, part))
        del lacking.analyze
        with pytest.raises(ValueError, match="lacks analyze"):
            reproduce.register_reproduction(lacking)
        lacking.analyze, lacking.NAME = module.analyze, "Bad Name"
        with pytest.raises(ValueError, match="NAME must be"):
            reproduce.register_reproduction(lacking)
    finally:
        sys.modules.pop("weight_decay_ridge_under_test", None)
