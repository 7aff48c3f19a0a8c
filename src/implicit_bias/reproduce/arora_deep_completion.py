"""arora-deep-completion (seeds 000/001/003; Arora, Cohen, Hu & Luo 2019, "Implicit regularization in
deep matrix factorization"): matrix completion of a 100x100 rank-5 matrix (‖W*‖_F = 100) by
gradient descent on a deep linear network W = W_N ⋯ W_1 from a small init. With 2,000 observed
entries depth 3 recovers W* (test error ≈ 1e-3–1e-2) while depth 1 (plain GD on W, which never
moves an unobserved entry) and the minimum nuclear-norm completion stay at ≈ 0.2 or worse; with
5,000 observations depth 2, depth 3 and nuclear-norm minimization all succeed. Depth sharpens the
singular-value spectrum (the small singular values stay small, the effective rank falls), and
the singular values follow Arora et al.'s ODE (Thm 3)

    dσ_r/dt = −N (σ_r²)^{1 − 1/N} ⟨∇L(W), u_r v_rᵀ⟩      (theory.arora_singular_value_rhs),

whose factor σ^{2 − 2/N} makes large singular values move fast and small ones stall, more so
with depth — the mechanism behind the low rank.

Conventions that differ from the reference code (parity is not attempted): our loss is the mean
over observations of ½(prediction − target)² (theirs: the mean of squares without ½, so their
gradient is twice ours and their lr η is our 2η); our test error is the relative Frobenius error
‖W − W*‖_F/‖W*‖_F (theirs: the MSE over all entries, = (‖W*‖_F²/n²)·ours² = ours² for ‖W*‖_F = n);
we use plain GD (their experiments also use GD with lr and init of this order; their adaptive
optimizer is `group_rmsprop` here, not used).

Settings. Full: the paper's 100x100, rank 5, ‖W*‖_F = 100, m = 2,000 ("few") and 5,000 ("many"),
init N(0, 1e-3²) per factor entry, lr 5 (depth 2, 3). Quick: 30x30, rank 2, ‖W*‖_F = 30 (entries of
unit RMS, as in the full setting), with the same number of observations per degree of freedom
r(2n − r): m = 240 (2.1×, like 2,000/975) and 600 (5.2×, like 5,000/975), lr scaled so that lr/m is 3×
the full one (fewer steps). Depth 1 uses lr = m/2 (it converges in a few steps); the nuclear-norm
baseline is `[baseline] kind = "min_nuclear_norm"` on the same data.

Tolerances. Success: test error ≤ 1e-2 — the top of Arora et al.'s reported band (depth-3 runs
reach 1e-3–1e-2 depending on when they stop). Failure: ≥ 0.15 — below Arora et al.'s "≈ 0.2 or
worse" with margin (measured 0.23 for the nuclear norm at full size). Spectrum: effective rank
strictly decreasing with depth 1 → 2 → 3 and σ_{r+1}/σ_1 of depth 3 below depth 2's (orderings).
ODE: the finite-difference rate (σ(K+2) − σ(K))/(2·lr) of the singular value being learned, at
two steps K inside the first two learning transitions, against the trapezoid average of the ODE's
right-hand side at K and K+2, within 10 %: GD with step lr deviates from the flow at first order
in lr (measured: 1–2 % for the rising singular value, ≤ 5.3 % for the others), the 2-step
difference is second order, and the imbalance of the random init (≈ 1e-6) is negligible once σ
is ≳ 1e-3. The same rate predicted with the depth-1 ODE (plain flow on W) is off by orders of
magnitude, so the check discriminates depth.

BROKEN: depth 1 in place of depth 3 — `depth3-few` and `spectrum-sharper` fail.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from .. import theory
from . import Claim, Figure

NAME = "arora-deep-completion"
CLAIM = ("Deep matrix completion (100x100 rank 5): with 2,000 observations depth 3 recovers W* while depth 1 and "
         "min nuclear norm fail; with 5,000 all succeed; depth sharpens the spectrum, as Arora's singular-value ODE says.")
SOURCE = "seeds 000/001/003; Arora, Cohen, Hu & Luo (2019), 'Implicit regularization in deep matrix factorization'"
MINUTES = (1.0, 2.0)
SUCCESS = 1e-2
FAILURE = 0.15
ODE_TOL = 0.10
DELTA = 2


def _setting(quick: bool) -> dict:
    if quick:
        return {"n": 30, "rank": 2, "few": 240, "many": 600, "lr_per_obs": 7.5e-3, "steps": 10_000,
                "ode_steps": (3000, 5450)}
    return {"n": 100, "rank": 5, "few": 2000, "many": 5000, "lr_per_obs": 2.5e-3, "steps": 20_000,
            "ode_steps": (3100, 4000)}


def _problem(setting: dict, m: int) -> dict:
    n = setting["n"]
    return {"kind": "matrix_completion", "n_rows": n, "n_cols": n, "rank": setting["rank"], "n_obs": m,
            "target_norm": float(n)}


def configs(quick: bool) -> list[dict]:
    st = _setting(quick)
    out = []
    for label in ("few", "many"):
        m = st[label]
        problem = _problem(st, m)
        lr = st["lr_per_obs"] * m
        depths = (1, 2, 3) if label == "few" else (2, 3)
        for depth in depths:
            trainer = ({"kind": "gd", "lr": m / 2, "steps": 2000, "stop_loss": 1e-12, "log_every": 1} if depth == 1
                       else {"kind": "gd", "lr": lr, "steps": st["steps"] * (2 if depth == 2 and not quick else 1),
                             "stop_loss": 1e-8, "log_every": 100})
            out.append({"name": f"d{depth}-{label}", "problem": problem,
                        "model": {"kind": "deep_matrix", "depth": depth, "init_scale": 1e-3},
                        "trainer": trainer, "metrics": {"top_k": 10}})
        out.append({"name": f"nuclear-{label}", "problem": problem, "baseline": {"kind": "min_nuclear_norm"}})
    problem = _problem(st, st["few"])
    lr = st["lr_per_obs"] * st["few"]
    for k in st["ode_steps"]:
        for steps in (k, k + DELTA):
            out.append({"name": f"d3-ode-{steps}", "problem": problem,
                        "model": {"kind": "deep_matrix", "depth": 3, "init_scale": 1e-3},
                        "trainer": {"kind": "gd", "lr": lr, "steps": steps, "log_every": steps}})
    return out


def BROKEN(config: dict) -> dict:
    """Depth 1 in place of depth 3."""
    if config["name"].startswith("d3-"):
        config["model"]["depth"] = 1
    return config


def _final(result, column: str) -> float:
    return float(result.trajectory[column].iloc[-1])


def _gradient(result, W: np.ndarray) -> np.ndarray:
    """∇L(W) = P_Ω(W − y)/m for our loss (mean over the m observations of ½ residual²)."""
    data = np.load(result.path / "problem.npz")
    rows, cols, values = data["rows"], data["cols"], data["values"]
    G = np.zeros_like(W)
    G[rows, cols] = (W[rows, cols] - values) / len(values)
    return G


def _ode_check(runs: dict, st: dict) -> list[dict]:
    out = []
    for k in st["ode_steps"]:
        a, b = runs[f"d3-ode-{k}"], runs[f"d3-ode-{k + DELTA}"]
        depth = int(a.config["model"]["depth"])
        lr = float(a.config["trainer"]["lr"])
        Wa, Wb = np.asarray(a.end_to_end, dtype=float), np.asarray(b.end_to_end, dtype=float)
        sa, sb = np.linalg.svd(Wa, compute_uv=False), np.linalg.svd(Wb, compute_uv=False)
        measured = (sb - sa) / (lr * DELTA)

        def predict(n, a=a, b=b, Wa=Wa, Wb=Wb):
            return 0.5 * (theory.arora_singular_value_rhs(Wa, _gradient(a, Wa), n)
                          + theory.arora_singular_value_rhs(Wb, _gradient(b, Wb), n))

        # the singular value being learned: the fastest-growing one
        j = int(np.argmax(measured[: st["rank"]] / np.maximum(sa[: st["rank"]], 1e-300)))
        p, p1 = predict(depth), predict(1)
        out.append({"step": k, "index": j + 1, "sigma": float(sa[j]), "measured": float(measured[j]),
                    "ode": float(p[j]), "error": float(abs(measured[j] - p[j]) / abs(p[j])),
                    "error_depth1_ode": float(abs(measured[j] - p1[j]) / abs(p1[j])), "depth": depth})
    return out


def analyze(runs: dict, quick: bool) -> tuple[list[Claim], list[Figure]]:
    st = _setting(quick)
    err = {name: _final(r, "test_error") for name, r in runs.items() if not name.startswith("d3-ode")}
    erank = {name: _final(r, "effective_rank") for name, r in runs.items() if not name.startswith("d3-ode")}
    r = st["rank"]

    def gap(name):
        s = np.asarray(runs[name].trajectory["singular_values"].iloc[-1], dtype=float)
        return float(s[r] / s[0])

    gaps = {f"depth {d}": gap(f"d{d}-few") for d in (1, 2, 3)}
    ode = _ode_check(runs, st)
    ode_ok = all(o["error"] <= ODE_TOL and (o["depth"] == 1 or o["error_depth1_ode"] >= 0.5) for o in ode)
    few, many = st["few"], st["many"]
    g3 = lambda x: float(f"{x:.3g}")
    claims = [
        Claim("depth3-few", f"with {few} observations depth 3 recovers W*", SOURCE, g3(err["d3-few"]),
              f"test error ≤ {SUCCESS:g}", err["d3-few"] <= SUCCESS),
        Claim("shallow-fail-few", f"with {few} observations depth 1 and the minimum nuclear-norm completion fail",
              SOURCE, {"depth 1": g3(err["d1-few"]), "min nuclear norm": g3(err["nuclear-few"])},
              f"test error ≥ {FAILURE:g} for both", min(err["d1-few"], err["nuclear-few"]) >= FAILURE),
        Claim("all-succeed-many", f"with {many} observations depth 2, depth 3 and min nuclear norm all recover W*",
              SOURCE, {"depth 2": g3(err["d2-many"]), "depth 3": g3(err["d3-many"]),
                       "min nuclear norm": g3(err["nuclear-many"])},
              f"test error ≤ {SUCCESS:g} for all", max(err["d2-many"], err["d3-many"], err["nuclear-many"]) <= SUCCESS),
        Claim("spectrum-sharper", f"depth sharpens the spectrum ({few} observations): effective rank falls with depth "
              f"and σ_{r + 1}/σ_1 is smaller at depth 3 than at depth 2", SOURCE,
              {"effective rank": {f"depth {d}": g3(erank[f'd{d}-few']) for d in (1, 2, 3)},
               "min nuclear norm effective rank": g3(erank["nuclear-few"]),
               f"σ_{r + 1}/σ_1": {k: g3(v) for k, v in gaps.items()}},
              "effective rank: depth 1 > depth 2 > depth 3; gap: depth 3 < depth 2",
              erank["d1-few"] > erank["d2-few"] > erank["d3-few"] and gaps["depth 3"] < gaps["depth 2"]),
        Claim("singular-value-ode", "the singular value being learned moves at the rate of Arora et al.'s ODE "
              "dσ/dt = −N σ^{2−2/N} ⟨∇L, u vᵀ⟩ (measured by GD at two steps inside learning transitions)",
              SOURCE, [{k: (g3(v) if isinstance(v, float) else v) for k, v in o.items()} for o in ode],
              f"relative error ≤ {ODE_TOL:.0%} with the run's depth, ≥ 50% with the depth-1 ODE", ode_ok),
    ]

    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    ax = axes[0, 0]
    methods = [("depth 1", "d1"), ("depth 2", "d2"), ("depth 3", "d3"), ("min nuclear norm", "nuclear")]
    x = np.arange(len(methods))
    for offset, label in ((-0.2, "few"), (0.2, "many")):
        vals = [err.get(f"{key}-{label}", np.nan) for _, key in methods]
        ax.bar(x + offset, vals, width=0.4, label=f"{st[label]} observations")
    ax.axhline(SUCCESS, color="k", ls=":", lw=1, label=f"success threshold {SUCCESS:g}")
    ax.set(yscale="log", xticks=x, xticklabels=[m for m, _ in methods], ylabel="test error ‖W − W*‖_F / ‖W*‖_F",
           title=f"{st['n']}x{st['n']}, rank {r}: depth 3 succeeds with few observations")
    ax.legend(fontsize=8)
    for ax, depth in zip((axes[0, 1], axes[1, 0], axes[1, 1]), (1, 2, 3)):
        frame = runs[f"d{depth}-few"].trajectory
        sv = np.stack([np.asarray(v, dtype=float) for v in frame["singular_values"]])
        for i in range(sv.shape[1]):
            ax.plot(frame["step"], sv[:, i], color="tab:blue" if i < r else "tab:orange", lw=1.2,
                    label=("top " + str(r) if i == 0 else ("the others" if i == r else None)))
        ax.set(yscale="log", ylim=(1e-9, 3 * sv.max()), xlabel="GD step",
               ylabel=f"top {sv.shape[1]} singular values of W",
               title=f"depth {depth}, {few} observations: effective rank {erank[f'd{depth}-few']:.2f}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    caption = (f"Arora et al. (2019): with {few} observed entries depth 3 reaches test error {err['d3-few']:.1e} while "
               f"depth 1 ({err['d1-few']:.2f}) and min nuclear norm ({err['nuclear-few']:.2f}) fail; with {many} all "
               f"succeed. Depth keeps the small singular values (orange) near 0 while the top {r} are learned one by "
               "one (blue), as the singular-value ODE predicts.")
    return claims, [Figure("arora_deep_completion", fig, caption)]
