"""Sweeps: a grid of configs run on every core, or on a Dask cluster, indexed as they finish.

    implicit-bias sweep CONFIG.toml --grid model.depth=1,2,3 --grid seed=0:5 [--zip ...]
                                    [--jobs N] [--scheduler tcp://host:port] [--out DIR]

The grid is the Cartesian product of the ``--grid`` axes (and of the TOML's ``[sweep] grid``
table); ``--zip`` axes (and ``[sweep] zip``) all have the same length and vary together, as one
more axis of the product. Every config is resolved before anything runs: one bad value is bad
input (exit 2) and nothing is written.

Each run is an ordinary :func:`implicit_bias.run` into ``DIR``: a finished run (same config
hash) is skipped, an interrupted or killed one resumes from its last checkpoint, so re-running
the same sweep picks up where it stopped. Runs execute in a process pool (one JAX process per
core, each with one BLAS/XLA thread) or, with ``--scheduler``, on a Dask distributed cluster
writing to the same (shared) directory. The parent indexes each finished run in
``DIR/index.sqlite`` (see ``index.py``); a crash of one run is recorded and the sweep goes on.

Runs that differ only in traced values (seed, lr, init scale, α, penalty weight) of a small
problem are trained together under ``jax.vmap`` in one task (``batched.py``; ``--batch
auto|on|off``, ``[sweep] batch``); a group is cut into at least one batch per worker, and each
member's run directory is written exactly as a separate run's.
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
import functools
import itertools
import json
import multiprocessing
import os
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from implicit_bias import settings as config_mod
from implicit_bias.catalog import index
from implicit_bias.rundir import files as store
from implicit_bias.settings import ConfigError

SWEEP_FILE = "sweep.json"
BATCH_MODES = ("auto", "on", "off")  # batched.BATCH_MODES (not imported here: it imports jax)
SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}


# --------------------------------------------------------------------------- the grid

def parse_values(key: str, text: str) -> list:
    """``1,2,3`` → [1, 2, 3]; ``0:5`` → [0, 1, 2, 3, 4] (integers, end excluded); values are TOML."""
    text = text.strip()
    if ":" in text and "," not in text and not text.startswith(("[", "{", '"', "'")):
        start, _, stop = text.partition(":")
        try:
            start_i, stop_i = int(start), int(stop)
        except ValueError:
            raise ConfigError(key, f"a range is START:STOP with integers, got {text!r}") from None
        if stop_i <= start_i:
            raise ConfigError(key, f"empty range {text!r}")
        return list(range(start_i, stop_i))
    values = [config_mod.parse_override(f"v={item}")[1] for item in _split_top_level(text)]
    if not values:
        raise ConfigError(key, "no values")
    return values


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets or quotes."""
    parts, depth, quote, current = [], 0, None, []
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_axes(items: Iterable[str], flag: str) -> dict[str, list]:
    axes = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(flag, f"expected KEY=VALUES, got {item!r}")
        key, values = item.split("=", 1)
        axes[key.strip()] = parse_values(f"{flag} {key.strip()}", values)
    return axes


@dataclass
class Sweep:
    """A resolved sweep: the base document, its axes, and one resolved config per point."""

    base: dict
    grid: dict[str, list] = field(default_factory=dict)
    zipped: dict[str, list] = field(default_factory=dict)
    configs: list[dict] = field(default_factory=list)
    batch: str = "auto"

    def describe(self) -> dict:
        return {"grid": self.grid, "zip": self.zipped, "n_runs": len(self.configs), "batch": self.batch,
                "base": self.base}


