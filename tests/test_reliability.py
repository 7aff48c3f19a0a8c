"""Reliability (issue 9, docs/reliability.md): damaged or foreign files in a run directory are
detected by ``ls`` and repaired by ``ls --repair``; numerical faults and ill-conditioned inputs
give a recorded status or a one-line error; identical configs give bit-identical results;
configs and data files are data, never code.

What is tested elsewhere and not repeated here: config fuzzing (test_fuzz_config.py), SIGINT
and exit statuses (test_cli.py), SIGKILL and resume (test_checkpoint.py, test_sweep.py), the
report's escaping in Chromium (test_report.py), local vs Dask determinism (test_sweep.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import subprocess_env, tiny_config

import implicit_bias as ib
from implicit_bias.catalog import index
from implicit_bias.rundir import files as store
from implicit_bias.rundir import integrity
from implicit_bias.maintenance import repair
from implicit_bias.cli import main
from implicit_bias.settings import ConfigError, run_dir_name

SRC = Path(__file__).resolve().parents[1] / "src" / "implicit_bias"


def cli(args: list[str]) -> tuple[int, str, str]:
    """``main(args)`` in-process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(args)
    return status, out.getvalue(), err.getvalue()


def mtimes(run_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(run_dir.iterdir())}


def arrays(path: Path) -> dict[str, np.ndarray]:
    return store.read_npz(path)


@pytest.fixture
def runs(tmp_path) -> tuple[Path, list[Path]]:
    """Three finished tiny least-squares runs (seeds 0, 1, 2), indexed once."""
    out = tmp_path / "runs"
    dirs = [ib.run(tiny_config("least_squares", seed=seed), out=out).path for seed in range(3)]
    assert len(ib.load(out)) == 3 and index.damaged(out).empty
    return out, dirs


