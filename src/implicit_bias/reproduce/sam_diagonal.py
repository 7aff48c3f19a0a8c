"""sam-diagonal (Clara, "Regularization in the Age of Machine Learning" (slides, 2025); Clara et al.
2025): on the diagonal network w = w2 ⊙ w1 (our product model
β = u ⊙ v, u = w1, v = w2) with an orthogonal design, stochastic SAM with ξ ~ N(0, η²I) minimizes
C(θ) + (η²/2)‖θ‖² (its "flatness term"), whose minimizers soft-threshold the target: coordinates
with |w*_i| ≤ η² go to exactly 0 and the others to |w1_i| = |w2_i| = √(|w*_i| − η²), i.e.
β_i = sign(w*_i)(|w*_i| − η²); and the imbalance w1² − w2² decays like e^{−2η²t}.

The setting (the one of tests/test_trainer_dynamics.py §4): seed 2, n = d = 6 with XᵀX = n·I, so
our loss (1/n)Σ½(x_iᵀβ − y_i)² with y = Xw* IS the slides' ½‖w* − w2⊙w1‖²; w* = [−0.722, −1.431,
−0.220, 0.732, 0.172, 2.848], η² = 0.36 (every |w*_i| is ≥ 0.14 away from the threshold), init
u = v = α = 0.5.

The math (Clara's slides; Clara et al. 2025). (i) Flatness term: with C = ½‖w* − v⊙u‖²,
E_ξ C(θ + ξ) = C(θ) + (η²/2)(‖u‖² + ‖v‖²) + dη⁴/2 exactly (C is quadratic in each factor), and
(η²/2)(‖u‖² + ‖v‖²) = (η²/2)·tr∇²C(θ), the second-order "flatness" E f(θ+ξ) − f(θ) ≈ (η²/2)tr∇²f
of the slides, exact here. So the stochastic SAM step ∇C(θ + ξ) is an unbiased estimate of
∇C(θ) + η²θ, the gradient of the ℓ2-penalized loss (our ``l2`` penalty on the parameters, weight
η²). (ii) Critical points (the slides' theorem): |u_i| = |v_i| = √(|w*_i| − η²) on a set S ⊂
{|w*_i| ≥ η²}, 0 off S, sign(u_i v_i) = sign(w*_i). (iii) Balancedness: under the penalized flow
d/dt(u² − v²) = −2η²(u² − v²), for any design.

What we run and claim:
- ``soft-threshold-zeros`` / ``soft-threshold-shrinks``: GD (lr 0.05, t = 200) on the ℓ2-penalized
  loss from u = v = α. Its updates are symmetric, so u = v > 0 for all time and β = u² ≥ 0: the
  coordinates reach S = {w*_i > η²}; the negative ones go to the saddle 0 (a property of this init,
  not of the theorem — stochastic SAM below reaches them). Zeros: for |w*_i| < η², u_i shrinks by
  (1 − lr(η² − w*_i + u_i²)) ≤ 1 − 0.007 per step, so |β_i| ≤ α²(1 − 0.007)^{2·4000} ≈ 1e-25 is
  predicted; the tolerance is 10 ε_float64 · max|w*| ≈ 6e-15, i.e. exactly 0 at the resolution of
  the problem (a ridge penalty on β would instead give w*_i/(1 + η²) ≈ 0.16, not 0). Shrunk
  coordinates: GD's fixed points are exactly the critical points (no O(lr) bias at a fixed point)
  and the local contraction 1 − 4 lr (w*_i − η²) ≤ 0.93 per step makes the transient e^{−290}, so
  u_i, v_i match √(w*_i − η²) to rounding; tolerance 1e-12.
- ``stochastic-sam-soft-threshold``: stochastic SAM (ρ = η, lr 0.01) chains on the UNPENALIZED
  loss; the noise breaks u = v, so the negative coordinates also reach u = −v. Estimator: per chain
  the average of β over 50 snapshots 2 time units apart after a burn-in t = 60; tolerance per
  coordinate 5 SE (between-chain spread) + 2 lr (the O(lr) stationary bias of a constant-step
  stochastic approximation; measured ≈ 0.9 lr on the worst coordinate). The claim also requires the
  same tolerance to reject w*, the u = v point (negatives at 0) and the η²/2 threshold.
- ``balancedness-decay``: the penalized flow (diffrax, rtol 1e-10) from a hand-made UNBALANCED init
  (our model always starts balanced, so this part calls the trainer directly on the run's
  objective); per coordinate, least-squares slope of log|u_i² − v_i²| against t on 21 times in
  [0, 4]; claim |rate_i − 2η²| ≤ max(5·SE_i, 1e-6·2η²) (the fit's standard error, floored at the
  solver's relative accuracy) and the rate η² of a mis-scaled penalty is rejected (≥ 100× tol away).
- ``flatness-term``: at 4 points θ (init, the penalized-GD iterate at t = 0.5 and its end, the SAM endpoint),
  Monte-Carlo (K draws ξ ~ N(0, ρ²I), ρ from the SAM run's config) of E C(θ+ξ) − C(θ) against
  (η²/2)tr∇²C(θ) + dη⁴/2, and of the mean stochastic-SAM gradient (the trainer's own oracle)
  against ∇C(θ) + η²θ; every z-score ≤ 4.5 (Bonferroni over ≤ 52 tests at level 3e-4), and the
  plain ∇C is rejected (some |z| > 20).

Broken setting: ρ = 0 and no penalty (SAM → GD): nothing thresholds, the imbalance is conserved
and the flatness term is 0, so ``soft-threshold-zeros``, ``stochastic-sam-soft-threshold``,
``balancedness-decay`` and ``flatness-term`` fail.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from implicit_bias.reproduce import Claim, Figure  # noqa: E402

NAME = "sam-diagonal"
CLAIM = ("Stochastic SAM / its ℓ2 penalty on w2⊙w1 soft-thresholds w* at η² (exact zeros, √(|w*|−η²) per "
         "factor); u²−v² decays as e^{−2η²t}; the flatness term is (η²/2)tr∇²C.")
SOURCE = ("Clara, 'Regularization in the Age of Machine Learning' (slides, 2025); "
          "Clara et al. 2025, 'Training diagonal linear "
          "networks with stochastic sharpness-aware minimization' (arXiv 2503.11891)")
MINUTES = (1.1, 1.3)
SEED = 2
ETA2 = 0.36
ALPHA = 0.5
PROBLEM = {"kind": "least_squares", "n_samples": 6, "n_features": 6, "design": "orthogonal"}
MODEL = {"kind": "diagonal", "form": "product", "alpha": ALPHA}
GD_LR, GD_STEPS = 0.05, 4000
SAM_LR, BURN_IN, SEGMENT, N_SEG = 0.01, 60.0, 2.0, 50
ZERO_TOL = 10 * np.finfo(np.float64).eps * 2.848  # 10 ε · max|w*|
SHRINK_TOL = 1e-12
FLOW_T, FLOW_POINTS = 4.0, 21
Z_MAX = 4.5


def _chains(quick: bool) -> int:
    return 6 if quick else 24


def _mc_draws(quick: bool) -> int:
    return 20_000 if quick else 200_000


def configs(quick: bool) -> list[dict]:
    sam_steps = round((BURN_IN + N_SEG * SEGMENT) / SAM_LR)
    return [
        {"name": "l2-gd", "seed": SEED, "problem": PROBLEM, "model": MODEL,
         "penalty": {"kind": "l2", "on": "params", "weight": ETA2},
         "trainer": {"kind": "gd", "lr": GD_LR, "steps": GD_STEPS, "log_every": 10}},
        {"name": "l2-flow", "seed": SEED, "problem": PROBLEM, "model": MODEL,
         "penalty": {"kind": "l2", "on": "params", "weight": ETA2},
         "trainer": {"kind": "flow", "t_max": FLOW_T, "log_dt": FLOW_T / (FLOW_POINTS - 1), "rtol": 1e-10,
                     "atol": 1e-12}},
        {"name": "stochastic-sam", "seed": SEED, "problem": PROBLEM, "model": MODEL,
         "trainer": {"kind": "sam", "variant": "stochastic", "rho": float(np.sqrt(ETA2)), "lr": SAM_LR,
                     "steps": sam_steps, "log_every": round(SEGMENT / SAM_LR)}},
    ]


def BROKEN(config: dict) -> dict:  # noqa: N802 - the module contract's name
    """SAM without perturbation (ρ = 0) and no ℓ2 penalty: plain GD on C."""
    if "penalty" in config:
        config["penalty"]["weight"] = 0.0
    if config["trainer"]["kind"] == "sam":
        config["trainer"]["rho"] = 0.0
    return config


def soft_threshold(w: np.ndarray, t: float) -> np.ndarray:
    """sign(w)(|w| − t)₊, the minimizer of ½(w − β)² + t|β| (and of the slides' penalized loss in β)."""
    return np.sign(w) * np.maximum(np.abs(w) - t, 0.0)


def _experiment(config: dict):
    from implicit_bias.engine import resolve
    from implicit_bias.engine import Experiment

    return Experiment.build(resolve(config))


def _snapshots(config: dict, key, params0=None) -> tuple[np.ndarray, list[dict]]:
    """Replay a discrete run (or a chain with another key), returning (times, params) at every
    ``log_every`` steps via the trainer's checkpoint hook."""
    from implicit_bias.engine import section_settings
    from implicit_bias.engine import train

    experiment = _experiment(config)
    trainer = section_settings("trainer", experiment.config["trainer"])
    trainer = trainer.replace(checkpoint_every=trainer.log_every)
    snaps = [(0, experiment.params0 if params0 is None else params0)]
    train(experiment.objective, snaps[0][1], trainer, key=key,
          on_checkpoint=lambda c: snaps.append((c.step, c.params)))
    lr = trainer.lr
    return (np.array([s * lr for s, _ in snaps]),
            [{k: np.asarray(v) for k, v in p.items()} for _, p in snaps])


def _balancedness(config: dict) -> dict:
    """The penalized flow of ``config`` from a fixed unbalanced init; fitted decay rates."""
    import jax.numpy as jnp

    from implicit_bias.engine import named_key
    from implicit_bias.engine import section_settings
    from implicit_bias.engine import train

    experiment = _experiment(config)
    rng = np.random.default_rng(1)
    params0 = {"u": jnp.asarray(rng.normal(size=6)), "v": jnp.asarray(rng.normal(size=6))}
    times = np.linspace(0.0, FLOW_T, FLOW_POINTS)
    imbalance = [np.asarray(params0["u"] ** 2 - params0["v"] ** 2)]
    for t in times[1:]:
        trainer = section_settings("trainer", dict(experiment.config["trainer"], t_max=float(t), log_dt=float(t)))
        p = train(experiment.objective, params0, trainer, key=named_key(0, "sampling")).params
        imbalance.append(np.asarray(p["u"] ** 2 - p["v"] ** 2))
    imbalance = np.asarray(imbalance)
    rates, ses = [], []
    for i in range(imbalance.shape[1]):
        y = np.log(np.abs(imbalance[:, i]))
        A = np.vstack([times, np.ones_like(times)]).T
        coef, *_ = np.linalg.lstsq(A, y, rcond=None)
        resid = y - A @ coef
        s2 = resid @ resid / (len(times) - 2)
        se = float(np.sqrt(s2 / np.sum((times - times.mean()) ** 2)))
        rates.append(-float(coef[0]))
        ses.append(se)
    return {"times": times, "imbalance": imbalance, "rates": np.array(rates), "ses": np.array(ses)}


def _flatness(sam_config: dict, points: list[dict], draws: int) -> dict:
    """Monte-Carlo E C(θ+ξ) − C(θ) and the mean stochastic-SAM oracle gradient at ``points``, with
    their standard errors, against (η²/2)tr∇²C + dη⁴/2 and ∇C + η²θ (η² = ETA2)."""
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from implicit_bias.core.curvature import hessian_trace_exact
    from implicit_bias.engine import named_key
    from implicit_bias.engine import section_settings
    from implicit_bias.engine import StepSpec, oracle
    from implicit_bias.engine import hyperparameters

    experiment = _experiment(sam_config)
    objective, trainer = experiment.objective, section_settings("trainer", experiment.config["trainer"])
    rho = float(trainer.rho)
    spec, hyper = StepSpec.from_settings(trainer), hyperparameters(trainer, jnp.float64)
    keys = jax.random.split(named_key(0, "flatness"), draws)
    z_value, z_grad, z_plain, rows = [], [], [], []
    for params in points:
        params = {k: jnp.asarray(v) for k, v in params.items()}
        theta, unravel = ravel_pytree(params)
        d = theta.size // 2

        def perturbed_value(key, theta=theta, unravel=unravel):
            return objective(unravel(theta + rho * jax.random.normal(key, theta.shape, theta.dtype)))

        values = np.asarray(jax.lax.map(perturbed_value, keys, batch_size=1000)) - float(objective(params))
        hess_trace = float(hessian_trace_exact(objective, params))  # Σ_i e_iᵀ∇²C e_i, matrix-free
        predicted = ETA2 / 2 * hess_trace + d * ETA2**2 / 2
        se = values.std(ddof=1) / np.sqrt(draws)
        with np.errstate(divide="ignore", invalid="ignore"):  # ρ = 0 (broken): se = 0, z = ±inf or nan
            z_value.append(np.nan_to_num((values.mean() - predicted) / se, nan=np.inf))
        grads = jax.lax.map(lambda key, params=params: ravel_pytree(oracle(objective, spec, hyper, params, key)[1])[0],
                            keys, batch_size=1000)
        grads = np.asarray(grads)
        g_mean, g_se = grads.mean(axis=0), grads.std(axis=0, ddof=1) / np.sqrt(draws)
        plain = np.asarray(ravel_pytree(jax.grad(objective)(params))[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            z_grad.append(np.nan_to_num(np.max(np.abs((g_mean - plain - ETA2 * np.asarray(theta)) / g_se)), nan=np.inf))
            z_plain.append(np.nan_to_num(np.max(np.abs((g_mean - plain) / g_se)), nan=0.0))
        rows.append({"flatness_mc": float(values.mean()), "flatness_se": float(se), "predicted": predicted,
                     "half_eta2_trace_hessian": ETA2 / 2 * hess_trace, "half_eta2_sq_norm": ETA2 / 2 * float(theta @ theta)})
    return {"z_value": np.array(z_value), "z_grad": np.array(z_grad), "z_plain": np.array(z_plain), "rows": rows,
            "rho": rho}


def analyze(runs: dict, quick: bool) -> tuple[list[Claim], list[Figure]]:
    import jax

    from implicit_bias.engine import named_key

    gd, sam = runs["l2-gd"], runs["stochastic-sam"]
    w_star = np.asarray(_experiment(gd.config).objective.problem.ground_truth)
    target = soft_threshold(w_star, ETA2)
    below, above_pos = np.abs(w_star) <= ETA2, w_star > ETA2

    # --- penalized GD: exact zeros and the closed form
    beta = np.asarray(gd.end_to_end)
    u, v = np.asarray(gd.params["u"]), np.asarray(gd.params["v"])
    zeros = float(np.max(np.abs(beta[below])))
    envelope = float(np.max(ALPHA**2 * (1 - GD_LR * (ETA2 - np.abs(w_star[below]))) ** (2 * GD_STEPS)))
    root = np.sqrt(np.maximum(w_star - ETA2, 0.0))
    shrink_err = float(max(np.max(np.abs(u - root)[above_pos]), np.max(np.abs(v - root)[above_pos])))
    beta_err = float(np.max(np.abs(beta - target)[above_pos]))

    # --- stochastic SAM chains (chain 0 = the run itself, checked by replay)
    chains = _chains(quick)
    base_key = named_key(SEED, "sampling")
    burn = round(BURN_IN / SEGMENT)
    chain_means, trajectories = [], []
    replay_gap = None
    for c in range(chains):
        key = base_key if c == 0 else jax.random.fold_in(base_key, c)
        times, snaps = _snapshots(sam.config, key)
        betas = np.array([p["u"] * p["v"] for p in snaps])
        if c == 0:
            replay_gap = float(np.max(np.abs(betas[-1] - np.asarray(sam.end_to_end))))
            trajectories.append((times, betas))
        chain_means.append(betas[burn + 1:].mean(axis=0))
    chain_means = np.asarray(chain_means)
    mean = chain_means.mean(axis=0)
    se = chain_means.std(axis=0, ddof=1) / np.sqrt(chains)
    tol = 5 * se + 2 * SAM_LR
    sam_ok = bool(np.all(np.abs(mean - target) <= tol))
    controls = {"w_star": w_star, "u_equals_v_point": np.maximum(target, 0.0),
                "threshold_eta2_over_2": soft_threshold(w_star, ETA2 / 2)}
    rejected = {k: bool(np.any(np.abs(mean - c) > 3 * tol)) for k, c in controls.items()}

    # --- balancedness under the penalized flow
    bal = _balancedness(runs["l2-flow"].config)
    rate_tol = np.maximum(5 * bal["ses"], 1e-6 * 2 * ETA2)
    rate_ok = bool(np.all(np.abs(bal["rates"] - 2 * ETA2) <= rate_tol))
    wrong_rejected = bool(np.all(np.abs(bal["rates"] - ETA2) > 100 * rate_tol))

    # --- flatness term
    _, gd_snaps = _snapshots(gd.config, named_key(SEED, "sampling"))
    points = [gd_snaps[0], gd_snaps[1], gd_snaps[-1],
              {k: np.asarray(val) for k, val in sam.params.items()}]
    flat = _flatness(sam.config, points, _mc_draws(quick))
    flat_ok = bool(np.all(np.abs(flat["z_value"]) <= Z_MAX) and np.all(flat["z_grad"] <= Z_MAX)
                   and np.max(flat["z_plain"]) > 20)

    claims = [
        Claim("soft-threshold-zeros", f"ℓ2-penalized GD (η² = {ETA2}): coordinates with |w*_i| ≤ η² end at exactly 0",
              SOURCE, {"max_abs_beta_below_threshold": zeros, "predicted_envelope": envelope,
                       "coordinates": np.flatnonzero(below).tolist()},
              f"≤ {ZERO_TOL:.1e} (10 ε_float64 · max|w*|)", zeros <= ZERO_TOL),
        Claim("soft-threshold-shrinks", "ℓ2-penalized GD: coordinates with w*_i > η² end at u_i = v_i = √(w*_i − η²), "
              "β_i = w*_i − η² (negative w*_i: u = v stays ≥ 0, they go to the saddle 0)", SOURCE,
              {"max_factor_error": shrink_err, "max_beta_error": beta_err,
               "negative_coords_max_abs": float(np.max(np.abs(beta[w_star < -ETA2])))},
              f"≤ {SHRINK_TOL:g}", shrink_err <= SHRINK_TOL and beta_err <= SHRINK_TOL),
        Claim("stochastic-sam-soft-threshold", f"stochastic SAM (ρ = η, {chains} chains, time-averaged) lands on "
              "sign(w*)(|w*| − η²)₊ for every coordinate, negative ones included", SOURCE,
              {"mean": mean.tolist(), "target": target.tolist(), "tolerance": tol.tolist(),
               "controls_rejected": rejected, "replay_gap_chain0": replay_gap},
              "|mean − target| ≤ 5 SE + 2 lr per coordinate, and w*, the u = v point and the η²/2 threshold rejected",
              sam_ok and all(rejected.values())),
        Claim("balancedness-decay", "under the penalized flow, u_i² − v_i² = e^{−2η²t}(u_i² − v_i²)(0): fitted rates",
              SOURCE, {"rates": bal["rates"].tolist(), "standard_errors": bal["ses"].tolist(), "2_eta2": 2 * ETA2,
                       "rate_eta2_rejected": wrong_rejected},
              "|rate − 2η²| ≤ max(5 SE, 1e-6·2η²) per coordinate; rate η² rejected", rate_ok and wrong_rejected),
        Claim("flatness-term", "stochastic SAM's flatness term E C(θ+ξ) − C(θ) = (η²/2)tr∇²C(θ) + dη⁴/2, and its "
              "mean step is ∇C + η²θ (the ℓ2-penalized gradient)", SOURCE,
              {"z_flatness": flat["z_value"].tolist(), "max_z_gradient": flat["z_grad"].tolist(),
               "max_z_against_plain_gradient": flat["z_plain"].tolist(), "points": flat["rows"],
               "draws": _mc_draws(quick), "rho": flat["rho"]},
              f"every |z| ≤ {Z_MAX} and the plain ∇C rejected (max |z| > 20)", flat_ok),
    ]
    return claims, _figures(gd, gd_snaps, trajectories[0], w_star, target, bal)


def _figures(gd, gd_snaps, sam_traj, w_star, target, bal) -> list[Figure]:
    times_gd = np.arange(len(gd_snaps)) * gd.config["trainer"]["log_every"] * GD_LR
    betas_gd = np.array([p["u"] * p["v"] for p in gd_snaps])
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6), sharey=True)
    for i in range(len(w_star)):
        left.plot(times_gd, betas_gd[:, i], color=f"C{i}", label=f"β_{i} (w*_{i} = {w_star[i]:+.2f})")
        left.axhline(target[i], color=f"C{i}", ls="--", lw=0.8)
        right.plot(sam_traj[0], sam_traj[1][:, i], color=f"C{i}", lw=0.6)
        right.axhline(target[i], color=f"C{i}", ls="--", lw=0.8)
    for ax in (left, right):
        ax.axhspan(-ETA2, ETA2, color="grey", alpha=0.12, label="|w*| ≤ η² (thresholded to 0)")
        ax.set(xlabel="time t = lr × step")
    left.set_xscale("symlog", linthresh=1.0)
    left.set_xlim(0, times_gd[-1])
    left.set(ylabel="β_i = u_i v_i", title=f"ℓ2-penalized GD (η² = {ETA2}) from u = v = {ALPHA}")
    right.set(title=f"stochastic SAM (ρ = η = {np.sqrt(ETA2):.2f}, lr {SAM_LR}), one chain")
    left.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    cap1 = (f"Coordinates of w2⊙w1 against time; dashed: the soft-thresholded targets sign(w*)(|w*| − η²)₊, grey band: "
            f"the threshold |w*| ≤ η² = {ETA2}. Penalized GD keeps u = v ≥ 0, so negative coordinates stop at 0; "
            f"stochastic SAM fluctuates around every target, negative ones included.")

    fig2, ax = plt.subplots(figsize=(7, 4.4))
    ratio = np.abs(bal["imbalance"] / bal["imbalance"][0])
    for i in range(ratio.shape[1]):
        ax.semilogy(bal["times"], ratio[:, i], "o", ms=3, color=f"C{i}",
                    label=f"coordinate {i}: fitted rate {bal['rates'][i]:.6f}")
    ax.semilogy(bal["times"], np.exp(-2 * ETA2 * bal["times"]), "k-", lw=1, label=f"e^(−2η²t), 2η² = {2 * ETA2}")
    ax.semilogy(bal["times"], np.exp(-ETA2 * bal["times"]), "k:", lw=1, label="e^(−η²t) (mis-scaled penalty)")
    ax.set(xlabel="flow time t", ylabel="|u_i² − v_i²|(t) / |u_i² − v_i²|(0)",
           title="balancedness under the ℓ2-penalized flow (unbalanced init)")
    ax.legend(fontsize=7)
    fig2.tight_layout()
    cap2 = (f"w1² − w2² decays like e^(−2η²t) coordinate by coordinate (fitted rates {bal['rates'].min():.6f}–"
            f"{bal['rates'].max():.6f}, 2η² = {2 * ETA2}).")
    return [Figure("sam_diagonal_coordinates", fig, cap1), Figure("sam_diagonal_balancedness", fig2, cap2)]
