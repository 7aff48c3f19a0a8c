"""Time to solution against the reference code of Arora, Cohen, Hu & Luo (2019), end to end.

    python benchmarks/reference_code.py --reference-code PATH [--repeats 3] [--json-out FILE]
    python benchmarks/reference_code.py                        # no checkout: skipped, says so, exit 0

PATH is a checkout of the code of "Implicit regularization in deep matrix factorization"
(github roosephu/deep_matrix_factorization; its dependencies: torch — our ``bench`` extra, exactly
torch==2.13.0 CPU — plus toml, wrapt, fasteners, coloredlogs and tensorboardX, which
``--reference-pythonpath`` can point at). Nothing of that code is copied here: it is run
unmodified, as its README documents, in its own process.

1. **The problem** is generated here (``--seed``): W* = U Vᵀ/√r with Gaussian U, V ∈ ℝ^{n×r},
   scaled to ‖W*‖_F = n, in float32 (what the reference's ``gen_gt.py`` draws), and ``--n-obs``
   entries observed uniformly without replacement (its ``gen_obs.py``). It is written in the
   reference's format — ``gt.pt`` = ``torch.save(W*)``, ``obs.pt`` = ``torch.save([(us, vs), ys])``
   with int64 ``us``/``vs`` and float32 ``ys`` — and, for us, as a ``user item value`` ratings file
   holding the same observations (each float32 value printed exactly, as the shortest repr of its float64).
2. **The reference**: ``python main.py --config configs/mat-cmpl/run.toml --config
   configs/opt/grouprmsprop.toml --set depth 3 --set gt_path … --set obs_path … --set shape
   "[n, n]" --set seed K`` in the checkout (its documented recipe: depth 3, GroupRMSprop lr 1e-3,
   Gaussian init of end-to-end scale 1e-3, stop at training MSE ≤ 1e-6). Its test error is the
   last line it prints, ``test loss`` = mean over all n² entries of (W − W*)²; its loop time is
   the time between its log line just before the loop (``[check] e2e fro norm``) and that last line.
3. **Ours**: ``implicit-bias run examples/fast_completion.toml --set problem.path=ratings.txt``
   in a fresh ``--out`` directory, with a compilation cache of its own (``IMPLICIT_BIAS_COMPILATION_CACHE``):
   one untimed-for-ratios first run fills it (reported as the cold start), the repeats are warm; its test error is the same mean over all entries of
   (W − W*)², from ``final.npz``'s ``end_to_end``; its training time is ``summary.json``'s
   ``wall_seconds`` (compilation included).

Both processes run one after the other, alternating which goes first, on one thread each
(OMP/MKL/OpenBLAS and XLA flags), and each repeat records both process wall times and the ratios
reference/ours, end to end and training alone. Only ratios are results (docs: benchmarks/README.md).
``--update-readme`` rewrites README.md's ``time-to-solution`` block from the measured numbers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from common import git_head, ratio_stats, write_json_out  # noqa: E402

RECIPE = ROOT / "examples" / "fast_completion.toml"
README = ROOT / "README.md"
BLOCK_START = "<!-- time-to-solution:begin (written by python benchmarks/reference_code.py --update-readme) -->"
BLOCK_END = "<!-- time-to-solution:end -->"
#: One thread for both processes.
THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}
#: The reference's documented completion run (README "Experiments"; configs/mat-cmpl, configs/opt).
REFERENCE_CONFIGS = ("configs/mat-cmpl/run.toml", "configs/opt/grouprmsprop.toml")
_STAMP = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})"
_FINAL = re.compile(_STAMP + r".*train loss = ([-+0-9.eE]+)\. test loss = ([-+0-9.eE]+)")
_START = re.compile(_STAMP + r".*\[check\] e2e fro norm")
_ITER = re.compile(r"Iter #(\d+): train = ")
TARGETS = {"end_to_end": 10.0, "training": 20.0}


# --------------------------------------------------------------------------- the problem

def generate_problem(n: int, rank: int, n_obs: int, seed: int):
    """W* (float32, n×n, rank ``rank``, ‖W*‖_F = n) and ``n_obs`` distinct observed (row, col)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    U = rng.standard_normal((n, rank)).astype(np.float32)
    V = rng.standard_normal((n, rank)).astype(np.float32)
    W = U @ V.T / np.float32(np.sqrt(rank))
    W = (W / np.linalg.norm(W) * n).astype(np.float32)
    flat = rng.choice(n * n, n_obs, replace=False)
    return W, (flat // n).astype(np.int64), (flat % n).astype(np.int64)


def write_reference_files(directory: Path, W, rows, cols) -> tuple[Path, Path]:
    """``gt.pt`` and ``obs.pt`` in the reference's format (main.py ``MatrixCompletion``)."""
    import torch

    gt, obs = directory / "gt.pt", directory / "obs.pt"
    torch.save(torch.from_numpy(W), gt)
    torch.save([(torch.from_numpy(rows), torch.from_numpy(cols)), torch.from_numpy(W[rows, cols])], obs)
    return gt, obs


def read_reference_files(gt: Path, obs: Path):
    """(W*, rows, cols, values) read back from the reference's files, as NumPy arrays."""
    import torch

    W = torch.load(gt)
    (us, vs), ys = torch.load(obs)
    return W.numpy(), us.numpy(), vs.numpy(), ys.numpy()


def write_ratings(path: Path, W, rows, cols) -> Path:
    """The same observations as ``user item value`` lines (what ``[problem] kind = "ratings"`` reads).

    Row and column ids are the matrix indices; ``ratings`` re-indexes them densely in sorted order,
    so they stay the indices as long as every row and column has an observation (checked)."""
    import numpy as np

    n_rows, n_cols = W.shape
    if np.unique(rows).size != n_rows or np.unique(cols).size != n_cols:
        raise SystemExit("a row or column of W* has no observation: the ratings file would drop it "
                         "(choose another --seed or more --n-obs)")
    with open(path, "w", encoding="utf-8") as handle:
        for r, c, v in zip(rows, cols, W[rows, cols]):
            handle.write(f"{int(r)} {int(c)} {float(v)!r}\n")  # exact: float32 → float64 → shortest repr
    return path


# --------------------------------------------------------------------------- the two processes

def _env(extra_pythonpath: str | None = None) -> dict:
    env = {**os.environ, **THREAD_ENV}
    if extra_pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), extra_pythonpath) if p)
    return env


