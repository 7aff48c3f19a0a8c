"""saxe-deep-linear (Saxe, McClelland & Ganguli 2014, "Exact solutions to the nonlinear dynamics of
learning in deep linear neural networks"): a two-layer linear network learns each input–output
mode of strength s along a sigmoid a(t) = s e^{2st} / (e^{2st} − 1 + s/a0): a long plateau, then
a sharp transition at t_half = ln(s/a0 − 1)/(2s) — the time to learn a mode scales as 1/s (up
to the logarithm), so strong modes are learned first, stage by stage; depth makes the
transitions sharper.

The math (our conventions: loss = mean of ½(prediction − target)², t = flow time): Saxe's
setting is gradient flow on L(W) = ½‖W − S‖_F² (whitened inputs) with a balanced init aligned
with the modes of S = Σ s_α u_α v_αᵀ; then every mode a_α = u_αᵀ W v_α evolves on its own by
da/dt = 2a(s − a) (depth 2), and for depth N by the singular-value ODE of Arora, Cohen, Hu & Luo
(2019, Thm 3; theory.arora_singular_value_rhs) da/dt = N (a²)^{1−1/N} (s − a). One decoupled mode
is exactly the 1x1 fully observed completion problem (L = ½(W − W*)², W* = s = target_norm; seed
0 has W* > 0) with the factors started at W_j = a0^{1/N} (init = "identity": balanced, aligned,
W(0) = a0). Each mode strength s is therefore one run; the modes of a multi-mode network are
these runs side by side (their dynamics do not interact). Every run starts from the same a0 =
1e-3, as the modes of a small random init would.

Runs: gradient flow (diffrax Tsit5, rtol 1e-10, atol 1e-12) at depths 1, 2, 3 for each s.
Tolerances: (i) depth 2 vs saxe_mode and depth 3 vs the integrated Arora ODE: max |a − a_theory|
/ s ≤ 1e-6 — the solver's local tolerance is 1e-10 and the error grows at most by the
linear-instability factor of the plateau (≈ s/a0 = 10³–10⁴); (ii) t_half: measured by
linear interpolation on a grid of Δt = 0.05; where a crosses s/2 the sigmoid has no curvature, so
the interpolation error is O(Δt³ s²) ≪ 0.5 % of t_half, the band used; (iii) sharpness: the 10 %
→ 90 % rise time divided by t_half (1 / ln(s/a0 − 1) · ln 81 for depth 2, ≈ 3.2 for depth 1, and
smaller for depth 3) must strictly decrease with depth for every s — an ordering, no tolerance.

BROKEN: depth 1 in place of depth 2 — plain gradient flow a(t) = s − (s − a0) e^{−t} has no
plateau and learns every mode in the same time ln 2: `saxe-sigmoid`, `time-inverse-s` and
`depth-sharpens` fail.
"""

from __future__ import annotations

from itertools import pairwise

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
from scipy.integrate import solve_ivp

from implicit_bias.engine import theory
from implicit_bias.reproduce import Claim, Figure

NAME = "saxe-deep-linear"
CLAIM = ("A depth-2 linear net learns each mode along Saxe's sigmoid, in time ∝ 1/s (strong modes first, "
         "stage-wise); depth 3 sharpens the stages (Arora's singular-value ODE).")
SOURCE = "Saxe, McClelland & Ganguli (2014), eq. 10; Arora, Cohen, Hu & Luo (2019), Thm 3"
MINUTES = (0.3, 0.5)
A0 = 1e-3
CURVE_TOL = 1e-6
THALF_TOL = 5e-3
LOG_DT = 0.05
DEPTHS = (1, 2, 3)


def _strengths(quick: bool) -> list[float]:
    return [0.5, 1.0, 2.0, 4.0] if quick else [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]


