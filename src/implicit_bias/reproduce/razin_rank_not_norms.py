"""razin-rank-not-norms (Razin & Cohen 2020, "Implicit regularization in deep learning
may not be explainable by norms"): on the 2x2 completion problem — W[0,1] = W[1,0] = 1 and
W[1,1] = 0 observed, W[0,0] free — a deep linear network started at a positive-determinant init
drives the loss to 0 only by sending the unobserved entry |W[0,0]| to infinity, so every norm
and quasi-norm of W diverges while the effective rank tends to 1.

The math (our loss convention, L = mean over the 3 observations of ½(prediction − target)²):

- Under gradient flow on W = W_N ⋯ W_1 (N ≥ 2) det W keeps the sign of det W(0) (Razin &
  Cohen 2020, Sec. 3: det W can approach 0 but not cross it). From W_j = s·I, det W > 0 for
  all time, whereas every exact solution has det W = W00·0 − 1·1 = −1: the loss tends to 0
  without ever reaching it.
- Bound. With w = W[0,0] and det W ≥ 0: w·W[1,1] ≥ W[0,1]·W[1,0]. Since
  |W[0,1] − 1|, |W[1,0] − 1| ≤ √(6L), |W[1,1]| ≥ (1 − √(6L))²/|w|, and L ≥ W[1,1]²/6, so

      |w| ≥ (1 − √(6L))² / √(6L)        (c = 6 in |w| ≥ 1/√(c·L) as L → 0).

  For the plain sum of squares (no ½, no 1/3) the same argument gives c = 1; with our
  mean-of-½-squares loss (L = sum/6) the constant is 6. Near the limit GD sits on the
  minimizer for given w (W[0,1] = W[1,0] ≈ 1 − 1/w², W[1,1] ≈ 1/w), where L = 1/(6w²)(1 +
  O(1/w²)), so the bound is also tight: |w|·√(6L) → 1.
- Every solution of minimal norm has w = 0: nuclear norm 2, Frobenius √2, Schatten-½
  quasi-norm (Σ√σ)² = 4, effective rank 2. Along the trajectory the singular values are
  ≈ (|w|, 1/|w|), so all of them grow like |w| and the effective rank → 1.

Runs: a depth-3 network (W_j = 0.3·I, the setting of examples/razin_2x2_deep.toml) trained by
GD with a step small enough to track the flow (lr 0.05), stopped after a geometric ladder of
step counts (each a run: their final W gives w and det W at that time), and a depth-2 network
(W_j = 0.5·I) run to the last step. Tolerances: the bound is a theorem (checked without slack
at every ladder point); the tightness |w|√(6L) ∈ [0.97, 1.03] leaves room for the O(1/w²)
correction (< 1e-2 for |w| ≥ 10); "diverges" is read as: at the last ladder point every norm
is at least 5 times its minimum over solutions and grew monotonically along the ladder; effective
rank ≤ 1.01 means σ₂/σ₁ ≲ 1e-3. GD with lr 0.05 never crosses det W = 0 here (with lr 0.5 it
does — a discretization effect documented in the example's header).

BROKEN: depth 1 — plain GD on W never moves the unobserved entry (its gradient is 0), converges
to an exact solution with det W = −1 and bounded norms: `w-diverges`, `det-positive`,
`norms-diverge` and `rank-to-one` fail.
"""

from __future__ import annotations

from itertools import pairwise

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np

from . import Claim, Figure

NAME = "razin-rank-not-norms"
CLAIM = ("On Razin & Cohen's 2x2 completion a deep linear net from a positive-det init sends |W00| → ∞ "
         "as loss → 0 (|W00| ≥ 1/√(6·loss)): all norms diverge while the effective rank → 1.")
SOURCE = "Razin & Cohen (2020), 'Implicit regularization in deep learning may not be explainable by norms'"
MINUTES = (0.2, 0.3)
LR = 0.05
TIGHT = 0.03
# minimum over exact solutions (w = 0: W = [[0, 1], [1, 0]], singular values 1, 1)
MIN_NORMS = {"nuclear": 2.0, "Frobenius": np.sqrt(2.0), "Schatten-1/2": 4.0}


