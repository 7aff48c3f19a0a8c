"""``explain`` on a classification run: which max-margin direction did training converge to?

On separable data the loss has no minimizer and the trained β diverges; its *direction* is the
implicit bias. For a classification run (its problem record says ``is_classification``) the
max-margin directions ŵ_p = argmin ‖w‖_p s.t. y_i⟨x_i, w⟩ ≥ 1 (:mod:`~implicit_bias.baselines.max_margin`)
are solved on the run's own ``problem.npz`` arrays (cached in ``RUN_DIR/baselines/max_margin_<norm>.npz``)
for p = ℓ2 (gradient descent: Soudry et al. 2018), ℓ1 and ℓ∞ (steepest descent w.r.t. those norms,
Adam/sign descent: Gunasekar et al. 2018a; Zhang, Zou & Cao 2024) and, for ``linear_conv`` models
only, Fourier-ℓ1 (Gunasekar et al. 2018b). They are ranked by the angle between the trained β
(``final.npz["end_to_end"]``) and ŵ_p, the closest first, and each row shows the trained normalized
margin min_i y_i⟨x_i, β⟩/‖β‖_p beside the oracle's γ_p = 1/‖ŵ_p‖_p (their ratio is ≤ 1, = 1 exactly
when β points along a maximizer).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from implicit_bias.baselines import max_margin as mm
from implicit_bias.rundir import files as store
from implicit_bias.settings import ConfigError
from implicit_bias.settings.registry import problem_record

BASELINE_DIR = "baselines"
LABELS = {"l2": "ℓ2", "l1": "ℓ1", "linf": "ℓ∞", "fourier_l1": "Fourier-ℓ1"}
CONVENTIONS = ("angle = ∠(β, ŵ_p) in radians (the ranking key, also written as distance); margin = "
               "min_i y_i⟨x_i, β⟩/‖β‖_p of the trained β; max_margin = γ_p = 1/‖ŵ_p‖_p of the oracle "
               "argmin ‖w‖_p s.t. y_i⟨x_i, w⟩ ≥ 1; ratio = margin/max_margin; accuracy = fraction of "
               "sign⟨x, ·⟩ = y; Fourier-ℓ1 = Σ_k |(Fw)_k|, F the unitary DFT")


def is_classification(resolved: Mapping[str, Any]) -> bool:
    """Whether a resolved config's problem is classification (its record's ``is_classification``)."""
    problem = resolved["problem"]
    record = problem_record(problem["kind"])
    return record is not None and record.is_classification(problem)


def applicable_norms(model_kind: str | None) -> tuple[str, ...]:
    """ℓ2, ℓ1, ℓ∞, and Fourier-ℓ1 for the ``linear_conv`` model only."""
    return ("l2", "l1", "linf") + (("fourier_l1",) if model_kind == "linear_conv" else ())


def accuracy(X, y, beta) -> float:
    """Fraction of samples with sign⟨x_i, β⟩ = y_i (a zero prediction counts as an error)."""
    return float(np.mean(np.asarray(y).ravel() * (np.asarray(X) @ np.asarray(beta).ravel()) > 0))


#: two max-margin directions at most this angle (radians) apart are reported as the same one
SAME_DIRECTION = 1e-6


def rank_directions(X, y, beta, directions: Mapping[str, np.ndarray], X_test=None, y_test=None) -> list[dict]:
    """One row per max-margin direction ŵ_p (``directions[norm]``), sorted by the angle to β (pure)."""
    rows = []
    for norm, w in directions.items():
        theta = mm.angle(beta, w)
        margin, oracle = mm.normalized_margin(X, y, beta, norm), mm.normalized_margin(X, y, w, norm)
        rows.append({
            "baseline": f"max_margin_{norm}", "criterion": f"{LABELS[norm]} max margin", "norm": norm,
            "angle": theta, "distance": theta, "margin": margin, "max_margin": oracle,
            "ratio": margin / oracle if oracle > 0 else float("nan"),
            "baseline_test_accuracy": accuracy(X_test, y_test, w) if X_test is not None else float("nan"),
        })
    rows.sort(key=lambda r: (math.isnan(r["angle"]), r["angle"]))
    return rows


def _cached_direction(run_dir: Path, norm: str, X, y) -> np.ndarray:
    path = run_dir / BASELINE_DIR / f"max_margin_{norm}.npz"
    try:
        return store.read_npz(path)["solution"]
    except (OSError, KeyError, ValueError):
        pass
    try:
        solution = mm.max_margin(X, y, norm)
    except mm.NotSeparableError as exc:
        raise ConfigError("RUN_DIR", f"explain cannot rank max-margin directions: {exc}") from None
    path.parent.mkdir(exist_ok=True)
    store.write_npz(path, {"solution": solution.w, "dual": solution.dual})
    return solution.w


def margin_report(run_dir: str | Path, beta, model_kind: str | None) -> dict[str, Any]:
    """The explain report of a classification run directory: its ``problem.npz`` (X, y and maybe
    X_test, y_test) against the trained ``beta``; the directions are solved or read from the cache."""
    run_dir = Path(run_dir)
    arrays = store.read_npz(run_dir / store.PROBLEM)
    X, y = np.asarray(arrays["X"], float), np.asarray(arrays["y"], float)
    beta = np.asarray(beta, float).ravel()
    if beta.shape != (X.shape[1],):
        raise ConfigError("RUN_DIR", f"explain ranks linear max-margin directions: the run's end-to-end object "
                          f"has shape {np.shape(beta)}, not ({X.shape[1]},) (a model linear in x is needed)")
    X_test, y_test = arrays.get("X_test"), arrays.get("y_test")
    directions = {norm: _cached_direction(run_dir, norm, X, y) for norm in applicable_norms(model_kind)}
    rows = rank_directions(X, y, beta, directions, X_test, y_test)
    best = rows[0]
    # on small data two geometries can share one optimal vertex (e.g. the ℓ2 SVM with d support
    # vectors is also the ℓ∞ optimum): then the ranking between them says nothing, and we say so
    same = [r["baseline"] for r in rows[1:] if mm.angle(directions[best["norm"]], directions[r["norm"]]) <= SAME_DIRECTION]
    verdict = (f"direction closest to {best['baseline']} (the {best['criterion']}): angle {best['angle']:.2e} rad, "
               f"normalized margin {best['margin']:.4g} of the oracle's {best['max_margin']:.4g}"
               + (f" — {', '.join(same)} is the same direction on this data (the oracles coincide), so "
                  "this ranking does not tell those geometries apart" if same else "")
               + (f"; next {rows[1]['baseline']} at {rows[1]['angle']:.2e} rad" if len(rows) > 1 else ""))
    trained = {"accuracy": accuracy(X, y, beta),
               "test_accuracy": accuracy(X_test, y_test, beta) if X_test is not None else float("nan"),
               "criteria": {f"margin_{norm}": mm.normalized_margin(X, y, beta, norm) for norm in directions}}
    return {"run": str(run_dir), "task": "classification", "verdict": verdict, "trained": trained,
            "ranking": rows, "same_direction_as_closest": same, "conventions": CONVENTIONS}


def format_margin_table(report: Mapping[str, Any]) -> str:
    """The table ``implicit-bias explain`` prints for a classification run: one line per direction."""
    t = report["trained"]
    lines = [["rank", "baseline", "angle", "margin", "max_margin", "ratio", "test_accuracy"],
             ["-", "trained", "0", "-", "-", "-", f"{t['test_accuracy']:.4g}"]]
    for i, r in enumerate(report["ranking"], start=1):
        lines.append([str(i), r["baseline"], f"{r['angle']:.3e}", f"{r['margin']:.4g}", f"{r['max_margin']:.4g}",
                      f"{r['ratio']:.4f}", f"{r['baseline_test_accuracy']:.4g}"])
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    body = "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in lines)
    return f"{body}\n\n{report['verdict']}"
