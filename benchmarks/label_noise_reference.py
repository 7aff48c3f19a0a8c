"""Label-noise GD on the quadratic model, side by side with the authors' code of HaoChen, Wei, Lee & Ma
(2021), "Shape matters: understanding the implicit bias of the noise covariance": same data, same
schedule, same result, and the time of both.

    python benchmarks/label_noise_reference.py --reference-code PATH [--iters 300000] [--json-out FILE]
    python benchmarks/label_noise_reference.py                         # no checkout: skipped, says so, exit 0

PATH is a checkout of github jhaochenz96/noise-implicit-bias (plain PyTorch on CPU: torch==2.13.0,
our ``bench`` extra, is all it needs). Nothing of that code is copied here: its
``quadratic/train_quadratic.py`` is run unmodified, in its own process, with its README's documented
label-noise recipe ``--opt=LNGD --lr=0.01 --d=100 --rho=5 --m=40 --iter=300000 --delta=1.0
--alpha=1.0`` (``--iters`` shortens it for a smoke run; it writes its ``log/`` into a temporary
working directory, not into the checkout).

1. **Their setting**, as its README and arguments document it: x_i ~ N(0, I_100) for m = 40 samples,
   w* = (1, …, 1, 0, …, 0) with ρ = 5 ones, y_i = ⟨x_i, w*⟩ (float32), model β = v ⊙ v from
   v(0) = α·1, loss ¼·mean_i (y_i − ⟨v⊙v, x_i⟩)², lr 0.01 divided by 10 at iterations 100,000 and
   200,000, and at every step the label of ONE uniformly drawn sample perturbed by δξ (δ = 1).
   The data come from NumPy's global generator seeded with its ``--seed`` (123): ``rand(d)`` (then
   overwritten) and ``randn(m, d)``. We regenerate them the same way and check that they are the
   same numbers: its first logged train error (iteration 0, v = α·1) must equal ours to float32
   rounding.
2. **Ours** (``--ours-worker``, a fresh interpreter on one thread): the engine's declared API, the
   ``dataset`` problem on those X, y (an .npz, no split, no standardization) and the ``diagonal``
   model with ``form = "product"`` at α = 1: u(0) = v(0) and their gradient updates are identical,
   so u = v for all time and β = u ⊙ u is their v ⊙ v exactly. Our loss is mean ½(·)² = 2 × theirs,
   and ∂/∂u of ½(y − ⟨u⊙v, x⟩)² at u = v equals their ∂/∂v of ¼(y − ⟨v⊙v, x⟩)², so **the same lr**
   (0.01, the same ÷10 milestones: three ``train`` calls). Label noise: theirs adds −δξ v⊙x_i for one
   random i, covariance (δ²/m) Σ_i (v⊙x_i)(v⊙x_i)ᵀ; ours (``label_noise = σ`` on all m targets of
   the mean loss) adds −(σ/m) Σ_i ξ_i v⊙x_i, covariance (σ²/m²) Σ_i (·)(·)ᵀ — equal for
   **σ = δ√m** (≈ 6.32), so both have the same noise covariance, hence the same implicit
   regularizer tr ∇²L (its noise is a Gaussian scale mixture, ours Gaussian). float64 (theirs float32).
3. **Same result**: the final test error in their convention, ‖v⊙v − w*‖² (their log's ``test
   error``), for both; with the whole schedule (``--iters`` ≥ 200,000) both must be
   ≤ ``--recovery-tol`` × ‖w*‖² (default 1e-2: w* recovered — the claim of the paper's sparse
   regression experiment and of our reproduction ``label-noise-sparse``). A shorter smoke run
   (``make bench`` quick: 20,000 iterations) stops before recovery; there the two final test errors
   must agree within ``--agreement-factor`` (default 2: same drift, same noise covariance, one
   noise draw each). ℓ1 norms are recorded too (min ℓ1 = ‖w*‖₁ = 5 here).
4. **Time**: process wall time of each, one after the other on one thread each (OMP/MKL/OpenBLAS and
   XLA flags), alternating which goes first over ``--repeats``; ours' training time (the ``train``
   calls, compilation included) too. Only ratios are results (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import git_head, ratio_stats, write_json_out  # noqa: E402

THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}
SCRIPT = Path("quadratic") / "train_quadratic.py"
#: the README's label-noise recipe (apart from --iter, which --iters sets)
RECIPE = {"d": 100, "rho": 5, "m": 40, "seed": 123, "alpha": 1.0, "delta": 1.0, "lr": 0.01}
#: the script's own lr schedule for LNGD: ÷10 at these iterations (hard-coded in it)
MILESTONES = (100_000, 200_000)
_LINE = re.compile(r"iter:\s*(\d+) \| train error: ([-+0-9.eE]+) \| test error: ([-+0-9.eE]+)")


# --------------------------------------------------------------------------- their data

def generate_reference_data(d: int, m: int, rho: int, seed: int):
    """(X float32 (m, d), y float32 (m,), w* float64): the draws of the reference script — NumPy's
    global generator seeded with ``seed``, ``rand(d)`` (overwritten by the 0/1 target), then
    ``randn(m, d)``; y_i = ⟨x_i, w*⟩ in float64, stored as float32."""
    import numpy as np

    rng = np.random.RandomState(seed)  # the same stream as np.random.seed(seed) + np.random.*
    rng.rand(d)
    w_star = np.zeros(d)
    w_star[:rho] = 1.0
    xs = rng.randn(m, d)
    y = (xs @ w_star).astype(np.float32)
    return xs.astype(np.float32), y, w_star


def initial_train_error(X, y, alpha: float) -> float:
    """Their ``train error`` at v = α·1: mean_i ¼(y_i − ⟨v⊙v, x_i⟩)²."""
    import numpy as np

    beta = np.full(X.shape[1], alpha**2, dtype=np.float64)
    return float(np.mean(0.25 * (y.astype(float) - X.astype(float) @ beta) ** 2))


def parse_reference_log(text: str) -> dict:
    """First and last logged (iteration, train error, test error) of the reference's stdout."""
    rows = [(int(i), float(tr), float(te)) for i, tr, te in _LINE.findall(text)]
    if not rows:
        raise RuntimeError("the reference printed no 'iter: … | train error: … | test error: …' line:\n"
                           + text[-2000:])
    return {"first": dict(zip(("iter", "train_error", "test_error"), rows[0])),
            "last": dict(zip(("iter", "train_error", "test_error"), rows[-1])), "rows": len(rows)}


