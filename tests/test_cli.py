"""The `implicit-bias run` contract: the run directory's five files, the skip rule, --set parsing,
exit statuses (0 finished, 2 bad input, 3 diverged, 130 interrupted) and the progress bar.

Most runs are made in-process through ``cli.main`` (JAX compiles once per problem shape for
the whole module); a few run the real ``python -m implicit_bias.cli`` in a subprocess to check
what only a process shows: exit statuses, stdout/stderr separation, no progress bar off a TTY,
and SIGINT handling.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import implicit_bias as ib
from conftest import subprocess_env, tiny_config, tiny_toml
from implicit_bias import cli
from implicit_bias.settings import config_hash, load

FILES = {"config.json", "metrics.parquet", "summary.json", "final.npz", "problem.npz"}
BAR = re.compile(r"it/s|step/s|s/it|s/step|\d+%\|")  # what a tqdm bar prints


class _Stream(io.StringIO):
    """A text stream that may pretend to be a terminal."""

    def __init__(self, tty: bool = False):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@dataclass
class Call:
    code: int
    stdout: str
    stderr: str

    @property
    def path(self) -> Path:
        """The run directory: the last line on stdout."""
        return Path(self.stdout.splitlines()[-1])


def call(args: list[str], *, tty: bool = False) -> Call:
    """``cli.main(args)`` in-process, with stdout/stderr captured (argparse's SystemExit too)."""
    out, err = _Stream(), _Stream(tty)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code
    return Call(code, out.getvalue(), err.getvalue())


def run_subprocess(args: list[str], *, timeout: float = 180, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "implicit_bias.cli", *map(str, args)], capture_output=True,
                          text=True, env=subprocess_env(), stdin=subprocess.DEVNULL, timeout=timeout, **kwargs)


