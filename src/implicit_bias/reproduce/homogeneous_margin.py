"""homogeneous-margin (Lyu & Li 2020, "Gradient descent maximizes the margin of homogeneous neural
networks").

A network f(x; θ) positively homogeneous of order K in its parameters, f(x; cθ) = c^K f(x; θ), here a
bias-free two-layer ``mlp`` with φ(z) = max(z, 0)² (``activation = "relu2"``: homogeneous of order 2
and C¹, so none of plain ReLU's kinks): K = 2·1 + 1 = 3. With q_i = y_i f(x_i; θ), ρ = ‖θ‖₂ over every
entry, and the exponential loss, Lyu & Li's two margins are

    γ(θ) = min_i q_i / ρ^K                         (normalized margin, ``margin_homogeneous``)
    γ̃(θ) = ln(1/L_Σ) / ρ^K,  L_Σ = Σ_i e^{−q_i}     (smoothed margin, ``smoothed_margin``)

and e^{−q_min} ≤ L_Σ ≤ n e^{−q_min} gives γ − ln n/ρ^K ≤ γ̃ ≤ γ exactly. Their theorems: once L_Σ < 1
(the SUM; ours is the mean L = L_Σ/n, so the threshold is L < 1/n), γ̃ is non-decreasing along the
gradient flow and, in discrete time, along GD with their loss-based step size (their Theorem E.2:
η_t ≤ H(L)/(L·ln(1/L)^{2−2/K}) for a constant H); ρ → ∞, γ̃ and γ converge to the same limit, and
the direction θ/ρ converges to a KKT point of

    min ½‖θ‖²  s.t.  q_i(θ) ≥ 1  for all i.

Here: ``normalized_gd`` with ``log_power = 2 − 2/K = 4/3``, i.e. θ ← θ − η ∇L/(L·max(1, ln(1/L))^{4/3}),
their step shape; η = 0.1; ``separable_classification`` n = 10, d = 4, margin 0.5, exponential loss,
width 20, from the default init (σ_w = 1, NTK scaling). The step keeps a fixed fraction of the local
stability bound, so ln(1/L) grows linearly (≈ 2.3 per 100 steps) and 2·10⁴ steps reach L ≈ 1e−203
(ln L is exact, a log-sum-exp, even where L would underflow).

Claims:
- ``smoothed-margin-monotone``: from the first logged row with L < 1/n on, γ̃ never decreases (every
  logged row, every run; tolerance 1e-12·|γ̃|, the rounding of ln L and ρ^K).
- ``smoothed-below-normalized``: γ̃ ≤ γ ≤ γ̃ + ln n/ρ^K on every logged row after the threshold
  (tolerance 1e-12 relative), and the gap γ − γ̃ shrinks: at the end ≤ 1/10 of its value at the
  threshold.
- ``margin-converges``: the increments of γ̃ over successive doublings of the step count shrink,
  and γ at the end is within 2% of γ̃ (the common limit).
- ``kkt-residual``: at θ̄ = θ/q_min^{1/K} (every margin ≥ 1), the KKT residual of the max-margin
  problem, ε = min_{λ≥0} ‖θ̄ − Σ_i λ_i ∇q_i(θ̄)‖/‖θ̄‖ (non-negative least squares, SciPy, with the
  gradients ∇q_i written out in NumPy) falls by a factor ≤ 0.95 at every doubling of the steps
  (2,500 … 20,000, over which ln(1/L) roughly doubles each time); slowly — the fitted power of
  ln(1/L) is −0.21 to −0.16 (measured) — so the claim is the fall, not a rate (their theorem gives none for
  this residual). The complementary-slackness term δ = Σ_i λ_i (q_i(θ̄) − 1) of the same
  multipliers is reported, not claimed (it is not monotone).

Broken setting: plain normalized GD (``log_power = 0``, step η/L): on an order-3 network the step
outgrows the curvature bound, ln(1/L) jumps, the loss underflows within a few hundred steps and γ̃
decreases on logged rows, so ``smoothed-margin-monotone`` fails.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import optimize  # noqa: E402

from . import Claim, Figure, problem_arrays  # noqa: E402

NAME = "homogeneous-margin"
CLAIM = ("On a homogeneous (ReLU²) network, GD with Lyu & Li's loss-based step never decreases the smoothed "
         "margin ln(1/L)/ρ^K once L < 1/n; it stays below the normalized margin, both converge, and the "
         "direction approaches a KKT point of the max-margin problem.")
SOURCE = "Lyu & Li 2020, 'Gradient descent maximizes the margin of homogeneous neural networks'"
MINUTES = (0.3, 0.5)

N_SAMPLES, N_FEATURES, WIDTH, ORDER = 10, 4, 20, 3
LR, LOG_POWER = 0.1, 2 - 2 / ORDER
CHECKPOINTS = {True: (2_500, 5_000, 10_000, 20_000), False: (2_500, 5_000, 10_000, 20_000)}
SEEDS = {True: (0,), False: (0, 1, 2)}


def _config(seed: int, steps: int) -> dict:
    return {"name": f"s{seed}-t{steps}", "seed": seed,
            "problem": {"kind": "separable_classification", "n_samples": N_SAMPLES, "n_features": N_FEATURES,
                        "n_test": 0, "margin": 0.5, "loss": "exponential"},
            "model": {"kind": "mlp", "widths": [WIDTH], "activation": "relu2", "bias": False},
            "trainer": {"kind": "normalized_gd", "lr": LR, "log_power": LOG_POWER, "steps": steps,
                        "stop_loss": 0.0, "log_every": max(1, steps // 1000)}}


def configs(quick: bool) -> list[dict]:
    return [_config(seed, steps) for seed in SEEDS[quick] for steps in CHECKPOINTS[quick]]


def BROKEN(config: dict) -> dict:  # noqa: N802 - the module contract's name
    """Plain normalized GD: the step η/L without Lyu & Li's ln(1/L)^{2−2/K} factor."""
    config["trainer"]["log_power"] = 0.0
    return config


