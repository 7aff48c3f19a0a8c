"""Sweep throughput: vmap-batched runs vs separate runs vs a PyTorch eager loop, side by side.

The grid is ``--runs`` (64) tiny diagonal-network runs that differ only in their seed:
least squares with 20 samples and 50 features (sparse β*, Gaussian design), the depth-2
diagonal network β = u² − v² from u = v = 0.1 (Woodworth et al. 2020), full-batch GD with
lr 0.05 for ``--steps`` (10,000) steps, metrics logged every 1,000 steps, float64, on the
loss (1/n) Σ ½(x_iᵀβ − y_i)² (mean of ½(·)² over the n = 20 samples).

In one process, one thread, each repeat times (alternating the order):

- **batched**: ``batched.run_batch`` — every run of the grid in one vmapped loop, writing all
  its run directories (the five files of docs/run-directory.md each) into a fresh directory;
- **separate**: ``implicit_bias.run(cfg, out=...)`` called once per run (the work one sweep worker
  does per run, after its process has started and compiled), on ``--separate-runs`` runs;
- **torch**: the same GD as a PyTorch eager loop per run (autograd, in-place update), reading the
  training loss at the logged steps and writing nothing, on ``--torch-runs`` runs.

Rates are runs per second of each side; a ratio is batched/other within one repeat. Before
timing, the check: for the first seed, the batched run's final β equals the separate run's
to 1e-12 and the PyTorch loop's to 1e-10 relative (same arithmetic, different libraries).

``--scaling``: the whole sweep through the command line (``implicit-bias sweep``, a fresh
interpreter each, process start and compilation included) with ``--batch off --jobs 1``,
``--batch off --jobs 2`` and ``--batch auto --jobs 2``: runs/s of each and their ratios, for the
whole command and in the steady state (grids of N and 2N runs: N/(T(2N) − T(N)) cancels the fixed
cost of starting the command and its workers).

``--sizes``: where batching stops paying, which sets ``batched.AUTO_MAX_SIZE``: for a range of
feature counts d (n = 20 samples, so one member has 20d + 4d + 20 array entries), 16 seeds of
1,000 GD steps in memory (no disk), batched vs separate ``run()`` calls.

    python benchmarks/sweeps.py [--runs 64] [--steps 10000] [--repeats 5] [--scaling] [--sizes]
                                [--json-out FILE]
"""

from __future__ import annotations

import os
import sys

