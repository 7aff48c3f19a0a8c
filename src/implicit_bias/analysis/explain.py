"""``explain``: which explicit criterion did training secretly minimize?

For a finished run, every baseline that applies to its problem is solved on the same data
(cached in ``RUN_DIR/baselines/<kind>.npz``) and compared with the trained end-to-end object W:

- the relative distance ‖W − B‖ / ‖B‖ to each baseline's solution B (the ranking key),
- the baseline's own test error,
- the value of each candidate criterion — ℓ2 (Frobenius) norm, ℓ1 norm, nuclear norm,
  Q_α at the run's α (diagonal models), effective rank — at W and at each B.

Candidates: regression problems get ``min_norm`` (from the run's own x0, i.e. GD's limit
x_LN + V₂V₂ᵀx0), ``basis_pursuit`` and ``q_alpha`` (at the run's α and power, for diagonal
models: the exact limit of Woodworth et al. 2020); matrix problems get ``min_norm`` (minimum
Frobenius norm from x0) and ``min_nuclear_norm`` (the minimum-trace PSD solution for a
``symmetric`` model, Gunasekar et al. 2017). Classification runs get the max-margin directions
instead, ranked by angle (:mod:`~implicit_bias.analysis.explain_margin`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from implicit_bias.baselines import estimators as baselines
from implicit_bias.analysis import explain_margin
from implicit_bias import settings as config_mod
from implicit_bias.rundir import files as store
from implicit_bias.baselines.runs import min_norm_solution
from implicit_bias.settings import ConfigError
from implicit_bias.core.problems import LeastSquares, Problem, make_problem
from implicit_bias.settings import RunSettings, resolve_section
from implicit_bias.execution.single import load_run
from implicit_bias.analysis.flatness import flatness

BASELINE_DIR = "baselines"
EXPLAIN = "explain.json"


@dataclass
class Candidate:
    name: str
    criterion: str
    solution: np.ndarray


def _criteria(W: np.ndarray, alpha: float | None) -> dict[str, float]:
    values = {"l2": float(np.linalg.norm(W.ravel())), "l1": float(np.abs(W).sum())}
    if W.ndim == 2:
        s = np.linalg.svd(W, compute_uv=False)
        p = s / s.sum() if s.sum() > 0 else s
        entropy = -float(np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)))
        values.update(nuclear=float(s.sum()), effective_rank=float(np.exp(entropy)))
    if alpha is not None:
        values["q_alpha"] = float(baselines.q_alpha_potential(W.ravel(), alpha))
    return values


def _cached(run_dir: Path, name: str, compute) -> np.ndarray:
    path = run_dir / BASELINE_DIR / f"{name}.npz"
    try:
        return store.read_npz(path)["solution"]
    except (OSError, KeyError, ValueError):
        pass
    solution = np.asarray(compute(), float)
    path.parent.mkdir(exist_ok=True)
    store.write_npz(path, {"solution": solution})
    return solution


def _diagonal_difference(model) -> bool:
    """A ``diagonal`` model of form ``difference`` (u² − v²), whose limit is the Q_α minimizer."""
    return model is not None and model.kind == "diagonal" and model.form == "difference"


def candidates(settings: RunSettings, problem: Problem, x0: np.ndarray, run_dir: Path) -> list[Candidate]:
    """The baselines that apply to this run's problem and model, solved (or read from the cache)."""
    model = settings.model
    out = [Candidate("min_norm", "l2 (from x0)", _cached(run_dir, "min_norm", lambda: min_norm_solution(problem, x0)))]
    if isinstance(problem, LeastSquares):
        X, y = np.asarray(problem.X), np.asarray(problem.targets)
        out.append(Candidate("basis_pursuit", "l1", _cached(run_dir, "basis_pursuit",
                                                            lambda: baselines.basis_pursuit(X, y))))
        if _diagonal_difference(model):
            alpha, power = model.alpha, model.power
            out.append(Candidate("q_alpha", f"Q_alpha (alpha={alpha:g}, power={power})", _cached(
                run_dir, "q_alpha", lambda: baselines.diagonal_limit(X, y, alpha, power=power))))
    elif problem.shape and len(problem.shape) == 2:
        psd = model is not None and model.kind == "symmetric"
        name = "min_trace_psd" if psd else "min_nuclear_norm"
        out.append(Candidate(name, "trace (PSD)" if psd else "nuclear", _cached(
            run_dir, name, lambda: baselines.min_nuclear_norm(problem, psd=psd))))
    return out