def _stamp(text: str) -> float:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def parse_reference_log(text: str) -> dict:
    """Test loss, train loss, iterations and loop seconds from the reference's log output."""
    final, start = _FINAL.search(text), _START.search(text)
    if final is None:
        raise RuntimeError("the reference printed no final 'train loss = …. test loss = …' line:\n" + text[-2000:])
    iters = [int(m) for m in _ITER.findall(text)]
    return {"train_mse": float(final.group(2)), "test_mse_all_entries": float(final.group(3)),
            "steps": iters[-1] if iters else None,
            "training_seconds": _stamp(final.group(1)) - _stamp(start.group(1)) if start else None}


def run_reference(checkout: Path, python: str, pythonpath: str | None, gt: Path, obs: Path, n: int, depth: int,
                  seed: int, log_dir: Path) -> dict:
    cmd = [python, "main.py"]
    for config in REFERENCE_CONFIGS:
        cmd += ["--config", config]
    cmd += ["--set", "depth", str(depth), "--set", "gt_path", str(gt), "--set", "obs_path", str(obs),
            "--set", "shape", f"[{n}, {n}]", "--set", "seed", str(seed), "--log_dir", str(log_dir)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=checkout, env=_env(pythonpath), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"the reference code failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return {"wall_seconds": wall, **parse_reference_log(proc.stdout + proc.stderr), "command": cmd}


def cli_command() -> list[str]:
    """The ``implicit-bias`` console script beside this interpreter, else the CLI through ``-c``."""
    script = Path(sys.executable).parent / "implicit-bias"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from implicit_bias.cli import main; sys.exit(main())"]


def run_ours(recipe: Path, ratings: Path, W, out: Path, overrides: list[str], cache: Path | None = None) -> dict:
    import numpy as np

    cmd = [*cli_command(), "run", str(recipe), "--set", f"problem.path={ratings}", "--out", str(out), "--quiet"]
    for item in overrides:
        cmd += ["--set", item]
    env = _env()
    if cache is not None:
        env["IMPLICIT_BIAS_COMPILATION_CACHE"] = str(cache)
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"implicit-bias run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    summary = json.loads((run_dir / "summary.json").read_text())
    with np.load(run_dir / "final.npz", allow_pickle=False) as final:
        end_to_end = np.asarray(final["end_to_end"], float)
    test_mse = float(np.mean((end_to_end - W.astype(float)) ** 2))
    return {"wall_seconds": wall, "training_seconds": summary["wall_seconds"], "steps": summary["steps"],
            "status": summary["status"], "train_loss": summary["final"]["loss"], "test_mse_all_entries": test_mse,
            "command": cmd}


# --------------------------------------------------------------------------- driver


def measure(args) -> dict:
    checkout = Path(args.reference_code).resolve()
    W, rows, cols = generate_problem(args.n, args.rank, args.n_obs, args.seed)
    repeats = []
    with tempfile.TemporaryDirectory(prefix="reference-code-") as tmp:
        tmp = Path(tmp)
        gt, obs = write_reference_files(tmp, W, rows, cols)
        ratings = write_ratings(tmp / "ratings.txt", W, rows, cols)
        cache = tmp / "jax-cache"  # a fresh compilation cache: the first run of ours is cold, the rest warm
        cold = run_ours(Path(args.recipe), ratings, W, tmp / "ours-cold", args.set, cache)
        print(f"ours, cold compilation cache: {cold['wall_seconds']:.1f} s (training {cold['training_seconds']:.1f} s)",
              flush=True)
        for k in range(args.repeats):
            pair = {}
            order = ("reference", "ours") if k % 2 == 0 else ("ours", "reference")
            for who in order:
                if who == "reference":
                    pair[who] = run_reference(checkout, args.reference_python, args.reference_pythonpath, gt, obs,
                                              args.n, args.depth, args.reference_seed + k, tmp / f"ref-log-{k}")
                else:
                    pair[who] = run_ours(Path(args.recipe), ratings, W, tmp / f"ours-{k}", args.set, cache)
            ref, ours = pair["reference"], pair["ours"]
            pair["ratio_end_to_end"] = ref["wall_seconds"] / ours["wall_seconds"]
            pair["ratio_training"] = (ref["training_seconds"] / ours["training_seconds"]
                                      if ref["training_seconds"] else None)
            pair["no_worse"] = ours["test_mse_all_entries"] <= ref["test_mse_all_entries"]
            repeats.append(pair)
            print(f"repeat {k + 1}/{args.repeats}: reference {ref['wall_seconds']:.1f} s "
                  f"(loop {ref['training_seconds']:.1f} s, {ref['steps']} iterations, test MSE "
                  f"{ref['test_mse_all_entries']:.2e}); ours {ours['wall_seconds']:.1f} s (training "
                  f"{ours['training_seconds']:.1f} s, {ours['steps']} steps, test MSE "
                  f"{ours['test_mse_all_entries']:.2e}); ratios {pair['ratio_end_to_end']:.2f}x end to end, "
                  f"{pair['ratio_training']:.2f}x training", flush=True)
    ratios = {"reference/ours process wall time": ratio_stats([p["ratio_end_to_end"] for p in repeats]),
              "reference loop/ours training wall time": ratio_stats([p["ratio_training"] for p in repeats])}
    return {"benchmark": "reference_code", "skipped": False,
            "problem": {"n": args.n, "rank": args.rank, "n_obs": args.n_obs, "seed": args.seed, "depth": args.depth},
            "recipe": str(Path(args.recipe).resolve().relative_to(ROOT)) if Path(args.recipe).resolve().is_relative_to(ROOT)
            else str(args.recipe), "overrides": list(args.set),
            "reference_commit": args.reference_commit or git_head(checkout) or "unknown (not a git checkout)", "ours_cold_cache": cold, "repeats": repeats, "ratios": ratios,
            "targets": {"reference/ours process wall time": TARGETS["end_to_end"],
                        "reference loop/ours training wall time": TARGETS["training"]},
            "all_no_worse": all(p["no_worse"] for p in repeats),
            "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cores": os.cpu_count(), "load_average": os.getloadavg()}


def readme_block(result: dict) -> str:
    """README's time-to-solution block (markers included) from a measured result."""
    from readme_demo import write_atomic  # noqa: F401 - same writer as the demo block

    ref = [p["reference"] for p in result["repeats"]]
    ours = [p["ours"] for p in result["repeats"]]
    med = statistics.median
    prob = result["problem"]
    lines = [BLOCK_START,
             f"Measured on {result['date_utc']} with `python benchmarks/reference_code.py --reference-code PATH "
             f"--repeats {len(result['repeats'])} --update-readme` ({result['cores']} logical cores, load average "
             f"{result['load_average'][0]:.1f} at the end; reference code roosephu/deep_matrix_factorization @ "
             f"{result['reference_commit']}). Problem: {prob['n']}×{prob['n']}, rank {prob['rank']}, "
             f"{prob['n_obs']:,} observations, depth {prob['depth']}; ours is `implicit-bias run "
             f"{result['recipe']} --set problem.path=FILE`. Both processes on one thread, side by side, "
             "alternating which goes first.", "",
             "| | reference code (GroupRMSprop lr 1e-3) | ours (fast_completion.toml) | ratio median [min–max] | target |",
             "|---|---|---|---|---|"]
    for label, key, target in (("process wall time, end to end", "reference/ours process wall time", "end_to_end"),
                               ("training loop wall time", "reference loop/ours training wall time", "training")):
        r = result["ratios"][key]
        field = "wall_seconds" if target == "end_to_end" else "training_seconds"
        verdict = "met" if r["median"] >= TARGETS[target] else "**MISSED**"
        lines.append(f"| {label} | {med([x[field] for x in ref]):.1f} s | {med([x[field] for x in ours]):.2f} s | "
                     f"**{r['median']:.2f}×** [{r['min']:.2f}–{r['max']:.2f}] | ≥ {TARGETS[target]:g}×: {verdict} |")
    cold = result["ours_cold_cache"]
    lines.append(f"| ours with a cold compilation cache (first run) | | {cold['wall_seconds']:.2f} s "
                 f"(training {cold['training_seconds']:.2f} s) | {med([x['wall_seconds'] for x in ref]) / cold['wall_seconds']:.2f}× "
                 "end to end | |")
    lines.append(f"| steps / iterations | {med([x['steps'] for x in ref]):,.0f} | {med([x['steps'] for x in ours]):,.0f} | | |")
    lines.append(f"| test MSE over all entries | {med([x['test_mse_all_entries'] for x in ref]):.2e} | "
                 f"{med([x['test_mse_all_entries'] for x in ours]):.2e} | | ours no worse in every repeat: "
                 f"{'yes' if result['all_no_worse'] else '**no**'} |")
    if result["ratios"]["reference/ours process wall time"]["median"] < TARGETS["end_to_end"]:
        rest = med([x["wall_seconds"] - x["training_seconds"] for x in ours])
        lines += ["", f"End to end missed: of ours' {med([x['wall_seconds'] for x in ours]):.1f} s, "
                  f"{rest:.1f} s is outside training — start-up (importing JAX and the "
                  "package), tracing and lowering the jitted functions, the metrics and "
                  "the run directory's files; the profile: [docs/performance.md](docs/performance.md)."]
    lines.append(BLOCK_END)
    return "\n".join(lines)


def update_readme(result: dict, readme: Path = README) -> bool:
    from readme_demo import write_atomic

    text = readme.read_text(encoding="utf-8")
    start, end = text.find(BLOCK_START), text.find(BLOCK_END)
    if start < 0 or end < start:
        print(f"{readme} has no time-to-solution markers", file=sys.stderr)
        return False
    write_atomic(readme, text[:start] + readme_block(result) + text[end + len(BLOCK_END):])
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference-code", default=None, metavar="PATH",
                        help="a checkout of roosephu/deep_matrix_factorization (without it: skipped)")
    parser.add_argument("--reference-python", default=sys.executable,
                        help="the interpreter for the reference (with torch; default: this one)")
    parser.add_argument("--reference-pythonpath", default=None,
                        help="added to PYTHONPATH of the reference only (its toml, wrapt, fasteners, coloredlogs, "
                             "tensorboardX)")
    parser.add_argument("--reference-commit", default=None,
                        help="the checkout's commit, recorded in the result (default: git rev-parse of PATH)")
    parser.add_argument("--readme-from", default=None, metavar="JSON",
                        help="rewrite README's block from a saved --json-out result, timing nothing")
    parser.add_argument("--recipe", default=str(RECIPE), help="our config (default: examples/fast_completion.toml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra overrides of ours")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--rank", type=int, default=5)
    parser.add_argument("--n-obs", type=int, default=2000)
    parser.add_argument("--depth", type=int, default=3, help="the reference's depth (ours: the recipe's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated problem")
    parser.add_argument("--reference-seed", type=int, default=1, help="the reference's --set seed (+ repeat)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json-out", default=None)
    parser.add_argument("--update-readme", action="store_true", help="rewrite README.md's time-to-solution block")
    args = parser.parse_args(argv)

    if args.readme_from:
        return 0 if update_readme(json.loads(Path(args.readme_from).read_text(encoding="utf-8"))) else 1
    if not args.reference_code:
        message = ("skipped: no --reference-code PATH (a checkout of roosephu/deep_matrix_factorization); "
                   "nothing was timed")
        print(message)
        write_json_out(args.json_out, {"benchmark": "reference_code", "skipped": True, "reason": message,
                                       "ratios": {}})
        return 0
    if not (Path(args.reference_code) / "main.py").is_file():
        print(f"--reference-code {args.reference_code}: no main.py there (not a checkout of the reference code)",
              file=sys.stderr)
        return 2
    result = measure(args)
    for name, r in result["ratios"].items():
        print(f"{name}: median {r['median']:.2f} [{r['min']:.2f}-{r['max']:.2f}]")
    write_json_out(args.json_out, result)
    if args.update_readme and not update_readme(result):
        return 1
    return 0 if result["all_no_worse"] else 1


if __name__ == "__main__":
    sys.exit(main())
