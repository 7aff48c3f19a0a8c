"""Sweeps, the results index and `ls`: grids, resume, the Dask path, queries."""

import json
import time

import numpy as np
import pytest

import implicit_bias as ib
from implicit_bias.catalog import index
from implicit_bias.cli import main
from implicit_bias.settings import ConfigError
from implicit_bias.sweeps.sweep import execute, expand, parse_axes, parse_values

BASE = {"name": "sw",
        "problem": {"kind": "matrix_completion", "n_rows": 10, "n_cols": 10, "rank": 2, "n_obs": 40},
        "model": {"kind": "deep_matrix"},
        "trainer": {"steps": 200, "log_every": 100}}


def test_axis_syntax():
    assert parse_values("k", "1,2,3") == [1, 2, 3]
    assert parse_values("k", "0:4") == [0, 1, 2, 3]
    assert parse_values("k", "1e-3, 0.1") == [1e-3, 0.1]
    assert parse_values("k", "gaussian,identity") == ["gaussian", "identity"]
    assert parse_values("k", "[1,2],[3,4]") == [[1, 2], [3, 4]]
    with pytest.raises(ConfigError):
        parse_values("k", "5:2")


def test_grid_is_a_product_and_zip_varies_together():
    sweep = expand({**BASE, "sweep": {"grid": {"model.depth": [1, 2]}}},
                   grid=parse_axes(["seed=0:3"], "--grid"),
                   zipped=parse_axes(["trainer.lr=0.1,0.2", "model.init_scale=1e-3,1e-2"], "--zip"))
    assert len(sweep.configs) == 2 * 3 * 2
    pairs = {(c["trainer"]["lr"], c["model"]["init_scale"]) for c in sweep.configs}
    assert pairs == {(0.1, 1e-3), (0.2, 1e-2)}
    with pytest.raises(ConfigError) as info:  # one bad point: nothing runs
        expand(BASE, grid={"model.depth": [1, 0]})
    assert info.value.key == "model.depth"
    with pytest.raises(ConfigError):
        expand(BASE, zipped={"seed": [1, 2], "trainer.lr": [0.1]})


def test_sweep_runs_indexes_and_resumes(tmp_path):
    sweep = expand(BASE, grid={"model.depth": [1, 2], "seed": [0, 1]})
    first = execute(sweep, tmp_path, jobs=2)
    assert len(first.results) == 4 and not first.failures
    assert not any(r["skipped"] for r in first.results)
    frame = ib.load(tmp_path)
    assert sorted(frame["model.depth"]) == [1, 1, 2, 2] and set(frame["status"]) == {"max_steps"}
    assert json.loads((tmp_path / "sweep.json").read_text())["n_runs"] == 4
    again = execute(sweep, tmp_path, jobs=1)  # the same sweep again: nothing is rerun
    assert all(r["skipped"] for r in again.results)
    deep = ib.load(tmp_path, where="model.depth == 2 and seed >= 1")
    assert len(deep) == 1
    metrics = ib.load_metrics(tmp_path, where="model.depth == 1")
    assert set(metrics["step"]) == {0, 100, 200} and metrics["run_dir"].nunique() == 2


def test_index_follows_the_run_directories(tmp_path):
    a = ib.run({**BASE, "seed": 0}, out=tmp_path)
    b = ib.run({**BASE, "seed": 1}, out=tmp_path)
    assert len(ib.load(tmp_path)) == 2
    (b.path / "summary.json").unlink()  # a rerun in progress: not finished any more
    assert list(ib.load(tmp_path)["run_dir"]) == [str(a.path)]
    import shutil
    shutil.rmtree(a.path)
    assert ib.load(tmp_path).empty


def test_where_is_parsed_not_evaluated(tmp_path):
    ib.run(BASE, out=tmp_path)
    for bad in ("model.depth >>= 2", "__import__('os') == 1", "model.depth", "== 2"):
        with pytest.raises(ConfigError):
            ib.load(tmp_path, where=bad)
    assert ib.load(tmp_path, where="model.depth == 1; DROP TABLE runs").empty  # a bound string
    assert len(ib.load(tmp_path)) == 1
    # a string value is a bound parameter, never SQL
    assert ib.load(tmp_path, where="name == \"sw' OR 1=1 --\"").empty
    assert len(ib.load(tmp_path, where="name == sw")) == 1