def explain(run_dir: str | Path) -> dict[str, Any]:
    """Compare a finished run with every applicable baseline; writes and returns ``explain.json``."""
    run_dir = Path(run_dir)
    if not (run_dir / store.SUMMARY).is_file():
        raise ConfigError("RUN_DIR", f"not a finished run directory (no {store.SUMMARY}): {run_dir}")
    result = load_run(run_dir)
    settings = RunSettings.from_resolved(config_mod.resolve(result.config))
    if settings.is_baseline:
        raise ConfigError("RUN_DIR", "explain compares a *trained* run with the baselines; this is a baseline run")
    if explain_margin.is_classification(config_mod.resolve(result.config)):  # max-margin directions
        report = explain_margin.margin_report(run_dir, result.end_to_end, settings.model.kind)
        store.write_json(run_dir / EXPLAIN, report)
        return report
    if settings.model.kind == "mlp":
        report = explain_network(run_dir, result, settings)
        report["flatness"] = flatness(result)
        store.write_json(run_dir / EXPLAIN, report)
        return report
    problem = make_problem(settings.problem, settings.seed, settings.dtype)
    W, x0 = np.asarray(result.end_to_end, float), np.asarray(result.end_to_end_init, float)
    alpha = settings.model.alpha if _diagonal_difference(settings.model) else None
    rows = []
    for cand in candidates(settings, problem, x0, run_dir):
        B = cand.solution
        rows.append({
            "baseline": cand.name,
            "criterion": cand.criterion,
            "distance": float(np.linalg.norm((W - B).ravel()) / max(np.linalg.norm(B.ravel()), 1e-300)),
            "baseline_test_error": float(np.asarray(problem.test_error(B))),
            "criteria": _criteria(B, alpha),
        })
    rows.sort(key=lambda r: r["distance"])
    trained = {"test_error": float(np.asarray(problem.test_error(W))), "criteria": _criteria(W, alpha)}
    best = rows[0]
    verdict = (f"closest to {best['baseline']} (minimizer of {best['criterion']}): relative distance "
               f"{best['distance']:.2e}" + (f"; next {rows[1]['baseline']} at {rows[1]['distance']:.2e}"
                                            if len(rows) > 1 else ""))
    report = {"run": str(run_dir), "verdict": verdict, "trained": trained, "ranking": rows,
              "conventions": "distance = ‖W − B‖/‖B‖ (Frobenius/ℓ2); test_error = ‖W − W*‖/‖W*‖; "
                             "loss = mean of ½(prediction − target)²"}
    report["flatness"] = flatness(result)
    store.write_json(run_dir / EXPLAIN, report)
    return report


def _network_criteria(model, params, X) -> dict[str, float]:
    """Function-spectrum criteria of a network on X (a spectrum for nonlinear models; for a linear
    map, the singular values of W)."""
    from implicit_bias.core.spectral import effective_rank_from_singular_values, function_spectrum

    s = np.asarray(function_spectrum(model.apply, params, X))
    return {"function_effective_rank": float(effective_rank_from_singular_values(s)),
            "function_nuclear_fro_ratio": float(s.sum() / max(np.sqrt((s**2).sum()), 1e-300)),
            "function_top_singular_value": float(s[0])}