def _ladder(quick: bool) -> list[int]:
    return [2_500, 10_000, 40_000, 160_000] if quick else [2_500, 10_000, 40_000, 160_000, 640_000, 2_560_000]


def configs(quick: bool) -> list[dict]:
    problem = {"kind": "razin_2x2"}
    out = []
    for steps in _ladder(quick):
        out.append({"name": f"depth3-{steps}", "problem": problem,
                    "model": {"kind": "deep_matrix", "depth": 3, "init": "identity", "init_scale": 0.3},
                    "trainer": {"kind": "gd", "lr": LR, "steps": steps, "log_every": max(steps // 50, 1)}})
    steps = _ladder(quick)[-1]
    out.append({"name": "depth2", "problem": problem,
                "model": {"kind": "deep_matrix", "depth": 2, "init": "identity", "init_scale": 0.5},
                "trainer": {"kind": "gd", "lr": LR, "steps": steps, "log_every": max(steps // 50, 1)}})
    return out


def BROKEN(config: dict) -> dict:
    """Depth 1 instead of depth ≥ 2: the unobserved entry never moves."""
    config["model"]["depth"] = 1
    return config


def _norms(W: np.ndarray) -> dict:
    s = np.linalg.svd(W, compute_uv=False)
    return {"nuclear": float(s.sum()), "Frobenius": float(np.sqrt((s**2).sum())),
            "Schatten-1/2": float(np.sqrt(s).sum() ** 2)}


def _det(result) -> float:
    """det W as the product of the factors' determinants (accurate where W is nearly singular:
    det W itself is below the rounding error ε·‖W‖² of computing it from W)."""
    factors = [np.asarray(v, dtype=float) for k, v in result.params.items() if k.startswith("W")]
    return float(np.prod([np.linalg.det(f) for f in factors]))


def _effective_rank(W: np.ndarray) -> float:
    s = np.linalg.svd(W, compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def analyze(runs: dict, quick: bool) -> tuple[list[Claim], list[Figure]]:
    ladder = _ladder(quick)
    rows = []
    for steps in ladder:
        result = runs[f"depth3-{steps}"]
        W = np.asarray(result.end_to_end, dtype=float)
        loss = float(result.trajectory["loss"].iloc[-1])
        rows.append({"steps": steps, "t": LR * steps, "w": float(W[0, 0]), "det": _det(result),
                     "loss": loss, "erank": _effective_rank(W), **_norms(W)})
    d2 = runs["depth2"]
    W2 = np.asarray(d2.end_to_end, dtype=float)
    loss2 = float(d2.trajectory["loss"].iloc[-1])
    finals = [rows[-1], {"w": float(W2[0, 0]), "det": _det(d2), "loss": loss2,
                         "erank": _effective_rank(W2), **_norms(W2)}]

    def bound(loss):
        r = np.sqrt(6 * loss)
        return (1 - r) ** 2 / r if r < 1 else 0.0

    bound_ok = all(abs(r["w"]) >= bound(r["loss"]) for r in rows + finals[1:])
    grows = all(abs(b["w"]) > abs(a["w"]) for a, b in pairwise(rows)) and all(
        b["loss"] < a["loss"] for a, b in pairwise(rows))
    big = min(abs(f["w"]) for f in finals)
    tight = [abs(f["w"]) * np.sqrt(6 * f["loss"]) for f in finals]
    dets = [r["det"] for r in rows] + [finals[1]["det"]]
    norm_ratio = {k: min(f[k] / v for f in finals) for k, v in MIN_NORMS.items()}
    monotone = all(all(b[k] > a[k] for a, b in pairwise(rows)) for k in MIN_NORMS)
    eranks = [f["erank"] for f in finals]
    claims = [
        Claim("w-diverges", "|W00| grows along training, the loss falls, and |W00| ≥ (1−√(6L))²/√(6L) "
              "(→ 1/√(6·loss)) at every checkpoint (depth 3 ladder and depth 2)", SOURCE,
              {"W00 (depth 3 ladder)": [round(r["w"], 4) for r in rows], "W00 depth 2": round(finals[1]["w"], 4),
               "loss (depth 3 ladder)": [float(f"{r['loss']:.4g}") for r in rows], "bound holds": bound_ok},
              "monotone, bound holds everywhere, final |W00| ≥ 10",
              bool(bound_ok and grows and big >= 10)),
        Claim("bound-tight", "the bound is attained asymptotically: |W00|·√(6·loss) → 1", SOURCE,
              [round(x, 5) for x in tight], f"within 1 ± {TIGHT} (depth 3, depth 2)",
              bool(all(abs(x - 1) <= TIGHT for x in tight))),
        Claim("det-positive", "det W stays positive (it cannot cross 0 under the flow), though every exact "
              "solution has det W = −1", SOURCE, [float(f"{d:.4g}") for d in dets], "all > 0 (product of the factors' determinants)",
              bool(all(d > 0 for d in dets))),
        Claim("norms-diverge", "nuclear norm, Frobenius norm and the Schatten-1/2 quasi-norm grow along "
              "training, far above their minimum over solutions (2, √2, 4, at W00 = 0)", SOURCE,
              {k: round(v, 3) for k, v in norm_ratio.items()}, "final / minimum ≥ 5 and monotone along the ladder",
              bool(all(v >= 5 for v in norm_ratio.values()) and monotone)),
        Claim("rank-to-one", "the effective rank tends to 1 (the minimum-norm solutions have effective rank 2)",
              SOURCE, [round(e, 6) for e in eranks], "≤ 1.01 (depth 3, depth 2)",
              bool(all(e <= 1.01 for e in eranks))),
    ]

    fig, (left, mid, right) = plt.subplots(1, 3, figsize=(15, 4.2))
    import pandas as pd

    # the ladder's runs share one trajectory; the short ones resolve its beginning
    last = (pd.concat([runs[f"depth3-{steps}"].trajectory for steps in ladder]).sort_values("t")
            .drop_duplicates("t"))
    for label, frame in (("depth 3", last), ("depth 2", d2.trajectory)):
        frame = frame[frame["t"] > 0]
        left.loglog(frame["t"], frame["loss"], label=f"loss, {label}")
    t = np.array([r["t"] for r in rows])
    left.loglog(t, [1 / (6 * r["w"] ** 2) for r in rows], "ko", mfc="none", label="1/(6·W00²), depth-3 ladder")
    left.set(xlabel="time t = lr × step", ylabel="training loss (mean of ½ residual²)", title="loss → 0 like 1/(6 W00²)")
    left.legend(fontsize=8)
    for k, marker in zip(MIN_NORMS, "os^"):
        mid.loglog(t, [r[k] for r in rows], marker=marker, label=f"{k} (min over solutions {MIN_NORMS[k]:.3g})")
    mid.loglog(t, [abs(r["w"]) for r in rows], "k--", label="|W00|")
    mid.set(xlabel="time t = lr × step", ylabel="norm of W (depth 3)", title="every norm diverges")
    mid.legend(fontsize=8)
    for label, frame in (("depth 3", last), ("depth 2", d2.trajectory)):
        frame = frame[frame["t"] > 0]
        right.semilogx(frame["t"], frame["effective_rank"], label=label)
    right.axhline(2, color="grey", ls=":", label="min-norm solution (W00 = 0)")
    right.set(xlabel="time t = lr × step", ylabel="effective rank of W", title="rank → 1", ylim=(0.9, 2.1))
    right.legend(fontsize=8)
    for ax in (left, mid, right):
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    fig.tight_layout()
    caption = (f"Razin & Cohen's 2x2 completion: from W_j = s·I (det > 0) the loss goes to 0 only as |W00| → ∞ "
               f"(|W00|·√(6·loss) = {tight[0]:.4f} at the end), so nuclear, Frobenius and Schatten-1/2 norms "
               f"diverge while the effective rank falls to {eranks[0]:.5f}: implicit regularization here lowers "
               f"rank, not any norm.")
    return claims, [Figure("razin_rank_not_norms", fig, caption)]
