"""A lever weighed for issue 15: a factored measurement operator for matrix completion.

    python benchmarks/factored_completion.py [--sizes N:M ...] [--repeats R] [--json-out FILE]

Work: one compiled chunk of GD steps on ½·mean((W₃W₂W₁)[rows, cols] − y)², an n×n depth-3
product with m observed entries, float64, one thread, computed two ways side by side:

- **dense** (the engine's path, ``FactorProduct.end_to_end`` then ``MatrixCompletion.measure``):
  the whole product W = W₃(W₂W₁) (2n³ multiply-adds), then the m observed entries; its gradient
  is the scatter of the residual into an n×n matrix and dense products (4n³);
- **factored**: R = W₂W₁ (n³), then only the m predictions ⟨W₃[rowᵢ, :], R[:, colᵢ]⟩ (m·n),
  and autodiff of that: half the n³ work, plus gathers and scatter-adds of m·n entries.

In FLOPs the factored path does less work (at n = 100, m = 2,000: 3·10⁶ + O(m·n) against 6·10⁶
multiply-adds), but XLA's CPU gathers and scatter-adds of m·n entries cost far more per entry
than a blocked matrix product. The ratio (factored time / dense time, > 1 means the factored path
is slower) says whether the lever pays on this backend. Check: both paths end the chunk at the
same iterate to 1e-10 relative (they differ only in summation order).
"""

from __future__ import annotations

import gd_steps  # noqa: I001  (first: pins the threads before jax / numpy are imported)

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from common import ratio_stats, write_json_out  # noqa: E402

NAME = "factored_completion"
DEPTH = 3
CHUNK = 50


def problem(n: int, m: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    flat = rng.choice(n * n, m, replace=False)
    factors = [jnp.asarray(rng.standard_normal((n, n)) * (1.0 / np.sqrt(n))) for _ in range(DEPTH)]
    return factors, jnp.asarray(flat // n), jnp.asarray(flat % n), jnp.asarray(rng.standard_normal(m))


def dense_loss(factors, rows, cols, y):
    W = factors[0]
    for factor in factors[1:]:
        W = factor @ W
    return 0.5 * jnp.mean((W[rows, cols] - y) ** 2)


def factored_loss(factors, rows, cols, y):
    right = factors[0]
    for factor in factors[1:-1]:
        right = factor @ right
    predictions = jnp.sum(factors[-1][rows] * right.T[cols], axis=1)
    return 0.5 * jnp.mean((predictions - y) ** 2)


def gd_chunk(loss, lr: float = 0.1):
    def chunk(factors, rows, cols, y):
        def step(factors, _):
            grads = jax.grad(loss)(factors, rows, cols, y)
            return [w - lr * g for w, g in zip(factors, grads)], None
        return jax.lax.scan(step, factors, None, length=CHUNK)[0]
    return jax.jit(chunk)


def _seconds(compiled, args) -> float:
    started = time.process_time()
    jax.block_until_ready(compiled(*args))
    return time.process_time() - started


def run(sizes: list[tuple[int, int]], repeats: int) -> dict:
    jax.config.update("jax_enable_x64", True)
    dense, factored = gd_chunk(dense_loss), gd_chunk(factored_loss)
    ratios, cases, worst = {}, {}, 0.0
    for n, m in sizes:
        args = problem(n, m)
        end_dense, end_factored = dense(*args), factored(*args)  # compile both
        gap = max(float(jnp.linalg.norm(a - b) / jnp.linalg.norm(a)) for a, b in zip(end_dense, end_factored))
        worst = max(worst, gap)
        values, per_step = [], {"dense": [], "factored": []}
        for repeat in range(repeats):
            order = [("dense", dense), ("factored", factored)][:: 1 if repeat % 2 == 0 else -1]
            seconds = {name: _seconds(fn, args) for name, fn in order}
            values.append(seconds["factored"] / seconds["dense"])
            for name in per_step:
                per_step[name].append(seconds[name] / CHUNK * 1e3)
        name = f"factored/dense CPU time per GD step, n = {n}, m = {m}"
        ratios[name] = ratio_stats(values)
        cases[f"{n}:{m}"] = {"ms_per_step": {k: ratio_stats(v) for k, v in per_step.items()}, "iterate_gap": gap}
        print(f"  n = {n}, m = {m}: dense {ratio_stats(per_step['dense'])['median']:.3f} ms/step, factored "
              f"{ratio_stats(per_step['factored'])['median']:.3f} ms/step, ratio {ratios[name]['median']:.2f}, "
              f"iterate gap {gap:.1e}", file=sys.stderr)
    passed = worst <= 1e-10
    note = "; ".join(f"n = {key.split(':')[0]}, m = {key.split(':')[1]}: factored "
                     f"{c['ms_per_step']['factored']['median']:.2f} ms vs dense {c['ms_per_step']['dense']['median']:.2f} "
                     f"ms per GD step" for key, c in cases.items())
    return {
        "name": NAME,
        "description": "a factored completion operator (only the observed entries of W3 W2 W1) against the "
                       "engine's dense product, per GD step",
        "cases": cases,
        "ratios": ratios,
        "readme_note": f"factored completion operator weighed and not adopted on XLA CPU: {note}.",
        "check": {"passed": bool(passed), "max_rel_diff": worst, "tol": 1e-10, "steps": CHUNK,
                  "max_rel_diff_after_chunk": worst},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["100:2000", "200:8000", "400:16000"],
                        help="n:m pairs (matrix side, observed entries)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json-out")
    args = parser.parse_args(argv)
    sizes = [tuple(int(x) for x in size.split(":")) for size in args.sizes]
    result = run(sizes, args.repeats)
    lines = ["| n | m | dense ms/step | factored ms/step | factored/dense |", "|---|---|---|---|---|"]
    for key, case in result["cases"].items():
        n, m = key.split(":")
        ratio = result["ratios"][f"factored/dense CPU time per GD step, n = {n}, m = {m}"]
        lines.append(f"| {n} | {m} | {case['ms_per_step']['dense']['median']:.3f} | "
                     f"{case['ms_per_step']['factored']['median']:.3f} | {ratio['median']:.2f} |")
    result["details_md"] = "\n".join(lines)
    print(result["details_md"])
    write_json_out(args.json_out, result)
    return 0 if result["check"]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