def explain_network(run_dir: Path, result, settings: RunSettings) -> dict[str, Any]:
    """An ``mlp`` run against the lazy-training (NTK) predictions at the same time t.

    Candidates: the linearized network of the run's own initialization (empirical NTK) and the
    infinite-width network (analytic ReLU NTK, one hidden layer), both evolved for the run's flow
    time t = lr × steps; the distance is measured between predictions on the held-out inputs
    (the training inputs without a held-out split). Criteria: held-out loss, and the function
    spectrum's effective rank and nuclear/Frobenius ratio of the trained and the initial network.
    """
    from implicit_bias.baselines.runs import _ntk_predictions
    from implicit_bias.keys import named_key
    from implicit_bias.core.models import make_model

    problem = make_problem(settings.problem, settings.seed, settings.dtype)
    model = make_model(settings.model, problem.shape)
    params = {k: np.asarray(v) for k, v in result.params.items()}
    params0 = model.init(named_key(settings.seed, "init"), settings.model, problem.X.dtype)
    held_out = problem.X_test is not None
    X_eval = problem.X_test if held_out else problem.X
    Y_eval = np.asarray(problem.y_test if held_out else problem.targets)
    trained = np.asarray(model.apply(params, X_eval))
    t = float(result.summary["time"])
    rows = []
    for kernel in ("empirical", "analytic"):
        if kernel == "analytic" and (len(model.widths) != 1 or model.activation != "relu" or model.bias):
            continue  # the analytic kernel is for one-hidden-layer ReLU nets without biases
        baseline = resolve_section("baseline", {"kind": "ntk_regression", "kernel": kernel, "time": t})
        train_pred, test_pred = _ntk_predictions(dataclasses.replace(settings, baseline=baseline), problem)
        B = np.asarray(test_pred if held_out else train_pred)
        rows.append({"baseline": f"ntk_{kernel}", "criterion": f"lazy training ({kernel} NTK) at t = {t:g}",
                     "distance": float(np.linalg.norm(trained - B) / max(np.linalg.norm(B), 1e-300)),
                     "baseline_test_error": float(0.5 * np.mean((B - Y_eval) ** 2)),
                     "criteria": {"test_loss": float(0.5 * np.mean((B - Y_eval) ** 2))}})
    rows.sort(key=lambda r: r["distance"])
    init_criteria = _network_criteria(model, params0, problem.X)
    trained_criteria = {"test_loss": float(0.5 * np.mean((trained - Y_eval) ** 2)),
                        **_network_criteria(model, params, problem.X)}
    best = rows[0]
    verdict = (f"predictions closest to {best['baseline']} (relative distance {best['distance']:.2e} on "
               f"{'held-out' if held_out else 'training'} inputs); function effective rank "
               f"{init_criteria['function_effective_rank']:.3g} at init → "
               f"{trained_criteria['function_effective_rank']:.3g} trained")
    return {"run": str(run_dir), "verdict": verdict,
            "trained": {"test_error": trained_criteria["test_loss"], "criteria": trained_criteria},
            "init": {"criteria": init_criteria}, "ranking": rows,
            "conventions": "distance = ‖f − f_B‖/‖f_B‖ over the evaluation inputs; test_error and test_loss "
                           "here = held-out mean of ½(prediction − target)²; function spectrum = singular "
                           "values of the input Jacobian stacked over the training inputs / √n"}


def format_table(report: dict[str, Any]) -> str:
    """The ranked table that ``implicit-bias explain`` prints."""
    if report.get("task") == "classification":
        return explain_margin.format_margin_table(report)
    names = sorted({k for r in report["ranking"] for k in r["criteria"]} | set(report["trained"]["criteria"]))
    header = ["rank", "baseline", "distance", "test_error", *names]
    lines = [header]
    t = report["trained"]
    lines.append(["-", "trained", "0", f"{t['test_error']:.3e}", *(f"{t['criteria'].get(n, float('nan')):.4g}"
                                                                   for n in names)])
    for i, r in enumerate(report["ranking"], start=1):
        lines.append([str(i), r["baseline"], f"{r['distance']:.3e}", f"{r['baseline_test_error']:.3e}",
                      *(f"{r['criteria'].get(n, float('nan')):.4g}" for n in names)])
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    body = "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in lines)
    flat = report.get("flatness")  # issue 17: final sharpness next to 2/lr (analysis/flatness.py)
    return f"{body}\n\n{report['verdict']}" + (f"\n{flat['line']}" if flat else "")
