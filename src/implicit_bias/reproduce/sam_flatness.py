"""sam-flatness (Andriushchenko & Flammarion 2022, "Towards understanding sharpness-aware
minimization", ICML, Sec. 4): on sparse regression with a diagonal linear network β = u² − v²,
1-SAM started from the same init as GD ends at a sparser (smaller ℓ1), flatter (smaller trace of
the training-loss Hessian) interpolator with a much lower test error.

The math. GD on β = u² − v² from u = v = α ends at argmin Q_α(β) s.t. Xβ = y (Woodworth et al.
2020; see ``woodworth-kernel-rich``): the smaller α, the closer to the minimum-ℓ1 interpolator.
Andriushchenko & Flammarion (Thm 2 and Sec. 4.2) show that SAM implicitly runs GD from a smaller
*effective* scale α_∞,i = α·exp(−Δ_i), Δ_i ≥ 0 growing with ρ and with ∫ (per-sample gradient_i)² dt.
For 1-SAM (the perturbation ρ∇ℓ_k/‖∇ℓ_k‖ is computed on ONE sample k) the per-sample gradients
x_ki r_k have Σ_k x_ki² r_k² ≈ Σ_k r_k², nearly the same for every coordinate i, so α shrinks
almost uniformly and the solution moves towards the ℓ1 interpolator; the full-batch gradient
(Xᵀr)_i is largest on the support, so n-SAM shrinks α there first, which does not help sparsity
(the paper finds n-SAM's benefit much smaller; on this setting we measured n-SAM to be WORSE than
GD, so this reproduction is about 1-SAM, the variant the paper's diagonal-network claim is about).
At an interpolator the Hessian of L(u, v) = (1/2n)‖X(u² − v²) − y‖² is (1/n)JᵀJ with
J = X·[diag(2u), −diag(2v)], so its trace is (4/n) Σ_i ‖X_i‖² (u_i² + v_i²) ≥ (4/n) Σ_i ‖X_i‖² |β_i|:
smaller effective α (u_i² + v_i² → |β_i|) and a smaller ℓ1 norm mean a flatter minimum.
Test error: for x ~ N(0, I) the excess risk is ‖β − β*‖², reported relative, ‖β − β*‖/‖β*‖ (the
``test_error`` metric).

Runs (per seed, the same data and the same init u = v = α = 0.1 for every trainer, same lr and
steps): GD (full batch); SGD with batch 1 (the control: the same stochasticity as 1-SAM, no
perturbation); 1-SAM (``sam`` trainer, variant ``sam``, ρ = 0.1, batch 1: perturbation and step on
one sample); n-SAM (the same with the full batch).

Flatness. The issue asks for a lower largest Hessian eigenvalue. We measure both λ_max and the
trace of ∇²L in (u, v) at the final parameters (:func:`hessian_sharpness`: matrix-free, from
:mod:`implicit_bias.core.curvature` — Lanczos with full reorthogonalization run for all 2d ≤ 400
steps, so λ_max is exact to round-off, and the trace as Σ_i e_iᵀ∇²L e_i). Measured:
1-SAM LOWERS THE TRACE (the sharpness that 1-SAM / stochastic SAM minimizes, Wen, Ma & Li 2022;
Clara et al. 2025) but its λ_max is HIGHER than GD's (≈ 1.2–1.35×: the ℓ1 mass concentrates on
the k support coordinates, and λ_max follows the largest u_i² + v_i²); full-batch n-SAM, which
penalizes λ_max, lowers λ_max (≈ 0.45–0.6×) but its test error is ≈ 2× WORSE than GD's. So
``flatter`` is the trace claim for 1-SAM and ``nsam-lower-lambda-max`` the λ_max claim for n-SAM;
1-SAM's λ_max and n-SAM's test error are reported in ``measured``, not claimed.

Claims and tolerances. Every comparison is PAIRED over R seeds (each seed draws its own X, β*;
quick R = 10, full R = 16): r_s = log(m_A,s / m_B,s) for a metric m, and the claim is that the
upper one-sided confidence bound exp(mean r + t_{R−1}(1 − 1e-3)·SE(r)) of the geometric-mean ratio
is below a margin — the tolerance comes from the seeds' spread (SE), and the margin makes the claim
about a real effect, not a 1% one (SGD vs GD is ≈ 0.99 on every metric):
- ``interpolates``: every final training loss ≤ 1e-2 × its initial loss (normalized SAM with a
  fixed ρ keeps bouncing around the minimizer manifold: measured ≤ 2.3e-3 for 1-SAM, ≤ 8e-6 for
  n-SAM, ≤ 5e-19 for GD and SGD), so the methods are compared at (near-)interpolators.
- ``sparser``: ℓ1 ratio 1-SAM/GD, upper bound ≤ 0.9 (measured ≈ 0.6).
- ``flatter``: tr∇²L ratio 1-SAM/GD, upper bound ≤ 0.9 (measured ≈ 0.4–0.5).
- ``nsam-lower-lambda-max``: λ_max ratio n-SAM/GD, upper bound ≤ 0.9 (measured ≈ 0.45–0.6).
- ``lower-test-error``: test-error ratio 1-SAM/GD, upper bound ≤ 0.5 (measured ≈ 0.03).
- ``beats-sgd``: the same test-error bound against SGD with batch 1 — the gain is SAM's, not the
  minibatch noise's.

Broken setting: ρ = 0 (1-SAM becomes exactly SGD with batch 1, n-SAM exactly GD): ``sparser``,
``flatter``, ``nsam-lower-lambda-max``, ``lower-test-error`` and ``beats-sgd`` fail (ratios ≈ 0.99
and exactly 1).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from implicit_bias.reproduce import Claim, Figure  # noqa: E402

NAME = "sam-flatness"
CLAIM = ("1-SAM on a diagonal network u²−v² (sparse regression, n < d) ends sparser, flatter and with "
         "lower test error than GD from the same init.")
SOURCE = "Andriushchenko & Flammarion 2022, 'Towards understanding sharpness-aware minimization', Sec. 4"
MINUTES = (0.9, 4.0)
ALPHA = 0.1
RHO = 0.1
LEVEL = 1e-3
INTERP_TOL = 1e-2
MARGINS = {"sparser": 0.9, "flatter": 0.9, "nsam-lower-lambda-max": 0.9, "lower-test-error": 0.5, "beats-sgd": 0.5}
TRAINERS = ("gd", "sgd", "sam", "nsam")


def _setting(quick: bool) -> dict:
    if quick:
        return {"n": 20, "d": 60, "k": 3, "lr": 0.01, "steps": 40_000, "seeds": 10}
    return {"n": 40, "d": 200, "k": 5, "lr": 0.005, "steps": 100_000, "seeds": 16}


def _trainer(kind: str, s: dict) -> dict:
    base = {"lr": s["lr"], "steps": s["steps"], "log_every": s["steps"] // 50}
    if kind == "gd":
        return {"kind": "gd", **base}
    if kind == "sgd":
        return {"kind": "sgd", "batch_size": 1, **base}
    if kind == "nsam":
        return {"kind": "sam", "variant": "sam", "rho": RHO, "batch_size": 0, **base}
    return {"kind": "sam", "variant": "sam", "rho": RHO, "batch_size": 1, **base}


def configs(quick: bool) -> list[dict]:
    s = _setting(quick)
    problem = {"kind": "least_squares", "n_samples": s["n"], "n_features": s["d"], "target": "sparse",
               "sparsity": s["k"]}
    model = {"kind": "diagonal", "form": "difference", "power": 2, "alpha": ALPHA}
    return [{"name": f"{kind}-s{seed}", "seed": seed, "problem": problem, "model": model,
             "trainer": _trainer(kind, s)} for seed in range(s["seeds"]) for kind in TRAINERS]


def BROKEN(config: dict) -> dict:  # noqa: N802 - the module contract's name
    """ρ = 0: 1-SAM without its perturbation is SGD with batch 1."""
    if config["trainer"]["kind"] == "sam":
        config["trainer"]["rho"] = 0.0
    return config


def hessian_sharpness(config: dict, params: dict) -> tuple[float, float]:
    """(λ_max, trace) of ∇²L(θ), L the training loss (no penalty) of ``config``'s problem and
    model, at ``params``: matrix-free Hessian-vector products; λ_max by Lanczos run for as many
    steps as parameters (exact up to round-off), the trace from the d products e_iᵀHe_i."""
    import jax.numpy as jnp

    from implicit_bias.core.curvature import hessian_top_eigenvalues, hessian_trace_exact
    from implicit_bias.engine import resolve
    from implicit_bias.engine import Experiment

    objective = Experiment.build(resolve(config)).objective
    params = {k: jnp.asarray(v) for k, v in params.items()}
    d = sum(v.size for v in params.values())
    lam_max = hessian_top_eigenvalues(objective.data_loss, params, k=1, num_iter=d)[0]
    return float(lam_max), float(hessian_trace_exact(objective.data_loss, params))


def paired_ratio(a: np.ndarray, b: np.ndarray) -> dict:
    """Geometric-mean ratio a/b over paired seeds and its one-sided upper confidence bound at
    level ``LEVEL`` (t interval on r_s = log(a_s/b_s)); ``ratio`` = exp(mean r)."""
    r = np.log(np.asarray(a) / np.asarray(b))
    se = r.std(ddof=1) / np.sqrt(len(r))
    upper = r.mean() + stats.t.ppf(1 - LEVEL, len(r) - 1) * se
    return {"ratio": float(np.exp(r.mean())), "upper_bound": float(np.exp(upper)),
            "worst_seed": float(np.exp(r.max())), "seeds": len(r)}


def _passes(stat: dict, margin: float) -> bool:
    return bool(np.isfinite(stat["upper_bound"]) and stat["upper_bound"] <= margin)


def analyze(runs: dict, quick: bool) -> tuple[list[Claim], list[Figure]]:
    s = _setting(quick)
    seeds = range(s["seeds"])
    m: dict[str, dict[str, np.ndarray]] = {k: {} for k in TRAINERS}
    for kind in TRAINERS:
        res = [runs[f"{kind}-s{seed}"] for seed in seeds]
        m[kind]["l1"] = np.array([np.abs(r.end_to_end).sum() for r in res])
        m[kind]["test"] = np.array([float(r.trajectory["test_error"].iloc[-1]) for r in res])
        m[kind]["loss"] = np.array([float(r.trajectory["loss"].iloc[-1] / r.trajectory["loss"].iloc[0])
                                    for r in res])
        sharpness = [hessian_sharpness(r.config, r.params) for r in res]
        m[kind]["sharp"] = np.array([lam for lam, _ in sharpness])
        m[kind]["trace"] = np.array([trace for _, trace in sharpness])
        mags = [np.abs(np.asarray(r.end_to_end)) for r in res]
        m[kind]["large"] = np.array([int(np.sum(b > 0.01 * b.max())) for b in mags])
    sparse = paired_ratio(m["sam"]["l1"], m["gd"]["l1"])
    flat = paired_ratio(m["sam"]["trace"], m["gd"]["trace"])
    lam = paired_ratio(m["sam"]["sharp"], m["gd"]["sharp"])
    lam_nsam = paired_ratio(m["nsam"]["sharp"], m["gd"]["sharp"])
    test = paired_ratio(m["sam"]["test"], m["gd"]["test"])
    vs_sgd = paired_ratio(m["sam"]["test"], m["sgd"]["test"])
    sgd_vs_gd = paired_ratio(m["sgd"]["test"], m["gd"]["test"])
    nsam_vs_gd = paired_ratio(m["nsam"]["test"], m["gd"]["test"])
    worst_loss = {k: float(m[k]["loss"].max()) for k in TRAINERS}

    def med(kind, key):
        return float(np.median(m[kind][key]))

    bound = f"upper {1 - LEVEL:.3f} confidence bound of the geometric-mean ratio"
    claims = [
        Claim("interpolates", "GD, SGD, 1-SAM and n-SAM all (nearly) interpolate: final/initial training loss",
              SOURCE, worst_loss, f"max over seeds ≤ {INTERP_TOL:g}", max(worst_loss.values()) <= INTERP_TOL),
        Claim("sparser", "1-SAM ends at a smaller ℓ1 norm than GD from the same init (paired over seeds)", SOURCE,
              {**sparse, "median_l1_gd": med("gd", "l1"), "median_l1_sam": med("sam", "l1"),
               "median_coords_above_1pct_gd": med("gd", "large"),
               "median_coords_above_1pct_sam": med("sam", "large")},
              f"{bound} SAM/GD ≤ {MARGINS['sparser']}", _passes(sparse, MARGINS["sparser"])),
        Claim("flatter", "1-SAM ends at a flatter minimum: smaller trace of the training-loss Hessian (the "
              "sharpness 1-SAM minimizes, Wen et al. 2022); its λ_max is reported, not claimed", SOURCE,
              {**flat, "median_trace_gd": med("gd", "trace"), "median_trace_sam": med("sam", "trace"),
               "lambda_max_ratio_sam_gd": lam["ratio"], "lambda_max_upper_bound": lam["upper_bound"],
               "median_lambda_max_gd": med("gd", "sharp"), "median_lambda_max_sam": med("sam", "sharp")},
              f"{bound} of tr∇²L SAM/GD ≤ {MARGINS['flatter']}", _passes(flat, MARGINS["flatter"])),
        Claim("nsam-lower-lambda-max", "full-batch (n-)SAM ends at a smaller largest Hessian eigenvalue "
              "λ_max(∇²L) than GD (the sharpness n-SAM minimizes; its test error is reported, not claimed)",
              SOURCE, {**lam_nsam, "median_lambda_max_gd": med("gd", "sharp"),
                       "median_lambda_max_nsam": med("nsam", "sharp"), "test_error_ratio_nsam_gd": nsam_vs_gd["ratio"]},
              f"{bound} of λ_max n-SAM/GD ≤ {MARGINS['nsam-lower-lambda-max']}",
              _passes(lam_nsam, MARGINS["nsam-lower-lambda-max"])),
        Claim("lower-test-error", "1-SAM has a lower test error ‖β − β*‖/‖β*‖ than GD", SOURCE,
              {**test, "median_test_gd": med("gd", "test"), "median_test_sam": med("sam", "test")},
              f"{bound} SAM/GD ≤ {MARGINS['lower-test-error']}", _passes(test, MARGINS["lower-test-error"])),
        Claim("beats-sgd", "the gain is SAM's, not the minibatch noise's: 1-SAM beats SGD (batch 1) too", SOURCE,
              {**vs_sgd, "median_test_sgd": med("sgd", "test"), "sgd_over_gd_ratio": sgd_vs_gd["ratio"]},
              f"{bound} of the test error SAM/SGD ≤ {MARGINS['beats-sgd']}", _passes(vs_sgd, MARGINS["beats-sgd"])),
    ]
    return claims, _figures(runs, m, s, (sparse, flat, test, lam, lam_nsam))


def _figures(runs: dict, m: dict, s: dict, stats_: tuple) -> list[Figure]:
    sparse, flat, test, lam, lam_nsam = stats_
    labels = {"gd": "GD (full batch)", "sgd": "SGD (batch 1)", "sam": f"1-SAM (ρ = {RHO:g}, batch 1)",
              "nsam": f"n-SAM (ρ = {RHO:g}, full batch)"}
    seeds = range(s["seeds"])
    fig, ax = plt.subplots(figsize=(7, 4.4))
    for i, kind in enumerate(TRAINERS):
        curves = [runs[f"{kind}-s{seed}"].trajectory for seed in seeds]
        for c in curves:
            ax.semilogy(c["step"], c["test_error"], color=f"C{i}", alpha=0.25, lw=0.8)
        ax.semilogy(curves[0]["step"], np.median([c["test_error"].to_numpy() for c in curves], axis=0),
                    color=f"C{i}", lw=2, label=f"{labels[kind]} (median of {len(curves)} seeds)")
    ax.set(xlabel="step", ylabel="test error ‖β − β*‖ / ‖β*‖",
           title=f"sparse regression n = {s['n']}, d = {s['d']}, k = {s['k']}, u = v = α = {ALPHA:g}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    cap1 = (f"Test error along training, same init and lr for all: 1-SAM ends {1 / test['ratio']:.0f}× lower than GD "
            f"(geometric mean over seeds; upper {1 - LEVEL:.3f} bound of the ratio {test['upper_bound']:.3f}); SGD with "
            f"the same batch size tracks GD.")

    fig2, ax2 = plt.subplots(figsize=(9, 4.2))
    r = {k: runs[f"{k}-s0"] for k in ("gd", "sam")}
    from implicit_bias.engine import make_problem
    from implicit_bias.engine import section_settings

    gd_config = r["gd"].config
    truth = np.asarray(make_problem(section_settings("problem", gd_config["problem"]), gd_config["seed"]).ground_truth)
    idx = np.arange(s["d"])
    support = np.flatnonzero(truth)
    ax2.stem(support, truth[support], linefmt="k-", markerfmt="ko", basefmt=" ", label="teacher β* (its support)")
    ax2.axhline(0, color="grey", lw=0.6)
    ax2.plot(idx - 0.2, r["gd"].end_to_end, "s", ms=4, color="C0", label=f"GD (ℓ1 {m['gd']['l1'][0]:.2f})")
    ax2.plot(idx + 0.2, r["sam"].end_to_end, "^", ms=4, color="C2", label=f"1-SAM (ℓ1 {m['sam']['l1'][0]:.2f})")
    ax2.set(xlabel="coordinate i", ylabel="final coefficient β_i = u_i² − v_i²", title="seed 0: final coefficients")
    ax2.legend(fontsize=8)
    fig2.tight_layout()
    cap2 = (f"Final coefficients (seed 0): GD spreads mass off the support, 1-SAM is close to the sparse teacher; "
            f"ℓ1 ratio SAM/GD {sparse['ratio']:.2f} over seeds (upper bound {sparse['upper_bound']:.2f}).")

    fig3, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax_, key, title in ((axes[0], "trace", "trace of ∇²L at the solution"),
                            (axes[1], "sharp", "largest eigenvalue λ_max(∇²L) at the solution"),
                            (axes[2], "l1", "ℓ1 norm ‖β‖₁ of the solution")):
        for seed in seeds:
            ax_.plot(range(len(TRAINERS)), [m[k][key][seed] for k in TRAINERS], "o-", color="grey", alpha=0.5)
        ax_.set_xticks(range(len(TRAINERS)), [labels[k].replace(" (", "\n(") for k in TRAINERS], fontsize=7)
        ax_.set(ylabel=title, title=title + "\n(one line per seed)")
        ax_.set_yscale("log")
    fig3.tight_layout()
    cap3 = (f"Flatness per seed, Hessian of the training loss in (u, v) at the final parameters: 1-SAM/GD ratio "
            f"of the trace {flat['ratio']:.2f} (upper bound {flat['upper_bound']:.2f}) — 1-SAM minimizes the trace; "
            f"of λ_max {lam['ratio']:.2f} (NOT lower: the mass concentrates on the support), while full-batch n-SAM "
            f"lowers λ_max ({lam_nsam['ratio']:.2f}); ℓ1 ratio 1-SAM/GD {sparse['ratio']:.2f}.")
    return [Figure("sam_flatness_test_error", fig, cap1), Figure("sam_flatness_coefficients", fig2, cap2),
            Figure("sam_flatness_sharpness", fig3, cap3)]
