"""GD steps per second: our engine against a hand-written NumPy loop, side by side.

The problem is the embedded default experiment (Arora, Cohen, Hu & Luo 2019): a
100x100 rank-5 matrix with Frobenius norm 100, 2,000 observed entries, fitted by
a depth-3 linear network W = W3 W2 W1 (width 100, Gaussian init of std 1e-3),
full-batch GD with lr = 5 on the loss (1/m) Σ ½(W[i,j] − y_ij)² (mean of ½(·)²
over the m = 2,000 observations), float64.

- **ours**: ``implicit_bias.trainers.train_chunk``, the compiled ``lax.scan``
  chunk that ``implicit-bias run`` uses, called with ``chunk_len`` steps (the
  ``log_every`` of a run) after it has been compiled once; the timing covers
  the call up to ``block_until_ready`` and nothing else (no metrics, no
  logging, no disk).
- **numpy**: the same GD written by hand: forward product P = W2 W1, W = W3 P;
  residual r = (W[obs] − y)/m on the observed entries; gradient through the
  adjoint G = 𝒜*(r) (a dense 100x100 matrix, zero off the observed entries):
  ∇W3 = G Pᵀ, ∇W2 = W3ᵀ G W1ᵀ, ∇W1 = (W3 W2)ᵀ G, six 100x100 matmuls per step,
  plus the training loss and the stop test, which the engine also does.

Both start from the same parameters (the engine's own initialization) on the
same problem arrays. Before timing, both run ``check_steps`` steps and their
iterates must agree to 1e-10 relative (Frobenius) error, so the two loops do
the same arithmetic. Each repeat times one chunk of each, alternating which
goes first, and records the ratio ours/numpy of steps per second; noise from
other processes on the machine hits both sides of one repeat alike.

Both sides run on ONE thread: the environment variables below are set before
jax or numpy is imported (run this file as a script, or through run_all.py,
which starts a fresh interpreter per benchmark).

    python benchmarks/gd_steps.py [--repeats 9] [--chunk 1000] [--json-out FILE]
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
# Must happen before jax / numpy are imported anywhere in this process.
_IMPORTED_TOO_EARLY = sorted(m for m in ("jax", "numpy") if m in sys.modules)
os.environ.update(THREAD_ENV)

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import implicit_bias  # noqa: E402,F401  (switches on float64)
from implicit_bias.keys import named_key  # noqa: E402
from implicit_bias.run import Experiment, as_config  # noqa: E402
from implicit_bias.trainers import OPTIMIZERS, Carry, StepSpec, hyperparameters, train_chunk  # noqa: E402
from implicit_bias.trainers.loop import RUNNING  # noqa: E402

NAME = "gd_steps"
CHECK_TOL = 1e-10

#: The benchmarked experiment, spelled out so that a change of the embedded default does not move it.
CONFIG = {
    "name": "bench-gd-steps",
    "seed": 0,
    "dtype": "float64",
    "problem": {"kind": "matrix_completion", "n_rows": 100, "n_cols": 100, "rank": 5, "n_obs": 2000,
                "target_norm": 100.0, "noise": 0.0},
    "model": {"kind": "deep_matrix", "depth": 3, "init": "gaussian", "init_scale": 1e-3},
    "trainer": {"kind": "gd", "lr": 5.0, "steps": 10**6, "stop_loss": 0.0, "log_every": 1000},
}


# --------------------------------------------------------------------------- ours

class Engine:
    """One compiled ``train_chunk`` of ``chunk_len`` steps, always started from θ_0."""

    def __init__(self, experiment: Experiment, chunk_len: int):
        cfg = experiment.config
        self.objective = experiment.objective
        self.params0 = experiment.params0
        self.chunk_len = chunk_len
        dtype = jax.tree_util.tree_leaves(self.params0)[0].dtype
        self.spec = StepSpec.from_config(cfg["trainer"])
        self.hyper = hyperparameters(cfg["trainer"], dtype)
        self.carry0 = Carry(params=self.params0, opt_state=OPTIMIZERS[self.spec.kind](self.hyper).init(self.params0),
                            step=jnp.asarray(0, jnp.int64), status=jnp.asarray(RUNNING, jnp.int32),
                            status_step=jnp.asarray(-1, jnp.int64))
        self.key = named_key(cfg["seed"], "sampling")
        self.stop_loss = jnp.asarray(cfg["trainer"]["stop_loss"], dtype)
        self.blowup = jnp.asarray(np.inf, dtype)

    def run(self, n_steps: int) -> Carry:
        """``n_steps`` ≤ chunk_len updates from θ_0, through the same compiled chunk."""
        carry = train_chunk(self.objective, self.spec, self.hyper, self.carry0, self.key,
                            jnp.asarray(n_steps, jnp.int64), self.stop_loss, self.blowup, self.chunk_len)
        return jax.block_until_ready(carry)

    def params(self, carry: Carry) -> list[np.ndarray]:
        return [np.asarray(carry.params[f"W{j}"]) for j in (1, 2, 3)]


# --------------------------------------------------------------------------- numpy

class NumpyGD:
    """The same GD by hand: W = W3 W2 W1, loss (1/m) Σ ½ r², gradient through the adjoint."""

    def __init__(self, experiment: Experiment):
        problem = experiment.objective.problem
        self.lr = float(experiment.config["trainer"]["lr"])
        self.stop_loss = float(experiment.config["trainer"]["stop_loss"])
        self.shape = tuple(problem.shape)
        rows, cols = np.asarray(problem.rows, np.int64), np.asarray(problem.cols, np.int64)
        self.flat = rows * self.shape[1] + cols
        # Observed entries are distinct (sampled without replacement), so writing r into the
        # zero matrix IS the adjoint 𝒜*(r) (a scatter-add would give the same matrix).
        if np.unique(self.flat).size != self.flat.size:
            raise AssertionError("observed entries must be distinct for the NumPy adjoint")
        self.values = np.asarray(problem.targets, np.float64)
        self.m = self.values.size
        self.params0 = [np.array(experiment.params0[f"W{j}"], np.float64) for j in (1, 2, 3)]
        self.G = np.zeros(self.shape)

    def run(self, n_steps: int) -> list[np.ndarray]:
        W1, W2, W3 = (W.copy() for W in self.params0)
        lr, flat, values, m, G = self.lr, self.flat, self.values, self.m, self.G
        Gflat = G.reshape(-1)
        for _ in range(n_steps):
            P = W2 @ W1
            W = W3 @ P
            r = W.reshape(-1)[flat] - values
            loss = 0.5 * float(r @ r) / m
            if not loss > self.stop_loss:  # stop rule of the engine (also catches NaN)
                break
            Gflat.fill(0.0)
            Gflat[flat] = r / m  # G = 𝒜*(r)/m = ∇_W L
            D = W3.T @ G  # ∂L/∂P
            grad1 = W2.T @ D
            grad2 = D @ W1.T
            grad3 = G @ P.T
            W1 = W1 - lr * grad1
            W2 = W2 - lr * grad2
            W3 = W3 - lr * grad3
        return [W1, W2, W3]


# --------------------------------------------------------------------------- benchmark

def _rel_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.linalg.norm(x - y) / np.linalg.norm(y)) for x, y in zip(a, b))


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _spread(values: list[float]) -> dict:
    return {"values": values, "min": min(values), "median": statistics.median(values), "max": max(values)}


def run(repeats: int = 9, chunk: int = 1000, check_steps: int = 10, verbose: bool = True) -> dict:
    """Measure steps/s of both loops; return the results as a plain dict."""
    cfg = as_config({**CONFIG, "trainer": {**CONFIG["trainer"], "log_every": chunk}})
    experiment = Experiment.build(cfg)
    engine = Engine(experiment, chunk)
    numpy_gd = NumpyGD(experiment)

    compile_start = time.perf_counter()
    engine.run(chunk)  # compile (and one warm-up chunk)
    compile_seconds = time.perf_counter() - compile_start
    numpy_gd.run(check_steps)  # warm-up

    # Same iterates: both loops after check_steps steps from θ_0, and after a whole chunk.
    ours_k = engine.params(engine.run(check_steps))
    numpy_k = numpy_gd.run(check_steps)
    check_diff = _rel_diff(ours_k, numpy_k)
    ours_chunk = engine.run(chunk)
    if int(ours_chunk.step) != chunk or int(ours_chunk.status) != RUNNING:
        raise AssertionError(f"the engine stopped early: step {int(ours_chunk.step)}, status {int(ours_chunk.status)}")
    chunk_diff = _rel_diff(engine.params(ours_chunk), numpy_gd.run(chunk))

    rates = {side: {"wall": [], "cpu": [], "cpu_over_wall": []} for side in ("ours", "numpy")}
    ratios, cpu_ratios = [], []
    for i in range(repeats):
        sides = [("ours", lambda: engine.run(chunk)), ("numpy", lambda: numpy_gd.run(chunk))]
        for side, fn in (sides if i % 2 == 0 else sides[::-1]):
            _, wall, cpu = _timed(fn)
            rates[side]["wall"].append(chunk / wall)
            rates[side]["cpu"].append(chunk / cpu)
            rates[side]["cpu_over_wall"].append(cpu / wall)
        ratios.append(rates["ours"]["wall"][-1] / rates["numpy"]["wall"][-1])
        cpu_ratios.append(rates["ours"]["cpu"][-1] / rates["numpy"]["cpu"][-1])
        if verbose:
            print(f"  repeat {i + 1}/{repeats}: ours {rates['ours']['wall'][-1]:6.0f} steps/s, numpy "
                  f"{rates['numpy']['wall'][-1]:6.0f} steps/s, ratio {ratios[-1]:.3f} (CPU-time ratio "
                  f"{cpu_ratios[-1]:.3f})", file=sys.stderr)

    ratio = _spread(ratios)
    result = {
        "name": NAME,
        "description": "GD steps/s, 100x100 rank-5 completion, 2,000 observations, depth-3 deep_matrix, "
                       "float64, one thread: ours (train_chunk) vs a hand-written NumPy loop",
        "config": cfg,
        "loss": "mean over observations of ½(prediction − target)²",
        "chunk_len": chunk,
        "repeats": repeats,
        "compile_seconds": compile_seconds,
        "threads": {**THREAD_ENV, "imported_before_env_was_set": _IMPORTED_TOO_EARLY},
        "check": {"steps": check_steps, "max_rel_diff": check_diff, "tol": CHECK_TOL,
                  "passed": bool(check_diff <= CHECK_TOL),
                  "max_rel_diff_after_chunk": chunk_diff},
        "ours": {"steps_per_s": _spread(rates["ours"]["wall"]), "steps_per_cpu_s": _spread(rates["ours"]["cpu"]),
                 "cpu_over_wall": statistics.median(rates["ours"]["cpu_over_wall"])},
        "numpy": {"steps_per_s": _spread(rates["numpy"]["wall"]), "steps_per_cpu_s": _spread(rates["numpy"]["cpu"]),
                  "cpu_over_wall": statistics.median(rates["numpy"]["cpu_over_wall"])},
        "ratios": {"ours/numpy steps per second": ratio,
                   "ours/numpy steps per CPU second": _spread(cpu_ratios)},
        "rule": "ours must not be slower than numpy: median ratio of steps per CPU second >= 1",
        "rule_passed": bool(statistics.median(cpu_ratios) >= 1.0),
    }
    return result


# --------------------------------------------------------------------------- profile

def _scan_loop(step, chunk: int):
    """``chunk`` applications of ``step`` in one compiled lax.scan (no checks, no bookkeeping)."""
    run_chunk = jax.jit(lambda params: jax.lax.scan(lambda p, _: (step(p), None), params, None, length=chunk)[0])
    return run_chunk


def _repeat(fn, n: int) -> None:
    for _ in range(n):
        fn()


def _cpu_us_interleaved(fns: dict, n_steps: int, repeats: int) -> dict:
    """µs of CPU time per step of each zero-argument callable (median over ``repeats``), timing
    them in turn within each repeat so that a change of load hits all of them alike."""
    for fn in fns.values():
        jax.block_until_ready(fn())
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.process_time()
            jax.block_until_ready(fn())
            times[name].append((time.process_time() - start) / n_steps * 1e6)
    return {name: statistics.median(values) for name, values in times.items()}


def profile(repeats: int = 7, chunk: int = 1000, check_steps: int = 10) -> dict:
    """Where the engine's time goes: µs of CPU time per GD step (median over ``repeats``) of

    - ``engine``: ``train_chunk`` (stop/divergence checks, per-step keys, optax chain);
    - ``jax.grad``: the same GD as a bare ``lax.scan`` of θ − lr ∇C(θ) on the engine's own
      objective (no checks; its W3 W2 W1 uses ``models.matmul``, whose VJP materializes the
      transposes before the backward dots): engine − this = the loop's bookkeeping;
    - ``jax.grad, plain @``: the same with W3 @ (W2 @ W1), where autodiff's backward dots take a
      transposed operand: this − jax.grad = what materializing the transposes saves;
    - ``numpy``: the hand-written loop;

    and of single 100x100 float64 products, XLA (in a scan) against NumPy, for each operand layout.
    """
    cfg = as_config({**CONFIG, "trainer": {**CONFIG["trainer"], "log_every": chunk}})
    experiment = Experiment.build(cfg)
    engine = Engine(experiment, chunk)
    numpy_gd = NumpyGD(experiment)
    objective, problem = experiment.objective, experiment.objective.problem
    lr = float(cfg["trainer"]["lr"])

    def plain_step(params):
        grads = jax.grad(objective)(params)
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)

    def plain_matmul_loss(params):
        W = params["W3"] @ (params["W2"] @ params["W1"])
        return problem.residual_loss(problem.measure(W))

    def plain_matmul_step(params):
        grads = jax.grad(plain_matmul_loss)(params)
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)

    loops = {"jax.grad": plain_step, "jax.grad, plain @": plain_matmul_step}
    reference = numpy_gd.run(check_steps)
    checks = {}
    for name, step in loops.items():
        few = _scan_loop(step, check_steps)(experiment.params0)
        checks[name] = _rel_diff([np.asarray(few[f"W{j}"]) for j in (1, 2, 3)], reference)
    compiled = {name: _scan_loop(step, chunk) for name, step in loops.items()}

    loops_to_time = {"engine (train_chunk)": lambda: engine.run(chunk)}
    for name, run_chunk in compiled.items():
        loops_to_time[name] = lambda run_chunk=run_chunk: run_chunk(experiment.params0)
    loops_to_time["numpy"] = lambda: numpy_gd.run(chunk)
    per_step = _cpu_us_interleaved(loops_to_time, chunk, repeats)

    rng = np.random.default_rng(0)
    A_np, B_np = rng.standard_normal((100, 100)), rng.standard_normal((100, 100))
    A, B = jnp.asarray(A_np), jnp.asarray(B_np)
    layouts = {"A @ B": (lambda c: c @ B, lambda: A_np @ B_np),
               "Aᵀ @ B (lhs contracted on dim 0)": (lambda c: c.T @ B, lambda: A_np.T @ B_np),
               "A @ Bᵀ": (lambda c: c @ B.T, lambda: A_np @ B_np.T)}
    n_dots = 1000
    dot_fns = {}
    for name, (xla_body, numpy_fn) in layouts.items():
        xla_loop = _scan_loop(lambda c, body=xla_body: body(c) * 1e-2, n_dots)
        dot_fns[(name, "xla")] = lambda loop=xla_loop: loop(A)
        dot_fns[(name, "numpy")] = lambda fn=numpy_fn: _repeat(fn, n_dots)
    dot_us = _cpu_us_interleaved(dot_fns, n_dots, repeats)
    dots = {name: {"xla": dot_us[(name, "xla")], "numpy": dot_us[(name, "numpy")]} for name in layouts}
    return {"us_per_step": per_step, "check_rel_diff": checks, "check_steps": check_steps,
            "dot_us": dots, "repeats": repeats, "chunk_len": chunk}


def profile_table(prof: dict) -> str:
    steps, dots = prof["us_per_step"], prof["dot_us"]
    numpy_us = steps["numpy"]
    lines = [f"Where the time goes: µs of CPU time per GD step (median of {prof['repeats']}), one thread:", "",
             "| loop | µs/step | vs numpy |", "|---|---|---|"]
    for name, us in steps.items():
        lines.append(f"| {name} | {us:.0f} | {numpy_us / us:.2f}× the speed |")
    lines += ["", "Single 100x100 float64 products, µs each:", "", "| product | XLA | NumPy |", "|---|---|---|"]
    for name, d in dots.items():
        lines.append(f"| {name} | {d['xla']:.1f} | {d['numpy']:.1f} |")
    lines += ["", "Same iterates as NumPy after {} steps (max relative difference): {}".format(
        prof["check_steps"], ", ".join(f"{k} {v:.1e}" for k, v in prof["check_rel_diff"].items()))]
    return "\n".join(lines)


def table(result: dict) -> str:
    """The side-by-side table (Markdown)."""
    ours, numpy_ = result["ours"]["steps_per_s"], result["numpy"]["steps_per_s"]
    ratio = result["ratios"]["ours/numpy steps per second"]
    cpu_ratio = result["ratios"]["ours/numpy steps per CPU second"]
    lines = [
        f"GD steps/s, median over {result['repeats']} repeats of {result['chunk_len']} steps "
        f"(min–max in brackets), one thread:",
        "",
        "| loop | steps/s | cpu/wall |",
        "|---|---|---|",
        f"| ours (train_chunk) | {ours['median']:.0f} [{ours['min']:.0f}–{ours['max']:.0f}] "
        f"| {result['ours']['cpu_over_wall']:.2f} |",
        f"| numpy (hand-written) | {numpy_['median']:.0f} [{numpy_['min']:.0f}–{numpy_['max']:.0f}] "
        f"| {result['numpy']['cpu_over_wall']:.2f} |",
        f"| **ratio ours/numpy** | **{ratio['median']:.3f}** [{ratio['min']:.3f}–{ratio['max']:.3f}] | |",
        f"| ratio in steps per CPU second | {cpu_ratio['median']:.3f} [{cpu_ratio['min']:.3f}–{cpu_ratio['max']:.3f}] | |",
        "",
        f"Same iterates: max relative difference after {result['check']['steps']} steps "
        f"{result['check']['max_rel_diff']:.1e} (tolerance {result['check']['tol']:.0e}, "
        f"{'passed' if result['check']['passed'] else 'FAILED'}); after {result['chunk_len']} steps "
        f"{result['check']['max_rel_diff_after_chunk']:.1e}.",
        f"Rule ({result['rule']}): {'passed' if result['rule_passed'] else 'VIOLATED'}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed repeats (default 9)")
    parser.add_argument("--chunk", type=int, default=1000, help="steps per timed call = log_every (default 1000)")
    parser.add_argument("--check-steps", type=int, default=10, help="steps compared for equal iterates (default 10)")
    parser.add_argument("--profile", action="store_true",
                        help="also break the engine's time down against simpler loops (adds ~30 s)")
    parser.add_argument("--json-out", help="also write the result dict to this JSON file")
    args = parser.parse_args(argv)
    result = run(repeats=args.repeats, chunk=args.chunk, check_steps=args.check_steps)
    print(table(result))
    if args.profile:
        result["profile"] = profile(chunk=args.chunk, check_steps=args.check_steps)
        print()
        print(profile_table(result["profile"]))
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2, default=str)
    return 0 if result["check"]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