def _set(doc: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    table = doc
    for part in parts[:-1]:
        table = table.setdefault(part, {})
        if not isinstance(table, dict):
            raise ConfigError(key, "is not inside a table")
    table[parts[-1]] = value


def expand(raw: Mapping[str, Any], grid: Mapping[str, list] | None = None, zipped: Mapping[str, list] | None = None,
           overrides: list[str] | None = None, batch: str | None = None) -> Sweep:
    """Resolve every point of the sweep (raises ConfigError on the first bad one).

    ``batch`` (``auto``/``on``/``off``, see ``batched.py``) overrides the TOML's ``[sweep] batch``."""
    raw = dict(raw)
    table = raw.pop("sweep", {}) or {}
    if not isinstance(table, Mapping) or set(table) - {"grid", "zip", "batch"}:
        raise ConfigError("sweep", "the [sweep] table holds `grid` and `zip` tables of lists and `batch`")
    batch = batch if batch is not None else table.get("batch", "auto")
    if batch not in BATCH_MODES:
        raise ConfigError("sweep.batch", f"must be one of {', '.join(BATCH_MODES)}, got {batch!r}")
    all_grid = {**{k: list(v) for k, v in (table.get("grid") or {}).items()}, **(grid or {})}
    all_zip = {**{k: list(v) for k, v in (table.get("zip") or {}).items()}, **(zipped or {})}
    for key, values in {**all_grid, **all_zip}.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"sweep.{key}", "must be a non-empty list of values")
    lengths = {len(v) for v in all_zip.values()}
    if len(lengths) > 1:
        raise ConfigError("--zip", f"zipped axes must have the same length, got {sorted(lengths)}")
    base = config_mod.apply_overrides(raw, overrides or [])
    zip_points = [dict(zip(all_zip, values)) for values in zip(*all_zip.values())] if all_zip else [{}]
    configs, seen = [], set()
    for values in itertools.product(*all_grid.values()):
        for zip_point in zip_points:
            doc = copy.deepcopy(base)
            for key, value in {**dict(zip(all_grid, values)), **zip_point}.items():
                _set(doc, key, value)
            cfg = config_mod.resolve(doc)
            digest = config_mod.config_hash(cfg)
            if digest not in seen:
                seen.add(digest)
                configs.append(cfg)
    return Sweep(base=base, grid=all_grid, zipped=all_zip, configs=configs, batch=batch)


# --------------------------------------------------------------------------- execution

def _worker_init() -> None:
    os.environ.update(SINGLE_THREAD_ENV)


@dataclass
class SweepResult:
    out: Path
    results: list[dict]

    @property
    def failures(self) -> list[dict]:
        return [r for r in self.results if "error" in r]


def run_task(configs: list[dict], out: str, batch: str = "auto") -> list[dict]:
    """One task in a worker (:func:`implicit_bias.execution.tasks.run_task`), imported there so that
    this module (and the CLI's argument checks) loads without JAX."""
    from implicit_bias.execution.tasks import run_task as run_in_worker

    return run_in_worker(configs, out, batch)


def plan_tasks(sweep: Sweep, out: Path, jobs: int, batch: str) -> list[list[int]]:
    """Indices of ``sweep.configs`` per task: one run each with ``batch = "off"``, else ``batched.plan``."""
    if batch == "off":
        return [[i] for i in range(len(sweep.configs))]
    from implicit_bias.execution.batched import plan

    return plan(sweep.configs, out, batch, jobs)


def execute(sweep: Sweep, out: str | Path, *, jobs: int | None = None, scheduler: str | None = None,
            on_result: Callable[[dict, int, int], None] | None = None, batch: str | None = None) -> SweepResult:
    """Run every config of ``sweep`` into ``out``; index each finished run as it completes.

    ``batch`` (default: the sweep's, ``auto``) chooses vmap batching of runs that differ only in
    traced values (``batched.py``)."""
    out = Path(out)
    batch = batch or sweep.batch
    if batch not in BATCH_MODES:
        raise ConfigError("--batch", f"must be one of {', '.join(BATCH_MODES)}, got {batch!r}")
    out.mkdir(parents=True, exist_ok=True)
    store.write_json(out / SWEEP_FILE, {**sweep.describe(), "batch": batch, "started": time.time()})
    index.refresh(out)
    results: list[dict] = []
    jobs = jobs or os.cpu_count() or 1

    def make_tasks(n_workers: int) -> list[list[dict]]:
        return [[sweep.configs[i] for i in task] for task in plan_tasks(sweep, out, n_workers, batch)]

    connection = index.open_index(out)

    def collect(task_results: list[dict]) -> None:
        results.extend(task_results)
        run_dirs = [Path(r["run_dir"]) for r in task_results if "run_dir" in r]
        if run_dirs:
            index.index_into(connection, run_dirs)
        if on_result is not None:
            for k, result in enumerate(task_results):
                on_result(result, len(results) - len(task_results) + k + 1, len(sweep.configs))

    with closing(connection):
        if scheduler:
            _execute_dask(make_tasks, out, scheduler, batch, collect)
        elif jobs == 1:
            for task in make_tasks(1):
                collect(run_task(task, str(out), batch))
        else:
            _execute_pool(make_tasks(jobs), out, jobs, batch, collect)
    return SweepResult(out=out, results=results)


