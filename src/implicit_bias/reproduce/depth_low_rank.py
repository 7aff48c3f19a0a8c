"""depth-low-rank (Cohen & Hu 2019, Off the Convex Path blog post "Understanding implicit regularization in deep
learning by analyzing trajectories of gradient descent", on Arora, Cohen, Hu & Luo 2019): gradient
descent on a depth-N linear network W = W_N ⋯ W_1 from a small init finds an end-to-end matrix of
lower effective rank the deeper the network, in matrix completion AND matrix sensing, and with
few observations (too few for the minimum nuclear-norm solution to recover W*) adding depth gives
a lower test error than nuclear-norm minimization.

The mechanism (Arora et al. 2019, Thm 3; Cohen & Hu 2019): the singular values of W move as

    dσ_r/dt = −N (σ_r²)^{1 − 1/N} ⟨∇L(W), u_r v_rᵀ⟩,

so small singular values stall and large ones accelerate, more so with depth — an implicit
regularization towards low rank that intensifies with N, which the nuclear norm (the depth-2
conjecture of Gunasekar et al. 2017) does not capture. Effective rank (Roy & Vetterli 2007):
erank(W) = exp(H(p)), p_i = σ_i/Σ_j σ_j (``spectral.effective_rank``, the ``effective_rank``
metric); between 1 and rank(W), continuous in W.

Settings. Every target has entries of unit RMS (‖W*‖_F = n). The init is the reference code's
convention (``init_convention = "end_to_end"``): ``init_scale`` = 1e-3 is the average magnitude of
the end-to-end entries at every depth, so that depths start from the same W(0) scale (with a
per-factor 1e-3 a depth-4 product would start at 1e-12 and barely leave the saddle at 0). Plain
GD, lr ∝ m for completion (the loss is a mean over the m observations), stopped at training loss
1e-9 or after ``steps``. The nuclear-norm solution is ``[baseline] kind = "min_nuclear_norm"`` on
the same data (same seed), first-order solver at tolerance 1e-7 (``NUCLEAR``).

- quick: completion 30x30 rank 2 (r(2n − r) = 116 degrees of freedom), m ∈ {180, 240, 360}
  (1.55×, 2.1×, 3.1× the degrees of freedom; "few" = 240, the ratio of Arora et al.'s 2,000 for
  100x100 rank 5, as in arora-deep-completion's quick mode); sensing 10x10 rank 2 with 50
  Gaussian measurements (1.4× the 36 degrees of freedom); 3 seeds; GD lr 0.0075·m (completion) /
  0.01 (sensing), ≤ 10,000 steps. (At 20x20 with 160 observations one seed in three gave an
  instance on which depth 3 interpolated with a wrong matrix — error 1.0 — while depth 4 recovered
  W*: too few observations per row for a stable check.)
- full: completion 100x100 rank 5 (975 degrees of freedom), m ∈ {1,500, 2,000, 3,000, 5,000}
  ("few" = 2,000, Arora et al.'s); sensing 20x20 rank 2 with 110 Gaussian measurements (1.45×
  the 76 degrees of freedom) from an end-to-end init of 1e-4 (at 1e-3 depth 4 interpolated with a
  wrong matrix in 1 seed of 3 — erank 3.04, error 1.22 — so the check would measure that one
  failure of convergence to the low-rank solution, not the trend); 3 seeds; lr 0.0025·m / 0.005,
  ≤ 20,000 steps. Depth-4 completion in full mode takes half the step for twice the steps (the
  same flow time): at lr 0.0025·m and 5,000 observations its step was large enough to leave the
  low-rank path (the top singular value dropped from 70 to 53 mid-run and GD settled on an
  interpolant with 7 large singular values, test error 0.07–0.36), also with 40,000 steps.

Claims and tolerances.
- ``erank-decreases-completion`` / ``erank-decreases-sensing``: at the "few" point, in EVERY seed,
  erank(depth 1) > erank(2) > erank(3) > erank(4) (strictly). The margin is statistical, across
  seeds (the seeds draw new W*, observations and init): if depth did not matter the four values
  of a seed would be exchangeable and the strictly decreasing order would have probability 1/24,
  so S seeds all decreasing has p = 24^{−S} (S = 3: 7e-5) — a sign test, which
  makes no assumption on the size of the (very unequal) decreases. The measured mean decrease per
  step is reported next to it.
- ``depth-beats-nuclear-few``: at the "few" completion point, depth 3 and depth 4 each have a
  lower test error ‖W − W*‖_F/‖W*‖_F than the minimum nuclear-norm solution in every seed, and
  their mean over seeds is at most half the nuclear norm's (Arora et al. report errors ≈ 1e-3–1e-2
  for depth 3 vs ≈ 0.2 for the nuclear norm at 2,000 observations; half is a loose band that a
  seed-to-seed fluctuation cannot produce: the nuclear-norm error varies by ±20 % across seeds).
  Depth 2 is reported, not claimed: at few observations it is only about as good as the nuclear
  norm (Cohen & Hu 2019: depth-2 factorization ≈ the nuclear-norm conjecture, depth ≥ 3 beats it).

BROKEN: a large init (end-to-end scale 1, the size of W*'s entries — the kernel-like regime in
which the unobserved entries stay near their random init): depth no longer beats the nuclear
norm (``depth-beats-nuclear-few`` fails, errors ≈ 0.6–0.9) and the effective ranks of all depths
stay high.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from . import Claim, Figure

NAME = "depth-low-rank"
CLAIM = ("Deeper linear networks (depth 1–4) from small init find lower effective rank in matrix completion and "
         "sensing, and at few observations depth ≥ 3 beats the minimum nuclear-norm solution.")
SOURCE = ("Cohen & Hu 2019 (Off the Convex Path blog post, 'Understanding implicit regularization in deep "
          "learning by analyzing "
          "trajectories of gradient descent'); Arora, Cohen, Hu & Luo (2019), 'Implicit regularization in deep "
          "matrix factorization'")
MINUTES = (2.5, 16.0)
DEPTHS = (1, 2, 3, 4)
INIT_SCALE = 1e-3
BEAT_RATIO = 0.5
#: first-order (ADMM) solver at tolerance 1e-7: the compared nuclear-norm errors are ≥ 0.1, and the default
#: ``auto`` falls back to cvxpy/SCS (3–5 minutes each) when ADMM is slow to reach 1e-9. Measured (quick, m = 360):
#: ADMM stops at its iteration cap for 2 of 3 seeds with test errors 0.01698 / 0.00301, cvxpy/SCS gives
#: 0.01697 / 0.00297 — the same to the precision that matters here; at m ≤ 240 ADMM converges.
NUCLEAR = {"kind": "min_nuclear_norm", "solver": "first_order", "tol": 1e-7}


def _setting(quick: bool) -> dict:
    if quick:
        return {"n": 30, "rank": 2, "obs": (180, 240, 360), "few": 240, "lr_per_obs": 7.5e-3, "steps": 10_000,
                "sensing": {"n": 10, "rank": 2, "m": 50, "lr": 0.01, "init_scale": INIT_SCALE}, "seeds": 3}
    return {"n": 100, "rank": 5, "obs": (1500, 2000, 3000, 5000), "few": 2000, "lr_per_obs": 2.5e-3,
            "steps": 20_000, "sensing": {"n": 20, "rank": 2, "m": 110, "lr": 0.005, "init_scale": 1e-4}, "seeds": 3}


def _model(depth: int, init_scale: float = INIT_SCALE) -> dict:
    return {"kind": "deep_matrix", "depth": depth, "init_scale": init_scale, "init_convention": "end_to_end"}


def configs(quick: bool) -> list[dict]:
    st = _setting(quick)
    out = []
    for seed in range(st["seeds"]):
        for m in st["obs"]:
            problem = {"kind": "matrix_completion", "n_rows": st["n"], "n_cols": st["n"], "rank": st["rank"],
                       "n_obs": m, "target_norm": float(st["n"])}
            out.append({"name": f"completion-m{m}-nuclear-s{seed}", "seed": seed, "problem": problem,
                        "baseline": NUCLEAR})
            for depth in DEPTHS:
                slow = 2 if depth == 4 and not quick else 1  # full depth 4: half the step, twice the steps
                out.append({"name": f"completion-m{m}-d{depth}-s{seed}", "seed": seed, "problem": problem,
                            "model": _model(depth),
                            "trainer": {"kind": "gd", "lr": st["lr_per_obs"] * m / slow,
                                        "steps": st["steps"] * slow, "stop_loss": 1e-9, "log_every": 500}})
        se = st["sensing"]
        problem = {"kind": "matrix_sensing", "n_rows": se["n"], "n_cols": se["n"], "rank": se["rank"],
                   "n_measurements": se["m"], "target_norm": float(se["n"])}
        out.append({"name": f"sensing-nuclear-s{seed}", "seed": seed, "problem": problem,
                    "baseline": NUCLEAR})
        for depth in DEPTHS:
            out.append({"name": f"sensing-d{depth}-s{seed}", "seed": seed, "problem": problem,
                        "model": _model(depth, se["init_scale"]),
                        "trainer": {"kind": "gd", "lr": se["lr"], "steps": st["steps"], "stop_loss": 1e-9,
                                    "log_every": 500}})
    return out


def BROKEN(config: dict) -> dict:
    """Large init: end-to-end scale 1 (the size of W*'s entries), the kernel-like regime."""
    if "model" in config:
        config["model"]["init_scale"] = 1.0
    return config


def _final(result, column: str) -> float:
    return float(result.trajectory[column].iloc[-1])


def _spectrum(result) -> np.ndarray:
    return np.linalg.svd(np.asarray(result.end_to_end, dtype=float), compute_uv=False)


def _monotone(eranks: np.ndarray) -> dict:
    """eranks: (seeds, depths). Per-seed strict decrease, the sign-test p-value and mean drops."""
    drops = -np.diff(eranks, axis=1)  # erank(d) − erank(d + 1), per seed
    all_decreasing = bool(np.all(drops > 0))
    n_seeds = eranks.shape[0]
    return {"all_seeds_strictly_decreasing": all_decreasing,
            "seeds_decreasing": int(np.sum(np.all(drops > 0, axis=1))), "seeds": n_seeds,
            "sign_test_p": float(24.0 ** -n_seeds) if all_decreasing else None,
            "mean_drop_per_step": {f"{d}->{d + 1}": float(f"{v:.3g}") for d, v in zip(DEPTHS, drops.mean(axis=0))},
            "mean_erank": {f"depth {d}": float(f"{v:.3g}") for d, v in zip(DEPTHS, eranks.mean(axis=0))}}


def analyze(runs: dict, quick: bool) -> tuple[list[Claim], list[Figure]]:
    st = _setting(quick)
    seeds = range(st["seeds"])
    few = st["few"]
    g3 = lambda x: float(f"{x:.3g}")
    err = {(m, d): np.array([_final(runs[f"completion-m{m}-d{d}-s{s}"], "test_error") for s in seeds])
           for m in st["obs"] for d in DEPTHS}
    nuc = {m: np.array([_final(runs[f"completion-m{m}-nuclear-s{s}"], "test_error") for s in seeds])
           for m in st["obs"]}
    erank_c = np.array([[_final(runs[f"completion-m{few}-d{d}-s{s}"], "effective_rank") for d in DEPTHS]
                        for s in seeds])
    erank_s = np.array([[_final(runs[f"sensing-d{d}-s{s}"], "effective_rank") for d in DEPTHS] for s in seeds])
    nuc_erank_c = np.array([_final(runs[f"completion-m{few}-nuclear-s{s}"], "effective_rank") for s in seeds])
    nuc_erank_s = np.array([_final(runs[f"sensing-nuclear-s{s}"], "effective_rank") for s in seeds])
    err_s = {d: np.array([_final(runs[f"sensing-d{d}-s{s}"], "test_error") for s in seeds]) for d in DEPTHS}
    nuc_s = np.array([_final(runs[f"sensing-nuclear-s{s}"], "test_error") for s in seeds])
    mono_c, mono_s = _monotone(erank_c), _monotone(erank_s)
    beats = {d: bool(np.all(err[(few, d)] < nuc[few]) and err[(few, d)].mean() <= BEAT_RATIO * nuc[few].mean())
             for d in (3, 4)}
    S = st["seeds"]
    se = st["sensing"]
    claims = [
        Claim("erank-decreases-completion",
              f"matrix completion ({st['n']}x{st['n']}, rank {st['rank']}, {few} observations): the effective rank of "
              "the end-to-end matrix decreases strictly with depth 1 → 2 → 3 → 4 in every seed", SOURCE,
              {**mono_c, "min nuclear norm mean erank": g3(nuc_erank_c.mean())},
              f"strictly decreasing in all {S} seeds (sign test p = 24^-{S} = {24.0 ** -S:.1e})",
              mono_c["all_seeds_strictly_decreasing"]),
        Claim("erank-decreases-sensing",
              f"matrix sensing ({se['n']}x{se['n']}, rank {se['rank']}, {se['m']} Gaussian measurements): the "
              "effective rank decreases strictly with depth 1 → 2 → 3 → 4 in every seed", SOURCE,
              {**mono_s, "min nuclear norm mean erank": g3(nuc_erank_s.mean()),
               "mean test error (not claimed)": {"min nuclear norm": g3(nuc_s.mean()),
                                                 **{f"depth {d}": g3(err_s[d].mean()) for d in DEPTHS}}},
              f"strictly decreasing in all {S} seeds (sign test p = 24^-{S} = {24.0 ** -S:.1e})",
              mono_s["all_seeds_strictly_decreasing"]),
        Claim("depth-beats-nuclear-few",
              f"with few observations ({few}) depth 3 and depth 4 reach a lower test error than the minimum "
              "nuclear-norm completion", SOURCE,
              {"min nuclear norm": [g3(v) for v in nuc[few]],
               **{f"depth {d}": [g3(v) for v in err[(few, d)]] for d in DEPTHS},
               "mean": {"min nuclear norm": g3(nuc[few].mean()),
                        **{f"depth {d}": g3(err[(few, d)].mean()) for d in DEPTHS}}},
              f"depth 3 and depth 4 below the nuclear norm in every seed, mean ≤ {BEAT_RATIO:g} × its mean",
              beats[3] and beats[4]),
    ]

    colors = {1: "tab:grey", 2: "tab:blue", 3: "tab:orange", 4: "tab:red"}
    fig1, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    title_c = f"completion {st['n']}x{st['n']} rank {st['rank']}, {few} obs."
    title_s = f"sensing {se['n']}x{se['n']} rank {se['rank']}, {se['m']} meas."
    for ax, er, nuc_er, title in ((a1, erank_c, nuc_erank_c, title_c), (a2, erank_s, nuc_erank_s, title_s)):
        for s in seeds:
            ax.plot(DEPTHS, er[s], "o-", color="tab:blue", alpha=0.35, lw=1, label="one seed" if s == 0 else None)
        ax.plot(DEPTHS, er.mean(axis=0), "s-", color="k", lw=2, label=f"mean over {S} seeds")
        ax.axhline(nuc_er.mean(), color="tab:green", ls="--", label="min nuclear norm (mean)")
        ax.axhline(st["rank"] if ax is a1 else se["rank"], color="grey", ls=":", label="rank of W*")
        ax.set(xticks=DEPTHS, xlabel="depth N of W = W_N ⋯ W_1", yscale="log",
               ylabel="effective rank exp(H(σ/Σσ)) of the end-to-end W", title=title)
        ax.legend(fontsize=8)
    fig1.tight_layout()
    cap1 = (f"Effective rank (Roy & Vetterli 2007) of the end-to-end matrix found by GD from a small init (end-to-end "
            f"scale {INIT_SCALE:g}) against depth: it decreases strictly with depth in every one of the {S} seeds, in "
            f"completion (mean {' → '.join(f'{v:.2f}' for v in erank_c.mean(axis=0))}) and sensing (mean "
            f"{' → '.join(f'{v:.2f}' for v in erank_s.mean(axis=0))}).")

    fig2, b1 = plt.subplots(figsize=(6.5, 4.4))
    obs = np.asarray(st["obs"])
    for d in DEPTHS:
        mean = np.array([err[(m, d)].mean() for m in obs])
        sd = np.array([err[(m, d)].std(ddof=1) / np.sqrt(S) if S > 1 else 0.0 for m in obs])
        b1.errorbar(obs, mean, yerr=sd, marker="o", color=colors[d], capsize=3, label=f"depth {d}")
    nmean = np.array([nuc[m].mean() for m in obs])
    nsd = np.array([nuc[m].std(ddof=1) / np.sqrt(S) if S > 1 else 0.0 for m in obs])
    b1.errorbar(obs, nmean, yerr=nsd, ls="--", marker="s", color="tab:green", capsize=3, label="min nuclear norm")
    b1.axvline(few, color="grey", ls=":", lw=1, label=f"'few' = {few}")
    b1.set(xlabel="number of observed entries m", ylabel="test error ‖W − W*‖_F / ‖W*‖_F (mean ± s.e.)",
           yscale="log", title=f"completion {st['n']}x{st['n']}, rank {st['rank']}, {S} seeds")
    b1.legend(fontsize=8)
    fig2.tight_layout()
    cap2 = (f"Test error against the number of observations, per depth, with the minimum nuclear-norm solution: at "
            f"{few} observations depth 3 ({err[(few, 3)].mean():.2g}) and depth 4 ({err[(few, 4)].mean():.2g}) beat "
            f"the nuclear norm ({nuc[few].mean():.2g}); depth 1 never moves the unobserved entries.")

    fig3, (c1, c2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, prefix, title in ((c1, f"completion-m{few}", "completion"), (c2, "sensing", "sensing")):
        for d in DEPTHS:
            s = _spectrum(runs[f"{prefix}-d{d}-s0"])
            ax.semilogy(np.arange(1, len(s) + 1), s / s[0], "o-", ms=3, color=colors[d], label=f"depth {d}")
        s = _spectrum(runs[f"{prefix}-nuclear-s0"])
        ax.semilogy(np.arange(1, len(s) + 1), np.maximum(s / s[0], 1e-17), "s--", ms=3, color="tab:green",
                    label="min nuclear norm")
        ax.set(xlabel="index i", ylabel="σ_i / σ_1 of the end-to-end W", ylim=(1e-12, 2),
               title=f"{title}: singular values at the end of training (seed 0)")
        ax.legend(fontsize=8)
    fig3.tight_layout()
    cap3 = ("Normalized singular-value spectra of the end-to-end matrix per depth (seed 0): depth 1 keeps a long tail, "
            "deeper networks concentrate the spectrum on the top singular values (sharper gap with depth).")
    return claims, [Figure("depth_low_rank_erank", fig1, cap1), Figure("depth_low_rank_test_error", fig2, cap2),
                    Figure("depth_low_rank_spectra", fig3, cap3)]
