"""Cross-field constraints of a resolved config, which a single key cannot express, and the two
facts of a problem table they need (:func:`end_to_end_shape`, :func:`n_observations`)."""

from __future__ import annotations

import math
from typing import Any, Mapping

from implicit_bias.errors import ConfigError
from implicit_bias.settings import problem_kinds  # noqa: F401 - describes the built-in problems
from implicit_bias.settings import vector_model_checks  # noqa: F401 - checks of deep_linear, linear_conv
from implicit_bias.settings.registry import CHECKS, problem_record
from implicit_bias.settings.trainer_checks import check_schedule_and_normalize


def end_to_end_shape(problem: Mapping[str, Any]) -> tuple[int, ...] | None:
    """Shape of the end-to-end object the problem measures: (d,) or (n_rows, n_cols); None when it is
    only known once the data is read (``dataset``, ``ratings``)."""
    record = problem_record(problem["kind"])
    return tuple(record.shape(problem)) if record.shape is not None else None


def _check_consistency(resolved: Mapping[str, Any]) -> None:
    """Cross-field constraints that a single key cannot express."""
    problem = resolved["problem"]
    record = problem_record(problem["kind"])
    if record.check is not None:
        record.check(resolved)
    _check_data_size(problem)
    for section in ("model", "trainer", "penalty", "baseline"):
        table = resolved.get(section)
        if table is not None and (section, table["kind"]) in CHECKS:
            CHECKS[(section, table["kind"])](resolved)
    penalty = resolved["penalty"]
    if penalty["on"] == "params" and penalty["kind"] not in ("none", "l2", "l1"):
        raise ConfigError("penalty.on", f"'params' is supported for l2 and l1 only, not {penalty['kind']!r}")
    if "model" in resolved and penalty["kind"] in SINGULAR_AT_ZERO and _starts_at_zero(resolved["model"]):
        if not (penalty["kind"] == "schatten" and (penalty["p"] >= 1 or penalty["eps"] > 0)):
            raise ConfigError("penalty.kind", f"{penalty['kind']!r} has no gradient at W = 0, where this "
                              "model starts (give the model an init_scale > 0 or use another form)")
    spectral = ("nuclear", "schatten", "normalized_nuclear", "effective_rank")
    if resolved.get("trainer", {}).get("kind") == "modified_flow" and penalty["kind"] in spectral:
        raise ConfigError("penalty.kind", f"modified_flow needs second derivatives, which {penalty['kind']!r} "
                          "lacks where singular values coincide (not implemented); use l1/l2 or flow")
    if "baseline" in resolved:
        _check_baseline(resolved)
    if "model" in resolved:
        _check_model_fits(resolved, end_to_end_shape(problem))
    if "trainer" in resolved:
        _check_trainer(resolved)
    _check_curvature_metrics(resolved)


def _check_curvature_metrics(resolved: Mapping[str, Any]) -> None:
    """The curvature metrics (issue 17) need trained parameters; batch_sharpness needs minibatches."""
    metrics = resolved.get("metrics", {})
    wanted = [k for k in ("sharpness", "hessian_trace", "batch_sharpness") if metrics.get(k)]
    wanted += ["hessian_top_k"] if metrics.get("hessian_top_k", 0) > 0 else []
    if wanted and "trainer" not in resolved:
        raise ConfigError(f"metrics.{wanted[0]}", "curvature metrics need a [trainer] (a [baseline] has no "
                          "trained parameters)")
    if metrics.get("batch_sharpness") and not resolved["trainer"].get("batch_size", 0) > 0:
        raise ConfigError("metrics.batch_sharpness", "needs a minibatched trainer (batch_size > 0); "
                          "a full-batch run's batch sharpness is its `sharpness`")


MAX_DATA_ENTRIES = 10**8


def _check_data_size(problem: Mapping[str, Any]) -> None:
    """Refuse data that could not be held in memory (each array at most 1e8 entries)."""
    record = problem_record(problem["kind"])
    if record.data_size is not None:
        key, entries = record.data_size(problem)
        if entries > MAX_DATA_ENTRIES:
            raise ConfigError(f"problem.{key}", f"the data would have {entries:.3g} entries; at most "
                              f"{MAX_DATA_ENTRIES:.0e} are supported")


SINGULAR_AT_ZERO = ("normalized_nuclear", "effective_rank", "schatten")


def _starts_at_zero(model: Mapping[str, Any]) -> bool:
    """Models whose end-to-end object is exactly 0 at init (linear from 0; u^N − v^N from u = v)."""
    return (model["kind"] == "linear" and model["init_scale"] == 0) or (
        model["kind"] == "diagonal" and model["form"] == "difference")


VECTOR_PROBLEMS = ("least_squares", "teacher_student", "dataset")
MATRIX_PROBLEMS = ("matrix_completion", "matrix_sensing", "razin_2x2", "ratings")


def _check_baseline(resolved: Mapping[str, Any]) -> None:
    baseline, problem, model = resolved["baseline"], resolved["problem"], resolved.get("model")
    kind = baseline["kind"]
    if kind == "max_margin":
        _check_max_margin(resolved)
        return
    needs = {"ridge": VECTOR_PROBLEMS, "basis_pursuit": VECTOR_PROBLEMS, "q_alpha": VECTOR_PROBLEMS,
             "ntk_regression": VECTOR_PROBLEMS, "min_nuclear_norm": MATRIX_PROBLEMS,
             "min_norm": VECTOR_PROBLEMS + MATRIX_PROBLEMS}[kind]
    if problem["kind"] not in needs:
        raise ConfigError("baseline.kind", f"{kind!r} applies to {', '.join(needs)} problems, "
                          f"not {problem['kind']!r}")
    if kind == "ntk_regression" and baseline["kernel"] == "empirical" and (model is None or model["kind"] != "mlp"):
        raise ConfigError("model", "ntk_regression with the empirical kernel needs a [model] of kind 'mlp'")
    if kind == "min_nuclear_norm" and baseline["psd"]:
        shape = end_to_end_shape(problem)
        if shape is not None and shape[0] != shape[1]:
            raise ConfigError("baseline.psd", f"needs a square matrix, got {shape}")
    if model is not None and kind not in ("min_norm", "ntk_regression"):
        raise ConfigError("model", f"baseline {kind!r} takes no [model] (only min_norm, for its x0, and "
                          "ntk_regression)")


