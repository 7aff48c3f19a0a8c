"""Baselines run as runs: ``[baseline] kind = ...`` in place of ``[trainer]``.

A baseline solves its explicit problem on exactly the data a training run with the same seed
and ``[problem]`` sees, and returns the same kind of result (end-to-end object, metrics row,
summary), so that run directories of trained models and of explicit criteria are compared with
the same tools (``explain``, ``report``). The estimators themselves are in ``baselines.py``.

``min_norm`` with a ``[model]`` starts from that model's initial end-to-end object x0 (same
seed, same init as the training run), giving GD's limit x_LN + V₂V₂ᵀx0 (after Gunasekar et al. 2017).

Everything here reads typed settings (:class:`~implicit_bias.settings.RunSettings`; ``[baseline]``
keys are attributes, ``lambda`` as ``lambda_``); the execution layer converts the resolved dict
once (``RunSettings.from_resolved``).
"""

from __future__ import annotations

import time
from typing import Any

import jax.numpy as jnp
import numpy as np

from implicit_bias.baselines import estimators as baselines
from implicit_bias.baselines import max_margin
from implicit_bias.errors import ConfigError
from implicit_bias.keys import named_key
from implicit_bias.metrics import compute_metrics
from implicit_bias.core.models import Linear, MLP, make_model
from implicit_bias.core.objective import Objective
from implicit_bias.core.penalties import make_penalty
from implicit_bias.core.problems import LeastSquares, MatrixCompletion, MatrixSensing, Problem, make_problem
from implicit_bias.settings import RunSettings, resolve_section
from implicit_bias.trainers.loop import Trajectory, host_metrics


