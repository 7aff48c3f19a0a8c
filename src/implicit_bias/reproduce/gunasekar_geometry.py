"""gunasekar-geometry (Gunasekar, Lee, Soudry & Srebro 2018, "Characterizing implicit bias in terms of
optimization geometry"; Sun, Ahn, Thrampoulidis & Azizan 2022, "Mirror descent maximizes generalized
margin and can be implemented efficiently").

The geometry of the optimizer decides the implicit bias:

- Classification (exponential loss, separable data): steepest descent with respect to a norm ‖·‖,
  Δw = −η‖g‖_* · argmax_{‖v‖≤1}⟨v, g⟩, converges in direction to the max-margin separator of THAT norm,
  argmax_{‖w‖≤1} min_n y_n⟨x_n, w⟩ (Gunasekar et al. 2018, Theorem 5). We run the normalized variant
  (g = ∇L/L, ``normalize = true``), whose margin converges at a 1/t-type rate instead of 1/ln t, for
  ℓ1 (greedy coordinate descent), ℓ2 (GD) and ℓ∞ (the sign step scaled by ‖g‖₁), against three
  oracles (the ``max_margin`` baseline, an LP or QP on the problem's arrays). The theorem is about
  the margin: ℓ1 and ℓ∞ max-margin solutions need not be unique (an LP's optimal face), so the
  claims compare normalized margins γ_q(w) = min_n⟨z_n, w⟩/‖w‖_q with the optima γ_q*:
  ``own-norm-margin``: γ_p(w_p)/γ_p* ≥ 0.98 for each run's own norm p; ``other-norms-below``: three
  answers, each run's ratio in the two other norms ≤ 0.95; ``l2-direction``: the ℓ2 SVM is unique
  and GD's direction is within ``L2_ANGLE_TOL`` of it. Data: seed 0, n = 6 > d = 5, oracles 20°,
  28° and 47° apart (measured; with n > d the ℓ2 SVM can coincide with an ℓ1 or ℓ∞ vertex for other
  seeds, so the gap is part of the claim's measurement). Mirror descent with ψ = ‖w‖_p^p/p (p = 3)
  reaches the ℓ3 max margin (Sun et al. 2022), the oracle solved here with cvxpy
  (``mirror-lp-margin``: ratio ≥ 0.98, and closer to the ℓ3 direction than to ℓ1/ℓ2/ℓ∞).
- Regression (under-determined least squares, X w = y): mirror descent with the hyperbolic entropy
  ψ_β (∇ψ = arcsinh(w/β)) started at 0 converges to argmin D_ψ(w, 0) s.t. Xw = y for EVERY step size
  (Gunasekar et al. 2018, Theorem 1): the oracle is w = β sinh(Xᵀλ) with X β sinh(Xᵀλ) = y solved
  for λ by Newton's method (``mirror-regression-oracle``, two step sizes, relative error ≤ 1e-6),
  while ℓ∞ steepest descent and AdaGrad are NOT characterized by a step-size-free potential: their
  limits move with the step size (``limits-move-with-step``: the distance between the two step
  sizes' limits ≥ 100× that of mirror descent and ≥ 1e-3 relative). (Natural gradient with finite
  steps, the paper's third example, is not a trainer here.)

Sum versus mean: the directions do not depend on the loss's scale, and the step sizes here are
ours (mean loss); the paper's η on a sum loss is our lr = n·η.

Broken setting: every classification run uses ℓ2 (GD): the ℓ1 and ℓ∞ runs then end at the ℓ2
SVM, not at their own oracle.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import Claim, Figure, angle_degrees, relative_distance  # noqa: E402

NAME = "gunasekar-geometry"
CLAIM = ("Steepest descent in ℓ1/ℓ2/ℓ∞ converges to its own norm's max-margin direction; mirror descent's "
         "regression limit is step-size free, steepest descent's and AdaGrad's are not.")
SOURCE = ("Gunasekar, Lee, Soudry & Srebro 2018, 'Characterizing implicit bias in terms of optimization "
          "geometry'; Sun, Ahn, Thrampoulidis & Azizan 2022, 'Mirror descent maximizes generalized margin'")
MINUTES = (0.3, 1.7)

NORMS = ("l1", "l2", "linf")
L2_ANGLE_TOL = 0.5  # degrees
CLASSIFICATION = {"kind": "separable_classification", "n_samples": 6, "n_features": 5, "n_test": 0,
                  "margin": 0.1, "loss": "exponential"}
REGRESSION = {"kind": "least_squares", "n_samples": 5, "n_features": 12}
BETA = 0.1
#: the two step sizes of the regression runs (ℓ∞ steepest descent at lr/5, AdaGrad at 10·lr: each stable)
REGRESSION_LRS = (0.02, 0.1)


def configs(quick: bool) -> list[dict]:
    steps = 20_000 if quick else 100_000
    out = []
    for norm in NORMS:
        out.append({"name": f"max-margin-{norm}", "problem": CLASSIFICATION,
                    "baseline": {"kind": "max_margin", "norm": norm}})
        out.append({"name": f"steepest-{norm}", "problem": CLASSIFICATION, "model": {"kind": "linear"},
                    "trainer": {"kind": "steepest_descent", "norm": norm, "normalize": True, "lr": 0.1,
                                "steps": steps, "stop_loss": 0.0, "log_every": steps // 50}})
    out.append({"name": "mirror-l3", "problem": CLASSIFICATION, "model": {"kind": "linear"},
                "trainer": {"kind": "mirror_descent", "potential": "lp", "p": 3.0, "normalize": True, "lr": 0.1,
                            "steps": 5 * steps, "stop_loss": 0.0, "log_every": steps // 10}})
    regression_steps = 20_000 if quick else 50_000
    for lr in REGRESSION_LRS:
        common = {"lr": lr, "steps": regression_steps, "log_every": regression_steps // 20}
        out.append({"name": f"mirror-hypentropy-{lr:g}", "problem": REGRESSION, "model": {"kind": "linear"},
                    "trainer": {"kind": "mirror_descent", "potential": "hypentropy", "beta": BETA, **common}})
        out.append({"name": f"steepest-linf-{lr:g}", "problem": REGRESSION, "model": {"kind": "linear"},
                    "trainer": {"kind": "steepest_descent", "norm": "linf", **common, "lr": lr / 5}})
        out.append({"name": f"adagrad-{lr:g}", "problem": REGRESSION, "model": {"kind": "linear"},
                    "trainer": {"kind": "adagrad", **common, "lr": 10 * lr}})
    return out


def BROKEN(config: dict) -> dict:  # noqa: N802 - the module contract's name
    """Every classification steepest-descent run in ℓ2 (plain normalized GD)."""
    if config["name"].startswith("steepest-l") and config["problem"]["kind"] == "separable_classification":
        config["trainer"]["norm"] = "l2"
    return config


def _margin(Z: np.ndarray, w: np.ndarray, norm: str) -> float:
    """min_n ⟨z_n, w⟩ / ‖w‖ in ``norm`` (l1, l2, linf or l3)."""
    order = {"l1": 1, "l2": 2, "linf": np.inf, "l3": 3}[norm]
    return float((Z @ w).min() / np.linalg.norm(w, ord=order))


def _arrays(run) -> tuple[np.ndarray, np.ndarray]:
    with np.load(run.path / "problem.npz") as arrays:
        return arrays["X"], arrays["y"]


def lp_max_margin(Z: np.ndarray, p: float) -> np.ndarray:
    """argmin ‖w‖_p s.t. Zw ≥ 1 (cvxpy), the ℓp max-margin direction."""
    import cvxpy as cp

    w = cp.Variable(Z.shape[1])
    cp.Problem(cp.Minimize(cp.norm(w, p)), [Z @ w >= 1]).solve()
    return np.asarray(w.value)


def hypentropy_oracle(X: np.ndarray, y: np.ndarray, beta: float) -> np.ndarray:
    """argmin D_ψβ(w, 0) s.t. Xw = y: w = β sinh(Xᵀλ), λ by Newton's method on X β sinh(Xᵀλ) = y
    (a strictly monotone map: its Jacobian X diag(β cosh) Xᵀ is positive definite)."""
    lam = np.zeros(X.shape[0])
    for _ in range(200):
        u = X.T @ lam
        residual = X @ (beta * np.sinh(u)) - y
        if np.linalg.norm(residual) <= 1e-14 * max(1.0, np.linalg.norm(y)):
            break
        jacobian = (X * (beta * np.cosh(u))) @ X.T
        step = np.linalg.solve(jacobian, residual)
        while True:  # damped Newton: halve until the residual decreases
            trial = lam - step
            if np.linalg.norm(X @ (beta * np.sinh(X.T @ trial)) - y) < np.linalg.norm(residual) or \
                    np.linalg.norm(step) < 1e-16:
                break
            step = step / 2
        lam = trial
    return beta * np.sinh(X.T @ lam)


def analyze(runs: dict, quick: bool) -> tuple[list[Claim], list[Figure]]:
    oracles = {norm: np.asarray(runs[f"max-margin-{norm}"].end_to_end, dtype=float) for norm in NORMS}
    X, y = _arrays(runs["max-margin-l2"])
    Z = y[:, None] * X
    angles = {trained: {oracle: angle_degrees(np.asarray(runs[f"steepest-{trained}"].end_to_end, dtype=float), w)
                        for oracle, w in oracles.items()} for trained in NORMS}
    # margin_q(run_p) / γ_q: the run's normalized margin in norm q over the max margin of q
    ratios = {trained: {q: _margin(Z, np.asarray(runs[f"steepest-{trained}"].end_to_end, dtype=float), q)
                        / _margin(Z, oracles[q], q) for q in NORMS} for trained in NORMS}
    own = {n: ratios[n][n] for n in NORMS}
    others = {n: max(ratios[n][q] for q in NORMS if q != n) for n in NORMS}
    claims = [
        Claim("own-norm-margin", "steepest descent in ℓ1/ℓ2/ℓ∞ reaches the max margin of its own norm", SOURCE,
              {"margin_over_max_margin": ratios}, "own-norm ratio ≥ 0.98 for each norm",
              bool(min(own.values()) >= 0.98)),
        Claim("other-norms-below", "three geometries, three answers: each run stays clearly below the max "
              "margin of the two other norms", SOURCE, {"best_other_norm_ratio": others},
              "every other-norm ratio ≤ 0.95", bool(max(others.values()) <= 0.95)),
        Claim("l2-direction", "GD (ℓ2) converges in direction to the unique ℓ2 SVM", SOURCE,
              {"angles_deg": angles}, f"angle ≤ {L2_ANGLE_TOL}°", bool(angles["l2"]["l2"] <= L2_ANGLE_TOL)),
    ]
    w_l3 = lp_max_margin(Z, 3.0)
    mirror = np.asarray(runs["mirror-l3"].end_to_end, dtype=float)
    mirror_angles = {"l3": angle_degrees(mirror, w_l3), **{n: angle_degrees(mirror, oracles[n]) for n in NORMS}}
    mirror_ratio = _margin(Z, mirror, "l3") / _margin(Z, w_l3, "l3")
    claims.append(Claim(
        "mirror-lp-margin", "mirror descent with ψ = ‖w‖₃³/3 reaches the ℓ3 max margin, closest to the ℓ3 direction",
        SOURCE, {"l3_margin_over_max_margin": mirror_ratio, "angles_deg": mirror_angles},
        "ratio ≥ 0.98 and the angle to the ℓ3 direction smaller than to ℓ1/ℓ2/ℓ∞",
        bool(mirror_ratio >= 0.98 and mirror_angles["l3"] < min(mirror_angles[n] for n in NORMS))))
    Xr, yr = _arrays(runs[f"mirror-hypentropy-{REGRESSION_LRS[0]:g}"])
    target = hypentropy_oracle(Xr, yr, BETA)
    mirror_errors = {f"{lr:g}": relative_distance(runs[f"mirror-hypentropy-{lr:g}"].end_to_end, target)
                     for lr in REGRESSION_LRS}
    claims.append(Claim(
        "mirror-regression-oracle", "hypentropy mirror descent ends at argmin D_ψ(w, 0) s.t. Xw = y for every step",
        SOURCE, mirror_errors, "relative error ≤ 1e-6 at both step sizes", bool(max(mirror_errors.values()) <= 1e-6)))

    def moves(prefix: str) -> float:
        a, b = (runs[f"{prefix}-{lr:g}"].end_to_end for lr in REGRESSION_LRS)
        return relative_distance(a, b)

    mirror_move = moves("mirror-hypentropy")
    movement = {"mirror_descent": mirror_move, "steepest_linf": moves("steepest-linf"), "adagrad": moves("adagrad")}
    claims.append(Claim(
        "limits-move-with-step", "ℓ∞ steepest descent's and AdaGrad's limits depend on the step size; mirror "
        "descent's does not", SOURCE, movement, "each ≥ max(100 × mirror's, 1e-3)",
        bool(min(movement["steepest_linf"], movement["adagrad"]) >= max(100 * mirror_move, 1e-3))))
    return claims, [_figure(angles, oracles, runs)]


def _figure(angles, oracles, runs) -> Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    matrix = np.array([[angles[t][o] for o in NORMS] for t in NORMS])
    image = left.imshow(matrix, cmap="viridis_r")
    for i in range(3):
        for j in range(3):
            left.text(j, i, f"{matrix[i, j]:.2f}°", ha="center", va="center", color="w" if matrix[i, j] > 5 else "k")
    left.set(xticks=range(3), xticklabels=[f"{n} oracle" for n in NORMS], yticks=range(3),
             yticklabels=[f"steepest {n}" for n in NORMS], title="angle (degrees) to each max-margin direction")
    fig.colorbar(image, ax=left)
    width = 0.2
    for k, norm in enumerate(NORMS):
        w = oracles[norm] / np.abs(oracles[norm]).max()
        right.bar(np.arange(w.size) + (k - 1) * width, w, width, label=f"ℓ{norm[1:] if norm != 'linf' else '∞'} max margin")
    right.set(xlabel="coordinate", ylabel="w / max|w|", title="three geometries, three answers")
    right.legend(fontsize=8)
    caption = ("Each steepest-descent run (rows) ends closest to the max-margin direction of its own norm "
               "(columns); the three oracles differ (right).")
    return Figure("gunasekar_geometry", fig, caption)
