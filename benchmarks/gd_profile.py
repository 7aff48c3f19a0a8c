"""``gd_steps.py --profile``: where the engine's GD time goes, against simpler loops.

Imported by gd_steps.py after it has pinned the threads (benchmarks/ is on ``sys.path``).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import jax
import jax.numpy as jnp

from implicit_bias.engine import Experiment, as_config

from engines.jax_gd import Engine
from engines.numpy_gd import NumpyGD, rel_diff

__all__ = ["profile", "profile_table", "scan_loop"]


def scan_loop(step, chunk: int):
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


def profile(config: dict, repeats: int = 7, chunk: int = 1000, check_steps: int = 10) -> dict:
    """Where the engine's time goes: µs of CPU time per GD step (median over ``repeats``) of

    - ``engine``: ``train_chunk`` (stop/divergence checks, per-step keys, optax chain);
    - ``jax.grad``: the same GD as a bare ``lax.scan`` of θ − lr ∇C(θ) on the engine's own
      objective (no checks; its W3 W2 W1 uses ``models.matmul``, whose VJP materializes the
      transposes before the backward dots): engine − this = the loop's bookkeeping;
    - ``jax.grad, plain @``: the same with W3 @ (W2 @ W1), where autodiff's backward dots take a
      transposed operand: this − jax.grad = what materializing the transposes saves;
    - ``numpy``: the hand-written loop;

    and of single 100x100 float64 products, XLA (in a scan) against NumPy, for each operand layout.
    ``config`` is the benchmarked experiment (gd_steps.CONFIG); ``log_every`` is set to ``chunk``.
    """
    cfg = as_config({**config, "trainer": {**config["trainer"], "log_every": chunk}})
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
        few = scan_loop(step, check_steps)(experiment.params0)
        checks[name] = rel_diff([np.asarray(few[f"W{j}"]) for j in (1, 2, 3)], reference)
    compiled = {name: scan_loop(step, chunk) for name, step in loops.items()}

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
        xla_loop = scan_loop(lambda c, body=xla_body: body(c) * 1e-2, n_dots)
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
