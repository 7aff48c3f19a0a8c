"""argmin Q_α(β) s.t. Xβ = y: our dual Newton (``baselines.q_alpha``) vs scipy SLSQP, side by side.

    python benchmarks/q_alpha.py [--repeats 5] [--json-out FILE]

Work: the limit of gradient flow on the diagonal network β = u² − v² from u(0) = v(0) = α
(Woodworth et al. 2020, Thm 1): minimize Q_α(β) = α² Σ q(β_i/α²), q(z) = 2 − √(4 + z²) + z·arcsinh(z/2),
subject to Xβ = y, for a Gaussian X ∈ ℝ^{40×100} (seed 0, entries N(0, 1)), a 5-sparse β* with N(0, 1)
non-zeros and y = Xβ*, at α ∈ {0.1, 0.3, 1} (from near the ℓ1 end to near the ℓ2 end).

- **ours**: ``implicit_bias.baselines.estimators.q_alpha`` (Newton with backtracking on the smooth dual, tol 1e-12).
- **peer**: ``scipy.optimize.minimize(method="SLSQP")`` on the primal with the exact gradient
  ∇Q_α(β) = arcsinh(β/(2α²)), the linear equality constraint Xβ = y with its Jacobian X, from the
  minimum-ℓ2-norm interpolant, ftol 1e-14, maxiter 1000.

Accuracy (the check): the KKT residuals of each answer, ‖Xβ − y‖/‖y‖ and ‖Nᵀ∇Q_α(β)‖/‖∇Q_α(β)‖ with N an
orthonormal basis of null(X) (zero exactly at the minimizer), and the relative distance between the two
answers; the check passes when the answers agree to 1e-5 and ours has the smaller KKT residuals (so
the time ratio compares ours with a peer that is no more accurate). No speed target is set by the issue;
the ratio SLSQP time / ours is reported.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from scipy.optimize import minimize  # noqa: E402

import implicit_bias  # noqa: E402, F401
from implicit_bias.baselines.estimators import min_norm, q_alpha, q_alpha_potential  # noqa: E402
from common import write_json_out  # noqa: E402

NAME = "q_alpha"
ALPHAS = (0.1, 0.3, 1.0)


def problem(n: int = 40, d: int = 100, k: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    beta = np.zeros(d)
    beta[rng.choice(d, size=k, replace=False)] = rng.standard_normal(k)
    return X, X @ beta


def slsqp(X: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    a2 = 2 * alpha**2
    res = minimize(lambda b: q_alpha_potential(b, alpha), min_norm(X, y), jac=lambda b: np.arcsinh(b / a2),
                   method="SLSQP", constraints=[{"type": "eq", "fun": lambda b: X @ b - y, "jac": lambda b: X}],
                   options={"ftol": 1e-14, "maxiter": 1000})
    if not res.success:
        raise RuntimeError(f"SLSQP: {res.message}")
    return res.x


def kkt(X, y, beta, alpha, null) -> dict:
    g = np.arcsinh(beta / (2 * alpha**2))
    return {"feasibility": float(np.linalg.norm(X @ beta - y) / np.linalg.norm(y)),
            "stationarity": float(np.linalg.norm(null.T @ g) / np.linalg.norm(g))}


def _spread(values: list[float]) -> dict:
    return {"values": values, "min": min(values), "median": statistics.median(values), "max": max(values)}


def run(repeats: int = 5) -> dict:
    X, y = problem()
    null = np.linalg.svd(X)[2][X.shape[0]:].T
    cases, ratios, passed, worst = {}, {}, True, 0.0
    solvers = {"ours": lambda a: q_alpha(X, y, a), "scipy SLSQP": lambda a: slsqp(X, y, a)}
    for alpha in ALPHAS:
        times = {name: [] for name in solvers}
        answers = {}
        for i in range(repeats):
            order = list(solvers.items())
            for name, fn in (order if i % 2 == 0 else order[::-1]):
                start = time.process_time()
                answers[name] = fn(alpha)
                times[name].append(time.process_time() - start)
        res = {name: kkt(X, y, b, alpha, null) for name, b in answers.items()}
        diff = float(np.linalg.norm(answers["ours"] - answers["scipy SLSQP"]) / np.linalg.norm(answers["ours"]))
        better = all(res["ours"][k] <= max(res["scipy SLSQP"][k], 1e-12) for k in res["ours"])
        passed &= bool(diff <= 1e-5 and better)
        worst = max(worst, diff)
        ratios[f"SLSQP CPU time / ours, α = {alpha:g}"] = _spread(
            [p / o for o, p in zip(times["ours"], times["scipy SLSQP"])])
        cases[str(alpha)] = {"cpu_seconds": {k: _spread(v) for k, v in times.items()}, "kkt": res,
                             "relative_difference": diff, "ours_at_least_as_accurate": better}
    return {
        "name": NAME,
        "description": "argmin Q_α s.t. Xβ = y (X 40×100 Gaussian, 5-sparse target), α ∈ {0.1, 0.3, 1}: ours "
                       "(dual Newton) vs scipy SLSQP on the primal with exact gradients",
        "cases": cases,
        "check": {"passed": bool(passed), "max_rel_diff": worst, "tol": 1e-5, "steps": 0,
                  "max_rel_diff_after_chunk": float("nan")},
        "ratios": ratios,
        "rule": "answers agree to 1e-5 and ours has KKT residuals no larger than SLSQP's (no speed target)",
        "rule_passed": bool(passed),
    }


def table_md(r: dict) -> str:
    lines = []
    for alpha, c in r["cases"].items():
        s = c["cpu_seconds"]
        lines.append(f"- α = {alpha}: ours {s['ours']['median'] * 1e3:.1f} ms, SLSQP {s['scipy SLSQP']['median'] * 1e3:.1f} "
                     f"ms (CPU, median); KKT residuals (feasibility, stationarity) ours "
                     f"{c['kkt']['ours']['feasibility']:.1e}, {c['kkt']['ours']['stationarity']:.1e}; SLSQP "
                     f"{c['kkt']['scipy SLSQP']['feasibility']:.1e}, {c['kkt']['scipy SLSQP']['stationarity']:.1e}; "
                     f"answers differ by {c['relative_difference']:.1e}")
    lines.append(f"- Rule ({r['rule']}): {'kept' if r['rule_passed'] else '**MISSED**'}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json-out")
    args = parser.parse_args(argv)
    result = run(args.repeats)
    result["details_md"] = table_md(result)
    print(result["details_md"])
    for name, r in result["ratios"].items():
        print(f"{name}: median {r['median']:.2f} [{r['min']:.2f}-{r['max']:.2f}]")
    write_json_out(args.json_out, result)
    return 0 if result["check"]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
