"""Cost of the curvature columns (issue 17): one logged ``sharpness`` row against one GD step.

    python benchmarks/sharpness_cost.py [--repeats N] [--chunk STEPS] [--json-out FILE]

Work: the gd_steps experiment (100x100 rank-5 completion, 2,000 observations, depth-3
deep_matrix of width 100, so d = 30,000 parameters, float64, one thread), at the iterate
reached after ``--warm`` GD steps (so the Hessian is not the near-zero one of the 1e-3 init).
Timed side by side in each repeat, alternating the order, every call compiled beforehand and
ended by ``block_until_ready``:

- **GD step**: one compiled ``train_chunk`` of ``--chunk`` steps (what a run executes between two
  logged rows), divided by the number of steps;
- **metrics row** (the run's one compiled metrics call, ``compute_metrics``) without curvature;
- **sharpness row**: the same call with ``[metrics] sharpness = true`` (64 Lanczos steps, full
  reorthogonalization: 64 Hessian-vector products by forward-over-reverse + O(m²d));
- **trace row**: with ``hessian_trace = true`` (16 Rademacher probes: 16 products).

Reported ratios: (sharpness row − metrics row)/(GD step), i.e. what turning the column on adds to
each logged row in units of GD steps, and the same for the trace; also the whole rows. Check:
the logged sharpness with 64 Lanczos steps equals a 192-step Lanczos value to 1e-8 relative.
No target: the ratio tells how many GD steps one row costs (choose ``log_every`` accordingly).
"""

from __future__ import annotations

import gd_steps  # noqa: I001  (first: pins the threads before jax / numpy are imported)

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from engines.jax_gd import Engine  # noqa: E402
from implicit_bias.execution.single import Experiment, as_config  # noqa: E402
from implicit_bias.keys import named_key  # noqa: E402
from implicit_bias.metrics import Curvature, CurvatureSpec, compute_metrics  # noqa: E402
from implicit_bias.metrics.curvature import sharpness  # noqa: E402
from common import write_json_out  # noqa: E402

NAME = "sharpness_cost"


def _spread(values: list[float]) -> dict:
    return {"values": values, "min": min(values), "median": statistics.median(values), "max": max(values)}


def _seconds(fn) -> float:
    started = time.process_time()
    jax.block_until_ready(fn())
    return time.process_time() - started


def run(repeats: int = 5, chunk: int = 100, warm: int = 300) -> dict:
    cfg = as_config({**gd_steps.CONFIG, "trainer": {**gd_steps.CONFIG["trainer"], "log_every": chunk}})
    experiment = Experiment.build(cfg)
    objective = experiment.objective
    warm_engine = Engine(experiment, warm)
    params = warm_engine.run(warm).params  # a non-trivial iterate
    engine = Engine(experiment, chunk)
    engine.carry0 = engine.carry0._replace(params=params)
    key = named_key(cfg["seed"], "curvature")
    top_k = cfg["metrics"]["top_k"]
    families = {"metrics row": (), "sharpness row": (Curvature(key=key, spec=CurvatureSpec(sharpness=True)),),
                "trace row": (Curvature(key=key, spec=CurvatureSpec(trace=True)),)}
    calls = {"GD step": lambda: engine.run(chunk).params,
             **{name: (lambda e=extra: compute_metrics(objective, params, top_k, None, 0, e))
                for name, extra in families.items()}}
    for fn in calls.values():  # compile every call once
        jax.block_until_ready(fn())
    logged = float(compute_metrics(objective, params, top_k, None, 0, families["sharpness row"])["sharpness"])
    reference = float(jax.jit(lambda p: sharpness(objective, p, jax.random.split(key, 3)[0], 192))(params))
    rel = abs(logged - reference) / abs(reference)
    times: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            seconds = _seconds(calls[name])
            times[name].append(seconds / chunk if name == "GD step" else seconds)
    ratios = {
        "sharpness column / GD step": _spread([(s - m) / g for s, m, g in zip(times["sharpness row"],
                                                                              times["metrics row"], times["GD step"])]),
        "trace column (16 probes) / GD step": _spread([(t - m) / g for t, m, g in zip(
            times["trace row"], times["metrics row"], times["GD step"])]),
        "metrics row with sharpness / GD step": _spread([s / g for s, g in zip(times["sharpness row"],
                                                                               times["GD step"])]),
        "metrics row without curvature / GD step": _spread([m / g for m, g in zip(times["metrics row"],
                                                                                  times["GD step"])]),
    }
    d = sum(x.size for x in jax.tree_util.tree_leaves(params))
    note = (f"one logged sharpness (64 Lanczos steps, d = {d}) costs "
            f"{ratios['sharpness column / GD step']['median']:.0f} GD steps of the 100×100 depth-3 completion "
            f"(a 16-probe trace {ratios['trace column (16 probes) / GD step']['median']:.0f}); "
            f"λ_max = {logged:.6g}, equal to a 192-step Lanczos value to {rel:.1e}.")
    return {
        "readme_note": note,
        "name": NAME,
        "description": "one logged row of the curvature columns vs one GD step (100x100 depth-3 completion, "
                       "2,000 observations, float64), CPU seconds per call, side by side",
        "cases": {"cpu_seconds": {k: _spread(v) for k, v in times.items()}, "parameters": d,
                  "sharpness": logged, "sharpness_192_steps": reference, "warm_steps": warm, "chunk": chunk},
        "check": {"passed": bool(rel <= 1e-8), "max_rel_diff": rel, "tol": 1e-8, "steps": warm,
                  "max_rel_diff_after_chunk": float("nan")},
        "ratios": ratios,
    }


def table_md(r: dict) -> str:
    lines = ["| call | CPU s (median) |", "|---|---|"]
    lines += [f"| {name} | {v['median']:.4g} |" for name, v in r["cases"]["cpu_seconds"].items()]
    lines += ["", "| ratio | min | median | max |", "|---|---|---|---|"]
    lines += [f"| {name} | {v['min']:.3g} | {v['median']:.3g} | {v['max']:.3g} |" for name, v in r["ratios"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--warm", type=int, default=300)
    parser.add_argument("--json-out")
    args = parser.parse_args(argv)
    result = run(args.repeats, args.chunk, args.warm)
    result["details_md"] = table_md(result)
    print(result["details_md"])
    print(result["readme_note"])
    write_json_out(args.json_out, result)
    return 0 if result["check"]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