# --------------------------------------------------------------------------- the two processes

def _env() -> dict:
    return {**os.environ, **THREAD_ENV}


def run_reference(checkout: Path, python: str, iters: int, log_interval: int, workdir: Path) -> dict:
    cmd = [python, "-W", "ignore", str((checkout / SCRIPT).resolve()), "--opt=LNGD", f"--iter={iters}",
           f"--log_interval={log_interval}"] + [f"--{k}={v}" for k, v in RECIPE.items()]
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, env=_env(), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"the reference code failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return {"wall_seconds": wall, **parse_reference_log(proc.stdout), "command": cmd}


def schedule(iters: int) -> list[tuple[float, int]]:
    """(lr, steps) phases of the reference's LNGD schedule over ``iters`` iterations."""
    bounds = [0] + [b for b in MILESTONES if b < iters] + [iters]
    return [(RECIPE["lr"] / 10**j, bounds[j + 1] - bounds[j]) for j in range(len(bounds) - 1)]


def ours_config(npz: Path) -> dict:
    sigma = RECIPE["delta"] * RECIPE["m"] ** 0.5
    return {"name": "label-noise-reference", "seed": 0,
            "problem": {"kind": "dataset", "path": str(npz), "test_fraction": 0.0, "standardize": False},
            "model": {"kind": "diagonal", "form": "product", "alpha": RECIPE["alpha"]},
            "trainer": {"kind": "gd", "lr": RECIPE["lr"], "steps": 1, "log_every": 1, "label_noise": sigma}}


