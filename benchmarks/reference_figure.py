"""The whole figure against the reference code: Arora et al.'s completion grid from one sweep command.

    python benchmarks/reference_figure.py --reference-code PATH [--reference-seeds 1] [--out DIR]
    python benchmarks/reference_figure.py                        # no checkout: skipped, says so, exit 0

The experiment of "Implicit regularization in deep matrix factorization" (Arora, Cohen, Hu & Luo
2019; their code: github roosephu/deep_matrix_factorization) as a grid: depth 1–4 × 2,000 /
3,000 / 4,000 / 5,000 observed entries of a 100×100 rank-5 matrix × 3 seeds = 48 runs, the test
error (MSE over all n² entries) of each against the number of observations, per depth.

- **The problems**: for each (observations, seed) one problem as in ``reference_code.py`` (W* =
  UVᵀ/√r scaled to ‖W*‖_F = n, float32; entries observed uniformly without replacement; problem
  seed = the seed), written in the reference's format and as a ``row col value`` ratings file.
- **Ours, all in**: one process, ``implicit-bias sweep examples/fast_completion.toml --set
  model.init_convention=end_to_end --zip model.depth=1,2,3,4 --zip trainer.lr=1000,40,20,10 --grid
  problem.path=<the 12 files> --jobs J``: the recipe (GD, float32, stop_loss 10⁻⁷) with the
  reference's initialization (Gaussian factors, end-to-end scale 10⁻³) and one step size per
  depth (measured: lr 20 for depth 3 as in the recipe; depth 4 diverged at 20 after a long plateau and
  converges at 10; depth 1 is stable below 2m = 4,000 and converged in tens of steps at 1,000).
  The process wall time includes interpreter start, imports, every compilation (a fresh
  compilation cache per measurement: a cold start), data loading, metrics and every file.
- **The reference**: ``main.py`` with its documented recipe (GroupRMSprop lr 10⁻³, stop at
  training MSE ≤ 10⁻⁶), run serially, one process per run. All 48 take about half an hour, so by
  default it runs the first ``--reference-seeds`` seeds (default 1) of every (depth, observations)
  cell, and the serial total for 48 runs is **extrapolated** as Σ over the 16 cells of (mean
  measured wall time of the cell) × 3. ``--reference-seeds 3`` measures all 48 (no extrapolation).

One thread per process (OMP/MKL/OpenBLAS, XLA flags); ``--jobs 2`` runs two of ours at a time on
the machine's cores, which the target compares with the reference's *serial* time (as the issue
states it); ``--jobs 1`` is measured too, so the ratio without parallelism is in the result.
The figure (``--out``): test MSE against observations per depth, ours and the reference.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import git_head, write_json_out  # noqa: E402
from reference_code import (RECIPE, _env, cli_command, generate_problem, run_reference,  # noqa: E402
                            write_ratings, write_reference_files)

#: step size per depth for the recipe with the reference's initialization (see the module docstring)
LR_BY_DEPTH = {1: 1000.0, 2: 40.0, 3: 20.0, 4: 10.0}
TARGET = 30.0


def write_problems(root: Path, n: int, rank: int, n_obs_list, seeds) -> dict:
    """(n_obs, seed) → {"gt", "obs", "ratings", "W"} for every problem of the grid."""
    problems = {}
    for n_obs in n_obs_list:
        for seed in seeds:
            W, rows, cols = generate_problem(n, rank, n_obs, seed)
            directory = root / f"obs{n_obs}-seed{seed}"
            directory.mkdir(parents=True)
            gt, obs = write_reference_files(directory, W, rows, cols)
            problems[(n_obs, seed)] = {"gt": gt, "obs": obs, "W": W,
                                       "ratings": write_ratings(directory / "ratings.txt", W, rows, cols)}
    return problems


def sweep_command(problems: dict, depths, out: Path, jobs: int) -> list[str]:
    paths = ",".join(str(p["ratings"]) for p in problems.values())
    return [*cli_command(), "sweep", str(RECIPE), "--set", "model.init_convention=end_to_end",
            "--zip", "model.depth=" + ",".join(str(d) for d in depths),
            "--zip", "trainer.lr=" + ",".join(repr(LR_BY_DEPTH[d]) for d in depths),
            "--grid", f"problem.path={paths}", "--jobs", str(jobs), "--out", str(out), "--quiet"]


def run_ours(problems: dict, depths, out: Path, jobs: int, cache: Path) -> dict:
    """One sweep process over the whole grid; per run: depth, problem, steps, status, test MSE."""
    import numpy as np

    by_path = {str(p["ratings"]): key for key, p in problems.items()}
    cmd = sweep_command(problems, depths, out, jobs)
    env = {**_env(), "IMPLICIT_BIAS_COMPILATION_CACHE": str(cache)}
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"implicit-bias sweep failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    runs = []
    for config_path in sorted(out.glob("*/config.json")):
        config = json.loads(config_path.read_text())
        summary = json.loads((config_path.parent / "summary.json").read_text())
        n_obs, seed = by_path[config["problem"]["path"]]
        with np.load(config_path.parent / "final.npz", allow_pickle=False) as final:
            end_to_end = np.asarray(final["end_to_end"], float)
        runs.append({"depth": config["model"]["depth"], "n_obs": n_obs, "seed": seed, "status": summary["status"],
                     "steps": summary["steps"], "training_seconds": summary["wall_seconds"],
                     "test_mse_all_entries": float(np.mean((end_to_end - problems[(n_obs, seed)]["W"]) ** 2))})
    expected = len(depths) * len(problems)
    if len(runs) != expected:
        raise RuntimeError(f"the sweep wrote {len(runs)} runs, expected {expected}")
    training = sum(r["training_seconds"] for r in runs)
    return {"jobs": jobs, "wall_seconds": wall, "runs": runs, "command": cmd,
            "profile": {"sum_training_seconds": training,
                        "outside_training_seconds": max(jobs * wall - training, 0.0),
                        "note": "training = Σ summary.json wall_seconds (compilation included); outside = "
                                "jobs × wall − training: interpreter start, imports, data, metrics, files"}}


def run_reference_grid(args, problems: dict, depths, n_obs_list, log_root: Path) -> list[dict]:
    checkout = Path(args.reference_code).resolve()
    measured, total = [], len(depths) * len(n_obs_list) * args.reference_seeds
    for depth in depths:
        for n_obs in n_obs_list:
            for seed in range(args.reference_seeds):
                p = problems[(n_obs, seed)]
                run = run_reference(checkout, args.reference_python, args.reference_pythonpath, p["gt"], p["obs"],
                                    args.n, depth, seed + 1, log_root / f"d{depth}-o{n_obs}-s{seed}")
                measured.append({"depth": depth, "n_obs": n_obs, "seed": seed, **run})
                print(f"reference {len(measured)}/{total}: depth {depth}, {n_obs} obs, seed {seed}: "
                      f"{run['wall_seconds']:.1f} s, test MSE {run['test_mse_all_entries']:.2e}", flush=True)
    return measured


def extrapolated_serial_total(measured: list[dict], n_seeds: int) -> float:
    """Σ over (depth, observations) cells of the mean measured wall time × the number of seeds."""
    cells: dict[tuple[int, int], list[float]] = {}
    for run in measured:
        cells.setdefault((run["depth"], run["n_obs"]), []).append(run["wall_seconds"])
    return sum(statistics.fmean(walls) * n_seeds for walls in cells.values())


def compare_quality(ours: list[dict], reference: list[dict]) -> list[dict]:
    """Per measured reference run: ours on the same problem and depth, and the ratio of test MSEs."""
    by_key = {(r["depth"], r["n_obs"], r["seed"]): r for r in ours}
    rows = []
    for ref in reference:
        mine = by_key[(ref["depth"], ref["n_obs"], ref["seed"])]
        rows.append({"depth": ref["depth"], "n_obs": ref["n_obs"], "seed": ref["seed"],
                     "ours": mine["test_mse_all_entries"], "reference": ref["test_mse_all_entries"],
                     "ratio_ours_over_reference": mine["test_mse_all_entries"] / ref["test_mse_all_entries"]})
    return rows


def write_figure(path: Path, ours: list[dict], reference: list[dict], depths, n_obs_list) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for k, depth in enumerate(depths):
        color = f"C{k}"
        for runs, style, who in ((ours, "-o", "ours"), (reference, "--x", "reference")):
            means = [statistics.fmean([r["test_mse_all_entries"] for r in runs
                                       if r["depth"] == depth and r["n_obs"] == n_obs] or [float("nan")])
                     for n_obs in n_obs_list]
            ax.plot(n_obs_list, means, style, color=color, label=f"depth {depth}, {who}")
    ax.set_yscale("log")
    ax.set_xlabel("observed entries")
    ax.set_ylabel("test MSE over all entries (mean over seeds)")
    ax.set_title("Deep matrix completion, 100×100 rank 5 (Arora et al. 2019)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, path)


def measure(args) -> dict:
    depths, n_obs_list, seeds = args.depths, args.n_obs, list(range(args.seeds))
    if not 1 <= args.reference_seeds <= args.seeds:
        raise SystemExit(f"--reference-seeds must be in 1..{args.seeds}, got {args.reference_seeds}")
    if any(d not in LR_BY_DEPTH for d in depths):
        raise SystemExit(f"--depths: a step size is known for depths {sorted(LR_BY_DEPTH)} only")
    with tempfile.TemporaryDirectory(prefix="reference-figure-") as tmp:
        tmp = Path(tmp)
        problems = write_problems(tmp / "problems", args.n, args.rank, n_obs_list, seeds)
        ours = {}
        for jobs in args.jobs:
            ours[jobs] = run_ours(problems, depths, tmp / f"ours-jobs{jobs}", jobs, tmp / f"cache-jobs{jobs}")
            print(f"ours, --jobs {jobs}: {len(ours[jobs]['runs'])} runs in {ours[jobs]['wall_seconds']:.1f} s "
                  f"(Σ training {ours[jobs]['profile']['sum_training_seconds']:.1f} s)", flush=True)
        reference = run_reference_grid(args, problems, depths, n_obs_list, tmp / "reference-logs")
    serial_total = extrapolated_serial_total(reference, len(seeds))
    first = ours[args.jobs[0]]["runs"]
    quality = compare_quality(first, reference)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        write_figure(Path(args.out) / "completion_figure.png", first, reference, depths, n_obs_list)
    ratios = {f"reference serial 48-run total/ours sweep --jobs {jobs}":
              {"values": [serial_total / o["wall_seconds"]], "min": serial_total / o["wall_seconds"],
               "median": serial_total / o["wall_seconds"], "max": serial_total / o["wall_seconds"]}
              for jobs, o in ours.items()}
    return {"benchmark": "reference_figure", "skipped": False,
            "grid": {"depths": depths, "n_obs": n_obs_list, "seeds": len(seeds), "n": args.n, "rank": args.rank,
                     "lr_by_depth": {d: LR_BY_DEPTH[d] for d in depths}},
            "reference_commit": git_head(Path(args.reference_code)) or "unknown",
            "reference_runs_measured": len(reference), "reference_serial_seconds_extrapolated": serial_total,
            "extrapolation": f"Σ over cells of mean measured wall × {len(seeds)} (measured seeds per cell: "
                             f"{args.reference_seeds})",
            "ours": {str(jobs): o for jobs, o in ours.items()}, "reference": reference, "quality": quality,
            "all_converged": all(r["status"] == "converged" for o in ours.values() for r in o["runs"]),
            "ratios": ratios, "targets": {name: TARGET for name in ratios},
            "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cores": os.cpu_count(), "load_average": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference-code", default=None, metavar="PATH",
                        help="a checkout of roosephu/deep_matrix_factorization (without it: skipped)")
    parser.add_argument("--reference-python", default=sys.executable)
    parser.add_argument("--reference-pythonpath", default=None,
                        help="added to the reference's PYTHONPATH (its toml, wrapt, fasteners, coloredlogs, tensorboardX)")
    parser.add_argument("--reference-seeds", type=int, default=1,
                        help="seeds of each cell the reference runs (1: 16 runs, extrapolated; 3: all 48)")
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--n-obs", type=int, nargs="+", default=[2000, 3000, 4000, 5000])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--rank", type=int, default=5)
    parser.add_argument("--jobs", type=int, nargs="+", default=[2, 1], help="ours: one sweep per value")
    parser.add_argument("--out", default=None, help="directory for the figure completion_figure.png")
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args(argv)
    if not args.reference_code:
        message = ("skipped: no --reference-code PATH (a checkout of roosephu/deep_matrix_factorization); "
                   "nothing was timed")
        print(message)
        write_json_out(args.json_out, {"benchmark": "reference_figure", "skipped": True, "reason": message,
                                       "ratios": {}})
        return 0
    if not (Path(args.reference_code) / "main.py").is_file():
        print(f"--reference-code {args.reference_code}: no main.py there (not a checkout of the reference code)",
              file=sys.stderr)
        return 2
    result = measure(args)
    for name, r in result["ratios"].items():
        print(f"{name}: {r['median']:.1f}x (target {TARGET:.0f}x)")
    worse = [q for q in result["quality"] if q["ratio_ours_over_reference"] > 1]
    print(f"test MSE: ours ≤ reference on {len(result['quality']) - len(worse)}/{len(result['quality'])} measured "
          "runs" + ("; worse on " + ", ".join(f"depth {q['depth']} {q['n_obs']} obs ({q['ratio_ours_over_reference']:.3g}x)"
                                             for q in worse) if worse else ""))
    write_json_out(args.json_out, result)
    return 0 if result["all_converged"] else 1


if __name__ == "__main__":
    sys.exit(main())