def _refill(pool, tasks: list[list[dict]], out: str, batch: str, queue: list[int], running: dict,
            jobs: int) -> bool:
    """Submit tasks from the end of ``queue`` until ``jobs`` are in flight; False once the pool is broken."""
    while queue and len(running) < jobs:
        try:
            running[pool.submit(run_task, tasks[queue[-1]], out, batch)] = queue[-1]
        except cf.process.BrokenProcessPool:
            return False
        queue.pop()
    return True


def _execute_pool(tasks: list[list[dict]], out: Path, jobs: int, batch: str, collect, max_attempts: int = 3) -> None:
    """A process pool; if a worker dies (killed, out of memory) the pool is rebuilt and the runs
    it lost are resubmitted (they resume from their checkpoints), each at most ``max_attempts``
    times before it is recorded as failed.

    At most ``jobs`` tasks are in the pool at once (the next is submitted as one finishes), so a
    dead worker breaks only the tasks that were running; the tasks not yet submitted are not
    charged an attempt (submitting all at once charged every queued task at each kill)."""
    saved = {k: os.environ.get(k) for k in SINGLE_THREAD_ENV}
    os.environ.update(SINGLE_THREAD_ENV)  # inherited by the spawned workers before they import jax
    attempts = [0] * len(tasks)
    pending = list(range(len(tasks)))
    try:
        context = multiprocessing.get_context("spawn")
        while pending:
            lost, queue, running, broken = [], list(reversed(pending)), {}, False
            with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_worker_init) as pool:
                refill = functools.partial(_refill, pool, tasks, str(out), batch, queue, running, jobs)
                broken = not refill()
                while running:
                    done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                    finished = [(future, running.pop(future)) for future in done]
                    broken = broken or any(isinstance(f.exception(), cf.process.BrokenProcessPool) for f, _ in finished)
                    if not broken:
                        broken = not refill()  # before indexing: the workers need not wait for the parent
                    for future, i in finished:
                        try:
                            collect(future.result())
                        except cf.process.BrokenProcessPool as exc:
                            attempts[i] += 1
                            if attempts[i] >= max_attempts:
                                collect([{"error": f"worker died {attempts[i]} times: {exc}",
                                          "name": cfg.get("name")} for cfg in tasks[i]])
                            else:
                                lost.append(i)
            pending = lost + list(reversed(queue))  # the lost first, then those never submitted
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _execute_dask(make_tasks, out: Path, scheduler: str, batch: str, collect) -> None:
    from distributed import Client, as_completed

    with Client(scheduler, timeout="30s") as client:
        tasks = make_tasks(max(1, sum(client.nthreads().values())))
        futures = client.map(run_task, tasks, [str(out)] * len(tasks), [batch] * len(tasks), pure=False)
        sizes = {future.key: len(task) for future, task in zip(futures, tasks)}
        for future in as_completed(futures):
            try:
                collect(future.result())
            except Exception as exc:  # noqa: BLE001 - a lost worker: record and go on
                collect([{"error": f"{type(exc).__name__}: {exc}"}] * sizes[future.key])


def load_sweep_document(path: str | Path) -> dict:
    return config_mod.load_toml(path)


def dumps(result: Mapping) -> str:
    return json.dumps(result, default=str)
