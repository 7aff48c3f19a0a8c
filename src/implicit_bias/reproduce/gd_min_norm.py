"""gd-min-norm (Gunasekar et al. 2017; "Advanced Topics in Machine Learning – Notes part 1" (course notes, DSSC, Trieste)):
gradient descent on under-determined least squares started at x0
converges to x_LN + V₂V₂ᵀx0 — the minimum-norm interpolant x_LN = X⁺y plus the projection of x0
onto the null space of X — and from x0 = 0 to the minimum-norm interpolant itself.

Why it holds: every GD update −η Xᵀr/n lies in the row space of X, so the null-space component
V₂V₂ᵀx of the iterate never changes, and on the row space GD converges to the unique
interpolant. Tolerance: GD converges linearly with rate ρ = max_i |1 − η σ_i²/n| < 1, so after
k steps the error is ≤ ρᵏ‖x0 − x∞‖ (below 1e-12 for the settings here) plus rounding (~1e-13):
1e-8 relative leaves a wide margin yet fails at once if the null-space term is wrong (it is
O(1) here).

Runs: GD from a N(0, 1) x0 and from 0 on a Gaussian design, and the ``min_norm`` baseline on
the same data from the same x0 (its ``[model]`` draws the same init) and from 0.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import Claim, Figure, relative_distance  # noqa: E402

NAME = "gd-min-norm"
CLAIM = "GD on under-determined least squares from x0 converges to x_LN + V2V2ᵀx0 (x0 = 0: min-norm)."
SOURCE = ("Gunasekar et al. 2017, 'Implicit regularization in matrix factorization'; "
          "'Advanced Topics in Machine Learning – Notes part 1' (course notes, DSSC, Trieste), "
          "'Minimum norm solution in least-square problem'")
MINUTES = (0.3, 0.5)
TOLERANCE = 1e-8


def _problem(quick: bool) -> dict:
    n, d = (20, 50) if quick else (100, 500)
    return {"kind": "least_squares", "n_samples": n, "n_features": d, "design": "gaussian"}


def configs(quick: bool) -> list[dict]:
    problem = _problem(quick)
    steps = 3000 if quick else 6000
    # λ_max(XᵀX/n) ≈ (1 + √(d/n))² ≈ 6.7 (quick) / 10.5 (full): lr 0.1 is stable
    trainer = {"kind": "gd", "lr": 0.1, "steps": steps, "log_every": steps // 30}
    from_x0 = {"kind": "linear", "init_scale": 1.0}
    return [
        {"name": "gd-x0", "problem": problem, "model": from_x0, "trainer": trainer},
        {"name": "gd-zero", "problem": problem, "model": {"kind": "linear"}, "trainer": trainer},
        {"name": "prediction-x0", "problem": problem, "model": from_x0, "baseline": {"kind": "min_norm"}},
        {"name": "prediction-zero", "problem": problem, "baseline": {"kind": "min_norm"}},
    ]


def BROKEN(config: dict) -> dict:  # noqa: N802 - the module contract's name
    """Predict GD from x0 with the plain minimum-norm solution (forget the null-space term)."""
    if config["name"] == "prediction-x0":
        config.pop("model")
    return config



def analyze(runs: dict, quick: bool) -> tuple[list[Claim], list[Figure]]:
    gd_x0, gd_zero = runs["gd-x0"], runs["gd-zero"]
    pred_x0, pred_zero = runs["prediction-x0"], runs["prediction-zero"]
    error_x0 = relative_distance(gd_x0.end_to_end, pred_x0.end_to_end)
    error_zero = relative_distance(gd_zero.end_to_end, pred_zero.end_to_end)
    null_term = relative_distance(pred_x0.end_to_end, pred_zero.end_to_end)
    claims = [
        Claim("from-x0", "GD from x0 ends at x_LN + V2V2ᵀx0", SOURCE, error_x0,
              f"relative error ≤ {TOLERANCE:g}", error_x0 <= TOLERANCE),
        Claim("from-zero", "GD from 0 ends at the minimum-norm interpolant X⁺y", SOURCE, error_zero,
              f"relative error ≤ {TOLERANCE:g}", error_zero <= TOLERANCE),
        Claim("null-space-matters", "the initialization's null-space component survives (x0 ≠ 0 ends elsewhere)",
              SOURCE, null_term, "relative difference ≥ 0.1", null_term >= 0.1),
    ]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for label, result in (("GD from x0", gd_x0), ("GD from 0", gd_zero)):
        frame = result.trajectory
        left.semilogy(frame["step"], frame["loss"], label=label)
    left.set(xlabel="step", ylabel="training loss (mean of ½ residual²)", title="GD interpolates")
    left.legend()
    right.scatter(pred_x0.end_to_end, gd_x0.end_to_end, s=12, label="from x0: vs x_LN + V₂V₂ᵀx0")
    right.scatter(pred_zero.end_to_end, gd_zero.end_to_end, s=12, marker="x", label="from 0: vs X⁺y")
    lim = np.abs(np.concatenate([pred_x0.end_to_end, pred_zero.end_to_end])).max() * 1.1
    right.plot([-lim, lim], [-lim, lim], color="grey", lw=0.8)
    right.set(xlabel="predicted coordinate", ylabel="GD coordinate", title="every coordinate on the diagonal")
    right.legend()
    caption = (f"GD's limit is the minimum-norm interpolant plus the null-space part of its start: relative "
               f"errors {error_x0:.1e} (from x0) and {error_zero:.1e} (from 0).")
    return claims, [Figure("gd_min_norm", fig, caption)]