def read_json(path: Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def run_dirs(out: Path) -> list[Path]:
    return sorted(p for p in Path(out).iterdir() if p.is_dir()) if Path(out).exists() else []


# --------------------------------------------------------------------------- one run of each kind

@dataclass
class Run:
    call: Call
    toml: Path
    overrides: list[str]
    out: Path

    @property
    def path(self) -> Path:
        return self.call.path

    @property
    def resolved(self) -> dict:
        return load(self.toml, self.overrides)


def _module_run(tmp_path_factory, base: str, overrides: list[str]) -> Run:
    work = tmp_path_factory.mktemp(base)
    toml = tiny_toml(work, base)
    out = work / "runs"
    sets = [a for o in overrides for a in ("--set", o)]
    result = call(["run", toml, *sets, "--out", out, "--quiet"])
    assert result.code == 0, result.stderr
    return Run(result, toml, overrides, out)


@pytest.fixture(scope="module")
def completion(tmp_path_factory) -> Run:
    # the example: --set model.depth=3 --set seed=1
    return _module_run(tmp_path_factory, "completion", ["model.depth=3", "seed=1"])


@pytest.fixture(scope="module")
def least_squares(tmp_path_factory) -> Run:
    return _module_run(tmp_path_factory, "least_squares", [])


@pytest.fixture(scope="module")
def sensing(tmp_path_factory) -> Run:
    return _module_run(tmp_path_factory, "sensing", [])


@pytest.fixture(params=["completion", "least_squares", "sensing"])
def any_run(request) -> Run:
    return request.getfixturevalue(request.param)


def test_run_directory_is_printed_last_and_holds_the_five_files(any_run):
    run = any_run
    assert run.call.code == 0
    assert run.path == run.out / f"{run.resolved['name']}-{config_hash(run.resolved)[:8]}"
    assert re.fullmatch(r".+-[0-9a-f]{8}", run.path.name)
    assert run_dirs(run.out) == [run.path]
    assert set(os.listdir(run.path)) == FILES  # and no temporary file left behind
    assert "Traceback" not in run.call.stderr
    assert not BAR.search(run.call.stderr)  # in-process stderr is not a TTY


def test_config_json_is_the_resolved_config_with_versions(any_run):
    run = any_run
    saved = read_json(run.path / "config.json")
    versions = saved.pop("versions")
    assert saved.pop("config_hash") == config_hash(run.resolved)
    assert saved == run.resolved  # same nesting as the TOML, every default filled in
    assert set(saved) >= {"name", "seed", "dtype", "problem", "model", "trainer", "penalty", "metrics"}
    for table in ("problem", "model", "trainer", "penalty"):
        assert isinstance(saved[table], dict) and "kind" in saved[table]
    assert set(versions) >= {"implicit_bias", "jax", "jaxlib", "optax", "numpy", "python"}
    assert all(isinstance(v, str) and v for v in versions.values())
    import jax

    assert versions["python"] == platform.python_version()
    assert versions["jax"] == jax.__version__ and versions["numpy"] == np.__version__
    assert versions["implicit_bias"] == ib.__version__


def test_set_overrides_reach_config_json(completion):
    saved = read_json(completion.path / "config.json")
    assert saved["model"]["depth"] == 3 and saved["seed"] == 1
    assert saved["problem"]["n_rows"] == 10 and saved["trainer"]["log_every"] == 50  # from the TOML


def test_metrics_parquet_matrix_problem_columns(completion):
    frame = pd.read_parquet(completion.path / "metrics.parquet")
    assert set(frame.columns) >= {"step", "t", "loss", "test_error", "param_norm", "singular_values",
                                  "effective_rank", "balancedness"}
    lr = completion.resolved["trainer"]["lr"]
    assert frame["step"].tolist() == [0, 50, 100, 150, 200]  # one row per logged step
    np.testing.assert_allclose(frame["t"], lr * frame["step"])
    top_k = completion.resolved["metrics"]["top_k"]
    for sv in frame["singular_values"]:
        sv = np.asarray(sv, float)
        assert sv.shape == (min(top_k, 10),)
        assert np.all(sv >= 0) and np.all(np.diff(sv) <= 1e-12)
    assert np.all((frame["effective_rank"] >= 1) & (frame["effective_rank"] <= 10))
    assert np.all(frame["balancedness"] >= 0)
    assert np.all(np.isfinite(frame[["loss", "test_error", "param_norm"]].to_numpy()))
    assert frame["loss"].iloc[-1] < frame["loss"].iloc[0]


def test_metrics_parquet_regression_columns(least_squares):
    frame = pd.read_parquet(least_squares.path / "metrics.parquet")
    assert set(frame.columns) >= {"step", "t", "loss", "test_error", "param_norm"}
    assert frame["step"].tolist() == [0, 50, 100]
    np.testing.assert_allclose(frame["t"], 0.1 * frame["step"])
    assert frame["loss"].is_monotonic_decreasing


def test_summary_json_has_status_steps_time_and_every_final_metric(any_run):
    run = any_run
    summary = read_json(run.path / "summary.json")
    frame = pd.read_parquet(run.path / "metrics.parquet")
    trainer = run.resolved["trainer"]
    assert summary["status"] == "max_steps"
    assert summary["steps"] == trainer["steps"] == frame["step"].iloc[-1]
    assert summary["time"] == pytest.approx(trainer["lr"] * trainer["steps"])
    assert isinstance(summary["wall_seconds"], float) and summary["wall_seconds"] > 0
    final = summary["final"]
    assert set(final) == set(frame.columns)
    last = frame.iloc[-1]
    for column in frame.columns:
        expected = np.asarray(last[column], float)
        got = np.asarray(np.nan if final[column] is None else final[column], float)  # NaN is null
        np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=column)


