"""catapult (Lewkowycz, Bahri, Dyer, Sohl-Dickstein & Gur-Ari 2020, "The large learning rate phase of
deep learning: the catapult mechanism").

The two-layer linear "uv" model f = vᵀu/√m of width m on one sample (x = 1), loss ½ε² with ε = f − y,
has the neural tangent kernel λ = (‖u‖² + ‖v‖²)/m, and one GD step gives exactly

    f' = f − ηλε + η²ε²f/m,        λ' = λ + (ηε/m)(ηλε − 4f),

(for y = 0: λ' = λ + (ηf²/m)(ηλ − 4), their eq. 3).
So for ηλ₀ < 2 the model is lazy (ε → 0 geometrically, λ moves by O(1/m)); for 2 < ηλ₀ < 4 the error
first grows (|1 − ηλ| > 1) until ε²/m = O(1), which makes λ fall below 2/η — the catapult — and
training then converges in a flatter region, λ_final < 2/η; for ηλ₀ > 4, λ grows with the error and
training diverges (the boundary 4 holds as m → ∞).

Here u, v are the two factors of ``[model] kind = "deep_linear"`` with ``widths = [m]``: β = W₂W₁
with entries N(0, init_scale²); init_scale = m^(−1/4) makes W = u/m^(1/4), i.e. exactly the model
above with u, v ~ N(0, 1). One sample (``least_squares``, n = d = 1). The step sizes are set relative
to the initial sharpness, ``trainer.lr_relative = c`` → η = c·2/λ₀, i.e. ηλ₀ = 2c, where λ₀ is the
top eigenvalue of the true Hessian, equal to the kernel λ up to O(|ε|/√m) (the residual's curvature).

Claims over a grid of ηλ₀ ∈ ``GRID``:
- ``lazy-below-2``: every ηλ₀ < 2 converges with the loss never above its initial value and
  |λ_final/λ₀ − 1| ≤ 0.05;
- ``catapult-between``: every 2 < ηλ₀ < 4 converges after a loss spike above the initial loss, and
  ends flatter than the step allows: λ_final < 2/η (and < λ₀);
- ``diverges-above-4``: every ηλ₀ > 4 diverges (status ``diverged``);
- ``phase-boundaries``: the measured boundaries (midpoints between the last lazy and first catapult,
  and between the last converging and first diverging step sizes) are within one grid spacing of
  the theory's 2 and 4.

Broken setting: the runs use the kernel-regime step η = 1/λ₀ everywhere (c = 0.5): no catapult
and no divergence, so the last three claims fail.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import Claim, Figure  # noqa: E402

NAME = "catapult"
CLAIM = ("The uv model is lazy for ηλ₀ < 2, catapults to a flatter minimum (λ_final < 2/η) for 2 < ηλ₀ < 4, "
         "and diverges for ηλ₀ > 4.")
SOURCE = ("Lewkowycz, Bahri, Dyer, Sohl-Dickstein & Gur-Ari 2020, 'The large learning rate phase of deep "
          "learning: the catapult mechanism'")
MINUTES = (0.5, 12.0)

#: ηλ₀ of each run
GRID = (1.0, 1.5, 1.8, 2.2, 2.6, 3.0, 3.4, 3.8, 4.2, 4.6, 5.0)


def _width(quick: bool) -> int:
    return 1000 if quick else 4000


def configs(quick: bool) -> list[dict]:
    m = _width(quick)
    out = []
    for eta_lambda in GRID:
        out.append({"name": f"uv-{eta_lambda:g}", "seed": 0,
                    "problem": {"kind": "least_squares", "n_samples": 1, "n_features": 1},
                    "model": {"kind": "deep_linear", "widths": [m], "init_scale": m ** -0.25},
                    "metrics": {"sharpness": True},
                    "trainer": {"kind": "gd", "lr_relative": eta_lambda / 2, "steps": 1000, "log_every": 1,
                                "stop_loss": 1e-20}})
    return out


def BROKEN(config: dict) -> dict:  # noqa: N802 - the module contract's name
    """Every run at the kernel-regime step ηλ₀ = 1."""
    config["trainer"]["lr_relative"] = 0.5
    return config


def _phase(run) -> dict:
    frame = run.trajectory
    loss, sharpness = frame["loss"].to_numpy(), frame["sharpness"].to_numpy()
    finite = np.isfinite(loss) & np.isfinite(sharpness)
    row = frame[frame["step"] > 0].iloc[0]
    lr = float(row["t"] / row["step"])
    last = int(np.flatnonzero(finite)[-1])
    return {"status": run.status, "lr": lr, "lambda0": float(sharpness[0]), "lambda_final": float(sharpness[last]),
            "spike": float(np.nanmax(np.where(finite, loss, np.nan)) / loss[0]), "loss": loss, "sharpness": sharpness,
            "step": frame["step"].to_numpy()}


def analyze(runs: dict, quick: bool) -> tuple[list[Claim], list[Figure]]:
    phases = {eta_lambda: _phase(runs[f"uv-{eta_lambda:g}"]) for eta_lambda in GRID}
    measured = {f"{k:g}": {"eta_lambda0": p["lr"] * p["lambda0"], "status": p["status"],
                           "loss_spike": p["spike"], "lambda_final_over_2_over_eta": p["lambda_final"] * p["lr"] / 2,
                           "lambda_final_over_lambda0": p["lambda_final"] / p["lambda0"]}
                for k, p in phases.items()}

    def converged(p):
        return p["status"] == "converged"

    lazy = [p for k, p in phases.items() if k < 2]
    middle = [p for k, p in phases.items() if 2 < k < 4]
    above = [p for k, p in phases.items() if k > 4]
    claims = [
        Claim("lazy-below-2", "ηλ₀ < 2: lazy — the loss only decreases and λ stays at λ₀", SOURCE,
              {k: measured[k] for k in measured if float(k) < 2}, "converged, spike ≤ 1, |λ_final/λ₀ − 1| ≤ 0.05",
              all(converged(p) and p["spike"] <= 1 and abs(p["lambda_final"] / p["lambda0"] - 1) <= 0.05
                  for p in lazy)),
        Claim("catapult-between", "2 < ηλ₀ < 4: the loss spikes, the curvature drops, and training converges "
              "with λ_final < 2/η", SOURCE, {k: measured[k] for k in measured if 2 < float(k) < 4},
              "converged, spike > 1, λ_final·η/2 < 1 and λ_final < λ₀",
              bool(middle) and all(converged(p) and p["spike"] > 1 and p["lambda_final"] * p["lr"] / 2 < 1
                                   and p["lambda_final"] < p["lambda0"] for p in middle)),
        Claim("diverges-above-4", "ηλ₀ > 4: training diverges", SOURCE,
              {k: measured[k] for k in measured if float(k) > 4}, "status diverged",
              bool(above) and all(p["status"] == "diverged" for p in above)),
    ]
    grid = np.array(GRID)
    kind = np.array(["diverged" if p["status"] == "diverged" else ("catapult" if p["spike"] > 1 else "lazy")
                     for p in phases.values()])
    spacing = float(np.max(np.diff(grid)))

    def boundary(left: str, right: str) -> float:
        last_left = grid[kind == left].max() if np.any(kind == left) else np.nan
        first_right = grid[kind == right].min() if np.any(kind == right) else np.nan
        return float((last_left + first_right) / 2)

    lower, upper = boundary("lazy", "catapult"), boundary("catapult", "diverged")
    claims.append(Claim(
        "phase-boundaries", "the measured lazy/catapult and catapult/divergence boundaries are at ηλ₀ = 2 and 4",
        SOURCE, {"lazy_catapult": lower, "catapult_divergence": upper, "grid_spacing": spacing},
        f"|boundary − theory| ≤ {spacing:g} (one grid spacing)",
        bool(abs(lower - 2) <= spacing and abs(upper - 4) <= spacing)))
    return claims, [_figure(phases)]


def _figure(phases) -> Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    cmap = plt.get_cmap("viridis")
    for i, (k, p) in enumerate(phases.items()):
        if p["status"] == "diverged":
            continue
        colour = cmap(i / len(phases))
        left.semilogy(p["step"][:200], p["loss"][:200], color=colour, label=f"ηλ₀ = {k:g}")
        right.plot(p["step"][:200], p["sharpness"][:200] * p["lr"] / 2, color=colour)
    right.axhline(1.0, color="k", ls="--", lw=0.8)
    left.set(xlabel="step", ylabel="loss", title="the loss spikes for 2 < ηλ₀ < 4 (the catapult)")
    right.set(xlabel="step", ylabel="η λ_max / 2", title="the curvature falls below 2/η")
    left.legend(fontsize=7, ncol=2)
    caption = ("The uv model: lazy below ηλ₀ = 2, catapult between 2 and 4 (loss spike, then convergence at a "
               "flatter point with λ < 2/η), divergence above 4 (not drawn).")
    return Figure("catapult", fig, caption)
