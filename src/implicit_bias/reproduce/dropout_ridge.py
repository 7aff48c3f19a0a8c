"""dropout-ridge (Clara, Langer & Schmidt-Hieber 2024): gradient descent with dropout on linear
regression converges, in mean,
to the closed-form estimator β_p = (p XᵀX + (1 − p) Diag(XᵀX))⁻¹ XᵀY (Clara, Langer &
Schmidt-Hieber 2024), a ridge-like estimator that penalizes each coordinate by its column norm.

The math (keep probability p, an UNSCALED Bernoulli(p) mask M on the inputs at every step, our
loss (1/n) Σ ½(·)²): E[(M⊙X)ᵀ(M⊙X)] = p²XᵀX + p(1 − p)Diag(XᵀX) and E[(M⊙X)ᵀy] = pXᵀy, so the
expected step loss is stationary at β_p (the n and one factor p cancel; theory.dropout_solution).
The dropout gradient is affine in β with a mask independent of β_k, so E[β_k] follows GD on the
expected loss EXACTLY and converges to β_p (no O(lr) bias; the transient after 1500 steps of lr
0.02 is < e^{−13}).

Claims and tolerances (R independent chains, one per seed; each seed is its own data set, so we
test the per-seed differences δ_s = β_s − β_{p,s}, which have mean 0 under the claim):
- ``dropout-is-the-closed-form``: (a) along the seed's dropout-shrinkage direction
  u_s = unit(β̂_s − β_{p,s}) (β̂ the least-squares solution), the R numbers u_sᵀδ_s have
  |mean/SE| ≤ t_{R−1}(1 − 5e-4) (a two-sided t-test at level 1e-3: the Monte-Carlo tolerance is
  the standard error); (b) Hotelling's T² of the mean of δ_s is below its 1 − 1e-3 critical value.
- ``alternatives-rejected``: the same t statistic against least squares (no dropout, along u_s) and
  against the inverted-dropout stationary point p·β_p (along its own direction unit(p·β_p − β_p))
  exceeds 3 × the critical value (the test has power).

Broken setting: the runs train WITHOUT dropout (``dropout = 1``) while the prediction stays β_p
with p = 0.7: the mean is then β̂ and ``dropout-is-the-closed-form`` fails.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from implicit_bias.engine import estimators as bl  # noqa: E402
from implicit_bias.engine import theory as th  # noqa: E402
from implicit_bias.reproduce import Claim, Figure  # noqa: E402

NAME = "dropout-ridge"
CLAIM = "GD with dropout (keep prob. p) on linear regression averages to (pXᵀX + (1−p)Diag(XᵀX))⁻¹XᵀY."
SOURCE = ("Clara, Langer & Schmidt-Hieber 2024, 'Dropout regularization versus ℓ2-penalization in the linear "
          "model'")
MINUTES = (0.3, 0.8)
P_KEEP = 0.7
PROBLEM = {"kind": "least_squares", "n_samples": 40, "n_features": 5, "noise": 0.5}
LEVEL = 1e-3


def _chains(quick: bool) -> int:
    return 40 if quick else 160


def configs(quick: bool) -> list[dict]:
    return [{"name": f"dropout-s{seed}", "seed": seed, "problem": PROBLEM, "model": {"kind": "linear"},
             "trainer": {"kind": "gd", "lr": 0.02, "steps": 1500, "log_every": 1500, "dropout": P_KEEP}}
            for seed in range(_chains(quick))]


def BROKEN(config: dict) -> dict:  # noqa: N802 - the module contract's name
    """Train without dropout (keep probability 1) but predict the dropout estimator."""
    config["trainer"]["dropout"] = 1.0
    return config


def _t_along(diffs: np.ndarray, directions: np.ndarray) -> float:
    z = np.einsum("sd,sd->s", diffs, directions)
    return float(z.mean() / (z.std(ddof=1) / np.sqrt(len(z))))


def _hotelling(diffs: np.ndarray) -> tuple[float, float]:
    R, d = diffs.shape
    mean = diffs.mean(axis=0)
    t2 = R * mean @ np.linalg.solve(np.cov(diffs, rowvar=False), mean)
    return float(t2), float(d * (R - 1) / (R - d) * stats.f.ppf(1 - LEVEL, d, R - d))


def analyze(runs: dict, quick: bool) -> tuple[list[Claim], list[Figure]]:
    from implicit_bias.engine import make_problem
    from implicit_bias.engine import section_settings

    diffs, ols_diffs, inv_diffs, directions, inv_directions, pairs = [], [], [], [], [], []
    for seed in range(_chains(quick)):
        run = runs[f"dropout-s{seed}"]
        P = make_problem(section_settings("problem", run.config["problem"]), run.config["seed"])
        X, y = np.asarray(P.X), np.asarray(P.targets)
        beta_p, ols = th.dropout_solution(X, y, P_KEEP), bl.min_norm(X, y)
        diffs.append(run.end_to_end - beta_p)
        ols_diffs.append(run.end_to_end - ols)
        inv_diffs.append(run.end_to_end - P_KEEP * beta_p)
        u = ols - beta_p
        directions.append(u / np.linalg.norm(u))
        inv_directions.append(-beta_p / np.linalg.norm(beta_p))  # unit(p·β_p − β_p)
        pairs.append((beta_p, ols, run.end_to_end))
    diffs, ols_diffs, inv_diffs, directions, inv_directions = map(
        np.asarray, (diffs, ols_diffs, inv_diffs, directions, inv_directions))
    t_pred, t_ols = (_t_along(d, directions) for d in (diffs, ols_diffs))
    t_inv = _t_along(inv_diffs, inv_directions)
    t2, t2_crit = _hotelling(diffs)
    crit = float(stats.t.ppf(1 - LEVEL / 2, len(diffs) - 1))
    claims = [
        Claim("dropout-is-the-closed-form", f"mean of GD-with-dropout iterates (p={P_KEEP}) = (pXᵀX + (1−p)Diag(XᵀX))⁻¹XᵀY",
              SOURCE, {"t_along_shrinkage": t_pred, "hotelling_T2": t2, "T2_critical": t2_crit, "chains": len(diffs)},
              f"|t| ≤ {crit:.2f} and T² ≤ critical (level {LEVEL:g})", abs(t_pred) <= crit and t2 <= t2_crit),
        Claim("alternatives-rejected", "least squares and inverted-dropout p·β_p are rejected (the test has power)",
              SOURCE, {"t_ols": t_ols, "t_inverted": t_inv, "critical": crit},
              f"both |t| > 3 × {crit:.2f}", abs(t_ols) > 3 * crit and abs(t_inv) > 3 * crit),
    ]

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
    beta_p = np.concatenate([p[0] for p in pairs])
    ols = np.concatenate([p[1] for p in pairs])
    it = np.concatenate([p[2] for p in pairs])
    left.scatter(beta_p, it - beta_p, s=6, alpha=0.5, label="final iterate − β_p (dropout formula)")
    left.scatter(beta_p, ols - beta_p, s=6, alpha=0.5, marker="x", label="β̂ (least squares) − β_p")
    left.axhline(0, color="grey", lw=0.8)
    left.set(xlabel="coordinate of β_p", ylabel="difference from β_p (per seed, per coordinate)",
             title=f"{len(diffs)} chains × {diffs.shape[1]} coordinates")
    left.legend(fontsize=8)
    labels = ["β_p (prediction)", "least squares β̂", "inverted dropout p·β_p"]
    for i, (data, label) in enumerate(zip((diffs, ols_diffs, inv_diffs), labels)):
        z = np.einsum("sd,sd->s", data, inv_directions if i == 2 else directions)
        right.scatter(np.full(len(z), i) + np.linspace(-0.15, 0.15, len(z)), z, s=6, alpha=0.4, color=f"C{i}")
        se = z.std(ddof=1) / np.sqrt(len(z))
        right.errorbar(i + 0.3, z.mean(), yerr=2 * se, fmt="o", capsize=4, color=f"C{i}",
                       label=f"vs {label}: mean ± 2 SE, t = {z.mean() / se:.1f}")
    right.axhline(0, color="grey", lw=0.8)
    right.set_xticks(range(3), labels, fontsize=8)
    right.set(ylabel="uₛᵀ(β_dropout − β_ref), uₛ = unit(ref − β_p) [unit(β̂ − β_p) for β_p]",
              title=f"dropout keep p={P_KEEP}: deviation along the shrinkage direction")
    right.legend(fontsize=7)
    fig.tight_layout()
    caption = (f"GD with an unscaled dropout mask (keep p={P_KEEP}, lr 0.02, 1500 steps, {len(diffs)} seeds) ends, "
               f"in mean, at (pXᵀX + (1−p)Diag(XᵀX))⁻¹XᵀY: t = {t_pred:.2f} (|t| ≤ {crit:.2f}), Hotelling "
               f"T² = {t2:.1f} (≤ {t2_crit:.1f}); least squares (t = {t_ols:.1f}) and p·β_p (t = {t_inv:.1f}) "
               f"are rejected.")
    return claims, [Figure("dropout_ridge", fig, caption)]
