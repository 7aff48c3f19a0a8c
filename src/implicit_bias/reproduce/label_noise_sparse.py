"""label-noise-sparse (HaoChen, Wei, Lee & Ma 2021, "Shape matters: understanding the implicit bias
of the noise covariance"; Pillaud-Vivien, Reygner & Flammarion 2022, "Label noise (stochastic)
gradient descent implicitly solves the Lasso for quadratic parametrisation"): gradient descent with
label noise on the quadratically parameterized model β = u ⊙ u − v ⊙ v from a LARGE initialization
u(0) = v(0) = α = 1 finds the sparse, minimum-ℓ1 interpolant (basis pursuit); plain GD from the same
init does not — it stays near the kernel regime, at argmin Q_α (Woodworth et al. 2020).

The math. Our loss is L(θ) = (1/n) Σᵢ ½(⟨xᵢ, β(θ)⟩ − yᵢ)² (mean over the n samples). Label noise
(``trainer.label_noise = σ``) replaces y by y + σξ_k, ξ_k ~ N(0, I_n) fresh at every step, so the
step is θ ← θ − η(∇L(θ) + ε_k) with ε_k = −(σ/n) Σᵢ ξ_{k,i} ∇fᵢ(θ): zero mean, covariance
(σ²/n)·(1/n)Σᵢ ∇fᵢ∇fᵢᵀ = (σ²/n)·∇²L on the interpolating manifold — the noise has the shape of the
Hessian (HaoChen et al.'s "parameter-dependent" noise), and its implicit regularizer on the manifold
is tr ∇²L (Blanc, Gupta, Valiant & Valiant 2020, "Implicit regularization for deep neural networks
driven by an Ornstein-Uhlenbeck like process"; Damian, Ma & Lee 2021, "Label noise SGD provably
prefers flat global minimizers"). Here ∇fᵢ = 2(xᵢ⊙u, −xᵢ⊙v),
so tr ∇²L = (1/n)Σᵢ‖∇fᵢ‖² = 4 Σⱼ cⱼ (uⱼ² + vⱼ²) with cⱼ = ‖X_:j‖²/n, and over the (u, v) with
uⱼ² − vⱼ² = βⱼ the minimum of uⱼ² + vⱼ² is |βⱼ| (one factor at 0). The limit is therefore the
**column-norm-weighted ℓ1** interpolant argmin Σⱼ cⱼ|βⱼ| s.t. Xβ = y (Pillaud-Vivien et al.'s
weighted Lasso as the regularization vanishes; HaoChen et al. prove the recovery of a sparse
nonnegative ground truth on β = v ⊙ v).
We use ``design = "normalized_gaussian"`` (Gaussian columns rescaled to ‖X_:j‖ = √n, so every
cⱼ = 1): the limit is plain basis pursuit argmin ‖β‖₁ s.t. Xβ = y, computed independently by the
``basis_pursuit`` baseline (scipy HiGHS linear program). For this sparse target (n = 40, d = 100,
k = 5, well inside the Donoho–Tanner recovery region) basis pursuit equals β* to LP accuracy.

Conventions and conversion. HaoChen et al.'s code (github jhaochenz96/noise-implicit-bias,
``quadratic/train_quadratic.py``: d = 100, m = 40, w* = five ones, α = 1, lr 0.01 ÷10 at
iterations 100,000 and 200,000, δ = 1) uses β = v ⊙ v, the loss ¼·mean (= ½ our L), and perturbs
the label of ONE random sample per step by δξ, its loss summed (not averaged): the noise in the
step of v is −δξ v⊙xᵢ, covariance (δ²/m)Σᵢ(v⊙xᵢ)(v⊙xᵢ)ᵀ. Our ``product`` form β = u ⊙ v from
u = v has ∂L/∂u equal to their ∂/∂v (same lr), and our label noise gives −(σ/m)Σᵢξᵢ v⊙xᵢ,
covariance (σ²/m²)Σᵢ(·)(·)ᵀ: the same for σ = δ√m. ``benchmarks/label_noise_reference.py`` runs
their code and ours that way, side by side. Here we use the signed model u² − v² (signed β*) and
σ = 3 at lr 0.01, which reaches the sparse interpolant by t ≈ 1,200 on this problem.

What we run: label-noise GD (σ = 3, lr 0.01, 200,000 steps = t 2,000; full: 400,000) and plain GD
(σ = 0, same lr, 100,000 steps) from u = v = 1, on the same data; the ``basis_pursuit`` baseline and
the ``q_alpha`` baseline (α = 1). At fixed σ the iterate wanders on a band around the manifold (its
ℓ1 fluctuates by ≈ 7 % here), so two estimators of the limit are checked:

- **anneal σ** (claims ``annealed-l1-matches-bp``, ``annealed-support``): from the label-noise
  run's last iterate, σ = 0 (plain GD) for 50,000 steps at lr 0.1 (``ANNEAL_STEPS``,
  ``ANNEAL_LR``; stable there: at (u, v) = (√β*₊, √β*₋) the Hessian's top eigenvalue is 1.78
  (measured), while lr 0.01 is needed at init, where it is 8α²λ_max(XᵀX/n) = 48.9), in analyze through the engine's ``train``. This pins the iterate to an
  interpolant next to where label noise left it. Claimed: ‖β‖₁/‖β_BP‖₁ − 1 ≤ 2 % (``L1_TOL``, the
  issue's "within a few %"), with final/initial training loss ≤ 1e-6 (``INTERP_TOL``: β(0) = 0, so
  this is a relative residual ‖Xβ − y‖/‖y‖ ≤ 1e-3, which moves the ℓ1 norm by O(1e-3), below
  ``L1_TOL``; the last small coordinates converge sublinearly, as in the rich regime); and the k
  largest |βᵢ| are exactly supp β*, with ‖β − β*‖/‖β*‖ ≤ 5 %.
- **average the last iterates** (claim ``time-average-l1``): the mean of ‖β_t‖₁ over the logged
  rows of the second half of the label-noise run (one row per 1,000 steps), within 3 % of ‖β_BP‖₁
  (``AVERAGE_TOL``) — the band's mean, not an interpolant.

Plain GD (claim ``plain-gd-not-sparse``) ends at ‖β‖₁ ≥ 1.5 ‖β_BP‖₁ (measured 2.37×) and at
argmin Q_α for α = 1 (relative distance ≤ 2e-2, the O(lr) tolerance of woodworth-kernel-rich) —
its own implicit bias, not a failure to converge — with test error ≥ 0.3. ``bp-oracle`` records
that the LP recovers β* (relative error ≤ 1e-8), so "min ℓ1" and "sparse recovery" coincide here.

Broken setting: σ = 0 in the label-noise run (judged against the same basis-pursuit oracle): it is
plain GD, so ``annealed-l1-matches-bp``, ``annealed-support`` and ``time-average-l1`` fail.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import Claim, Figure, relative_distance  # noqa: E402

NAME = "label-noise-sparse"
CLAIM = ("GD with label noise on u²−v² from a large init finds the min-ℓ1 (basis pursuit) sparse interpolant "
         "on a column-normalized design; plain GD from the same init does not.")
SOURCE = ("HaoChen, Wei, Lee & Ma 2021, 'Shape matters: understanding the implicit bias of the noise covariance'; "
          "Pillaud-Vivien, Reygner & Flammarion 2022, 'Label noise (stochastic) gradient descent implicitly "
          "solves the Lasso for quadratic parametrisation'")
MINUTES = (1.0, 3.0)
SEED = 0
ALPHA = 1.0
SIGMA = 3.0
LR = 0.01
PROBLEM = {"kind": "least_squares", "n_samples": 40, "n_features": 100, "design": "normalized_gaussian",
           "target": "sparse", "sparsity": 5}
MODEL = {"kind": "diagonal", "form": "difference", "power": 2, "alpha": ALPHA}
LOG_EVERY = 1000
GD_STEPS = 100_000
ANNEAL_STEPS = 50_000
ANNEAL_LR = 0.1
L1_TOL = 0.02
AVERAGE_TOL = 0.03
INTERP_TOL = 1e-6
SUPPORT_TOL = 0.05
RATIO_MIN = 1.5
Q_ALPHA_TOL = 2e-2
ORACLE_TOL = 1e-8


def _noise_steps(quick: bool) -> int:
    return 200_000 if quick else 400_000


def configs(quick: bool) -> list[dict]:
    def gd(name, sigma, steps):
        return {"name": name, "seed": SEED, "problem": PROBLEM, "model": MODEL,
                "trainer": {"kind": "gd", "lr": LR, "steps": steps, "log_every": LOG_EVERY, "label_noise": sigma}}

    return [gd("label-noise", SIGMA, _noise_steps(quick)), gd("plain-gd", 0.0, GD_STEPS),
            {"name": "basis-pursuit", "seed": SEED, "problem": PROBLEM, "baseline": {"kind": "basis_pursuit"}},
            {"name": "q-alpha", "seed": SEED, "problem": PROBLEM,
             "baseline": {"kind": "q_alpha", "alpha": ALPHA, "power": 2}}]


def BROKEN(config: dict) -> dict:  # noqa: N802 - the module contract's name
    """No label noise (σ = 0) in the label-noise run: plain GD, judged against basis pursuit."""
    if config["name"] == "label-noise":
        config["trainer"]["label_noise"] = 0.0
    return config


def _anneal(run) -> tuple[np.ndarray, dict]:
    """σ = 0 from the run's last iterate: ``ANNEAL_STEPS`` plain GD steps (same lr), through the
    engine's ``train``. Returns (β, {loss0, loss_end}) with the loss at the start and at the end."""
    import jax.numpy as jnp

    from implicit_bias.engine import Experiment, named_key, resolve, section_settings, train

    experiment = Experiment.build(resolve(run.config))
    table = dict(experiment.config["trainer"], label_noise=0.0, lr=ANNEAL_LR, steps=ANNEAL_STEPS,
                 log_every=ANNEAL_STEPS // 10)
    params0 = {k: jnp.asarray(v) for k, v in run.params.items()}
    traj = train(experiment.objective, params0, section_settings("trainer", table), key=named_key(SEED, "anneal"))
    params = {k: jnp.asarray(v) for k, v in traj.params.items()}
    beta = np.asarray(experiment.objective.model.end_to_end(params))
    return beta, {"loss_start": float(experiment.objective.data_loss(params0)),
                  "loss_end": float(experiment.objective.data_loss(params)),
                  "initial_loss": float(experiment.objective.data_loss(experiment.params0))}


def analyze(runs: dict, quick: bool) -> tuple[list[Claim], list[Figure]]:
    ln, gd, bp, qa = runs["label-noise"], runs["plain-gd"], runs["basis-pursuit"], runs["q-alpha"]
    beta_bp = np.asarray(bp.end_to_end)
    l1_bp = float(np.abs(beta_bp).sum())
    from implicit_bias.engine import Experiment, resolve

    beta_star = np.asarray(Experiment.build(resolve(ln.config)).objective.problem.ground_truth)
    support = np.flatnonzero(beta_star)
    k = support.size

    # --- anneal σ → 0 from the label-noise endpoint
    beta_ann, losses = _anneal(ln)
    ratio_ann = float(np.abs(beta_ann).sum() / l1_bp)
    interp = losses["loss_end"] / losses["initial_loss"]
    top_k = np.sort(np.argsort(-np.abs(beta_ann))[:k])
    err_ann = relative_distance(beta_ann, beta_star)
    off_max = float(np.max(np.abs(np.delete(beta_ann, support))))

    # --- time average of ‖β_t‖₁ over the second half of the constant-σ run
    traj = ln.trajectory
    half = traj[traj["step"] >= traj["step"].iloc[-1] / 2]
    l1_t = half["end_to_end_l1"].to_numpy() / l1_bp
    # standard error from 10 batch means (the rows are correlated over ~100 time units)
    batches = np.array([b.mean() for b in np.array_split(l1_t, 10)])
    avg, avg_se = float(l1_t.mean()), float(batches.std(ddof=1) / np.sqrt(len(batches)))

    # --- plain GD
    beta_gd = np.asarray(gd.end_to_end)
    ratio_gd = float(np.abs(beta_gd).sum() / l1_bp)
    gd_to_q = relative_distance(beta_gd, qa.end_to_end)
    err_gd = float(gd.trajectory["test_error"].iloc[-1])
    gd_interp = float(gd.trajectory["loss"].iloc[-1] / gd.trajectory["loss"].iloc[0])
    oracle_err = relative_distance(beta_bp, beta_star)

    settings = f"σ = {SIGMA:g}, lr {LR:g}, {ln.summary['steps']:,} steps (t = {ln.summary['time']:g})"
    claims = [
        Claim("annealed-l1-matches-bp", f"label-noise GD ({settings}), then σ = 0 for {ANNEAL_STEPS:,} steps: an "
              "interpolant whose ℓ1 norm is that of basis pursuit", SOURCE,
              {"l1_ratio_to_bp": ratio_ann, "final_over_initial_loss": interp, "l1_bp": l1_bp,
               "loss_before_anneal": losses["loss_start"]},
              f"ℓ1/ℓ1_BP − 1 ≤ {L1_TOL:g} and final/initial training loss ≤ {INTERP_TOL:g}",
              ratio_ann - 1 <= L1_TOL and interp <= INTERP_TOL),
        Claim("annealed-support", "the annealed label-noise solution recovers the sparse target: its k largest "
              "|β_i| are supp β*, and ‖β − β*‖/‖β*‖ is small", SOURCE,
              {"top_k": top_k.tolist(), "support": support.tolist(), "test_error": err_ann,
               "max_off_support": off_max},
              f"top-k = supp β* and test error ≤ {SUPPORT_TOL:g}",
              bool(np.array_equal(top_k, support)) and err_ann <= SUPPORT_TOL),
        Claim("time-average-l1", f"at fixed σ ({settings}) the mean of ‖β_t‖₁ over the second half of the run "
              "is ‖β_BP‖₁", SOURCE,
              {"mean_l1_ratio": avg, "standard_error": avg_se, "rows": int(l1_t.size),
               "min": float(l1_t.min()), "max": float(l1_t.max())},
              f"|mean/ℓ1_BP − 1| ≤ {AVERAGE_TOL:g}", abs(avg - 1) <= AVERAGE_TOL),
        Claim("plain-gd-not-sparse", f"plain GD (σ = 0, lr {LR:g}, {GD_STEPS:,} steps) from the same init ends "
              f"at argmin Q_α (α = {ALPHA:g}), far from min ℓ1, and does not recover β*",
              "Woodworth et al. 2020, 'Kernel and rich regimes in overparametrized models', Thm 1; " + SOURCE,
              {"l1_ratio_to_bp": ratio_gd, "distance_to_q_alpha": gd_to_q, "test_error": err_gd,
               "final_over_initial_loss": gd_interp},
              f"ℓ1/ℓ1_BP ≥ {RATIO_MIN:g}, ‖β − β_Qα‖/‖β_Qα‖ ≤ {Q_ALPHA_TOL:g}, test error ≥ 0.3",
              ratio_gd >= RATIO_MIN and gd_to_q <= Q_ALPHA_TOL and err_gd >= 0.3),
        Claim("bp-oracle", "the basis-pursuit LP (scipy HiGHS) recovers β* on this design (n = 40, d = 100, k = 5)",
              "Chen, Donoho & Saunders 1998, 'Atomic decomposition by basis pursuit'",
              oracle_err, f"‖β_BP − β*‖/‖β*‖ ≤ {ORACLE_TOL:g}", oracle_err <= ORACLE_TOL),
    ]
    return claims, _figures(ln, gd, l1_bp, beta_ann, beta_gd, beta_star, settings)


def _figures(ln, gd, l1_bp, beta_ann, beta_gd, beta_star, settings) -> list[Figure]:
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6))
    for run, label, color in ((ln, f"label noise ({settings})", "C0"), (gd, "plain GD (σ = 0)", "C3")):
        tr = run.trajectory
        left.plot(tr["t"], tr["end_to_end_l1"] / l1_bp, color=color, lw=0.9, label=label)
    left.axhline(1.0, color="k", ls="--", lw=0.8, label="basis pursuit (LP)")
    left.set(xlabel="time t = lr × step", ylabel="‖β_t‖₁ / ‖β_BP‖₁", ylim=(0, None),
             title="ℓ1 norm of the iterate, relative to min ℓ1")
    left.legend(fontsize=8)
    idx = np.arange(beta_star.size)
    right.stem(idx, beta_star, linefmt="k-", markerfmt="ko", basefmt=" ", label="β* (= basis pursuit)")
    right.plot(idx, beta_ann, "C0.", ms=5, label="label noise, annealed")
    right.plot(idx, beta_gd, "C3x", ms=4, label="plain GD")
    right.set(xlabel="coordinate i", ylabel="β_i", title="solutions (n = 40, d = 100, k = 5, normalized columns)")
    right.legend(fontsize=8)
    fig.tight_layout()
    caption = (f"Left: ‖β_t‖₁/‖β_BP‖₁ for GD with label noise and plain GD from u = v = {ALPHA:g} (our loss: mean of "
               f"½(·)²). Label noise drifts to the min-ℓ1 band and wanders on it; plain GD stops at "
               f"{np.abs(beta_gd).sum() / l1_bp:.2f}×. Right: the annealed label-noise solution sits on β*; plain GD "
               "spreads over every coordinate.")
    return [Figure("label_noise_sparse", fig, caption)]