def configs(quick: bool) -> list[dict]:
    out = []
    for s in _strengths(quick):
        # depth 2 needs ≈ 2 t_half = ln(s/a0)/s; depth 3 ≈ a0^{-1/3}/s = 10/s; a margin of 2
        t_max = float(np.ceil(max(2 * np.log(s / A0) / s, 20 / s, 8.0)))
        for depth in DEPTHS:
            out.append({"name": f"depth{depth}-s{s:g}", "seed": 0,
                        "problem": {"kind": "matrix_completion", "n_rows": 1, "n_cols": 1, "rank": 1, "n_obs": 1,
                                    "target_norm": s},
                        "model": {"kind": "deep_matrix", "depth": depth, "init": "identity",
                                  "init_scale": A0 ** (1 / depth)},
                        "trainer": {"kind": "flow", "t_max": t_max, "log_dt": LOG_DT, "rtol": 1e-10, "atol": 1e-12}})
    return out


def BROKEN(config: dict) -> dict:
    """Depth 1 in place of depth 2 (no plateau, no sigmoid)."""
    if config["name"].startswith("depth2-"):
        config["model"]["depth"] = 1
    return config


def _curve(result) -> tuple[np.ndarray, np.ndarray, float, float]:
    frame = result.trajectory
    t = frame["t"].to_numpy(dtype=float)
    a = np.array([float(np.ravel(v)[0]) for v in frame["singular_values"]])
    s = float(np.ravel(np.asarray(np.load(result.path / "problem.npz")["ground_truth"]))[0])
    a0 = float(np.ravel(result.end_to_end_init)[0])
    return t, a, s, a0


def _crossing(t: np.ndarray, a: np.ndarray, level: float) -> float:
    k = int(np.argmax(a >= level))
    if a[k] < level or k == 0:
        return float("nan")
    return float(t[k - 1] + (level - a[k - 1]) * (t[k] - t[k - 1]) / (a[k] - a[k - 1]))


def _arora_ode(t: np.ndarray, s: float, a0: float, depth: int) -> np.ndarray:
    def rhs(_, y):
        return theory.arora_singular_value_rhs(np.array([[y[0]]]), np.array([[y[0] - s]]), depth)

    sol = solve_ivp(rhs, (0, t[-1]), [a0], t_eval=t, rtol=1e-12, atol=1e-14, method="DOP853")
    return sol.y[0]


