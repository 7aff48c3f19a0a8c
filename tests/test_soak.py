"""Soak test (issue 9, docs/reliability.md): 500 tiny runs through the sweep's process pool while a
thread SIGKILLs pool workers at random moments. At the end every run exists exactly once, is
sound, its summary agrees with its files, with the index and with a recomputation, and the sweep
reports no failure. Prints runs/s (never asserted: the machine is shared)."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import implicit_bias as ib
from implicit_bias.catalog import index
from implicit_bias.rundir import files as store
from implicit_bias.settings import run_dir_name
from implicit_bias.sweeps.sweep import execute, expand

N_RUNS = 500
BASE = {"name": "soak",
        "problem": {"kind": "least_squares", "n_samples": 5, "n_features": 10},
        "model": {"kind": "linear"},
        "trainer": {"kind": "gd", "lr": 0.05, "steps": 20, "log_every": 10}}


def _pool_workers() -> list:
    """The spawned worker processes of this process's pools (not the resource tracker)."""
    import psutil

    workers = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                workers.append(child)
        except psutil.Error:
            pass
    return workers


class Killer(threading.Thread):
    """SIGKILLs a random pool worker after a random delay, once at least ``gap`` more runs have
    finished since the previous kill (so a run is rarely in flight at two kills), at most
    ``max_kills`` times."""

    def __init__(self, out: Path, seed: int = 0, max_kills: int = 5, gap: int = 40):
        super().__init__(daemon=True)
        self.out, self.rng, self.max_kills, self.gap = out, random.Random(seed), max_kills, gap
        self.killed: list[int] = []
        self.done = threading.Event()

    def finished(self) -> int:
        return sum(1 for _ in self.out.glob(f"*/{store.SUMMARY}"))

    def run(self) -> None:
        last = 0
        while not self.done.is_set() and len(self.killed) < self.max_kills:
            if self.done.wait(self.rng.uniform(0.2, 1.5)):
                return
            count = self.finished()
            workers = _pool_workers()
            if count - last < self.gap or not workers:
                continue
            victim = self.rng.choice(workers)
            try:
                os.kill(victim.pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            self.killed.append(victim.pid)
            last = count


@pytest.mark.slow
def test_soak_500_runs_with_random_worker_kills(tmp_path):
    out = tmp_path / "soak"
    sweep = expand(BASE, grid={"seed": list(range(N_RUNS))}, batch="off")
    assert len(sweep.configs) == N_RUNS
    killer = Killer(out)
    killer.start()
    started = time.perf_counter()
    result = execute(sweep, out, jobs=2, batch="off")
    elapsed = time.perf_counter() - started
    killer.done.set()
    killer.join()
    temp_files = list(out.glob("*/.*.tmp"))
    print(f"\nsoak: {N_RUNS} runs in {elapsed:.1f} s = {N_RUNS / elapsed:.1f} runs/s on 2 workers, "
          f"{len(killer.killed)} workers SIGKILLed, {len(temp_files)} temp files left by killed writes")
    assert killer.killed, "no worker was killed: the test tested nothing"
    assert not result.failures, result.failures[:3]

    # each run exactly once: one result per config, one directory per config, nothing else
    expected = {run_dir_name(cfg) for cfg in sweep.configs}
    assert len(result.results) == N_RUNS
    assert sorted(Path(r["run_dir"]).name for r in result.results) == sorted(expected)
    assert {p.name for p in index.run_dirs(out)} == expected
    # every run sound, the index equal to the files
    assert index.damaged(out).empty
    frame = ib.load(out)
    assert len(frame) == N_RUNS and sorted(frame["seed"]) == list(range(N_RUNS))
    assert set(frame["status"]) == {"max_steps"} and set(frame["steps"]) == {20}
    for row in frame.to_dict("records"):
        summary = store.read_json(Path(row["run_dir"]) / store.SUMMARY)
        assert summary["final"]["loss"] == row["final.loss"] and summary["steps"] == row["steps"]
        metrics = store.read_parquet(Path(row["run_dir"]) / store.METRICS)
        assert metrics["step"].tolist() == [0, 10, 20]
        assert metrics["loss"].iloc[-1] == summary["final"]["loss"]
    # a few recomputed from scratch, bit for bit
    for cfg in random.Random(1).sample(sweep.configs, 5):
        fresh = ib.run(cfg)
        stored = store.read_npz(out / run_dir_name(cfg) / store.FINAL)
        np.testing.assert_array_equal(fresh.end_to_end, stored["end_to_end"])
        summary = store.read_json(out / run_dir_name(cfg) / store.SUMMARY)
        assert fresh.summary["final"]["loss"] == summary["final"]["loss"]