class _Trap:
    """Unpickling this object creates ``path``: the marker proves that nothing unpickled it."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _damage(kind: str, run_dir: Path, marker: Path) -> str:
    """Damage one file of ``run_dir``; returns the file name expected in the report."""
    if kind == "truncated_metrics":
        data = (run_dir / store.METRICS).read_bytes()
        (run_dir / store.METRICS).write_bytes(data[: len(data) // 2])
        return store.METRICS
    if kind == "edited_config":
        config = json.loads((run_dir / store.CONFIG).read_text())
        config["trainer"]["lr"] = 0.2  # a "small fix" by hand: the hash no longer matches
        (run_dir / store.CONFIG).write_text(json.dumps(config, indent=2))
        return store.CONFIG
    if kind == "pickled_final":
        good = arrays(run_dir / store.FINAL)
        trap = np.empty(1, dtype=object)
        trap[0] = _Trap(str(marker))
        with open(run_dir / store.FINAL, "wb") as handle:
            np.savez(handle, **good, extra=trap)  # np.savez pickles object arrays
        with np.load(run_dir / store.FINAL, allow_pickle=False) as data, \
                pytest.raises(ValueError, match="allow_pickle"):  # the file is a real pickle trap
            data["extra"]
        assert not marker.exists()
        return store.FINAL
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["truncated_metrics", "edited_config", "pickled_final"])
def test_a_damaged_run_is_reported_by_ls_and_repaired(runs, kind, tmp_path):
    out, dirs = runs
    victim, healthy = dirs[1], [dirs[0], dirs[2]]
    before = {d: mtimes(d) for d in healthy}
    original_final = arrays(victim / store.FINAL)
    original_config = (victim / store.CONFIG).read_text()
    marker = tmp_path / "UNPICKLED"
    file = _damage(kind, victim, marker)

    assert integrity.check_run(victim)[0] == file
    assert all(integrity.check_run(d) is None for d in healthy)
    status, stdout, stderr = cli(["ls", str(out)])
    assert status == 1
    lines = [line for line in stderr.splitlines() if line.startswith("damaged:")]
    assert lines == [lines[0]] and lines[0].startswith(f"damaged: {victim.name}: {file}: ")
    assert victim.name not in stdout and all(d.name in stdout for d in healthy)
    # nothing else trips on it: load() lists the sound runs, the report renders, load_run is one error
    assert sorted(ib.load(out)["seed"]) == [0, 2]
    assert not ib.load_metrics(out)["run_dir"].str.contains(victim.name).any()
    from implicit_bias.analysis.report import render
    assert "<html" in render(out).lower()
    if kind != "edited_config":
        with pytest.raises(ConfigError):
            ib.load_run(victim)

    status, stdout, stderr = cli(["ls", str(out), "--repair"])
    assert status == 0, stderr
    line = rf"^repaired: {re.escape(victim.name)}: {re.escape(file)}: .*: rerun, max_steps$"
    assert re.search(line, stderr, re.MULTILINE), stderr
    assert integrity.check_run(victim) is None and index.damaged(out).empty
    assert sorted(ib.load(out)["seed"]) == [0, 1, 2]
    repaired = arrays(victim / store.FINAL)
    assert set(repaired) == set(original_final)
    for key in original_final:  # the rerun is the original run, bit for bit
        np.testing.assert_array_equal(repaired[key], original_final[key])
    assert json.loads((victim / store.CONFIG).read_text())["config_hash"] == \
        json.loads(original_config)["config_hash"]
    for d in healthy:
        assert mtimes(d) == before[d], f"--repair touched the healthy run {d.name}"
    assert not marker.exists(), "the pickled object in final.npz was unpickled"
    assert cli(["ls", str(out)])[0] == 0


@pytest.mark.parametrize("kind", ["truncated_metrics", "edited_config", "pickled_final"])
def test_rerunning_the_same_config_reruns_a_damaged_run(runs, kind, tmp_path):
    """``run`` (and so every sweep) treats a damaged finished run as unfinished: it reruns it
    instead of returning the damaged files, and the rerun is the original run bit for bit."""
    out, dirs = runs
    victim = dirs[1]
    original_final = arrays(victim / store.FINAL)
    marker = tmp_path / "UNPICKLED"
    _damage(kind, victim, marker)
    result = ib.run(tiny_config("least_squares", seed=1), out=out)
    assert not result.skipped and result.path == victim
    assert integrity.check_run(victim) is None
    for key, value in original_final.items():
        np.testing.assert_array_equal(arrays(victim / store.FINAL)[key], value)
    assert ib.run(tiny_config("least_squares", seed=1), out=out).skipped  # now sound: skipped again
    assert not marker.exists()


def test_an_edited_config_with_no_known_original_is_unrecoverable(tmp_path):
    """Damaged before it was ever indexed, and no sweep.json: the original config (known only by
    its hash, in the directory name) cannot be recovered, so --repair reruns nothing."""
    out = tmp_path / "runs"
    victim = ib.run(tiny_config("least_squares"), out=out).path
    _damage("edited_config", victim, tmp_path / "m")
    before = mtimes(victim)
    assert repair.recover_config(out, victim) is None
    status, _, stderr = cli(["ls", str(out), "--repair"])
    assert status == 1
    line = rf"^unrepaired: {re.escape(victim.name)}: config.json: edited: .*unrecoverable"
    assert re.search(line, stderr, re.MULTILINE), stderr
    assert f"damaged: {victim.name}: config.json" in stderr
    assert mtimes(victim) == before


def test_an_edited_config_is_recovered_from_sweep_json(tmp_path):
    from implicit_bias.sweeps.sweep import execute, expand

    out = tmp_path / "runs"
    sweep = expand(tiny_config("least_squares"), grid={"seed": [0, 1]})
    execute(sweep, out, jobs=1, batch="off")
    victim = out / run_dir_name(sweep.configs[1])
    (out / index.INDEX).unlink()  # no copy in the index: sweep.json is the only record
    for suffix in ("-wal", "-shm"):
        Path(str(out / index.INDEX) + suffix).unlink(missing_ok=True)
    _damage("edited_config", victim, tmp_path / "m")
    assert repair.recover_config(out, victim) == sweep.configs[1]
    assert [r.get("status") for r in repair.repair(out)] == ["max_steps"]
    assert integrity.check_run(victim) is None


def test_damage_while_unindexed_and_foreign_files_never_crash(tmp_path):
    """Foreign content in each file of a finished run: every case is a finding, never an exception."""
    out = tmp_path / "runs"
    victim = ib.run(tiny_config("least_squares"), out=out).path
    good = {name: (victim / name).read_bytes() for name in integrity.CHECKED_FILES}
    cases = {
        store.CONFIG: [b"", b"[1, 2]", b"{not json", b'{"config_hash": 3}'],
        store.SUMMARY: [b"", b'"done"', b'{"steps": 3}'],
        store.METRICS: [b"", b"PAR1", b"PAR1garbagePAR1"],
        store.FINAL: [b"", b"PK\x03\x04", pickle.dumps({"end_to_end": 1})],
        store.PROBLEM: [b"\x00" * 100],
    }
    for name, contents in cases.items():
        for content in contents:
            (victim / name).write_bytes(content)
            finding = integrity.check_run(victim)
            assert finding is not None and finding[0] == name, (name, content, finding)
            assert cli(["ls", str(out)])[0] == 1
            (victim / name).write_bytes(good[name])
        (victim / name).unlink()
        if name != store.SUMMARY:  # without summary.json a directory is unfinished, not damaged
            assert integrity.check_run(victim) == (name, "missing")
            assert cli(["ls", str(out)])[0] == 1
        (victim / name).write_bytes(good[name])
    assert integrity.check_run(victim) is None
    (victim / store.FINAL).write_bytes(good[store.FINAL][:-10])  # a truncated zip
    assert integrity.check_run(victim)[0] == store.FINAL


# --------------------------------------------------------------------------- numerical faults

def test_a_diverging_member_of_a_sweep_is_recorded_and_the_sweep_carries_on(tmp_path):
    """GD on ½‖Xw − y‖²/n is stable iff lr < 2/λ_max(XᵀX/n); for this design λ_max = 5.07
    (measured), so lr = 0.05 converges and lr = 5 diverges."""
    from implicit_bias.sweeps.sweep import execute, expand

    base = tiny_config("least_squares", trainer__steps=400, trainer__log_every=10)
    sweep = expand(base, grid={"trainer.lr": [0.05, 5.0]})
    result = execute(sweep, tmp_path, jobs=1, batch="off")
    assert not result.failures and len(result.results) == 2
    frame = ib.load(tmp_path).set_index("trainer.lr")
    assert frame.loc[0.05, "status"] == "max_steps" and frame.loc[5.0, "status"] == "diverged"
    bad = ib.load_run(frame.loc[5.0, "run_dir"])
    step = bad.summary["diverged_step"]
    assert 0 < step < 400
    logged = bad.trajectory["loss"].to_numpy()
    assert np.all(np.isfinite(logged[:-1])) and bad.trajectory["step"].iloc[-1] <= step
    assert logged[len(logged) // 2] > 1e3 * logged[0]  # it really blew up before stopping


def test_empty_and_duplicate_observation_sets_are_one_line_errors(tmp_path):
    """n_obs = 0, an empty ratings file, duplicate (user, item) pairs, a test_fraction that leaves
    no training sample: exit 2, one line naming the key, no run directory."""
    ratings, empty, single, csv = (tmp_path / n for n in ("dup.txt", "empty.txt", "one.txt", "one.csv"))
    ratings.write_text("1 1 5\n1 2 3\n2 1 4\n1 1 2\n")
    empty.write_text("")
    single.write_text("1 1 5\n")
    csv.write_text("a,b,y\n1.0,2.0,3.0\n")
    mf = '[model]\nkind = "deep_matrix"\n[trainer]\nsteps = 10\n'
    lin = '[model]\nkind = "linear"\n[trainer]\nsteps = 10\n'
    cases = {
        "problem.n_obs": '[problem]\nkind = "matrix_completion"\nn_rows = 5\nn_cols = 5\nrank = 1\nn_obs = 0\n' + mf,
        "problem.path": f'[problem]\nkind = "ratings"\npath = "{ratings}"\n' + mf,
        "problem.path ": f'[problem]\nkind = "ratings"\npath = "{empty}"\n' + mf,
        "problem.test_fraction": f'[problem]\nkind = "ratings"\npath = "{single}"\ntest_fraction = 0.9\n' + mf,
        "problem.test_fraction ": f'[problem]\nkind = "dataset"\npath = "{csv}"\ntest_fraction = 0.9\n' + lin,
    }
    for i, (key, text) in enumerate(cases.items()):
        toml = tmp_path / f"case{i}.toml"
        toml.write_text(text)
        out = tmp_path / f"out{i}"
        status, _, stderr = cli(["run", str(toml), "--out", str(out), "--quiet"])
        assert status == 2, (key, stderr)
        assert stderr.count("\n") == 1 and stderr.startswith(f"implicit-bias: error: {key.strip()}"), stderr
        assert not out.exists() or not any(out.iterdir())
    assert "duplicate (user, item) pairs" in cli(["run", str(tmp_path / "case1.toml"), "--out",
                                                  str(tmp_path / "o"), "--quiet"])[2]


def test_a_rank_deficient_design_gives_the_minimum_norm_solution(tmp_path):
    """Documented behaviour for a rank-deficient X (a duplicated column, n > d so no interpolant):
    GD on ½‖Xw − y‖²/n from w₀ = 0 stays in the row space of X and converges to the minimum-norm
    least-squares solution w = X⁺y (e.g. Gunasekar et al. 2018, seeds/gunasekar2018.md), so the two
    copies of the column share their weight equally. From w₀ ≠ 0 it converges to X⁺y plus the
    null-space part of w₀ instead, which this check detects (the test can fail)."""
    rng = np.random.default_rng(0)
    A = rng.normal(size=(30, 3))
    X = np.column_stack([A, A[:, 0]])  # rank 3 of 4
    y = A @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=30)
    path = tmp_path / "data.npz"
    np.savez(path, X=X, y=y)
    expected = np.linalg.pinv(X) @ y

    def solve(init_scale: float) -> np.ndarray:
        cfg = {"name": "rankdef", "problem": {"kind": "dataset", "path": str(path), "test_fraction": 0.0,
                                             "standardize": False},
               "model": {"kind": "linear", "init_scale": init_scale},
               "trainer": {"kind": "gd", "lr": 0.2, "steps": 4000, "log_every": 4000}}
        return np.ravel(ib.run(cfg).end_to_end)

    w = solve(0.0)
    np.testing.assert_allclose(w, expected, rtol=0, atol=1e-10)
    assert w[0] == pytest.approx(w[3], abs=1e-12)
    off = solve(0.5)
    assert np.linalg.norm(off - expected) > 1e-3  # the null-space component of w₀ stays


# --------------------------------------------------------------------------- determinism

def test_the_same_config_and_seed_give_bit_identical_results_in_two_processes(tmp_path):
    """Minibatch SGD on tiny completion (random sampling exercised): a CLI run in a separate process
    and a run of the Python API here give bit-identical float64 final.npz and metrics."""
    from conftest import to_toml

    cfg = tiny_config("completion", trainer__kind="sgd", trainer__batch_size=10, trainer__steps=300, seed=7)
    toml = tmp_path / "exp.toml"
    toml.write_text(to_toml(cfg))
    done = subprocess.run([sys.executable, "-m", "implicit_bias.cli", "run", str(toml), "--out",
                           str(tmp_path / "a"), "--quiet"], check=False, capture_output=True, text=True,
                          timeout=300,
                          env=subprocess_env())
    assert done.returncode == 0, done.stderr
    other = Path(done.stdout.strip().splitlines()[-1])
    here = ib.run(cfg, out=tmp_path / "b").path
    assert here.name == other.name  # the same config hash from the TOML and the dict
    a, b = arrays(other / store.FINAL), arrays(here / store.FINAL)
    assert a.keys() == b.keys() and a["end_to_end"].dtype == np.float64
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    ma, mb = (store.read_parquet(d / store.METRICS).drop(columns=["wall_seconds"], errors="ignore")
              for d in (other, here))
    assert ma.equals(mb)
    other_seed = ib.run({**cfg, "seed": 8})  # a check that can fail: another seed differs
    assert not np.array_equal(other_seed.end_to_end, a["end_to_end"])


# --------------------------------------------------------------------------- security

def _code_lines(pattern: str) -> list[str]:
    hits = []
    for path in SRC.rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(pattern, code):
                hits.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    return hits


def test_the_package_never_unpickles_evaluates_or_imports_user_named_code():
    """No pickle, eval/exec, allow_pickle=True or yaml anywhere in the package; np.load only with
    allow_pickle=False (explicit) or through store.read_npz; import_module only of the registered
    reproductions (reproduce.MODULES), of the facade's fixed export table, and in plugins.py of
    what the user names in IMPLICIT_BIAS_PLUGINS (an explicit opt-in, docs/extending.md) — never
    of a name from a config."""
    assert _code_lines(r"\bimport pickle\b|\bpickle\.|\bcloudpickle\b|\bdill\b|\bmarshal\b|\bshelve\b") == []
    assert _code_lines(r"(?<![\w.])(eval|exec)\(|__import__\(|allow_pickle\s*=\s*True|\byaml\b") == []
    imports = _code_lines(r"import_module\(|spec_from_file_location\(")
    allowed = [i for i in imports if "MODULES[name]" in i or "_EXPORTS[name]" in i or i.startswith("plugins.py:")]
    assert imports == allowed and sum("MODULES[name]" in i for i in imports) == 1, imports
    loads = [hit for hit in _code_lines(r"np\.load\(") if "allow_pickle=False" not in hit]
    # np.load's default is allow_pickle=False (numpy >= 1.16.3): these read problem.npz written by us
    assert all("problem.npz" in hit for hit in loads), loads


def test_a_dataset_path_is_read_never_executed(tmp_path):
    """An executable script (and a pickle) given as a dataset path is bad input; it never runs."""
    marker = tmp_path / "EXECUTED"
    script = tmp_path / "data.csv"
    script.write_text(f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(0o755)
    evil = tmp_path / "data.npz"
    trap = np.empty(1, dtype=object)
    trap[0] = _Trap(str(marker))
    np.savez(evil, X=trap, y=trap)
    for path, kind in ((script, "dataset"), (evil, "dataset"), (script, "ratings")):
        cfg = {"problem": {"kind": kind, "path": str(path)}, "model": {"kind": "linear" if kind == "dataset"
                                                                       else "deep_matrix"},
               "trainer": {"steps": 5}}
        with pytest.raises(ConfigError) as info:
            ib.run(cfg)
        assert info.value.key.startswith("problem"), info.value
    assert not marker.exists()


def test_dask_examples_and_help_bind_to_localhost():
    """Every scheduler command in the docs binds to 127.0.0.1 (or a placeholder the user fills in),
    and nothing in the package starts a Dask cluster on its own."""
    docs = Path(__file__).resolve().parents[1] / "docs"
    commands = [line for doc in docs.glob("*.md") for line in doc.read_text().splitlines()
                if re.search(r"dask[- ]scheduler\b", line)]
    assert commands, "no Dask scheduler example found in docs/"
    for line in commands:
        assert "--host 127.0.0.1" in line or "--host localhost" in line, line
    assert not _code_lines(r"0\.0\.0\.0")
    assert not _code_lines(r"LocalCluster\(")
    help_text = io.StringIO()
    with contextlib.redirect_stdout(help_text), pytest.raises(SystemExit):
        main(["sweep", "--help"])
    assert "tcp://127.0.0.1:8786" in help_text.getvalue()


def test_config_strings_are_data(tmp_path):
    """Strings that look like code in a config are stored verbatim and never run."""
    marker = tmp_path / "RAN"
    name = f"__import__('os').system('touch {marker}')"
    result = ib.run(tiny_config("least_squares", name=name), out=tmp_path / "runs")
    assert json.loads((result.path / store.CONFIG).read_text())["name"] == name
    assert len(ib.load(tmp_path / "runs", where=f'name == "{name}"')) == 1
    assert not marker.exists()
    assert os.sep not in result.path.name and ".." not in result.path.name


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_aborts_a_sweep_with_130_and_a_rerun_finishes_it(tmp_path):
    """Ctrl-C in a terminal signals the whole foreground process group (the sweep and its
    workers): one line, exit 130, no traceback; re-running the sweep finishes every run once."""
    import signal
    import time

    from conftest import tiny_toml

    toml = tiny_toml(tmp_path, "least_squares", problem__n_samples=30, problem__noise=0.5,
                     trainer__steps=400_000, trainer__log_every=1000, trainer__lr=0.05)
    out = tmp_path / "sweep"
    command = [sys.executable, "-m", "implicit_bias.cli", "sweep", str(toml), "--grid", "seed=0:6",
               "--jobs", "2", "--batch", "off", "--out", str(out), "--quiet"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, env=subprocess_env(), start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("*/config.json")):  # a worker has started a run
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no run started"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1] == "implicit-bias: aborted"
    finished_before = {p.parent.name for p in out.glob("*/summary.json")}
    assert len(finished_before) < 6

    rerun = subprocess.run(command, capture_output=True, text=True, env=subprocess_env(), timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    runs = ib.load(out)
    assert sorted(runs["seed"]) == list(range(6)) and index.damaged(out).empty
    assert set(runs["status"]) == {"max_steps"}