def analyze(runs: dict, quick: bool) -> tuple[list[Claim], list[Figure]]:
    strengths = _strengths(quick)
    curves = {(d, s): _curve(runs[f"depth{d}-s{s:g}"]) for d in DEPTHS for s in strengths}
    sig_err, ode_err, thalf, thalf_pred, ratio, widths = {}, {}, {}, {}, {}, {d: {} for d in DEPTHS}
    for s in strengths:
        t, a, s_true, a0 = curves[(2, s)]
        sig_err[s] = float(np.max(np.abs(a - theory.saxe_mode(t, s_true, a0))) / s_true)
        thalf[s] = _crossing(t, a, s_true / 2)
        thalf_pred[s] = float(theory.saxe_time(s_true, a0, s_true / 2))
        ratio[s] = float(s_true * thalf[s] / np.log(s_true / a0 - 1))
        t3, a3, s3, a03 = curves[(3, s)]
        ode_err[s] = float(np.max(np.abs(a3 - _arora_ode(t3, s3, a03, 3))) / s3)
        for d in DEPTHS:
            td, ad, sd, _ = curves[(d, s)]
            half = _crossing(td, ad, sd / 2)
            widths[d][s] = float((_crossing(td, ad, 0.9 * sd) - _crossing(td, ad, 0.1 * sd)) / half)
    thalf_rel = {s: abs(thalf[s] / thalf_pred[s] - 1) for s in strengths}
    order_ok = all(thalf[a] > thalf[b] for a, b in pairwise(strengths))
    sharper = all(widths[1][s] > widths[2][s] > widths[3][s] for s in strengths)
    fmt = lambda d: {f"s={k:g}": float(f"{v:.3g}") for k, v in d.items()}
    claims = [
        Claim("saxe-sigmoid", "depth 2: every mode follows a(t) = s e^{2st}/(e^{2st} − 1 + s/a0)", SOURCE,
              fmt(sig_err), f"max |a − a_Saxe| / s ≤ {CURVE_TOL:g} for every s",
              bool(all(v <= CURVE_TOL for v in sig_err.values()))),
        Claim("time-inverse-s", "depth 2: the time to learn a mode (a = s/2) is t_half = ln(s/a0 − 1)/(2s) ∝ 1/s "
              "(up to the log), so stronger modes are learned first", SOURCE,
              {"t_half": fmt(thalf), "s·t_half/ln(s/a0−1)": fmt(ratio), "rel. error vs saxe_time": fmt(thalf_rel)},
              f"t_half within {THALF_TOL:.1%} of saxe_time (so s·t_half/ln(s/a0−1) = 1/2), decreasing in s",
              bool(order_ok and all(v <= THALF_TOL for v in thalf_rel.values()))),
        Claim("depth3-ode", "depth 3: every mode follows Arora et al.'s singular-value ODE da/dt = 3 a^{4/3}(s − a)",
              SOURCE, fmt(ode_err), f"max |a − a_ODE| / s ≤ {CURVE_TOL:g} for every s",
              bool(all(v <= CURVE_TOL for v in ode_err.values()))),
        Claim("depth-sharpens", "depth sharpens the stages: the 10%→90% rise time relative to t_half falls "
              "with depth", SOURCE, {f"depth {d}": fmt(widths[d]) for d in DEPTHS},
              "depth 1 > depth 2 > depth 3 for every s", bool(sharper)),
    ]

    fig, (left, mid, right) = plt.subplots(1, 3, figsize=(15, 4.3))
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(strengths)))
    for s, c in zip(strengths, colors):
        t, a, s_true, a0 = curves[(2, s)]
        left.plot(t, a, color=c, lw=2.2, alpha=0.6, label=f"measured, s = {s:g}")
        left.plot(t, theory.saxe_mode(t, s_true, a0), color="k", ls=":", lw=1)
    left.plot([], [], color="k", ls=":", label="Saxe's a(t)")
    left.set(xlabel="time t (gradient flow)", ylabel="mode strength a(t) = uᵀWv", xscale="log",
             xlim=(0.05, None), title="depth 2: stage-wise sigmoids (a0 = 1e-3)")
    left.legend(fontsize=8)
    s_arr = np.array(strengths)
    mid.loglog(s_arr, [thalf[s] for s in strengths], "o", ms=8, label="measured t_half (a = s/2)")
    grid = np.geomspace(s_arr.min(), s_arr.max(), 100)
    mid.loglog(grid, theory.saxe_time(grid, A0, grid / 2), "k:", label="ln(s/a0 − 1)/(2s)")
    mid.loglog(grid, thalf[strengths[0]] * strengths[0] / grid, color="grey", lw=0.8, label="∝ 1/s")
    mid.set(xlabel="mode strength s", ylabel="time to learn the mode, t_half", title="time to learn ∝ 1/s (× log)")
    mid.legend(fontsize=8)
    for axis in (mid.xaxis, mid.yaxis):
        axis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    mid.set_xticks(s_arr)
    ticks = [v for v in (0.5, 1, 2, 4, 8, 16, 32) if 0.8 * min(thalf.values()) <= v <= 1.25 * max(thalf.values())]
    mid.set_yticks(ticks)
    s_show = 1.0 if 1.0 in strengths else strengths[len(strengths) // 2]
    for d, c in zip(DEPTHS, ("tab:red", "tab:blue", "tab:green")):
        t, a, s_true, _ = curves[(d, s_show)]
        half = _crossing(t, a, s_true / 2)
        right.plot(t / half, a / s_true, color=c, label=f"depth {d} (rise/t_half = {widths[d][s_show]:.2f})")
    right.set(xlabel="t / t_half", ylabel="a(t) / s", xlim=(0, 3), title=f"depth sharpens the transition (s = {s_show:g})")
    right.legend(fontsize=8)
    fig.tight_layout()
    caption = ("Saxe et al.: a depth-2 linear network learns a mode of strength s along a sigmoid that reaches s/2 "
               f"at t = ln(s/a0 − 1)/(2s) ∝ 1/s (measured within {max(thalf_rel.values()):.1e}), so strong modes "
               "are learned first; depth 3 (Arora et al.'s singular-value ODE) makes the transitions sharper, "
               "depth 1 has no plateau at all.")
    return claims, [Figure("saxe_deep_linear", fig, caption)]
