"""Compile cost: time to the first step, and recompilations when lr / init / seed change.

    python benchmarks/compile_cost.py [--json-out FILE]

Work: ``implicit_bias.run`` (no output directory, nothing on disk) of the gd_steps experiment
(100x100 completion, 2,000 observations, depth-3 deep_matrix, float64, one thread) with
``steps = log_every = 1``, in this fresh interpreter:

1. **first run**: wall seconds of the first call — tracing, XLA compilation of the training
   chunk and of the logged metrics, one GD step, the metrics row;
2. **new lr, init_scale and seed**: the same call with lr 5 → 2, init_scale 1e-3 → 3e-3, seed 0 → 7:
   wall seconds and the number of XLA backend compilations (a ``jax.monitoring`` listener on
   ``/jax/core/compile/backend_compile_duration``, implicit_bias.diagnostics.CompileCounter, also used by tests/test_trainers.py
   ``test_new_lr_seed_init_scale_do_not_recompile``); must be 0;
3. **negative control**: depth 3 → 4 (new parameter shapes) must recompile (count > 0), so the
   counter is seen to work;
4. the same for the ``flow`` trainer (t_max 1, log_dt 1): first run, then new rtol / atol / t_max /
   init_scale / seed (count must be 0).

There is no peer and no ratio: the result is the seconds (first call and a warm call) and the
compilation counts. Rule: zero recompilations in 2 and 4, more than zero in 3.
"""

from __future__ import annotations

import gd_steps  # noqa: I001  (first: pins the threads before jax / numpy are imported)

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

# Compile cost means compiling: no persistent compilation cache (execution/compile_cache.py), which
# would serve the first run, and the depth-4 control, from an earlier run's executables.
os.environ["IMPLICIT_BIAS_COMPILATION_CACHE"] = "off"


import implicit_bias as ib  # noqa: E402
from implicit_bias.diagnostics import CompileCounter  # noqa: E402
from common import write_json_out  # noqa: E402

NAME = "compile_cost"
def _timed_run(cfg: dict) -> tuple[float, int, str]:
    with CompileCounter() as counter:
        started = time.perf_counter()
        result = ib.run(cfg)
        seconds = time.perf_counter() - started
    return seconds, counter.count, result.status


def _cfg(trainer: dict, model: dict | None = None, seed: int = 0) -> dict:
    return {**gd_steps.CONFIG, "seed": seed, "model": {**gd_steps.CONFIG["model"], **(model or {})},
            "trainer": trainer}


def run() -> dict:
    gd = {"kind": "gd", "lr": 5.0, "steps": 1, "log_every": 1}
    flow = {"kind": "flow", "t_max": 1.0, "log_dt": 1.0, "rtol": 1e-6, "atol": 1e-9}
    cases = {
        "gd first run": _cfg(gd),
        "gd warm (same config)": _cfg(gd),
        "gd new lr, init_scale, seed": _cfg({**gd, "lr": 2.0}, {"init_scale": 3e-3}, seed=7),
        "gd new depth (negative control)": _cfg(gd, {"depth": 4}),
        "flow first run": _cfg(flow, {"init_scale": 0.1}),
        "flow warm (same config)": _cfg(flow, {"init_scale": 0.1}),
        "flow new rtol, atol, t_max, init_scale, seed": _cfg(
            {**flow, "t_max": 2.0, "log_dt": 2.0, "rtol": 1e-7, "atol": 1e-10}, {"init_scale": 0.2}, seed=3),
    }
    out = {}
    for name, cfg in cases.items():
        seconds, compiles, status = _timed_run(cfg)
        out[name] = {"seconds": seconds, "backend_compiles": compiles, "status": status}
        print(f"  {name}: {seconds:.2f} s, {compiles} compilations, status {status}", file=sys.stderr)
    zero = [out["gd new lr, init_scale, seed"]["backend_compiles"],
            out["flow new rtol, atol, t_max, init_scale, seed"]["backend_compiles"]]
    control = out["gd new depth (negative control)"]["backend_compiles"]
    passed = all(c == 0 for c in zero) and control > 0
    ratios: dict = {}  # nothing to compare side by side: the seconds and counts are the result
    note = (f"time to the first step of `implicit_bias.run` (fresh process, tracing + compilation + 1 step + "
            f"metrics): gd {out['gd first run']['seconds']:.1f} s, flow {out['flow first run']['seconds']:.1f} s "
            f"(warm: {out['gd warm (same config)']['seconds'] * 1e3:.0f} ms, "
            f"{out['flow warm (same config)']['seconds'] * 1e3:.0f} ms); XLA compilations after a change of lr / "
            f"init_scale / seed: {zero[0]} (gd), of rtol / atol / t_max / init_scale / seed: {zero[1]} (flow); "
            f"after a change of depth (control): {control}.")
    return {
        "readme_note": note,
        "name": NAME,
        "description": "time to the first step of implicit_bias.run (gd and flow trainers, gd_steps' experiment, "
                       "steps = 1) and XLA recompilations when lr / init / seed change",
        "cases": out,
        "check": {"passed": bool(passed), "max_rel_diff": float(max(zero)), "tol": 0.0, "steps": 0,
                  "max_rel_diff_after_chunk": float("nan")},
        "ratios": ratios,
        "rule": "0 recompilations for a new lr / init_scale / seed (gd) and rtol / atol / t_max / init_scale / "
                "seed (flow); > 0 for a new depth (the counter works)",
        "rule_passed": bool(passed),
    }


def table_md(r: dict) -> str:
    lines = ["| call | wall s | XLA compilations | status |", "|---|---|---|---|"]
    lines += [f"| {name} | {c['seconds']:.2f} | {c['backend_compiles']} | {c['status']} |"
              for name, c in r["cases"].items()]
    lines += ["", f"Rule ({r['rule']}): {'kept' if r['rule_passed'] else '**VIOLATED**'}. The same property is "
              "asserted in tests/test_trainers.py (test_new_lr_seed_init_scale_do_not_recompile, "
              "test_new_lr_t_max_tolerances_do_not_recompile_the_flow)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json-out")
    args = parser.parse_args(argv)
    result = run()
    result["details_md"] = table_md(result)
    print(result["details_md"])
    write_json_out(args.json_out, result)
    return 0 if result["check"]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
