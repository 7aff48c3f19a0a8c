"""A sweep task in a worker process: one run, or one vmap batch; never raises.

Each returns one result dict per config (``run_dir``, ``status``, ``skipped``, ``wall_seconds``,
``steps``; or ``error`` and ``traceback``), which the sweep executor collects.
"""

from __future__ import annotations

import traceback
from typing import Any, Mapping, Sequence

from implicit_bias.execution.batched import run_batch
from implicit_bias.execution.compiled_code import release_compiled_code
from implicit_bias.execution.single import run
from implicit_bias.plugins import load_plugins


def run_one(cfg: dict, out: str) -> dict:
    """One run in a worker: never raises, returns {run_dir, status, ...} or {error}."""
    try:
        load_plugins()  # a worker is a separate process: the extensions of IMPLICIT_BIAS_PLUGINS
        result = run(cfg, out=out)
        release_compiled_code()  # a long sweep in one process stays below vm.max_map_count
        return {"run_dir": str(result.path), "status": result.status, "skipped": result.skipped,
                "wall_seconds": result.summary.get("wall_seconds", 0.0), "steps": result.summary.get("steps", 0)}
    except BaseException as exc:  # noqa: BLE001 - a crash of one run must not end the sweep
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=20),
                "name": cfg.get("name")}


def run_task(configs: Sequence[Mapping[str, Any]], out: str, mode: str = "auto") -> list[dict]:
    """A sweep task in a worker: never raises; one result dict per config (as :func:`run_one`).

    If the batch itself fails, its members are rerun one by one so that one bad member cannot
    take the others with it."""
    if len(configs) == 1:
        return [run_one(configs[0], out)]
    try:
        load_plugins()  # a worker is a separate process: the extensions of IMPLICIT_BIAS_PLUGINS
        results = run_batch(configs, out=out, mode=mode)
        release_compiled_code()
    except BaseException:  # noqa: BLE001 - fall back to separate runs, each recording its own error
        traceback.print_exc()
        return [run_one(cfg, out) for cfg in configs]
    return [{"run_dir": str(r.path), "status": r.status, "skipped": r.skipped,
             "wall_seconds": r.summary.get("wall_seconds", 0.0), "steps": r.summary.get("steps", 0),
             "batch_size": len(configs)} for r in results]