def ours_worker(npz: Path, iters: int, out: Path) -> None:
    """In this (fresh, one-thread) process: the reference's schedule with our engine; writes JSON."""
    started = time.perf_counter()
    import jax.numpy as jnp
    import numpy as np

    from implicit_bias.engine import Experiment, named_key, resolve, section_settings, train

    experiment = Experiment.build(resolve(ours_config(npz)))
    params = experiment.params0
    base = dict(experiment.config["trainer"])
    trained = time.perf_counter()
    for phase, (lr, steps) in enumerate(schedule(iters)):
        log_every = min(steps, 10_000)
        while steps % log_every:
            log_every -= 1
        table = dict(base, lr=lr, steps=steps, log_every=log_every)
        traj = train(experiment.objective, params, section_settings("trainer", table),
                     key=named_key(phase, "sampling"))
        params = {k: jnp.asarray(v) for k, v in traj.params.items()}
    beta = np.asarray(experiment.objective.model.end_to_end(params))
    done = time.perf_counter()
    out.write_text(json.dumps({"beta": beta.tolist(), "training_seconds": done - trained,
                               "in_process_seconds": done - started,
                               "data_loss": float(experiment.objective.data_loss(params)),
                               "u_minus_v": float(np.max(np.abs(np.asarray(params["u"]) - np.asarray(params["v"]))))}))


def run_ours(npz: Path, iters: int, w_star, workdir: Path) -> dict:
    import numpy as np

    out = workdir / f"ours-{time.monotonic_ns()}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--ours-worker", str(npz), "--iters", str(iters),
           "--json-out", str(out)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"ours failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    got = json.loads(out.read_text())
    beta = np.asarray(got.pop("beta"))
    return {"wall_seconds": wall, **got, "test_error": float(np.sum((beta - w_star) ** 2)),
            "train_error": got["data_loss"] / 2, "l1": float(np.abs(beta).sum()), "command": cmd}


# --------------------------------------------------------------------------- driver