def _check_max_margin(resolved: Mapping[str, Any]) -> None:
    """``max_margin`` needs ±1 labels under a classification loss and takes no [model]."""
    problem = resolved["problem"]
    record = problem_record(problem["kind"])
    if record is None or not record.is_classification(problem):
        raise ConfigError("baseline.kind", f"'max_margin' applies to classification problems (labels ±1 under "
                          f"a logistic or exponential loss), not {problem['kind']!r}")
    if resolved.get("model") is not None:
        raise ConfigError("model", "baseline 'max_margin' takes no [model]")


def _check_model_fits(resolved: Mapping[str, Any], shape: tuple[int, ...] | None) -> None:
    problem, model, penalty = resolved["problem"], resolved["model"], resolved["penalty"]
    vector_problem = has_inputs(problem)
    if model["kind"] == "mlp" and not vector_problem:
        raise ConfigError("model.kind", f"'mlp' needs a regression problem with inputs, not {problem['kind']!r}")
    if model["kind"] == "mlp" and penalty["kind"] != "none" and penalty["on"] != "params":
        raise ConfigError("penalty.on", "an mlp has no end-to-end matrix: use on = \"params\"")
    if problem["kind"] in ("teacher_student", "dataset", "ratings") and model["kind"] == "symmetric":
        raise ConfigError("model.kind", "'symmetric' needs a square matrix problem")
    if shape is None:
        if model["kind"] == "diagonal" and isinstance(model["shape"], list):
            raise ConfigError("model.shape", "a list needs a known dimension; not available for `dataset`")
        return
    if math.prod(shape) > 10**8:
        raise ConfigError("problem", f"the end-to-end object has {math.prod(shape)} entries; at most 1e8 supported")
    if model["kind"] == "deep_matrix" and isinstance(model["width"], list):
        if len(model["width"]) != model["depth"] - 1:
            raise ConfigError("model.width", f"a list must have depth-1 = {model['depth'] - 1} entries, "
                              f"got {len(model['width'])}")
    if model["kind"] == "deep_matrix":
        widths = model["width"] if isinstance(model["width"], list) else [model["width"] or max(shape)]
        if max(widths) * max(shape) > 10**8:
            raise ConfigError("model.width", "the factors would have more than 1e8 entries")
    if model["kind"] == "symmetric" and (len(shape) != 2 or shape[0] != shape[1]):
        raise ConfigError("model.kind", f"'symmetric' (W = U Uᵀ) needs a square problem, got shape {shape}")
    if model["kind"] == "diagonal" and isinstance(model["shape"], list) and len(model["shape"]) != math.prod(shape):
        raise ConfigError("model.shape", f"needs {math.prod(shape)} entries (one per coordinate), "
                          f"got {len(model['shape'])}")


def has_inputs(problem: Mapping[str, Any]) -> bool:
    """True for a problem kind declared with inputs X (least_squares, teacher_student, dataset, ...)."""
    return problem_record(problem["kind"]).has_inputs


def n_observations(problem: Mapping[str, Any]) -> int:
    """Number of observations m of a resolved problem table (the loss is a mean over them)."""
    record = problem_record(problem["kind"])
    return record.n_observations(problem) if record.n_observations is not None else None


MAX_LOGGED_ROWS = 10**7


def _check_trainer(resolved: Mapping[str, Any]) -> None:
    trainer, problem = resolved["trainer"], resolved["problem"]
    if "t_max" in trainer:
        log_dt = trainer["log_dt"] or trainer["t_max"] / 100
        if log_dt > 0 and trainer["t_max"] / log_dt > MAX_LOGGED_ROWS:
            raise ConfigError("trainer.log_dt", f"would log more than {MAX_LOGGED_ROWS:.0e} rows "
                              f"(t_max / log_dt = {trainer['t_max'] / log_dt:.3g})")
    elif trainer["steps"] / trainer["log_every"] > MAX_LOGGED_ROWS:
        raise ConfigError("trainer.log_every", f"would log more than {MAX_LOGGED_ROWS:.0e} rows "
                          f"(steps / log_every = {trainer['steps'] / trainer['log_every']:.3g})")
    if "t_max" not in trainer:
        check_schedule_and_normalize(resolved)
    m = n_observations(problem)
    if m is not None and trainer.get("batch_size", 0) > m:
        raise ConfigError("trainer.batch_size", f"must be <= the number of observations {m}, "
                          f"got {trainer['batch_size']}")
    held_out = problem_record(problem["kind"]).has_held_out(problem)
    if trainer.get("patience", 0) > 0 and not held_out:
        raise ConfigError("trainer.patience", "needs a problem with a held-out split (teacher_student with "
                          "n_test > 0, or dataset with test_fraction > 0)")
    if not has_inputs(problem):
        for key, off in (("input_noise", 0.0), ("dropout", 1.0)):
            if trainer.get(key, off) != off:
                raise ConfigError(f"trainer.{key}", f"needs a problem with inputs (least_squares), "
                                  f"not {problem['kind']!r}")
