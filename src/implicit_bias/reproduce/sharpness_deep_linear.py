"""sharpness-deep-linear (Marion & Chizat 2024, "Deep linear networks for regression are implicitly
regularized towards flat minima").

Setting (their linear experiment, ``run_experiment.py linear`` of PierreMarion23/implicit-reg-sharpness):
overdetermined univariate regression, n = 50 Gaussian samples in d = 5, y = Xβ + noise (noise 1),
fitted by a deep linear network β = (W_N ⋯ W_1)ᵀ of depth N with hidden widths d
(``[model] kind = "deep_linear"``), every entry N(0, init_scale²), trained by full-batch GD.
Let w* be the least-squares solution, Σ = XᵀX/n, s = ‖w*‖, u = w*/s, a = uᵀΣu and Λ = λ_max(Σ).

Loss normalization. They minimize R(W) = (1/n)‖y − Xβ‖² (``jnp.mean((f − y)**2)``); our loss is
C = (1/2n)‖y − Xβ‖² = R/2, so every Hessian (and sharpness) here is half of theirs, and GD on C with
step η makes the same iterates as their GD on R with step η/2 (∇C = ∇R/2); the stability threshold
2/η is then the same statement in both normalizations (S_C ≤ 2/η ⇔ S_R ≤ 2/(η/2)). Their code also
rescales the data so that s = 1; we keep the engine's data and carry s.

Their lower bound on the sharpness of every minimizer, as their code evaluates it
(``lower_bound_sharpness_minimizers = 2 * L * a``, a = w*ᵀΣw* with the data rescaled to s = 1), is
S_R(W) ≥ 2La; for general s the same argument (below) gives S_R(W) ≥ 2 L a s^{2−2/L}, i.e. here,
with C = R/2 and L = N,

    S(W) ≥ S_min(N) = N · a · s^{2−2/N}.

(At a minimizer Xᵀr = 0, so ∇²C = JᵀΣJ (J = ∂β/∂W) exactly, and the bound follows from the rank-one
direction ∂(⟨Σu, β⟩)/∂W and AM–GM over the N factors.) Gradient flow from a small init ends at
rank-one aligned, balanced factors (their small-scale-initialization theorem); at that minimizer
JJᵀ = s^{2−2/N}(I + (N−1)uuᵀ), so its sharpness is exactly

    S_GF(N) = s^{2−2/N} · λ_max(Σ + (N−1) Σ^{1/2}uuᵀΣ^{1/2}),   1 ≤ S_GF/S_min ≤ 1 + (Λ − a)/(N a),

within the upper bound their code draws for the flow's minimizer, 8LΛ (s = 1; 4NΛs^{2−2/N} here). A minimizer with S > 2/η is
linearly unstable for GD with step η, so GD that converges ends with S ≤ 2/η, and for 2/η < S_min
no minimizer is stable: GD cannot converge.

Grid: depths N ∈ {2, 3, 4, 6}, steps η = c · 2/S_min(N) with c ∈ ``MULTIPLES`` (2/η = S_min/c, the
relative position of the ceiling above the floor, the same at every depth) and init scales
(their Figure 1's axis; quick 0.1, 0.4; full 0.1 … 0.4 and seeds 0, 1, 2, each seed its own data). c = 1.25 puts 2/η below the floor.

Claims:
- ``converges``: every run with c ≤ 0.8 that starts below the edge (ηλ₀/2 ≤ 1, λ₀ the sharpness
  at init) converges: final excess loss (C − C*)/C* ≤ 1e-10 (float64 GD reaches ~1e-16). Runs that
  start above the edge (large init and step) are counted, not claimed: most catapult to a minimizer
  below 2/η, a few diverge — their divergence-probability panel (full mode: 15 of 17 converged, the
  two that diverged started at ηλ₀/2 = 2.35 and 3.05);
- ``between-bound-and-2-over-eta``: every converged run ends with S_min(N) ≤ S ≤ 2/η (the smallest
  margins are reported: the floor is a theorem, the ceiling linear stability);
- ``no-convergence-below-bound``: every run with 2/η < S_min (c = 1.25) fails to converge (excess
  loss > 1e-6 or diverged): the floor is felt by the dynamics (their depth/step-size figure);
- ``small-init-attains-flow-minimizer``: at the smallest init (0.1) and c ≤ 0.5, S/S_GF(N) ∈
  [0.98, 1.02] (a finite init perturbs the rank-one limit at O(init²): measured ≤ 0.8 %), S ≤ their
  upper bound, and S/S_min decreases with depth towards 1 within [1, 1.02·(1 + (Λ − a)/(N a))] —
  the found minimizer is flat: within a data-dependent, depth-independent factor of the floor;
- ``larger-step-flatter``: where the minimizer found at c = 0.2 is sharper than 2/η at c = 0.8 (the
  ceiling binds), the c = 0.8 run ends flatter, just below its ceiling: ηS/2 ∈ [0.9, 1] (measured
  0.93–0.997); where it does not bind, the larger step raises S by at most 1 % (measured ≤ +0.6 %,
  and down to −4.6 %): "larger η, flatter or equal" holds up to that 1 %, not exactly;
- ``larger-init-sharper``: at the smallest step, S increases with the init scale (their Figure 1).

Batching: the runner gives every config its own ``name``, and ``name`` is not a batchable key, so
a reproduction's runs are not vmap-batched (each is its own run; the compiled step is reused across
runs of one depth within the process, so the cost is one compilation per depth plus ~0.2 s per run).
The same grid through ``execute`` with the names dropped (vmap-batched, one batch of 60 per depth)
took 87 s against 69 s unbatched (``--batch off``) on the shared machine: at these sizes batching
does not pay (compilation, the per-row Lanczos sharpness and the run files dominate).

Broken setting: every step doubled (c → 2c, the names keep the nominal c): c = 0.5 becomes 1
(2/η = S_min < S_GF) and c = 0.8 becomes 1.6, so no admissible run converges (quick: 9 of the 17
that started below the edge fail), and ``converges``, ``small-init-attains-flow-minimizer`` and
``larger-step-flatter`` fail.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import Claim, Figure  # noqa: E402

NAME = "sharpness-deep-linear"
CLAIM = ("GD on deep linear regression ends at a minimizer whose sharpness lies between the depth-linear floor "
         "N·a·s^(2−2/N) (Marion & Chizat) and 2/η; from a small init it attains the flow's rank-one minimizer, "
         "larger steps end flatter and for 2/η below the floor GD cannot converge.")
SOURCE = ("Marion & Chizat 2024, 'Deep linear networks for regression are implicitly regularized towards flat "
          "minima'")
MINUTES = (0.8, 1.5)

PROBLEM = {"kind": "least_squares", "n_samples": 50, "n_features": 5, "noise": 1.0}
DEPTHS = (2, 3, 4, 6)
#: η = c · 2/S_min(N); c > 1 puts 2/η below the floor
MULTIPLES = (0.2, 0.5, 0.8, 1.25)
ADMISSIBLE = 0.8
STEPS = 6_000


def _scales(quick: bool) -> tuple[float, ...]:
    return (0.1, 0.4) if quick else (0.1, 0.2, 0.3, 0.35, 0.4)


def _seeds(quick: bool) -> tuple[int, ...]:
    return (0,) if quick else (0, 1, 2)


def theory(X, y, depth: int) -> dict:
    """The floor S_min, the small-init flow minimizer's S_GF and their upper bound, for our loss
    (the mean of ½ residual²): half of their Hessian."""
    X, y = np.asarray(X, float), np.asarray(y, float)
    n = X.shape[0]
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    sigma = X.T @ X / n
    s = float(np.linalg.norm(w))
    u = w / s
    a = float(u @ sigma @ u)
    evals, evecs = np.linalg.eigh(sigma)
    root = evecs @ np.diag(np.sqrt(evals)) @ evecs.T
    b = root @ u
    scale = s ** (2 - 2 / depth)
    return {"s": s, "a": a, "Lambda": float(evals[-1]), "loss_min": float(0.5 * np.mean((X @ w - y) ** 2)),
            "S_min": depth * a * scale,
            "S_gf": scale * float(np.linalg.eigvalsh(sigma + (depth - 1) * np.outer(b, b))[-1]),
            "upper_code": 4 * depth * float(evals[-1]) * scale}


def _data(seed: int):
    from implicit_bias import settings as config_mod
    from implicit_bias.engine import make_problem, section_settings

    problem = config_mod.resolve({"seed": seed, "problem": PROBLEM, "model": {"kind": "linear"}})["problem"]
    P = make_problem(section_settings("problem", problem), seed)
    return np.asarray(P.X), np.asarray(P.targets)


def _name(seed: int, depth: int, c: float, scale: float) -> str:
    return f"s{seed}-N{depth}-c{c:g}-init{scale:g}"


def configs(quick: bool) -> list[dict]:
    out = []
    for seed in _seeds(quick):
        X, y = _data(seed)
        for depth in DEPTHS:
            floor = theory(X, y, depth)["S_min"]
            for c in MULTIPLES:
                for scale in _scales(quick):
                    out.append({"name": _name(seed, depth, c, scale), "seed": seed, "problem": PROBLEM,
                                "model": {"kind": "deep_linear", "widths": [PROBLEM["n_features"]] * (depth - 1),
                                          "init_scale": scale},
                                "metrics": {"sharpness": True},
                                "trainer": {"kind": "gd", "lr": c * 2 / floor, "steps": STEPS,
                                            "log_every": STEPS // 12, "stop_loss": 0.0}})
    return out


def BROKEN(config: dict) -> dict:  # noqa: N802 - the module contract's name
    """Every step doubled: c = 0.5 becomes 1 and c = 0.8 becomes 1.6, 2/η at or below the floor."""
    config["trainer"]["lr"] = 2 * config["trainer"]["lr"]
    return config


def _outcome(run, floor: dict) -> dict:
    frame = run.trajectory
    lr = float(run.config["trainer"]["lr"])
    loss, sharp = float(frame["loss"].iloc[-1]), float(frame["sharpness"].iloc[-1])
    excess = (loss - floor["loss_min"]) / floor["loss_min"]
    ok = run.status != "diverged" and np.isfinite(loss) and np.isfinite(sharp)
    start = float(frame["sharpness"].iloc[0]) * lr / 2
    return {"lr": lr, "start_eta_S_over_2": start, "S": sharp if ok else float("nan"),
            "excess": excess if ok else float("inf"),
            "status": run.status, "eta_S_over_2": sharp * lr / 2 if ok else float("nan"),
            "S_over_Smin": sharp / floor["S_min"] if ok else float("nan"),
            "S_over_Sgf": sharp / floor["S_gf"] if ok else float("nan")}


def analyze(runs: dict, quick: bool) -> tuple[list[Claim], list[Figure]]:
    scales, seeds = _scales(quick), _seeds(quick)
    th, res = {}, {}
    for seed in seeds:
        X, y = _data(seed)
        for depth in DEPTHS:
            th[seed, depth] = theory(X, y, depth)
            for c in MULTIPLES:
                for scale in scales:
                    res[seed, depth, c, scale] = _outcome(runs[_name(seed, depth, c, scale)], th[seed, depth])

    def key(k):
        return _name(*k)

    admissible = {k: v for k, v in res.items() if k[2] <= ADMISSIBLE}
    below = {k: v for k, v in res.items() if k[2] > 1}
    converged = {k: v["excess"] <= 1e-10 for k, v in admissible.items()}
    stable_start = {k for k, v in admissible.items() if v["start_eta_S_over_2"] <= 1}
    above = {key(k): {"start_eta_S_over_2": v["start_eta_S_over_2"], "converged": converged[k]}
             for k, v in admissible.items() if k not in stable_start}
    worst_excess = max(admissible[k]["excess"] for k in stable_start)
    claims = [Claim("converges", "every run with 2/η ≥ 1.25·S_min that starts below the edge (ηλ₀/2 ≤ 1) "
                    "converges "
                    "(excess loss over the least-squares minimum); runs starting above it are reported", SOURCE,
                    {"max_relative_excess": worst_excess, "runs": len(stable_start),
                     "not_converged": [key(k) for k in stable_start if not converged[k]],
                     "started_above_edge": len(above),
                     "of_which_converged": sum(v["converged"] for v in above.values()),
                     "diverged_start_eta_S_over_2": sorted(v["start_eta_S_over_2"] for v in above.values()
                                                           if not v["converged"])},
                    "(C − C*)/C* ≤ 1e-10 for every run started below the edge",
                    bool(stable_start) and all(converged[k] for k in stable_start))]
    margins = {k: (v["S_over_Smin"] - 1, 1 - v["eta_S_over_2"]) for k, v in admissible.items() if converged[k]}
    lower = min((m[0] for m in margins.values()), default=float("nan"))
    upper = min((m[1] for m in margins.values()), default=float("nan"))
    claims.append(Claim(
        "between-bound-and-2-over-eta",
        "each converged run ends with S_min(N) ≤ S ≤ 2/η, S_min = N·a·s^(2−2/N)",
        SOURCE, {"min_S_over_Smin_minus_1": lower, "min_1_minus_eta_S_over_2": upper, "runs": len(margins)},
        "both margins ≥ 0 (S_min ≤ S ≤ 2/η)", bool(margins) and lower >= 0 and upper >= 0))
    below_ok = {key(k): (v["status"], v["excess"]) for k, v in below.items()}
    claims.append(Claim(
        "no-convergence-below-bound", "with 2/η = S_min/1.25 below the floor no minimizer is stable: GD does not "
        "converge", SOURCE, below_ok, "excess > 1e-6 or diverged, every run",
        all(v["excess"] > 1e-6 for v in below.values())))
    small = min(scales)
    gf = {}
    for seed in seeds:
        for depth in DEPTHS:
            t = th[seed, depth]
            ratios = [res[seed, depth, c, small]["S_over_Sgf"] for c in MULTIPLES if c <= 0.5]
            gf[f"s{seed}-N{depth}"] = {"S_over_Sgf": ratios, "S_over_Smin": res[seed, depth, 0.2, small]["S_over_Smin"],
                                       "Sgf_over_Smin": t["S_gf"] / t["S_min"],
                                       "ceiling": 1 + (t["Lambda"] - t["a"]) / (depth * t["a"]),
                                       "S_over_upper_code": res[seed, depth, 0.2, small]["S"] / t["upper_code"]}
    gf_ok = all(all(0.98 <= r <= 1.02 for r in v["S_over_Sgf"]) and 1 <= v["S_over_Smin"] <= v["ceiling"] * 1.02
                and v["S_over_upper_code"] <= 1 for v in gf.values())
    decreasing = all(np.all(np.diff([gf[f"s{seed}-N{d}"]["S_over_Smin"] for d in DEPTHS]) < 0) for seed in seeds)
    claims.append(Claim(
        "small-init-attains-flow-minimizer", f"at init {small:g}, GD ends at the flow's rank-one balanced minimizer "
        "(S = S_GF) and S/S_min decreases towards 1 with depth", SOURCE, gf,
        "S/S_GF ∈ [0.98, 1.02] for c ≤ 0.5; 1 ≤ S/S_min ≤ 1.02·(1 + (Λ − a)/(N a)), decreasing in N; "
        "S ≤ 4NΛs^(2−2/N)",
        bool(gf_ok and decreasing)))
    capped, uncapped = {}, {}
    for seed in seeds:
        for depth in DEPTHS:
            for scale in scales:
                small_step, large = res[seed, depth, MULTIPLES[0], scale], res[seed, depth, ADMISSIBLE, scale]
                name = f"s{seed}-N{depth}-init{scale:g}"
                if not (converged[seed, depth, MULTIPLES[0], scale] and converged[seed, depth, ADMISSIBLE, scale]):
                    continue
                if small_step["S"] > 2 / large["lr"]:  # the small step's minimizer is unstable at the large step
                    capped[name] = {"S_small_over_2_over_eta": small_step["S"] * large["lr"] / 2,
                                    "eta_S_over_2": large["eta_S_over_2"]}
                else:
                    uncapped[name] = large["S"] / small_step["S"] - 1
    changes = list(uncapped.values()) or [float("nan")]
    claims.append(Claim(
        "larger-step-flatter", f"where the minimizer found at c = {MULTIPLES[0]:g} is sharper than 2/η of "
        f"c = {ADMISSIBLE:g}, the larger step ends flatter, just below its ceiling; elsewhere it raises the "
        "found minimizer's sharpness by at most +1 % (larger η: flatter or equal, up to 1 %)", SOURCE,
        {"capped": capped, "uncapped_runs": len(uncapped), "uncapped_relative_change_max": max(changes),
         "uncapped_relative_change_min": min(changes)},
        "ηS/2 ∈ [0.9, 1] where capped (≥ 1 case); S(large)/S(small) − 1 ≤ 0.01 where not",
        bool(capped) and all(0.9 <= v["eta_S_over_2"] <= 1 for v in capped.values())
        and all(v <= 0.01 for v in uncapped.values())))
    by_init = {f"s{seed}-N{depth}": [res[seed, depth, MULTIPLES[0], sc]["S"] for sc in scales]
               for seed in seeds for depth in DEPTHS}
    claims.append(Claim(
        "larger-init-sharper", f"at the smallest step (c = {MULTIPLES[0]:g}) the found minimizer is sharper for a "
        "larger init", SOURCE, by_init, "S increasing in the init scale at every depth",
        all(np.all(np.diff(v) > 0) for v in by_init.values())))
    return claims, [_figure(res, th, scales, seeds[0])]


def _figure(res, th, scales, seed) -> Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6))
    cmap = plt.get_cmap("viridis")
    depths = np.array(DEPTHS)
    floor = np.array([th[seed, d]["S_min"] for d in DEPTHS])

    def final(d, c, scale):  # the final sharpness of a converged run, else NaN (not drawn)
        r = res[seed, d, c, scale]
        return r["S"] if r["excess"] <= 1e-10 else np.nan

    for i, c in enumerate(MULTIPLES):
        colour = cmap(i / len(MULTIPLES))
        if c > 1:
            left.plot(depths, floor / c, color=colour, ls="--", lw=0.8, label=f"c = {c:g}: 2/η below the floor, "
                      "no run converges")
            continue
        for j, (scale, marker) in enumerate(((min(scales), "o"), (max(scales), "s"))):
            left.plot(depths, [final(d, c, scale) for d in DEPTHS], marker=marker, color=colour, lw=1.4 - 0.7 * j,
                      label=f"c = {c:g}, init {scale:g}")
        left.plot(depths, floor / c, color=colour, ls="--", lw=0.8)
    left.plot(depths, floor, "k:", lw=1.8, label="floor S_min = N a s^(2−2/N)")
    left.plot(depths, [th[seed, d]["S_gf"] for d in DEPTHS], "k-", lw=0.6, alpha=0.6, label="flow minimizer S_GF")
    left.set(xlabel="depth N", ylabel="final sharpness (converged runs)", yscale="log",
             title="sharpness vs depth and step (η = c·2/S_min; dashed: 2/η)")
    left.legend(fontsize=6.5, ncol=2)
    depth = 4
    top = 0.0
    for i, c in enumerate(MULTIPLES[:-1]):
        colour = cmap(i / len(MULTIPLES))
        S = [final(depth, c, sc) for sc in scales]
        top = max(top, np.nanmax(S))
        right.plot(scales, S, marker="o", color=colour, label=f"η = {c * 2 / th[seed, depth]['S_min']:.3g}")
        right.axhline(th[seed, depth]["S_min"] / c, color=colour, ls="--", lw=0.8)
    right.axhline(th[seed, depth]["S_min"], color="k", ls=":", lw=1.8, label="floor")
    right.set(xlabel="init scale", ylabel="final sharpness", ylim=(0.9 * th[seed, depth]["S_min"], 1.25 * top),
              title=f"depth {depth}: sharpness vs init scale (dashed: 2/η; their Figure 1)")
    right.legend(fontsize=7)
    caption = ("Final sharpness of GD on deep linear regression lies between the depth-linear floor N·a·s^(2−2/N) "
               "(dotted) and 2/η (dashed); a small init ends at the flow's rank-one minimizer, close to the floor; a "
               "larger init ends sharper until the ceiling 2/η caps it; for 2/η below the floor (c = 1.25) GD does "
               "not converge.")
    return Figure("sharpness_deep_linear", fig, caption)