def test_final_npz_loads_without_pickle(any_run):
    run = any_run
    with np.load(run.path / "final.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    assert {"end_to_end", "end_to_end_init"} <= set(arrays)
    assert len(arrays) > 2  # the parameters themselves
    assert all(a.dtype.kind == "f" for a in arrays.values())
    assert arrays["end_to_end"].shape == arrays["end_to_end_init"].shape
    assert not np.array_equal(arrays["end_to_end"], arrays["end_to_end_init"])
    loaded = ib.load_run(run.path)
    np.testing.assert_array_equal(loaded.end_to_end, arrays["end_to_end"])


def test_final_npz_agrees_with_the_metrics(completion):
    with np.load(completion.path / "final.npz", allow_pickle=False) as data:
        W, W0 = data["end_to_end"], data["end_to_end_init"]
    with np.load(completion.path / "problem.npz", allow_pickle=False) as data:
        truth = data["ground_truth"]
    final = read_json(completion.path / "summary.json")["final"]
    assert W.shape == W0.shape == (10, 10)
    assert np.linalg.norm(W - truth) / np.linalg.norm(truth) == pytest.approx(final["test_error"], rel=1e-8)
    np.testing.assert_allclose(np.linalg.svd(W, compute_uv=False)[:10], final["singular_values"], rtol=1e-8,
                               atol=1e-12)
    assert 0 < np.linalg.norm(W0) < np.linalg.norm(W)


def test_problem_npz_for_completion(completion):
    with np.load(completion.path / "problem.npz", allow_pickle=False) as data:
        p = {k: data[k] for k in data.files}
    assert {"rows", "cols", "values", "ground_truth"} <= set(p)
    assert p["rows"].shape == p["cols"].shape == p["values"].shape == (40,)
    assert len({(int(r), int(c)) for r, c in zip(p["rows"], p["cols"])}) == 40  # without replacement
    truth = p["ground_truth"]
    assert truth.shape == (10, 10)
    assert np.linalg.norm(truth) == pytest.approx(10.0)
    assert np.linalg.matrix_rank(truth) == 2
    np.testing.assert_allclose(p["values"], truth[p["rows"], p["cols"]])  # noise = 0


def test_problem_npz_for_least_squares(least_squares):
    with np.load(least_squares.path / "problem.npz", allow_pickle=False) as data:
        p = {k: data[k] for k in data.files}
    assert {"X", "y", "ground_truth"} <= set(p)
    assert p["X"].shape == (10, 20) and p["y"].shape == (10,) and p["ground_truth"].shape == (20,)
    np.testing.assert_allclose(p["y"], p["X"] @ p["ground_truth"], rtol=1e-10, atol=1e-10)
    with np.load(least_squares.path / "final.npz", allow_pickle=False) as data:
        beta = data["end_to_end"]
        assert np.all(data["end_to_end_init"] == 0)  # linear model from zero
    final = read_json(least_squares.path / "summary.json")["final"]
    assert 0.5 * np.mean((p["X"] @ beta - p["y"]) ** 2) == pytest.approx(final["loss"], rel=1e-8)


def test_problem_npz_for_sensing(sensing):
    with np.load(sensing.path / "problem.npz", allow_pickle=False) as data:
        p = {k: data[k] for k in data.files}
    assert {"A", "y", "ground_truth"} <= set(p)
    assert p["A"].shape == (12, 4, 4) and p["y"].shape == (12,) and p["ground_truth"].shape == (4, 4)
    np.testing.assert_allclose(p["y"], np.einsum("mij,ij->m", p["A"], p["ground_truth"]), rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------------- skip rule

def test_second_identical_run_is_skipped_and_force_reruns(tmp_path):
    toml, out = tiny_toml(tmp_path, "least_squares"), tmp_path / "runs"
    first = call(["run", toml, "--out", out, "--quiet"])
    assert first.code == 0 and "already" not in first.stderr
    summary = first.path / "summary.json"
    inode, text = summary.stat().st_ino, summary.read_text()

    second = call(["run", toml, "--out", out, "--quiet"])
    assert second.code == 0
    assert second.path == first.path
    assert "already finished" in second.stderr and "--force" in second.stderr
    assert summary.stat().st_ino == inode and summary.read_text() == text  # nothing rewritten

    # the same resolved config spelled differently is the same run
    spelled = call(["run", toml, "--out", out, "--quiet", "--set", "trainer.stop_loss=0", "--set", "trainer.lr=1e-1"])
    assert spelled.path == first.path and "already finished" in spelled.stderr

    forced = call(["run", toml, "--out", out, "--quiet", "--force"])
    assert forced.code == 0 and forced.path == first.path
    assert "already" not in forced.stderr
    assert summary.stat().st_ino != inode  # summary.json rewritten (atomically: a new file)
    assert read_json(summary)["status"] == "max_steps"

    other = call(["run", toml, "--out", out, "--quiet", "--set", "seed=1"])
    assert other.code == 0 and other.path != first.path and "already" not in other.stderr
    assert run_dirs(out) == sorted([first.path, other.path])


def test_interrupted_run_is_rerun(tmp_path):
    cfg = tiny_config("least_squares")
    out = tmp_path / "runs"
    result = ib.run(cfg, out=out, should_stop=lambda: True)
    assert result.status == "interrupted" and result.summary["steps"] == 50
    again = call(["run", tiny_toml(tmp_path, "least_squares"), "--out", out, "--quiet"])
    assert again.code == 0 and again.path == result.path
    assert "already" not in again.stderr
    assert read_json(again.path / "summary.json")["status"] == "max_steps"


# --------------------------------------------------------------------------- exit statuses

def test_diverged_run_exits_3_and_writes_its_directory(tmp_path):
    toml, out = tiny_toml(tmp_path, "least_squares", trainer__lr=1e6), tmp_path / "runs"
    result = call(["run", toml, "--out", out, "--quiet"])
    assert result.code == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert set(os.listdir(result.path)) == FILES
    summary = read_json(result.path / "summary.json")
    assert summary["status"] == "diverged"
    assert isinstance(summary["diverged_step"], int) and 0 <= summary["diverged_step"] <= 100
    assert summary["steps"] <= summary["diverged_step"]
    assert len(pd.read_parquet(result.path / "metrics.parquet")) >= 1
    again = call(["run", toml, "--out", out, "--quiet"])  # a diverged run is finished: skipped, still 3
    assert again.code == 3 and "already finished" in again.stderr and again.path == result.path


def test_stop_loss_gives_converged(tmp_path):
    toml = tiny_toml(tmp_path, "least_squares", trainer__stop_loss=1e-6, trainer__steps=5000)
    result = call(["run", toml, "--out", tmp_path / "runs", "--quiet"])
    assert result.code == 0, result.stderr
    summary = read_json(result.path / "summary.json")
    assert summary["status"] == "converged"
    assert summary["final"]["loss"] <= 1e-6
    assert summary["steps"] < 5000 and summary["converged_step"] == summary["steps"]
    frame = pd.read_parquet(result.path / "metrics.parquet")
    assert frame["loss"].iloc[-1] <= 1e-6 and frame["step"].iloc[-1] == summary["steps"]
    assert np.all(frame["loss"].iloc[:-1] > 1e-6)  # it stopped at the first logged loss below


def _bad_inputs():
    """(id, builder(tmp_path) -> CLI args, text that the one stderr line must contain)."""

    def toml_args(base="completion", *sets, **overrides):
        def build(tmp):
            return ["run", tiny_toml(tmp, base, **overrides), *[a for s in sets for a in ("--set", s)]]
        return build

    def write(name, text):
        def build(tmp):
            (tmp / name).write_text(text)
            return ["run", tmp / name]
        return build

    def dataset(content, key_value=""):
        def build(tmp):
            (tmp / "data.csv").write_text(content)
            return ["run", tiny_toml(tmp, "least_squares"), "--set",
                    f"problem={{kind='dataset', path='{tmp / 'data.csv'}'{key_value}}}"]
        return build

    return [
        ("malformed_toml", write("bad.toml", "name = \n[problem"), "bad.toml"),
        ("not_utf8", lambda tmp: (tmp.joinpath("bin.toml").write_bytes(b"\xff\xfename"), ["run", tmp / "bin.toml"])[1],
         "bin.toml"),
        ("missing_file", lambda tmp: ["run", tmp / "missing.toml"], "missing.toml"),
        ("config_is_a_directory", lambda tmp: ["run", tmp], "cannot read"),
        ("empty_toml_no_problem", write("empty.toml", ""), "problem"),
        ("set_without_equals", toml_args("completion", "noequals"), "--set"),
        ("set_empty_key", toml_args("completion", "=1"), "--set"),
        ("set_empty_key_part", toml_args("completion", "model..depth=1"), "--set"),
        ("set_into_a_scalar", toml_args("completion", "name.x=1"), "name"),
        ("unknown_top_level_key", toml_args("completion", "bogus=1"), "bogus"),
        ("unknown_section", toml_args("completion", "bogus.x=1"), "bogus"),
        ("unknown_model_key", toml_args("completion", "model.bogus=1"), "model.bogus"),
        ("unknown_key_in_toml", toml_args("completion", trainer__bogus=1), "trainer.bogus"),
        ("key_of_another_kind", toml_args("completion", "model.widths=[3]"), "model.widths"),
        ("string_for_int", toml_args("completion", "model.depth=two"), "model.depth"),
        ("float_for_int", toml_args("completion", "trainer.steps=1.5"), "trainer.steps"),
        ("bool_for_int", toml_args("completion", "seed=true"), "seed"),
        ("scalar_for_table", toml_args("completion", "problem=3"), "problem"),
        ("negative_lr", toml_args("completion", "trainer.lr=-0.1"), "trainer.lr"),
        ("zero_lr", toml_args("completion", "trainer.lr=0"), "trainer.lr"),
        ("nan_lr", toml_args("completion", "trainer.lr=nan"), "trainer.lr"),
        ("inf_in_toml", toml_args("completion", trainer__lr=float("inf")), "trainer.lr"),
        ("rank_above_min_dim", toml_args("completion", "problem.n_cols=4", "problem.rank=5"), "problem.rank"),
        ("n_obs_above_entries", toml_args("completion", "problem.n_obs=101"), "problem.n_obs"),
        ("depth_zero", toml_args("completion", "model.depth=0"), "model.depth"),
        ("width_list_length", toml_args("completion", "model.width=[3, 3]"), "model.width"),
        ("negative_steps", toml_args("completion", "trainer.steps=-1"), "trainer.steps"),
        ("log_every_zero", toml_args("completion", "trainer.log_every=0"), "trainer.log_every"),
        ("top_k_zero", toml_args("completion", "metrics.top_k=0"), "metrics.top_k"),
        ("empty_name", toml_args("completion", 'name=""'), "name"),
        ("unknown_kind", toml_args("completion", "problem.kind=nope"), "problem.kind"),
        ("batch_above_n_obs", toml_args("completion", "trainer.kind=sgd", "trainer.batch_size=41"),
         "trainer.batch_size"),
        ("penalty_on_params", toml_args("completion", "penalty.kind=nuclear", "penalty.on=params"), "penalty.on"),
        ("orthogonal_design_too_few_samples", toml_args("least_squares", "problem.design=orthogonal"),
         "problem.design"),
        ("sparsity_above_features", toml_args("least_squares", "problem.target=sparse", "problem.sparsity=21"),
         "problem.sparsity"),
        # errors found while building the problem, after the config resolved: still nothing written
        ("dataset_missing_file", lambda tmp: ["run", tiny_toml(tmp, "least_squares"), "--set",
                                              f"problem={{kind='dataset', path='{tmp / 'none.csv'}'}}"],
         "problem.path"),
        ("dataset_missing_target", dataset("a,b\n1,2\n3,4\n"), "problem.target"),
        ("dataset_malformed_csv", dataset('a,y\n1,2\n1,2,3,4\n"x\n'), "problem.path"),
        ("dataset_non_numeric", dataset("a,y\n1,x\n2,y\n"), "problem.features"),
        # command-line usage
        ("out_is_a_file", lambda tmp: (tmp.joinpath("afile").write_text("x"),
                                       ["run", tiny_toml(tmp, "least_squares"), "--out", tmp / "afile"])[1],
         "--out"),
        ("out_below_a_file", lambda tmp: (tmp.joinpath("afile").write_text("x"),
                                          ["run", tiny_toml(tmp, "least_squares"), "--out", tmp / "afile" / "x"])[1],
         "--out"),
        ("unknown_option", lambda tmp: ["run", tiny_toml(tmp, "least_squares"), "--bogus"], "--bogus"),
        ("set_without_value", lambda tmp: ["run", tiny_toml(tmp, "least_squares"), "--set"], "--set"),
        ("no_command", lambda tmp: [], "command"),
        ("unknown_command", lambda tmp: ["train"], "train"),
    ]


@pytest.mark.parametrize("build,expected", [(b, e) for _, b, e in _bad_inputs()],
                         ids=[i for i, _, _ in _bad_inputs()])
def test_bad_input_exits_2_with_one_line_naming_the_key(tmp_path, build, expected):
    args = build(tmp_path)
    if "--out" not in args and args:
        args += ["--out", tmp_path / "runs"]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = call(args)
    assert result.code == 2, (result.code, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("implicit-bias: error:"), result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "runs").exists()  # no run directory, not even --out
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written anywhere


def test_bad_input_in_a_real_process(tmp_path):
    out = tmp_path / "runs"
    proc = run_subprocess(["run", tiny_toml(tmp_path, "completion"), "--set", "trainer.lr=-1", "--out", out])
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "trainer.lr" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not out.exists()


# --------------------------------------------------------------------------- --set parsing

def _printed_config(tmp_path, base: str, *sets: str) -> dict:
    args = ["run", tiny_toml(tmp_path, base), "--print-config", "--out", tmp_path / "runs"]
    result = call(args + [a for s in sets for a in ("--set", s)])
    assert result.code == 0, result.stderr
    assert not (tmp_path / "runs").exists()  # --print-config writes nothing
    return json.loads(result.stdout)


def test_set_parses_ints_floats_and_bare_strings(tmp_path):
    cfg = _printed_config(tmp_path, "completion", "model.depth=3", "seed=1", "trainer.lr=0.25",
                          "model.init=identity", "name=my run", "problem.noise=1e-2", "model.width=[4, 5]")
    assert cfg["model"]["depth"] == 3 and isinstance(cfg["model"]["depth"], int)
    assert cfg["seed"] == 1
    assert cfg["trainer"]["lr"] == 0.25
    assert cfg["model"]["init"] == "identity"  # a string without quotes
    assert cfg["name"] == "my run"
    assert cfg["problem"]["noise"] == 0.01
    assert cfg["model"]["width"] == [4, 5]


def test_set_int_for_float_quoted_strings_and_last_wins(tmp_path):
    cfg = _printed_config(tmp_path, "completion", "trainer.lr=1", 'model.init="balanced"', "seed=1", "seed=2",
                          "name=a=b")
    assert cfg["trainer"]["lr"] == 1.0 and isinstance(cfg["trainer"]["lr"], float)
    assert cfg["model"]["init"] == "balanced"
    assert cfg["seed"] == 2
    assert cfg["name"] == "a=b"


def test_set_creates_nested_tables_and_replaces_whole_tables(tmp_path):
    cfg = _printed_config(tmp_path, "least_squares", "penalty.kind=l2", "penalty.weight=0.1",
                          "metrics.top_k=3", "trainer={kind='momentum', momentum=0.5}")
    assert cfg["penalty"] == {"kind": "l2", "weight": 0.1, "on": "end_to_end"}
    assert cfg["metrics"]["top_k"] == 3
    assert cfg["trainer"]["kind"] == "momentum" and cfg["trainer"]["momentum"] == 0.5
    assert cfg["trainer"]["steps"] == 1000  # the whole table was replaced: back to the defaults


def test_print_config_matches_the_resolved_config(tmp_path):
    cfg = _printed_config(tmp_path, "completion", "model.depth=3")
    assert cfg == load(tmp_path / "experiment.toml", ["model.depth=3"])


# --------------------------------------------------------------------------- progress bar

def test_progress_bar_only_on_a_tty_and_not_quiet(tmp_path):
    toml, out = tiny_toml(tmp_path, "least_squares"), tmp_path / "runs"
    on_tty = call(["run", toml, "--out", out, "--force"], tty=True)
    assert on_tty.code == 0 and BAR.search(on_tty.stderr), on_tty.stderr
    assert not BAR.search(on_tty.stdout) and on_tty.stdout.strip() == str(on_tty.path)
    quiet = call(["run", toml, "--out", out, "--force", "--quiet"], tty=True)
    assert quiet.code == 0 and not BAR.search(quiet.stderr), quiet.stderr
    piped = call(["run", toml, "--out", out, "--force"], tty=False)
    assert piped.code == 0 and not BAR.search(piped.stderr), piped.stderr


def test_real_process_run(tmp_path):
    out = tmp_path / "runs"
    proc = run_subprocess(["run", tiny_toml(tmp_path, "least_squares"), "--out", out])
    assert proc.returncode == 0, proc.stderr
    path = Path(proc.stdout.splitlines()[-1])
    assert run_dirs(out) == [path] and set(os.listdir(path)) == FILES
    assert read_json(path / "summary.json")["status"] == "max_steps"
    assert not BAR.search(proc.stderr) and "\r" not in proc.stderr, proc.stderr  # stderr is a pipe: no bar
    assert "Traceback" not in proc.stderr
    assert "max_steps" in proc.stderr  # the one-line report goes to stderr, not stdout
    assert proc.stdout.strip() == str(path)


# --------------------------------------------------------------------------- SIGINT

@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_finishes_the_chunk_and_saves_an_interrupted_run(tmp_path):
    # noisy over-determined least squares: the loss never reaches stop_loss = 0, so only the
    # interrupt can end these 10^9 steps
    toml = tiny_toml(tmp_path, "least_squares", problem__n_samples=30, problem__noise=0.5,
                     trainer__steps=10**9, trainer__log_every=1000, trainer__lr=0.05)
    out = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "implicit_bias.cli", "run", str(toml), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            env=subprocess_env(), start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("*/config.json")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run directory never appeared"
            time.sleep(0.05)
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    path = Path(stdout.splitlines()[-1])
    assert set(os.listdir(path)) == FILES | {"checkpoint.npz"}  # an interrupted run can resume from it
    summary = read_json(path / "summary.json")
    assert summary["status"] == "interrupted"
    assert 0 < summary["steps"] < 10**9 and summary["steps"] % 1000 == 0  # the current chunk was finished
    frame = pd.read_parquet(path / "metrics.parquet")
    assert frame["step"].iloc[-1] == summary["steps"]
