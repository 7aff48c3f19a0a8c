"""weight-decay-hessian (Bishop 1995; "Advanced Topics in Machine Learning – Notes part 1" (course notes, DSSC, Trieste)):
an L2 penalty rescales the least-squares solution along the
Hessian's eigendirections by h_i/(h_i + α), and training with Gaussian input noise is L2.

The math (our loss L(β) = (1/n) Σ ½(x_iᵀβ − y_i)², Hessian H = XᵀX/n = Σ h_i v_i v_iᵀ):

- L2: argmin L(β) + (α/2)‖β‖² = (H + αI)⁻¹ Xᵀy/n, i.e. v_iᵀβ_α = h_i/(h_i + α) · v_iᵀβ̂ with β̂ the
  least-squares solution. Directions with h_i ≫ α are kept, those with h_i ≪ α are shrunk away.
  The engine reaches β_α with ``[penalty] kind = "l2"`` (weight α) and with ``weight_decay = α``.
- Input noise (Bishop 1995): with X ← X + σΞ at every step, E over Ξ of the step loss is
  L(β) + (σ²/2)‖β‖², so in OUR (mean) normalization input noise σ ≡ L2 with α = σ². The course notes
  write the unnormalized sum of squares, where the same penalty reads α′ = n·σ²; using α′ = nσ² as our α
  is the classic mistake (the BROKEN setting). The noisy gradient is affine in β with noise
  independent of β_k, so E[β_k] follows GD on the expected loss exactly and converges to β_{σ²}.

Claims and tolerances:
- ``l2-eigen-rescaling``: the measured ratios (v_iᵀβ)/(v_iᵀβ̂) of penalized GD equal h_i/(h_i + α)
  to 1e-8 (GD contracts by ≥ lr·α per step: 1 − 0.1·0.3 after 1500 steps is e^{−46}; the rest is
  rounding), for both the ``l2`` penalty and ``weight_decay``.
- ``input-noise-is-ridge``: R independent chains (seeds; each seed is its own data set, so we test
  the per-seed differences δ_s = β_s − β_{σ²,s}, which have mean 0 under the claim). (a) the
  projection z_s = u_sᵀδ_s on the seed's shrinkage direction u_s = unit(β̂_s − β_{σ²,s}) — the
  direction in which a wrong λ would move the prediction, consistently across seeds — has
  |mean/SE| ≤ t_{R−1}(1 − 5e-4) ≈ 3.56 (two-sided level 1e-3, a t-test on R i.i.d. numbers: the Monte-Carlo tolerance IS
  the standard error); (b) Hotelling's T² of the mean of δ_s against 0 is below its 1 − 1e-3
  critical value (F distribution). The transient after 1500 steps of lr 0.02 is < e^{−13}.
- ``mapping-is-sigma-squared``: the same t statistic against the other mapping (α = nσ²) and against
  OLS exceeds 3 × that critical value, so the test has power (the differences of the per-seed Hotelling test are
  too seed-dependent in direction to give it power with R = 40 chains; the projection does).

Broken setting: the prediction (the ``ridge-mapping`` baseline) uses α = nσ² (unnormalized
convention) — ``input-noise-is-ridge`` fails.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from implicit_bias.engine import estimators as bl  # noqa: E402
from implicit_bias.reproduce import Claim, Figure  # noqa: E402

NAME = "weight-decay-hessian"
CLAIM = "L2 rescales the solution by h_i/(h_i+α) along Hessian eigendirections; input noise σ ≡ L2 with α = σ² (mean loss)."
SOURCE = ("Bishop 1995, 'Training with noise is equivalent to Tikhonov regularization'; "
          "'Advanced Topics in Machine Learning – Notes part 1' (course notes, DSSC, Trieste), "
          "'L2 regularization' and 'Connection with noisy input'")
MINUTES = (0.4, 1.0)
ALPHA = 0.3
SIGMA = 0.6
PROBLEM = {"kind": "least_squares", "n_samples": 40, "n_features": 5, "noise": 0.5}
RESCALE_TOL = 1e-8
LEVEL = 1e-3


def _chains(quick: bool) -> int:
    return 40 if quick else 160


def configs(quick: bool) -> list[dict]:
    linear = {"kind": "linear"}
    out = [
        {"name": "l2-penalty", "problem": PROBLEM, "model": linear, "penalty": {"kind": "l2", "weight": ALPHA},
         "trainer": {"kind": "gd", "lr": 0.1, "steps": 1500, "log_every": 1500}},
        {"name": "weight-decay", "problem": PROBLEM, "model": linear,
         "trainer": {"kind": "gd", "lr": 0.1, "steps": 1500, "log_every": 1500, "weight_decay": ALPHA}},
        # the predicted mapping: input noise σ ≡ ridge with λ = σ² (read by analyze for every seed)
        {"name": "ridge-mapping", "problem": PROBLEM, "baseline": {"kind": "ridge", "lambda": SIGMA**2}},
    ]
    for seed in range(_chains(quick)):
        out.append({"name": f"input-noise-s{seed}", "seed": seed, "problem": PROBLEM, "model": linear,
                    "trainer": {"kind": "gd", "lr": 0.02, "steps": 1500, "log_every": 1500, "input_noise": SIGMA}})
    return out


def BROKEN(config: dict) -> dict:  # noqa: N802 - the module contract's name
    """Predict input noise by ridge with the unnormalized α′ = n·σ² taken as our λ."""
    if config["name"] == "ridge-mapping":
        config["baseline"]["lambda"] = PROBLEM["n_samples"] * SIGMA**2
    return config


def _hotelling(diffs: np.ndarray) -> tuple[float, float]:
    R, d = diffs.shape
    mean = diffs.mean(axis=0)
    t2 = R * mean @ np.linalg.solve(np.cov(diffs, rowvar=False), mean)
    return float(t2), float(d * (R - 1) / (R - d) * stats.f.ppf(1 - LEVEL, d, R - d))


def _t_along(diffs: np.ndarray, directions: np.ndarray) -> float:
    """t statistic of the mean of uₛᵀδₛ (one number per chain, independent across chains)."""
    z = np.einsum("sd,sd->s", diffs, directions)
    return float(z.mean() / (z.std(ddof=1) / np.sqrt(len(z))))


def _data(result):
    from implicit_bias.engine import make_problem
    from implicit_bias.engine import section_settings

    P = make_problem(section_settings("problem", result.config["problem"]), result.config["seed"])
    return np.asarray(P.X), np.asarray(P.targets)


def analyze(runs: dict, quick: bool) -> tuple[list[Claim], list[Figure]]:
    X, y = _data(runs["l2-penalty"])
    n = X.shape[0]
    _, s, Vt = np.linalg.svd(X, full_matrices=False)
    h = s**2 / n
    coef_ols = Vt @ bl.min_norm(X, y)
    predicted = h / (h + ALPHA)
    ratios = {name: (Vt @ runs[name].end_to_end) / coef_ols for name in ("l2-penalty", "weight-decay")}
    rescale_err = max(float(np.max(np.abs(r - predicted))) for r in ratios.values())

    lam = float(runs["ridge-mapping"].config["baseline"]["lambda"])
    other = n * SIGMA**2 if lam == SIGMA**2 else SIGMA**2
    diffs, wrong, ols_diffs, directions = [], [], [], []
    for seed in range(_chains(quick)):
        run = runs[f"input-noise-s{seed}"]
        Xs, ys = _data(run)
        ridge_s, ols_s = bl.ridge(Xs, ys, lam), bl.min_norm(Xs, ys)
        diffs.append(run.end_to_end - ridge_s)
        wrong.append(run.end_to_end - bl.ridge(Xs, ys, other))
        ols_diffs.append(run.end_to_end - ols_s)
        # the direction in which regularization moves this seed's solution (ridge at σ² → OLS)
        u = ols_s - bl.ridge(Xs, ys, SIGMA**2)
        directions.append(u / np.linalg.norm(u))
    diffs, wrong, ols_diffs, directions = map(np.asarray, (diffs, wrong, ols_diffs, directions))
    t2, critical = _hotelling(diffs)
    t_pred, t_other, t_ols = (_t_along(d, directions) for d in (diffs, wrong, ols_diffs))
    z_crit = float(stats.t.ppf(1 - LEVEL / 2, len(diffs) - 1))
    claims = [
        Claim("l2-eigen-rescaling", "penalized GD (l2 penalty and weight_decay, α) keeps h_i/(h_i+α) of β̂ along eigenvector i",
              SOURCE, {"max_abs_error": rescale_err, "h": h.tolist(), "predicted": predicted.tolist()},
              f"max_i |ratio_i − h_i/(h_i+α)| ≤ {RESCALE_TOL:g}", rescale_err <= RESCALE_TOL),
        Claim("input-noise-is-ridge", f"GD with input noise σ={SIGMA} has mean iterate = ridge with λ = {lam:g}",
              SOURCE, {"t_along_shrinkage": t_pred, "hotelling_T2": t2, "T2_critical": critical,
                       "chains": len(diffs)},
              f"|t| ≤ {z_crit:.2f} and T² ≤ critical (both at level {LEVEL:g})",
              abs(t_pred) <= z_crit and t2 <= critical),
        Claim("mapping-is-sigma-squared", f"the other mapping (λ = {other:g}) and OLS are rejected (the test has power)",
              SOURCE, {"t_other_mapping": t_other, "t_ols": t_ols, "critical": z_crit},
              f"both |t| > 3 × {z_crit:.2f}", abs(t_other) > 3 * z_crit and abs(t_ols) > 3 * z_crit),
    ]

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
    grid = np.geomspace(h.min() / 5, h.max() * 5, 200)
    left.plot(grid, grid / (grid + ALPHA), color="grey", label=f"h/(h+α), α={ALPHA}")
    left.scatter(h, ratios["l2-penalty"], s=60, facecolors="none", edgecolors="C0", label="GD + l2 penalty")
    left.scatter(h, ratios["weight-decay"], s=20, marker="x", color="C1", label="GD + weight_decay")
    left.axvline(ALPHA, color="grey", ls=":", lw=0.8)
    left.set(xscale="log", xlabel="Hessian eigenvalue h_i (of XᵀX/n)", ylabel="(v_iᵀβ_α) / (v_iᵀβ̂)",
             title="L2 shrinks along Hessian eigendirections")
    left.legend(fontsize=8)
    labels = [f"ridge λ={lam:g}\n(prediction)", f"ridge λ={other:g}\n(other mapping)", "least squares\n(no reg.)"]
    for i, (data, label) in enumerate(zip((diffs, wrong, ols_diffs), labels)):
        z = np.einsum("sd,sd->s", data, directions)
        right.scatter(np.full(len(z), i) + np.linspace(-0.15, 0.15, len(z)), z, s=6, alpha=0.4, color=f"C{i}")
        right.errorbar(i + 0.3, z.mean(), yerr=2 * z.std(ddof=1) / np.sqrt(len(z)), fmt="o", capsize=4,
                       color=f"C{i}", label=f"mean ± 2 SE, t = {z.mean() / (z.std(ddof=1) / np.sqrt(len(z))):.1f}")
    right.axhline(0, color="grey", lw=0.8)
    right.set_xticks(range(3), labels, fontsize=8)
    right.set(ylabel="uₛᵀ(β_noise − β_reference), uₛ = unit(β̂ − β_σ²)",
              title=f"input noise σ={SIGMA}: {len(diffs)} chains (one per seed)")
    right.legend(fontsize=8)
    fig.tight_layout()
    caption = (f"Left: L2 (penalty or weight decay, α={ALPHA}) keeps the fraction h/(h+α) of the least-squares "
               f"solution along each Hessian eigendirection (max error {rescale_err:.1e}). Right: GD with Gaussian "
               f"input noise σ={SIGMA} averages to ridge with λ=σ²={SIGMA**2:g} in our mean-loss normalization "
               f"(= nσ² in the sum-of-squares form of the course notes); the per-chain deviation along the shrinkage direction has t = {t_pred:.2f} (|t| ≤ {z_crit:.2f} required), Hotelling T²={t2:.1f} vs critical {critical:.1f}.")
    return claims, [Figure("weight_decay_hessian", fig, caption)]
