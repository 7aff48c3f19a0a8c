"""GD steps/s of our engine over sizes n and depths L, the fitted cost exponent in n, and the cost
of the gather of observed entries against n_obs.

    python benchmarks/scaling.py [--sizes 50 100 200 400] [--depths 1 2 3 4 5 6 7 8] [--repeats 3]
                                 [--json-out FILE]

Work: full-batch GD on n×n rank-5 matrix completion from 2,000 observed entries (fewer when n² is
smaller: min(2000, n²/2)), a depth-L ``deep_matrix`` (Gaussian init, std 1e-3, lr 1e-3 so that no
setting diverges inside the timed steps; the work per step does not depend on lr), float64, one
thread, timed through ``train_chunk`` as in gd_steps.py (CPU time of the process, median over
repeats).

Peer: the machine itself. One GD step costs 3(L−1)·2n³ matmul FLOPs (see
``gd_steps.matmul_flops_per_step``), so for L ≥ 2 the time per step should grow like n³ once the
products dominate: we fit log(seconds per step) = a + p·log n by least squares over n ≥ 100 for
each depth and report p (target: 2.5 ≤ p ≤ 3.5 for every L ≥ 3 when the fit has ≥ 3 sizes), and
the achieved FLOP/s of each (n, L) as a fraction of a dense n×n×n float64 product measured in the
same process (the faster of XLA and NumPy).

Gather: the observed entries enter through W[rows, cols] and its adjoint (a scatter-add). We time a
compiled loop of W ← W.at[rows, cols].add(−ε (W[rows, cols] − y)), i.e. one gather and one
scatter of m entries, (a) at n = 400 for m = 1,000 … 64,000 and (b) at m = 2,000 for n = 50 … 400,
and fit the exponents: O(n_obs) means ≈ 1 in m and ≈ 0 in n — but at fixed m the random accesses
miss the cache once W outgrows it (n = 400: 1.3 MB), which gave exponents in n from 0.4 to 1.06 in
repeated runs on this machine, as large as the dense control's own (1.1–1.6, memory-bound below
its n² asymptote). So the rule judges the exponent in m (≤ 1.3) and the cost against the control
at the largest n: the same update through a dense 0/1 mask (O(n²)) must cost ≥ 2× the gather.
"""

from __future__ import annotations

import gd_steps  # noqa: I001  (first: pins the threads before jax / numpy are imported)

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from implicit_bias.engine import Experiment, as_config  # noqa: E402
from implicit_bias.engine import RUNNING  # noqa: E402
from common import write_json_out  # noqa: E402

NAME = "scaling"
TARGET_FLOP_SECONDS = 0.15  # aim for this much CPU time per timed chunk