# ----------------------------------------------------------------------------------------------- oracle
def margins_and_gradients(params: dict, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """q_i = y_i f(x_i; θ) and the rows ∇_θ q_i (W1 then W2, flattened) of the bias-free two-layer ReLU² network
    with NTK scaling, f(x) = c₂ W₂ φ(c₁ W₁ x), c₁ = 1/√d, c₂ = 1/√h, φ(z) = max(z, 0)², written out in NumPy."""
    W1, W2 = np.asarray(params["W1"], float), np.asarray(params["W2"], float)
    h, d = W1.shape
    c1, c2 = 1 / math.sqrt(d), 1 / math.sqrt(h)
    z = c1 * W1 @ X.T  # h × n
    active = np.maximum(z, 0)
    f = c2 * (W2 @ active**2)[0]
    grad_W2 = c2 * (active**2).T  # n × h
    grad_W1 = c2 * c1 * (2 * W2[0][None, :, None] * active.T[:, :, None]) * X[:, None, :]  # n × h × d
    gradients = np.concatenate([grad_W1.reshape(len(y), -1), grad_W2], axis=1)
    return y * f, y[:, None] * gradients


def kkt_residual(params: dict, X: np.ndarray, y: np.ndarray) -> dict:
    """(ε, δ) of θ̄ = θ/q_min^{1/K} for min ½‖θ‖² s.t. q_i ≥ 1: ε = min_{λ≥0}‖θ̄ − Σλ_i∇q_i(θ̄)‖/‖θ̄‖ (NNLS),
    δ = Σ_i λ_i (q_i(θ̄) − 1)."""
    q, _ = margins_and_gradients(params, X, y)
    if not (np.all(np.isfinite(q)) and q.min() > 0):
        return {"epsilon": float("nan"), "delta": float("nan"), "support": 0}
    scale = q.min() ** (1 / ORDER)
    rescaled = {k: np.asarray(v, float) / scale for k, v in params.items()}
    q_bar, G = margins_and_gradients(rescaled, X, y)
    theta = np.concatenate([rescaled["W1"].ravel(), rescaled["W2"].ravel()])
    lam, residual = optimize.nnls(G.T, theta)
    return {"epsilon": float(residual / np.linalg.norm(theta)), "delta": float(lam @ (q_bar - 1)),
            "support": int(np.sum(lam > 1e-12 * lam.max()))}


# ----------------------------------------------------------------------------------------------- analysis
def _after_threshold(run) -> dict:
    t = run.trajectory
    loss = t["loss"].to_numpy()
    below = np.flatnonzero(loss < 1 / N_SAMPLES)
    rows = t.iloc[below[0]:] if below.size else t.iloc[:0]
    norm = [float(np.sqrt(sum(np.sum(np.asarray(v, float) ** 2) for v in run.params.values())))]
    return {"step": rows["step"].to_numpy(), "smoothed": rows["smoothed_margin"].to_numpy(),
            "normalized": rows["margin_homogeneous"].to_numpy(), "loss": rows["loss"].to_numpy(),
            "final_norm": norm[0], "status": run.status}


def analyze(runs: dict, quick: bool) -> tuple[list[Claim], list[Figure]]:
    seeds, checkpoints = SEEDS[quick], CHECKPOINTS[quick]
    claims = []
    longest = {seed: _after_threshold(runs[f"s{seed}-t{checkpoints[-1]}"]) for seed in seeds}
    all_runs = {name: _after_threshold(run) for name, run in runs.items()}

    worst_drop, decreases = 0.0, 0
    for rows in all_runs.values():
        s = rows["smoothed"]
        drops = np.diff(s) / np.maximum(np.abs(s[1:]), 1e-300)
        finite = drops[np.isfinite(drops)]
        decreases += int(np.sum(finite < -1e-12)) + int(np.sum(~np.isfinite(drops)))
        worst_drop = min(worst_drop, float(finite.min()) if finite.size else 0.0)
    claims.append(Claim(
        "smoothed-margin-monotone", "once L < 1/n (L_Σ < 1), the smoothed margin ln(1/L_Σ)/ρ^K never decreases "
        "under GD with the loss-based step", SOURCE,
        {"logged_decreases": decreases, "worst_relative_change": worst_drop,
         "rows_checked": int(sum(len(r["smoothed"]) for r in all_runs.values())),
         "statuses": sorted({r["status"] for r in all_runs.values()})},
        "no logged row after the threshold decreases by more than 1e-12 relative, on every run",
        bool(decreases == 0 and all(len(r["smoothed"]) > 1 for r in all_runs.values()))))

    sandwich_ok, gap_ratio = True, {}
    for seed, rows in longest.items():
        g, gm = rows["smoothed"], rows["normalized"]
        rho_K = rows["final_norm"] ** ORDER
        sandwich_ok &= bool(np.all(g <= gm * (1 + 1e-12) + 1e-15))
        sandwich_ok &= bool(gm[-1] - g[-1] <= math.log(N_SAMPLES) / rho_K * (1 + 1e-9))
        gap = gm - g
        gap_ratio[seed] = float(gap[-1] / gap[0])
    claims.append(Claim(
        "smoothed-below-normalized", "γ̃ ≤ γ ≤ γ̃ + ln n/ρ^K, and the gap closes as ρ grows", SOURCE,
        {"final_gap_over_threshold_gap": gap_ratio,
         "final_smoothed": {s: float(r["smoothed"][-1]) for s, r in longest.items()},
         "final_normalized": {s: float(r["normalized"][-1]) for s, r in longest.items()}},
        "the sandwich on every logged row after the threshold (1e-12 relative), and the final gap ≤ 1/10 of the "
        "gap at the threshold", bool(sandwich_ok and all(r <= 0.1 for r in gap_ratio.values()))))

    increments, converge_ok = {}, True
    for seed in seeds:
        finals = [float(all_runs[f"s{seed}-t{steps}"]["smoothed"][-1]) for steps in checkpoints]
        inc = np.diff(finals)
        increments[seed] = inc.tolist()
        rows = longest[seed]
        converge_ok &= bool(np.all(inc > 0) and np.all(np.diff(inc) < 0)
                            and abs(rows["normalized"][-1] / rows["smoothed"][-1] - 1) <= 0.02)
    claims.append(Claim(
        "margin-converges", "γ̃ increases by less over each doubling of the steps, and γ meets it", SOURCE,
        {"checkpoints": list(checkpoints), "smoothed_increments_per_doubling": increments},
        "positive, strictly shrinking increments of γ̃ over the checkpoints; γ within 2% of γ̃ at the end",
        bool(converge_ok)))

    kkt = {seed: [kkt_residual(runs[f"s{seed}-t{steps}"].params, *problem_arrays(runs[f"s{seed}-t{steps}"], "X", "y"))
                  for steps in checkpoints] for seed in seeds}
    ratios = {seed: (np.array([k["epsilon"] for k in ks[1:]]) / np.array([k["epsilon"] for k in ks[:-1]])).tolist()
              for seed, ks in kkt.items()}
    exponents = {}
    for seed in seeds:  # ε against ln(1/L) at the checkpoints: a power law, fitted
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.log([float(-np.log(all_runs[f"s{seed}-t{steps}"]["loss"][-1])) for steps in checkpoints])
            y = np.log([k["epsilon"] for k in kkt[seed]])
        finite = np.isfinite(x) & np.isfinite(y)
        exponents[seed] = float(np.polyfit(x[finite], y[finite], 1)[0]) if finite.sum() >= 2 else float("nan")
    claims.append(Claim(
        "kkt-residual", "θ/ρ approaches a KKT point of min ½‖θ‖² s.t. q_i ≥ 1: the stationarity residual ε of "
        "the rescaled iterate falls with ln(1/L) (the slackness δ of the same multipliers is reported)", SOURCE,
        {"checkpoints": list(checkpoints), "kkt": kkt, "epsilon_ratio_per_doubling": ratios,
         "epsilon_power_of_ln_inverse_loss": exponents},
        "ε falls by a factor ≤ 0.95 at every doubling of the steps (ln(1/L) roughly doubles), every seed",
        bool(all(np.all(np.asarray(r) <= 0.95) for r in ratios.values()))))
    return claims, [_figure(longest, kkt, checkpoints)]


def _figure(longest: dict, kkt: dict, checkpoints) -> Figure:
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    for seed, rows in longest.items():
        line, = axes[0].plot(rows["step"], rows["normalized"], lw=1, label=f"γ, seed {seed}")
        axes[0].plot(rows["step"], rows["smoothed"], ls="--", lw=1, color=line.get_color(), label=f"γ̃, seed {seed}")
        axes[1].semilogy(rows["step"], rows["normalized"] - rows["smoothed"], lw=1, label=f"seed {seed}")
        axes[2].loglog(checkpoints, [k["epsilon"] for k in kkt[seed]], "o-", label=f"ε, seed {seed}")
        axes[2].loglog(checkpoints, [max(k["delta"], 1e-300) for k in kkt[seed]], "s--", label=f"δ, seed {seed}")
    axes[0].set(xlabel="step", ylabel="margin", title="γ̃ ≤ γ, γ̃ non-decreasing after L < 1/n")
    axes[1].set(xlabel="step", ylabel="γ − γ̃ (≤ ln n/ρ^K)", title="the two margins meet")
    axes[2].set(xlabel="steps", ylabel="KKT residual", title="approaching a KKT point of max margin")
    for ax in axes:
        ax.legend(fontsize=7)
    caption = ("A bias-free two-layer ReLU² network (homogeneous of order K = 3) trained by GD with Lyu & Li's "
               "loss-based step η/(L ln(1/L)^{4/3}) on separable data: after L < 1/n the smoothed margin never "
               "decreases, stays below the normalized margin, the two converge together, and the rescaled "
               "iterate's KKT residuals for the max-margin problem fall.")
    return Figure("homogeneous_margin", fig, caption)