def test_querying_ten_thousand_runs_is_fast(tmp_path):
    """The index answers a query over 10,000 runs quickly (measured: ~0.3 s to load them all).
    No timing assertion (machines are noisy): this checks the scale works and the result."""
    import sqlite3
    from implicit_bias.catalog.index import SCHEMA
    rows = []
    for i in range(10_000):
        config = {**BASE, "seed": i, "model": {"kind": "deep_matrix", "depth": 1 + i % 3}}
        rows.append((f"r{i}", "sw", str(i), "max_steps", 200, 1.0, 0.1, json.dumps(config),
                     json.dumps({"status": "max_steps", "final": {"loss": i / 10_000}}), 0.0))
    with sqlite3.connect(tmp_path / index.INDEX) as connection:
        connection.execute(SCHEMA)
        connection.executemany("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    started = time.perf_counter()  # sync=False: the synthetic rows have no run directories
    frame = index.load(tmp_path, where="model.depth == 2 and final.loss < 0.5", sync=False)
    print(f"query over 10,000 runs: {time.perf_counter() - started:.3f} s")
    assert len(frame) == sum(1 for i in range(5000) if i % 3 == 1)


def test_cli_sweep_and_ls(tmp_path, capsys):
    toml = tmp_path / "base.toml"
    toml.write_text('name = "sw"\n[problem]\nkind = "matrix_completion"\nn_rows = 10\nn_cols = 10\nrank = 2\n'
                    'n_obs = 40\n[model]\nkind = "deep_matrix"\n[trainer]\nsteps = 100\nlog_every = 50\n'
                    '[sweep]\ngrid = { "model.depth" = [1, 2] }\n')
    out = tmp_path / "runs"
    assert main(["sweep", str(toml), "--grid", "seed=0:2", "--jobs", "1", "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out)
    assert main(["ls", str(out), "--where", "model.depth == 2", "--columns", "seed,final.loss"]) == 0
    table = capsys.readouterr().out
    assert "final.loss" in table and len(table.strip().splitlines()) == 3
    assert main(["sweep", str(toml), "--grid", "model.depth=0", "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()
    assert main(["ls", str(out), "--columns", "nope"]) == 2


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_runs_bit_identically(tmp_path):
    from distributed import LocalCluster

    sweep = expand(BASE, grid={"model.depth": [2, 3], "seed": [0, 1]})
    local = execute(sweep, tmp_path / "local", jobs=1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        remote = execute(sweep, tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert not remote.failures and len(remote.results) == 4
    for cfg in sweep.configs:
        name = ib.config.run_dir_name(cfg) if hasattr(ib, "config") else None
        from implicit_bias.settings import run_dir_name
        a = np.load(tmp_path / "local" / run_dir_name(cfg) / "final.npz", allow_pickle=False)
        b = np.load(tmp_path / "dask" / run_dir_name(cfg) / "final.npz", allow_pickle=False)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
        del name
    assert len(ib.load(tmp_path / "dask")) == 4


@pytest.mark.slow
def test_a_killed_worker_does_not_lose_the_sweep(tmp_path):
    """SIGKILL one worker mid-sweep: the pool is rebuilt, the lost runs are resubmitted (resuming
    from their checkpoints) and every run of the grid ends finished, each exactly once."""
    import os
    import signal
    import threading

    base = {**BASE, "trainer": {"steps": 3000, "log_every": 100, "checkpoint_every": 500}}
    sweep = expand(base, grid={"seed": list(range(6))})
    killed = []

    def kill_a_worker():
        import psutil
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            children = psutil.Process().children(recursive=True)
            workers = [c for c in children if "python" in c.name().lower()]
            if len(workers) >= 2 and list(tmp_path.glob("*/checkpoint.npz")):
                os.kill(workers[-1].pid, signal.SIGKILL)
                killed.append(workers[-1].pid)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_worker)
    killer.start()
    result = execute(sweep, tmp_path, jobs=2)
    killer.join()
    assert killed, "no worker was killed (the runs finished too fast?)"
    assert not result.failures
    frame = ib.load(tmp_path)
    assert sorted(frame["seed"]) == list(range(6))
    assert set(frame["status"]) == {"max_steps"}
