"""Startup: how long a command takes before it does any work, in fresh processes.

    python benchmarks/startup.py [--repeats N] [--json-out FILE]

Work: each command below in a fresh process, ``--repeats`` times in turn (one thread each), its
wall and CPU seconds (the children's rusage):

- ``python -c pass``: the interpreter alone, the floor every command pays;
- ``implicit-bias --help``, ``implicit-bias run --print-config`` and a config error
  (``implicit-bias run --set trainer.lr=-1``, exit 2): these answer without importing JAX, NumPy or
  pandas (tests/test_cli_startup.py checks which modules are loaded; the time is measured here);
- ``python -c "import jax"`` and ``python -c "import ml_dtypes"``: what every engine command pays
  before its first step. ml_dtypes 0.7.0's extension took 0.54 s to import here, 0.6.0's 0.005 s,
  so pyproject.toml keeps ml_dtypes < 0.7.

Ratios (per repeat): the 0.3 s budget of issue 15 over each of the three engine-free commands' wall
time (target ≥ 1: under budget on an idle core), and ``import jax`` over the bare interpreter. The
profile line names the slowest imports of ``import jax`` (``python -X importtime``).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from common import package_version, ratio_stats, write_json_out

NAME = "startup"
BUDGET_SECONDS = 0.3
CLI = str(Path(sys.executable).with_name("implicit-bias"))
COMMANDS: dict[str, tuple[list[str], int]] = {
    "python -c pass": ([sys.executable, "-c", "pass"], 0),
    "implicit-bias --help": ([CLI, "--help"], 0),
    "implicit-bias run --print-config": ([CLI, "run", "--print-config"], 0),
    "implicit-bias run --set trainer.lr=-1 (config error)": ([CLI, "run", "--set", "trainer.lr=-1"], 2),
    "python -c 'import jax'": ([sys.executable, "-c", "import jax"], 0),
    "python -c 'import ml_dtypes'": ([sys.executable, "-c", "import ml_dtypes"], 0),
}
ENGINE_FREE = ("implicit-bias --help", "implicit-bias run --print-config",
               "implicit-bias run --set trainer.lr=-1 (config error)")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return env


def timed(argv: list[str], expected_status: int) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one fresh process; raises if it exits unexpectedly."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=_env())
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != expected_status:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode} (expected {expected_status}): "
                           f"{done.stderr.strip()[-300:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def slowest_imports(module: str, count: int = 4) -> list[tuple[str, float]]:
    """The ``count`` imports with the largest self time under ``python -X importtime -c 'import module'``."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                          capture_output=True, text=True, env=_env())
    rows = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[0].startswith("import time:") and parts[0].split(":")[1].strip().isdigit():
            rows.append((parts[2].strip(), int(parts[0].split(":")[1]) / 1e6))
    return sorted(rows, key=lambda row: -row[1])[:count]


def run(repeats: int) -> dict:
    seconds: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    for argv, status in COMMANDS.values():  # warm the file cache: the first start reads every .pyc from disk
        timed(argv, status)
    for _ in range(repeats):
        for name, (argv, status) in COMMANDS.items():
            seconds[name].append(timed(argv, status))
    cases = {name: {"wall_seconds": [w for w, _ in values], "cpu_seconds": [c for _, c in values]}
             for name, values in seconds.items()}
    for name, case in cases.items():
        case["median_wall_seconds"] = ratio_stats(case["wall_seconds"])["median"]
        print(f"  {name}: median {case['median_wall_seconds']:.3f} s wall", file=sys.stderr)
    ratios = {f"{BUDGET_SECONDS:g} s budget / `{name}` wall time": ratio_stats(
        [BUDGET_SECONDS / w for w in cases[name]["wall_seconds"]]) for name in ENGINE_FREE}
    ratios["`import jax` / `python -c pass` wall time"] = ratio_stats(
        [j / p for j, p in zip(cases["python -c 'import jax'"]["wall_seconds"],
                               cases["python -c pass"]["wall_seconds"])])
    targets = {f"{BUDGET_SECONDS:g} s budget / `{name}` wall time": 1.0 for name in ENGINE_FREE}
    imports = slowest_imports("jax")
    profile = ("`import jax`'s slowest imports (self time): "
               + ", ".join(f"{name} {secs * 1e3:.0f} ms" for name, secs in imports)
               + f"; ml_dtypes {package_version('ml_dtypes')}, jax {package_version('jax')}")
    print(f"  profile: {profile}", file=sys.stderr)
    within = all(ratios[name]["median"] >= 1.0 for name in targets)
    note = ("median wall time of a fresh process: "
            + ", ".join(f"`{name}` {cases[name]['median_wall_seconds']:.2f} s" for name in COMMANDS)
            + f". {profile}.")
    return {
        "name": NAME,
        "description": "wall time of fresh processes: the engine-free commands against a 0.3 s budget, "
                       "and the cost of importing jax",
        "cases": cases,
        "ratios": ratios,
        "targets": targets,
        "profile": profile,
        "readme_note": note,
        "check": {"passed": True, "max_rel_diff": 0.0, "tol": 0.0, "steps": 0,
                  "max_rel_diff_after_chunk": float("nan")},
        "rule": f"--help, --print-config and a config error each under {BUDGET_SECONDS:g} s (median)",
        "rule_passed": bool(within),
    }


def table_md(result: dict) -> str:
    lines = ["| command | wall s median [min–max] | CPU s median |", "|---|---|---|"]
    for name, case in result["cases"].items():
        wall, cpu = ratio_stats(case["wall_seconds"]), ratio_stats(case["cpu_seconds"])
        lines.append(f"| `{name}` | {wall['median']:.3f} [{wall['min']:.3f}–{wall['max']:.3f}] | "
                     f"{cpu['median']:.3f} |")
    lines += ["", f"Profile: {result['profile']}.",
              f"Rule ({result['rule']}): {'kept' if result['rule_passed'] else '**MISSED**'}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json-out")
    args = parser.parse_args(argv)
    result = run(args.repeats)
    result["details_md"] = table_md(result)
    print(result["details_md"])
    write_json_out(args.json_out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