def measure(args) -> dict:
    import numpy as np

    checkout = Path(args.reference_code).resolve()
    X, y, w_star = generate_reference_data(RECIPE["d"], RECIPE["m"], RECIPE["rho"], RECIPE["seed"])
    bound = args.recovery_tol * float(w_star @ w_star)
    repeats = []
    with tempfile.TemporaryDirectory(prefix="label-noise-reference-") as tmp:
        tmp = Path(tmp)
        npz = tmp / "data.npz"
        np.savez(npz, X=X.astype(np.float64), y=y.astype(np.float64))
        for k in range(args.repeats):
            pair = {}
            order = ("reference", "ours") if k % 2 == 0 else ("ours", "reference")
            for who in order:
                if who == "reference":
                    pair[who] = run_reference(checkout, args.reference_python, args.iters, args.log_interval,
                                              tmp / f"ref-{k}")
                else:
                    pair[who] = run_ours(npz, args.iters, w_star, tmp)
            ref, ours = pair["reference"], pair["ours"]
            pair["same_data"] = bool(np.isclose(ref["first"]["train_error"], initial_train_error(X, y, RECIPE["alpha"]),
                                                rtol=1e-5, atol=0))
            pair["both_recover"] = ref["last"]["test_error"] <= bound and ours["test_error"] <= bound
            pair["test_error_ratio"] = ours["test_error"] / ref["last"]["test_error"]
            pair["same_result"] = (pair["both_recover"] if args.iters >= MILESTONES[-1] else
                                   1 / args.agreement_factor <= pair["test_error_ratio"] <= args.agreement_factor)
            pair["ratio_end_to_end"] = ref["wall_seconds"] / ours["wall_seconds"]
            repeats.append(pair)
            print(f"repeat {k + 1}/{args.repeats}: reference {ref['wall_seconds']:.1f} s ({args.iters:,} iterations, "
                  f"final test error ‖v⊙v − w*‖² = {ref['last']['test_error']:.3g}); ours {ours['wall_seconds']:.1f} s "
                  f"(training {ours['training_seconds']:.1f} s, test error {ours['test_error']:.3g}, ℓ1 "
                  f"{ours['l1']:.4f}); ratio {pair['ratio_end_to_end']:.1f}x; same data {pair['same_data']}, "
                  f"both recover w* {pair['both_recover']}, same result {pair['same_result']}", flush=True)
    return {"benchmark": "label_noise_reference", "skipped": False,
            "setting": {**RECIPE, "iters": args.iters, "milestones": list(MILESTONES),
                        "ours_sigma": RECIPE["delta"] * RECIPE["m"] ** 0.5, "recovery_bound": bound},
            "reference_commit": args.reference_commit or git_head(checkout) or "unknown (not a git checkout)",
            "repeats": repeats,
            "ratios": {"reference/ours process wall time": ratio_stats([p["ratio_end_to_end"] for p in repeats])},
            "check": {"passed": all(p["same_data"] and p["same_result"] for p in repeats),
                      "max_rel_diff": max(max(p["reference"]["last"]["test_error"], p["ours"]["test_error"])
                                          for p in repeats) / float(w_star @ w_star),
                      "what": "same data (first logged train error) and the same result: with the whole schedule "
                              "(--iters ≥ 200,000) both recover w* (final ‖β − w*‖² ≤ --recovery-tol·‖w*‖²); "
                              "shorter (a smoke run, before recovery) the two final test errors agree within "
                              "--agreement-factor. max_rel_diff: the larger final ‖β − w*‖²/‖w*‖²"},
            "description": ("HaoChen, Wei, Lee & Ma's label-noise recipe (jhaochenz96/noise-implicit-bias, "
                            f"quadratic/train_quadratic.py --opt=LNGD, {args.iters:,} iterations) against ours "
                            "(diagonal product model, σ = δ√m, same data and lr schedule): process wall time."),
            "details_md": "\n".join(
                f"- repeat {k + 1}: reference {p['reference']['wall_seconds']:.1f} s, final ‖v⊙v − w*‖² "
                f"{p['reference']['last']['test_error']:.3g}; ours {p['ours']['wall_seconds']:.1f} s (training "
                f"{p['ours']['training_seconds']:.1f} s), ‖β − w*‖² {p['ours']['test_error']:.3g}, ℓ1 "
                f"{p['ours']['l1']:.4f} (min ℓ1 = ‖w*‖₁ = {RECIPE['rho']})" for k, p in enumerate(repeats)),
            "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cores": os.cpu_count(), "load_average": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference-code", default=None, metavar="PATH",
                        help="a checkout of jhaochenz96/noise-implicit-bias (without it: skipped)")
    parser.add_argument("--reference-python", default=sys.executable,
                        help="the interpreter for the reference (with torch; default: this one)")
    parser.add_argument("--reference-commit", default=None, help="recorded in the result (default: git of PATH)")
    parser.add_argument("--iters", type=int, default=300_000, help="iterations (their README: 300,000)")
    parser.add_argument("--log-interval", type=int, default=20, help="their --log_interval (README: 20)")
    parser.add_argument("--recovery-tol", type=float, default=1e-2, help="test error bound, × ‖w*‖²")
    parser.add_argument("--agreement-factor", type=float, default=2.0,
                        help="runs shorter than the schedule: ours/their final test error within this factor")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--ours-worker", default=None, metavar="NPZ", help=argparse.SUPPRESS)
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args(argv)

    if args.ours_worker:
        ours_worker(Path(args.ours_worker), args.iters, Path(args.json_out))
        return 0
    if not args.reference_code:
        message = ("skipped: no --reference-code PATH (a checkout of jhaochenz96/noise-implicit-bias); "
                   "nothing was timed")
        print(message)
        write_json_out(args.json_out, {"benchmark": "label_noise_reference", "skipped": True, "reason": message,
                                       "ratios": {}})
        return 0
    if not (Path(args.reference_code) / SCRIPT).is_file():
        print(f"--reference-code {args.reference_code}: no {SCRIPT} there (not a checkout of "
              "jhaochenz96/noise-implicit-bias)", file=sys.stderr)
        return 2
    result = measure(args)
    for name, r in result["ratios"].items():
        print(f"{name}: median {r['median']:.2f} [{r['min']:.2f}-{r['max']:.2f}]")
    write_json_out(args.json_out, result)
    return 0 if result["check"]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