def _regression_data(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(problem.X), np.asarray(problem.targets)


def min_norm_solution(problem: Problem, x0: np.ndarray | None) -> np.ndarray:
    """The interpolant closest to x0 in ℓ2/Frobenius norm (x0 = 0: the minimum-norm one)."""
    if isinstance(problem, LeastSquares):
        return baselines.min_norm(*_regression_data(problem), x0=x0)
    if isinstance(problem, MatrixCompletion):  # the null space is the unobserved entries
        W = np.zeros(problem.shape) if x0 is None else np.array(x0, dtype=float)
        W[np.asarray(problem.rows), np.asarray(problem.cols)] = np.asarray(problem.targets)
        return W
    if isinstance(problem, MatrixSensing):
        A = np.asarray(problem.A).reshape(problem.n_observations, -1)
        x0_flat = None if x0 is None else np.asarray(x0).ravel()
        return baselines.min_norm(A, np.asarray(problem.targets), x0=x0_flat).reshape(problem.shape)
    raise TypeError(type(problem).__name__)


def max_margin_baseline(problem: Problem, norm: str) -> tuple[np.ndarray, dict[str, Any]]:
    """``[baseline] kind = "max_margin"``: the unit-margin solution argmin ‖w‖_norm s.t.
    y_i⟨x_i, w⟩ ≥ 1 on the problem's inputs X and labels (``targets`` ∈ {±1}), and its diagnostics
    for summary.json (:meth:`~implicit_bias.baselines.max_margin.MaxMarginSolution.summary`).
    Non-separable data raise a ConfigError naming ``baseline.kind``."""
    X, y = _regression_data(problem)
    try:
        solution = max_margin.max_margin(X, y, norm)
    except max_margin.NotSeparableError as exc:
        raise ConfigError("baseline.kind", f"'max_margin': {exc}") from None
    return solution.w, solution.summary(y[:, None] * X)


def _ntk_predictions(settings: RunSettings, problem: LeastSquares) -> tuple[np.ndarray, np.ndarray | None]:
    """Linearized (or kernel-regression) predictions on the training and held-out inputs, for
    ``settings.baseline`` (an ``ntk_regression`` baseline: ``kernel``, ``time``) and ``settings.model``."""
    baseline = settings.baseline
    X, Y = _regression_data(problem)
    X_test = None if problem.X_test is None else np.asarray(problem.X_test)
    if baseline.kernel == "analytic":
        K, f0 = baselines.ntk_relu(X), np.zeros_like(Y)
        K_test = None if X_test is None else baselines.ntk_relu(X_test, X)
        f0_test = None if X_test is None else np.zeros(X_test.shape[0])
    else:
        model: MLP = make_model(settings.model, problem.shape)
        params = model.init(named_key(settings.seed, "init"), settings.model, problem.X.dtype)
        K = baselines.empirical_ntk(params, X, fn=model.apply)
        f0 = np.asarray(model.apply(params, problem.X))
        K_test = None if X_test is None else baselines.empirical_ntk(params, X_test, X, fn=model.apply)
        f0_test = None if X_test is None else np.asarray(model.apply(params, problem.X_test))
    t = baseline.time or np.inf
    if np.isinf(t):  # t → ∞: f0 + kernel regression of the residual
        train = Y.copy()
        test = None if K_test is None else f0_test + baselines.kernel_regression(K, Y - f0, K_test)
        return train, test
    out = baselines.ntk_linearized_predictions(K, f0, Y, t, K_test, f0_test)
    return out if K_test is not None else (out, None)


def solve(settings: RunSettings, problem: Problem) -> tuple[np.ndarray, np.ndarray, dict, list[tuple[float, np.ndarray]]]:
    """Solve the baseline of a run's settings (``settings.baseline``) on ``problem``.

    Returns (end_to_end, end_to_end_init, info, path) where ``path`` lists (λ, solution) for a
    ridge path (empty otherwise) and ``info`` holds solver diagnostics for summary.json.
    """
    baseline = settings.baseline
    kind = baseline.kind
    x0 = None
    if kind == "min_norm" and settings.model is not None:
        model = make_model(settings.model, problem.shape)
        x0 = np.asarray(model.end_to_end(model.init(named_key(settings.seed, "init"), settings.model,
                                                    problem.targets.dtype)))
    info: dict[str, Any] = {}
    path: list[tuple[float, np.ndarray]] = []
    if kind == "min_norm":
        W = min_norm_solution(problem, x0)
    elif kind == "ridge":
        X, y = _regression_data(problem)
        lams = list(baseline.path or [baseline.lambda_])
        solutions = baselines.ridge_path(X, y, lams)
        path = list(zip(lams, solutions))
        W = baselines.ridge(X, y, baseline.lambda_)
    elif kind == "basis_pursuit":
        W = baselines.basis_pursuit(*_regression_data(problem))
    elif kind == "q_alpha":
        X, y = _regression_data(problem)
        W = baselines.diagonal_limit(X, y, baseline.alpha, power=baseline.power)
    elif kind == "min_nuclear_norm":
        W, solver_info = baselines.min_nuclear_norm(problem, psd=baseline.psd, solver=baseline.solver,
                                                    tol=baseline.tol, return_info=True)
        info = {"solver": solver_info.solver, "iterations": solver_info.iterations,
                "feasibility": solver_info.feasibility, "converged": bool(solver_info.converged)}
    elif kind == "max_margin":
        W, info = max_margin_baseline(problem, baseline.norm)
    elif kind == "ntk_regression":
        train, test = _ntk_predictions(settings, problem)
        info = {"test_predictions": test}
        W = train
    else:
        raise AssertionError(kind)
    init = np.zeros_like(np.asarray(W)) if x0 is None else x0
    return np.asarray(W, float), init, info, path


def solution_metrics(problem: Problem, W: np.ndarray, top_k: int, dtype) -> dict[str, Any]:
    """The run metrics of an end-to-end solution (a linear model holding W)."""
    model = Linear(shape=problem.shape)
    objective = Objective(problem=problem, model=model, penalty=make_penalty(resolve_section("penalty", {"kind": "none"}), dtype))
    return host_metrics(compute_metrics(objective, {"W": jnp.asarray(W, dtype)}, top_k))


def run_baseline(settings: RunSettings) -> tuple[Trajectory, np.ndarray, np.ndarray, Problem, dict]:
    """Solve a baseline run (``settings.baseline`` set); returns a one-row (or one row per λ)
    trajectory like a trained run."""
    started = time.perf_counter()
    baseline, dtype = settings.baseline, settings.dtype
    problem = make_problem(settings.problem, settings.seed, dtype)
    W, W0, info, path = solve(settings, problem)
    top_k = settings.metrics.top_k
    if baseline.kind == "ntk_regression":
        Y = np.asarray(problem.targets)
        row = {"loss": float(0.5 * np.mean((W - Y) ** 2)), "test_error": float("nan")}
        test = info.pop("test_predictions")
        if test is not None:
            row["test_loss"] = float(0.5 * np.mean((test - np.asarray(problem.y_test)) ** 2))
        rows = [{"step": 0, "t": baseline.time, **row}]
    elif path:  # a ridge path: one row per λ of the path; the summary's final row is `lambda`
        rows = [{"step": 0, "t": 0.0, "lambda": lam, **solution_metrics(problem, sol, top_k, dtype)}
                for lam, sol in path]
        if baseline.path is not None:
            rows.append({"step": 0, "t": 0.0, "lambda": baseline.lambda_,
                         **solution_metrics(problem, W, top_k, dtype)})
    else:
        rows = [{"step": 0, "t": 0.0, **solution_metrics(problem, W, top_k, dtype)}]
    trajectory = Trajectory(rows=rows, params={"W": jnp.asarray(W)}, status="converged", steps=0, time=0.0,
                            wall_seconds=time.perf_counter() - started, extra=info)
    return trajectory, W, W0, problem, info

