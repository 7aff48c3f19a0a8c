"""Two sweeps writing to one output directory at once, while `report` and `ls` read it.

Real processes (``python -m implicit_bias.cli``), started together on a fresh directory so that
they also race to create ``index.sqlite``. The grids overlap (seeds 4–7 are in both), so the
two sweeps also race on the same run directories. Afterwards the index must be a consistent
cache of the run directories: SQLite's integrity check passes, every run is present exactly
once, and each row holds what its directory's config.json and summary.json say.
"""

import json
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing

import pytest
from conftest import subprocess_env

from implicit_bias.catalog import index
from implicit_bias.settings import config_hash, load_toml, run_dir_name
from implicit_bias.sweeps.sweep import expand

TOML = """name = "cc"
[problem]
kind = "least_squares"
n_samples = 10
n_features = 20
[model]
kind = "diagonal"
alpha = 0.5
[trainer]
lr = 0.05
steps = 1000
log_every = 50
"""


@pytest.mark.slow
def test_two_sweeps_and_a_report_at_once_keep_the_index_consistent(tmp_path):
    toml = tmp_path / "base.toml"
    toml.write_text(TOML)
    out = tmp_path / "runs"
    env = subprocess_env()
    cli = [sys.executable, "-m", "implicit_bias.cli"]
    # Both run one by one (an index write per run); the seeds 4-7 are in both grids.
    sweeps = [subprocess.Popen([*cli, "sweep", str(toml), "--grid", grid, "--jobs", "1", "--batch", "off",
                                "--out", str(out), "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
              for grid in ("seed=0:8", "seed=4:12")]
    # ... and, besides the reader processes, this process refreshes and reads the index in a tight loop
    # (refresh writes the rows of runs it finds un-indexed: a third writer).
    loads, errors, done = [0], [], threading.Event()

    def load_in_a_loop():
        while not done.is_set():
            try:
                if (out / "index.sqlite").exists():
                    index.load(out)
                    loads[0] += 1
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(repr(exc))
            time.sleep(0.01)

    loader = threading.Thread(target=load_in_a_loop)
    loader.start()
    reports, listings, report = 0, 0, None
    while any(p.poll() is None for p in sweeps) or not reports or not listings:
        if report is not None and report.poll() is not None:
            _, stderr = report.communicate()
            # before the first run is indexed, an empty directory is bad input for report (exit 2)
            assert report.returncode in (0, 2) and "Traceback" not in stderr, stderr
            reports, report = reports + (report.returncode == 0), None
        if not (out / "index.sqlite").exists():
            time.sleep(0.1)
            continue
        if report is None:
            report = subprocess.Popen([*cli, "report", str(out)], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
        listing = subprocess.run([*cli, "ls", str(out)], check=False, env=env, capture_output=True, text=True, timeout=300)
        assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing.stderr
        listings += 1
    if report is not None:
        _, stderr = report.communicate(timeout=300)
        assert report.returncode == 0, stderr
    done.set()
    loader.join()
    print(f"{reports} reports, {listings} listings and {loads[0]} in-process loads while the sweeps ran")
    assert not errors, errors[:3]
    for process in sweeps:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr, stderr

    configs = {run_dir_name(c): c for c in expand(load_toml(toml), grid={"seed": list(range(12))}).configs}
    with closing(sqlite3.connect(out / index.INDEX)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = connection.execute("SELECT run_dir, config_hash, status, steps, config, summary FROM runs").fetchall()
    assert sorted(r[0] for r in rows) == sorted(configs)  # every run, each exactly once
    for run_dir, digest, status, steps, config_text, summary_text in rows:
        summary = json.loads((out / run_dir / "summary.json").read_text())
        config = json.loads((out / run_dir / "config.json").read_text())
        assert digest == config["config_hash"] == config_hash(configs[run_dir])
        assert (status, steps) == (summary["status"], summary["steps"]) == ("max_steps", 1000)
        assert json.loads(summary_text) == summary
        config.pop("versions")
        assert json.loads(config_text) == config
    assert index.refresh(out) == 0  # nothing was stale: the concurrent writers left the cache current
    assert len(index.load(out)) == 12
    assert (out / "report.html").is_file()