def _config(n: int, depth: int, chunk: int) -> dict:
    cfg = {**gd_steps.CONFIG, "name": f"bench-scaling-{n}-{depth}"}
    cfg["problem"] = {**cfg["problem"], "n_rows": n, "n_cols": n, "n_obs": min(2000, n * n // 2)}
    cfg["model"] = {**cfg["model"], "depth": depth}
    cfg["trainer"] = {**cfg["trainer"], "lr": 1e-3, "log_every": chunk}
    return as_config(cfg)


def _cpu_time(fn) -> float:
    start = time.process_time()
    jax.block_until_ready(fn())
    return time.process_time() - start


def fit_exponent(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope p of log y = a + p log x."""
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def peak_flops(n: int, repeats: int) -> float:
    """FLOP/s (per CPU second) of the faster of XLA and NumPy for an n×n×n float64 product (best of ≥ 5
    timings of ~10⁹ FLOPs each; it is timed apart from the GD steps, so under load a fraction can exceed 1)."""
    n_dots = max(5, int(1e9 / (2 * n**3)))
    loops = gd_steps.peak_loops(n, n_dots)
    best = 0.0
    for fn in loops.values():
        jax.block_until_ready(fn())
        best = max(best, n_dots * 2 * n**3 / min(_cpu_time(fn) for _ in range(max(repeats, 5))))
    return best


def steps(sizes: list[int], depths: list[int], repeats: int, verbose: bool = True) -> dict:
    table = {}
    for n in sizes:
        peak = peak_flops(n, repeats)
        for depth in depths:
            flops = gd_steps.matmul_flops_per_step(n, depth)
            chunk = int(min(1000, max(5, TARGET_FLOP_SECONDS * 4e10 / max(flops, 4e6))))
            experiment = Experiment.build(_config(n, depth, chunk))
            engine = gd_steps.Engine(experiment, chunk)
            started = time.perf_counter()
            carry = engine.run(chunk)
            compile_s = time.perf_counter() - started
            if int(carry.step) != chunk or int(carry.status) != RUNNING:
                raise AssertionError(f"n={n} L={depth}: the engine stopped at step {int(carry.step)}")
            seconds = statistics.median(_cpu_time(lambda e=engine, k=chunk: e.run(k)) for _ in range(repeats)) / chunk
            table[f"{n},{depth}"] = {"n": n, "depth": depth, "chunk": chunk, "seconds_per_step": seconds,
                                     "steps_per_cpu_s": 1 / seconds, "flops_per_step": flops,
                                     "flop_fraction_of_peak": flops / seconds / peak, "peak_flops": peak,
                                     "compile_and_first_chunk_s": compile_s}
            if verbose:
                print(f"  n={n:4d} L={depth}: {1 / seconds:9.1f} steps/cpu-s, {flops / seconds / 1e9:5.1f} GFLOP/s "
                      f"({flops / seconds / peak:.0%} of {peak / 1e9:.1f})", file=sys.stderr)
    return table


def _gather_loop(n: int, m: int, reps: int, seed: int = 0, dense: bool = False):
    """``reps`` compiled updates W ← W − ε·𝒜*(𝒜(W) − y): by gather + scatter-add (what the engine's
    ``measure``/``adjoint`` do), or, as the control, with a dense 0/1 mask M: W ← W − ε·M⊙(W − Y)."""
    rng = np.random.default_rng(seed)
    flat = rng.choice(n * n, size=m, replace=False)
    rows, cols = jnp.asarray(flat // n), jnp.asarray(flat % n)
    y = jnp.asarray(rng.standard_normal(m))
    W0 = jnp.asarray(rng.standard_normal((n, n)))
    mask = jnp.zeros((n, n)).at[rows, cols].set(1.0)
    Y = jnp.zeros((n, n)).at[rows, cols].set(y)

    def body(W, _):
        if dense:
            return W - 1e-3 * mask * (W - Y), None
        return W.at[rows, cols].add(-1e-3 * (W[rows, cols] - y)), None

    loop = jax.jit(lambda W: jax.lax.scan(body, W, None, length=reps)[0])
    return lambda: loop(W0)


def gather(repeats: int, ms: list[int], ns: list[int], n_fixed: int = 400, m_fixed: int = 2000) -> dict:
    reps = 200

    def time_one(n: int, m: int, dense: bool = False) -> float:
        fn = _gather_loop(n, m, reps, dense=dense)
        jax.block_until_ready(fn())
        return statistics.median(_cpu_time(fn) for _ in range(repeats)) / reps

    by_m = {m: time_one(n_fixed, m) for m in ms}
    by_n = {n: time_one(n, min(m_fixed, n * n // 2)) for n in ns}
    dense_by_n = {n: time_one(n, min(m_fixed, n * n // 2), dense=True) for n in ns}
    return {"seconds_by_n_obs": by_m, "n_fixed": n_fixed, "seconds_by_n": by_n, "n_obs_fixed": m_fixed,
            "exponent_in_n_obs": fit_exponent(list(by_m), list(by_m.values())),
            "exponent_in_n": fit_exponent(list(by_n), list(by_n.values())),
            "dense_mask_seconds_by_n": dense_by_n,
            "dense_mask_exponent_in_n": fit_exponent(list(dense_by_n), list(dense_by_n.values()))}


def run(sizes: list[int], depths: list[int], repeats: int, gather_ms: list[int]) -> dict:
    table = steps(sizes, depths, repeats)
    fit_sizes = [n for n in sizes if n >= 100]
    exponents = {}
    for depth in depths:
        if depth >= 2 and len(fit_sizes) >= 2:
            exponents[depth] = fit_exponent(fit_sizes, [table[f"{n},{depth}"]["seconds_per_step"] for n in fit_sizes])
    g = gather(repeats, gather_ms, [n for n in sizes if n * n // 2 >= 2000] or sizes)
    judged = {d: p for d, p in exponents.items() if d >= 3} if len(fit_sizes) >= 3 else {}
    exponent_ok = all(2.5 <= p <= 3.5 for p in judged.values())
    n_max = max(g["seconds_by_n"])
    g["dense_mask_over_gather_at_largest_n"] = g["dense_mask_seconds_by_n"][n_max] / g["seconds_by_n"][n_max]
    gather_ok = g["exponent_in_n_obs"] <= 1.3 and g["dense_mask_over_gather_at_largest_n"] >= 2.0
    fractions = [row["flop_fraction_of_peak"] for row in table.values() if row["depth"] >= 2]
    note = ("seconds per GD step ∝ n^p with p = " + ", ".join(f"{p:.2f} (L={d})" for d, p in exponents.items())
            + f" over n ∈ {{{', '.join(map(str, fit_sizes))}}}; gather + scatter of the observed entries ∝ "
            f"n_obs^{g['exponent_in_n_obs']:.2f} at n = {g['n_fixed']} and ∝ n^{g['exponent_in_n']:.2f} at "
            f"{g['n_obs_fixed']} observations (O(n_obs); a dense-mask update, the control: ∝ n^{g['dense_mask_exponent_in_n']:.2f}, "
            f"{g['dense_mask_over_gather_at_largest_n']:.1f}× the gather's cost at n = {n_max}).")
    return {
        "readme_note": note,
        "name": NAME,
        "description": "GD steps per CPU second of our engine for n×n completion (2,000 observations) over sizes n "
                       "and depths L, with the cost exponent in n and the cost of the observed-entry gather",
        "sizes": sizes, "depths": depths, "repeats": repeats,
        "table": table,
        "exponent_in_n": {str(d): p for d, p in exponents.items()},
        "exponent_fit_sizes": fit_sizes,
        "gather": g,
        "ratios": {"FLOP/s / peak matmul FLOP/s over (n, L ≥ 2)": {"values": fractions, "min": min(fractions),
                                                                   "median": statistics.median(fractions),
                                                                   "max": max(fractions)}} if fractions else {},
        "rule": "cost exponent in n (fit over n ≥ 100) in [2.5, 3.5] for every L ≥ 3 (judged with ≥ 3 sizes); "
                "gather + scatter of the observed entries: exponent ≤ 1.3 in n_obs, and the same update through a "
                "dense mask (O(n²), the control) costs ≥ 2× the gather at the largest n",
        "rule_passed": bool(exponent_ok and gather_ok),
    }


def table_md(result: dict) -> str:
    sizes, depths = result["sizes"], result["depths"]
    lines = ["Steps per CPU second (one thread); in brackets: matmul FLOP/s as a fraction of a dense n×n×n "
             "product measured in the same process:", "",
             "| L \\ n | " + " | ".join(str(n) for n in sizes) + " |", "|---" * (len(sizes) + 1) + "|"]
    for depth in depths:
        cells = []
        for n in sizes:
            row = result["table"][f"{n},{depth}"]
            frac = f" ({row['flop_fraction_of_peak']:.0%})" if depth >= 2 else ""
            cells.append(f"{row['steps_per_cpu_s']:.4g}{frac}")
        lines.append(f"| {depth} | " + " | ".join(cells) + " |")
    lines += ["", "Fitted exponent p in seconds/step ∝ n^p over n ∈ {"
              + ", ".join(map(str, result["exponent_fit_sizes"])) + "}: "
              + ", ".join(f"L={d}: {p:.2f}" for d, p in result["exponent_in_n"].items()) + "."]
    g = result["gather"]
    lines += ["", f"Gather + scatter-add of the observed entries (µs per call): at n = {g['n_fixed']}: "
              + ", ".join(f"m={m}: {s * 1e6:.1f}" for m, s in g["seconds_by_n_obs"].items())
              + f" → exponent in n_obs {g['exponent_in_n_obs']:.2f}; at m = {g['n_obs_fixed']}: "
              + ", ".join(f"n={n}: {s * 1e6:.1f}" for n, s in g["seconds_by_n"].items())
              + f" → exponent in n {g['exponent_in_n']:.2f}; the dense-mask control: "
              + ", ".join(f"n={n}: {s * 1e6:.1f}" for n, s in g["dense_mask_seconds_by_n"].items())
              + f" → exponent in n {g['dense_mask_exponent_in_n']:.2f}.",
              f"Rule ({result['rule']}): {'kept' if result['rule_passed'] else '**MISSED**'}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200, 400])
    parser.add_argument("--depths", type=int, nargs="+", default=list(range(1, 9)))
    parser.add_argument("--gather-n-obs", type=int, nargs="+", default=[1000, 4000, 16000, 64000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json-out")
    args = parser.parse_args(argv)
    result = run(args.sizes, args.depths, args.repeats, args.gather_n_obs)
    result["details_md"] = table_md(result)
    print(result["details_md"])
    write_json_out(args.json_out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