THREAD_ENV = {
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
_IMPORTED_TOO_EARLY = sorted(m for m in ("jax", "numpy", "torch") if m in sys.modules)
os.environ.update(THREAD_ENV)

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import implicit_bias  # noqa: E402,F401  (switches on float64)
from implicit_bias.execution import batched  # noqa: E402
from implicit_bias.engine import Experiment, as_config, run as run_one  # noqa: E402
from common import write_json_out  # noqa: E402

NAME = "sweeps"
CHECK_TOL_SEPARATE = 1e-12
CHECK_TOL_TORCH = 1e-10
RULE_MIN_RATIO = 20.0
#: the issue's "expect near 2x on 2 cores" for --jobs 2 vs --jobs 1 (a target, not a rule: it needs an idle machine).
SCALING_TARGET = 1.8

BASE = {
    "name": "bench-sweeps",
    "dtype": "float64",
    "problem": {"kind": "least_squares", "n_samples": 20, "n_features": 50, "design": "gaussian", "target": "sparse",
                "sparsity": 5, "noise": 0.0},
    "model": {"kind": "diagonal", "form": "difference", "power": 2, "alpha": 0.1},
    "trainer": {"kind": "gd", "lr": 0.05, "steps": 10_000, "stop_loss": 0.0, "log_every": 1000},
}


def configs(n_runs: int, steps: int, n_features: int = 50, log_every: int = 1000) -> list[dict]:
    return [as_config({**BASE, "seed": seed, "problem": {**BASE["problem"], "n_features": n_features},
                       "trainer": {**BASE["trainer"], "steps": steps, "log_every": log_every}})
            for seed in range(n_runs)]


def _spread(values: list[float]) -> dict:
    return {"values": values, "min": min(values), "median": statistics.median(values), "max": max(values)}


def _beta(result) -> np.ndarray:
    return np.asarray(result.end_to_end)


# --------------------------------------------------------------------------- the torch peer

class TorchGD:
    """GD on ½ mean (X(u² − v²) − y)² as a PyTorch eager loop (autograd, in-place updates)."""

    def __init__(self, cfg: dict):
        import torch

        torch.set_num_threads(1)
        self.torch = torch
        problem = Experiment.build(cfg).objective.problem
        self.X = torch.tensor(np.asarray(problem.X))
        self.y = torch.tensor(np.asarray(problem.targets))
        self.alpha, self.lr = cfg["model"]["alpha"], cfg["trainer"]["lr"]
        self.steps, self.log_every = cfg["trainer"]["steps"], cfg["trainer"]["log_every"]

    def run(self) -> tuple[np.ndarray, list[float]]:
        torch = self.torch
        d = self.X.shape[1]
        u = torch.full((d,), self.alpha, dtype=torch.float64, requires_grad=True)
        v = torch.full((d,), self.alpha, dtype=torch.float64, requires_grad=True)
        logged = []
        for k in range(self.steps + 1):
            loss = 0.5 * ((self.X @ (u * u - v * v) - self.y) ** 2).mean()
            if k % self.log_every == 0:
                logged.append(loss.item())
            if k == self.steps:
                break
            gu, gv = torch.autograd.grad(loss, (u, v))
            with torch.no_grad():
                u -= self.lr * gu
                v -= self.lr * gv
        with torch.no_grad():
            return (u * u - v * v).numpy().copy(), logged


def _torch_available() -> str | None:
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        return f"torch is not installed ({exc}); the PyTorch peer is skipped (pip install torch==2.13.0, CPU wheel)"
    return None


# --------------------------------------------------------------------------- main comparison

def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(n_runs: int, steps: int, repeats: int, separate_runs: int, torch_runs: int, verbose: bool = True) -> dict:
    cfgs = configs(n_runs, steps)
    workdir = Path(tempfile.mkdtemp(prefix="bench-sweeps-"))
    torch_missing = _torch_available()
    try:
        compile_start = time.perf_counter()
        # compile the vmapped loop and metrics for this batch size (a batch compiles once, as a worker does)
        warm = batched.run_batch(cfgs, mode="on")
        separate = run_one(cfgs[0])  # compile the unbatched ones
        compile_seconds = time.perf_counter() - compile_start
        check = {"separate_max_rel_diff": float(np.max(np.abs(_beta(warm[0]) - _beta(separate)))
                                                / np.max(np.abs(_beta(separate)))),
                 "tol_separate": CHECK_TOL_SEPARATE, "tol_torch": CHECK_TOL_TORCH}
        torch_peers = None
        if torch_missing is None:
            torch_peers = [TorchGD(c) for c in cfgs[:torch_runs]]
            beta_torch, _ = torch_peers[0].run()
            check["torch_max_rel_diff"] = float(np.max(np.abs(beta_torch - _beta(separate)))
                                                / np.max(np.abs(_beta(separate))))
        check["max_rel_diff"] = max(check["separate_max_rel_diff"], check.get("torch_max_rel_diff", 0.0))
        check["passed"] = bool(check["separate_max_rel_diff"] <= CHECK_TOL_SEPARATE
                               and check.get("torch_max_rel_diff", 0.0) <= CHECK_TOL_TORCH)

        rates: dict[str, list[float]] = {"batched": [], "separate": [], "torch": []}
        ratios: dict[str, list[float]] = {"batched/torch runs per second": [],
                                          "batched/separate runs per second": []}
        for i in range(repeats):
            out = workdir / f"r{i}"

            def do_batched(out=out):
                results = batched.run_batch(cfgs, out=out / "batched", mode="on")
                assert all(r.status == "max_steps" and not r.skipped for r in results)

            def do_separate(out=out):
                for cfg in cfgs[:separate_runs]:
                    run_one(cfg, out=out / "separate")

            def do_torch():
                for peer in torch_peers:
                    peer.run()

            sides = [("batched", do_batched, n_runs), ("separate", do_separate, separate_runs)]
            if torch_peers:
                sides.append(("torch", do_torch, torch_runs))
            for side, fn, n in (sides if i % 2 == 0 else sides[::-1]):
                rates[side].append(n / _timed(fn))
            ratios["batched/separate runs per second"].append(rates["batched"][-1] / rates["separate"][-1])
            if torch_peers:
                ratios["batched/torch runs per second"].append(rates["batched"][-1] / rates["torch"][-1])
            shutil.rmtree(out, ignore_errors=True)
            if verbose:
                print(f"  repeat {i + 1}/{repeats}: " + ", ".join(f"{s} {rates[s][-1]:.2f} runs/s" for s in rates
                                                                 if rates[s]), file=sys.stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if not torch_peers:
        ratios.pop("batched/torch runs per second")
    result = {
        "config": {**BASE, "trainer": {**BASE["trainer"], "steps": steps}},
        "runs": n_runs, "separate_runs": separate_runs, "torch_runs": torch_runs if torch_peers else 0,
        "repeats": repeats, "compile_seconds": compile_seconds, "check": check,
        "runs_per_s": {side: _spread(values) for side, values in rates.items() if values},
        "ratios": {name: _spread(values) for name, values in ratios.items()},
    }
    if torch_missing:
        result["torch_skipped"] = torch_missing
    return result


# --------------------------------------------------------------------------- --scaling

def _sweep_toml(path: Path, steps: int) -> Path:
    p, m, t = BASE["problem"], BASE["model"], {**BASE["trainer"], "steps": steps}

    def table(d: dict) -> str:
        return "\n".join(f"{k} = {json.dumps(v)}" for k, v in d.items())
    path.write_text(f'name = "{BASE["name"]}"\n[problem]\n{table(p)}\n[model]\n{table(m)}\n[trainer]\n{table(t)}\n')
    return path


def scaling(n_runs: int, steps: int, repeats: int, verbose: bool = True) -> dict:
    """runs/s of whole ``implicit-bias sweep`` commands (fresh interpreter, start and compile included).

    Each case runs a grid of N = ``n_runs`` seeds and one of 2N seeds. The whole-command rate N/T(N)
    includes the fixed cost of the command (interpreter, JAX import, the workers' spawn, import and
    first compilation: seconds, against well under a second per tiny run); the steady-state rate
    N/(T(2N) − T(N)) cancels it and is the throughput of a long sweep — what "near 2x on 2 cores"
    is about."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-sweeps-scaling-"))
    toml = _sweep_toml(workdir / "base.toml", steps)
    cases = {"batch off, jobs 1": ["--batch", "off", "--jobs", "1"], "batch off, jobs 2": ["--batch", "off", "--jobs", "2"],
             "batch auto, jobs 2": ["--batch", "auto", "--jobs", "2"]}
    rates: dict[str, list[float]] = {case: [] for case in cases}
    steady: dict[str, list[float]] = {case: [] for case in cases}

    def timed(case: str, runs: int, tag: str) -> float:
        out = workdir / f"out-{tag}-{case.replace(' ', '').replace(',', '-')}"
        command = [sys.executable, "-m", "implicit_bias.cli", "sweep", str(toml), "--grid",
                   f"seed=0:{runs}", *cases[case], "--out", str(out), "--quiet"]
        start = time.perf_counter()
        proc = subprocess.run(command, check=False, capture_output=True, text=True, env={**os.environ, **THREAD_ENV})
        seconds = time.perf_counter() - start
        shutil.rmtree(out, ignore_errors=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {proc.stderr[-2000:]}")
        return seconds

    try:
        for i in range(repeats):
            order = list(cases) if i % 2 == 0 else list(cases)[::-1]
            for case in order:
                single, double = timed(case, n_runs, f"{i}-1"), timed(case, 2 * n_runs, f"{i}-2")
                rates[case].append(n_runs / single)
                steady[case].append(n_runs / max(double - single, 1e-9))
            if verbose:
                print(f"  scaling {i + 1}/{repeats}: " + ", ".join(
                    f"{c} {rates[c][-1]:.2f} runs/s (steady {steady[c][-1]:.2f})" for c in cases), file=sys.stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def ratio(table: dict[str, list[float]], a: str, b: str) -> dict:
        return _spread([x / y for x, y in zip(table[a], table[b])])

    return {"runs": n_runs, "steps": steps, "repeats": repeats,
            "runs_per_s": {case: _spread(values) for case, values in rates.items()},
            "steady_runs_per_s": {case: _spread(values) for case, values in steady.items()},
            "ratios": {"jobs 2/jobs 1 steady-state runs per second (batch off)":
                       ratio(steady, "batch off, jobs 2", "batch off, jobs 1"),
                       "jobs 2/jobs 1 whole-command runs per second (batch off)":
                       ratio(rates, "batch off, jobs 2", "batch off, jobs 1"),
                       "batch auto/batch off whole-command runs per second (jobs 2)":
                       ratio(rates, "batch auto, jobs 2", "batch off, jobs 2")}}


# --------------------------------------------------------------------------- --sizes

def sizes(features: list[int], members: int, steps: int, repeats: int, verbose: bool = True) -> dict:
    """Batched vs separate runs (in memory) as the problem grows: where does batching stop paying?"""
    rows = []
    for d in features:
        cfgs = configs(members, steps, n_features=d, log_every=max(steps // 10, 1))
        size = batched.problem_size(Experiment.build(cfgs[0]))
        batched.run_batch(cfgs, mode="on")  # compile both sides first
        run_one(cfgs[0])
        ratios = []
        for i in range(repeats):
            sides = [("batched", lambda cfgs=cfgs: batched.run_batch(cfgs, mode="on")),
                     ("separate", lambda cfgs=cfgs: [run_one(c) for c in cfgs])]
            seconds = {side: _timed(fn) for side, fn in (sides if i % 2 == 0 else sides[::-1])}
            ratios.append(seconds["separate"] / seconds["batched"])
        rows.append({"n_features": d, "size": size, "ratio batched/separate runs per second": _spread(ratios)})
        if verbose:
            print(f"  size {size:>9,d} (d = {d}): batched/separate {statistics.median(ratios):.2f}x", file=sys.stderr)
    return {"members": members, "steps": steps, "repeats": repeats, "rows": rows,
            "auto_max_size": batched.AUTO_MAX_SIZE}


# --------------------------------------------------------------------------- report

def table(result: dict) -> str:
    lines = [f"{result['runs']} diagonal-network runs of {result['config']['trainer']['steps']} GD steps, "
             f"median over {result['repeats']} repeats (min–max):", ""]
    for side, r in result["runs_per_s"].items():
        lines.append(f"  {side:9s} {r['median']:8.2f} runs/s  [{r['min']:.2f}–{r['max']:.2f}]")
    for name, r in result["ratios"].items():
        lines.append(f"  {name}: {r['median']:.1f}x [{r['min']:.1f}–{r['max']:.1f}]")
    if "torch_skipped" in result:
        lines.append(f"  ({result['torch_skipped']})")
    c = result["check"]
    lines.append(f"  check: batched vs separate final β max rel diff {c['separate_max_rel_diff']:.1e}, vs torch "
                 f"{c.get('torch_max_rel_diff', float('nan')):.1e} ({'passed' if c['passed'] else 'FAILED'})")
    if "scaling" in result:
        s = result["scaling"]
        lines += ["", f"implicit-bias sweep, {s['runs']} runs of {s['steps']} steps, whole command "
                      f"(median of {s['repeats']}):"]
        lines += [f"  {case}: {r['median']:.2f} runs/s (steady state {s['steady_runs_per_s'][case]['median']:.2f})"
                  for case, r in s["runs_per_s"].items()]
    if "sizes" in result:
        z = result["sizes"]
        lines += ["", f"batched/separate runs per second by problem size ({z['members']} members, {z['steps']} steps, "
                      f"in memory; AUTO_MAX_SIZE = {z['auto_max_size']:,}):"]
        for row in z["rows"]:
            r = row["ratio batched/separate runs per second"]
            lines.append(f"  size {row['size']:>9,d} (d = {row['n_features']:>6d}): {r['median']:.2f}x "
                         f"[{r['min']:.2f}–{r['max']:.2f}]")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=64, help="runs in the grid (default 64)")
    parser.add_argument("--steps", type=int, default=10_000, help="GD steps per run (default 10,000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (default 5)")
    parser.add_argument("--separate-runs", type=int, default=16, help="runs timed one by one per repeat (default 16)")
    parser.add_argument("--torch-runs", type=int, default=4, help="PyTorch loops timed per repeat (default 4)")
    parser.add_argument("--scaling", action="store_true", help="also time whole sweeps with --jobs 1 and 2")
    parser.add_argument("--scaling-repeats", type=int, default=2)
    parser.add_argument("--scaling-runs", type=int, default=None, help="runs of the --scaling grid (default --runs)")
    parser.add_argument("--scaling-steps", type=int, default=None, help="steps per run there (default --steps)")
    parser.add_argument("--sizes", action="store_true", help="also measure batched/separate by problem size")
    parser.add_argument("--size-features", default="10,100,1000,3000,10000,30000",
                        help="feature counts d for --sizes (default 10,100,1000,3000,10000,30000)")
    parser.add_argument("--json-out", help="also write the result dict to this JSON file")
    args = parser.parse_args(argv)
    result = {"name": NAME,
              "description": f"{args.runs} tiny diagonal-network runs (least squares 20x50, depth-2 diagonal net, "
                             f"GD {args.steps} steps, float64, one thread): vmap-batched vs separate run() calls vs "
                             "a PyTorch eager loop per run",
              "threads": {**THREAD_ENV, "imported_before_env_was_set": _IMPORTED_TOO_EARLY},
              **compare(args.runs, args.steps, args.repeats, args.separate_runs, args.torch_runs)}
    if "batched/torch runs per second" in result["ratios"]:
        result["rule"] = f"batched must be >= {RULE_MIN_RATIO:g}x the PyTorch loop (median runs per second)"
        result["rule_passed"] = bool(result["ratios"]["batched/torch runs per second"]["median"] >= RULE_MIN_RATIO)
    targets = {"batched/torch runs per second": RULE_MIN_RATIO}
    if args.scaling:
        result["scaling"] = scaling(args.scaling_runs or args.runs, args.scaling_steps or args.steps,
                                    args.scaling_repeats)
        result["ratios"].update(result["scaling"]["ratios"])
        targets["jobs 2/jobs 1 steady-state runs per second (batch off)"] = SCALING_TARGET
    result["targets"] = {name: {"target": target, "median": result["ratios"][name]["median"],
                                "met": bool(result["ratios"][name]["median"] >= target)}
                         for name, target in targets.items() if name in result["ratios"]}
    if args.sizes:
        features = [int(x) for x in args.size_features.split(",")]
        result["sizes"] = sizes(features, members=16, steps=1000, repeats=3)
    print(table(result))
    write_json_out(args.json_out, result)
    return 0 if result["check"]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
