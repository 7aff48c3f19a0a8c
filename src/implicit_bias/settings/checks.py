"""Cross-field constraints of a resolved config, which a single key cannot express, and the two
facts of a problem table they need (:func:`end_to_end_shape`, :func:`n_observations`)."""

from __future__ import annotations

import math
from typing import Any, Mapping

from implicit_bias.errors import ConfigError
from implicit_bias.settings.registry import CHECKS, problem_record


def end_to_end_shape(problem: Mapping[str, Any]) -> tuple[int, ...] | None:
    """Shape of the end-to-end object the problem measures: (d,) or (n_rows, n_cols); None when it is
    only known once the data is read (``dataset``)."""
    kind = problem["kind"]
    record = problem_record(kind)
    if record is not None:  # a registered kind (docs/extending.md)
        return tuple(record.shape(problem)) if record.shape is not None else None
    if kind in ("least_squares", "teacher_student"):
        return (problem["n_features"],)
    if kind in ("dataset", "ratings"):
        return None
    if kind == "razin_2x2":
        return (2, 2)
    return (problem["n_rows"], problem["n_cols"])


def _check_consistency(resolved: Mapping[str, Any]) -> None:
    """Cross-field constraints that a single key cannot express."""
    problem = resolved["problem"]
    kind = problem["kind"]
    if kind == "least_squares":
        if problem["design"] == "orthogonal" and problem["n_samples"] < problem["n_features"]:
            raise ConfigError("problem.design", "'orthogonal' (XᵀX = n_samples·I) needs n_samples >= n_features, "
                              f"got n_samples={problem['n_samples']} < n_features={problem['n_features']}")
        if problem["target"] == "sparse" and problem["sparsity"] > problem["n_features"]:
            raise ConfigError("problem.sparsity", f"must be <= n_features={problem['n_features']}, "
                              f"got {problem['sparsity']}")
    if kind in ("matrix_completion", "matrix_sensing"):
        n, m = problem["n_rows"], problem["n_cols"]
        if problem["rank"] > min(n, m):
            raise ConfigError("problem.rank", f"must be <= min(n_rows, n_cols) = {min(n, m)}, got {problem['rank']}")
    if kind == "ratings" and problem["path"] is None:
        raise ConfigError("problem.path", "a ratings problem needs the path of its ratings file")
    if kind == "matrix_completion" and problem["n_obs"] > problem["n_rows"] * problem["n_cols"]:
        raise ConfigError("problem.n_obs", f"must be <= n_rows*n_cols = {problem['n_rows'] * problem['n_cols']}, "
                          f"got {problem['n_obs']}")
    if kind == "matrix_sensing" and problem["measurements"] != "gaussian" and problem["n_rows"] != problem["n_cols"]:
        raise ConfigError("problem.measurements", f"{problem['measurements']!r} needs a square matrix, got "
                          f"{problem['n_rows']}x{problem['n_cols']}")
    _check_data_size(problem)
    record = problem_record(kind)
    if record is not None and record.check is not None:
        record.check(resolved)
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


MAX_DATA_ENTRIES = 10**8


def _check_data_size(problem: Mapping[str, Any]) -> None:
    """Refuse data that could not be held in memory (each array at most 1e8 entries)."""
    kind = problem["kind"]
    sizes = {
        "least_squares": lambda p: ("n_samples", p["n_samples"] * p["n_features"]),
        "teacher_student": lambda p: ("n_test" if p["n_test"] > p["n_samples"] else "n_samples",
                                      (p["n_samples"] + p["n_test"]) * p["n_features"]),
        "matrix_sensing": lambda p: ("n_measurements", p["n_measurements"] * p["n_rows"] * p["n_cols"]),
        "matrix_completion": lambda p: ("n_rows", p["n_rows"] * p["n_cols"]),
    }
    record = problem_record(kind)
    if record is not None and record.data_size is not None:
        sizes = {kind: record.data_size}
    if kind in sizes:
        key, entries = sizes[kind](problem)
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


def _check_model_fits(resolved: Mapping[str, Any], shape: tuple[int, ...] | None) -> None:
    problem, model, penalty = resolved["problem"], resolved["model"], resolved["penalty"]
    vector_problem = problem["kind"] in ("least_squares", "teacher_student", "dataset") or has_inputs(problem)
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
    """True for a registered problem kind declared with inputs X (the built-in ones are listed where asked)."""
    record = problem_record(problem["kind"])
    return record is not None and record.has_inputs


def n_observations(problem: Mapping[str, Any]) -> int:
    """Number of observations m of a resolved problem table (the loss is a mean over them)."""
    record = problem_record(problem["kind"])
    if record is not None:
        return record.n_observations(problem) if record.n_observations is not None else None
    return {"least_squares": lambda p: p["n_samples"], "matrix_completion": lambda p: p["n_obs"],
            "matrix_sensing": lambda p: p["n_measurements"], "razin_2x2": lambda p: 3,
            "teacher_student": lambda p: p["n_samples"], "dataset": lambda p: None,
            "ratings": lambda p: None}[problem["kind"]](problem)


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
    m = n_observations(problem)
    if m is not None and trainer.get("batch_size", 0) > m:
        raise ConfigError("trainer.batch_size", f"must be <= the number of observations {m}, "
                          f"got {trainer['batch_size']}")
    held_out = (problem["kind"] == "teacher_student" and problem["n_test"] > 0) or (
        problem["kind"] in ("dataset", "ratings") and problem["test_fraction"] > 0) or (
        problem_record(problem["kind"]) is not None and problem_record(problem["kind"]).has_held_out(problem))
    if trainer.get("patience", 0) > 0 and not held_out:
        raise ConfigError("trainer.patience", "needs a problem with a held-out split (teacher_student with "
                          "n_test > 0, or dataset with test_fraction > 0)")
    if problem["kind"] not in ("least_squares", "teacher_student", "dataset") and not has_inputs(problem):
        for key, off in (("input_noise", 0.0), ("dropout", 1.0)):
            if trainer.get(key, off) != off:
                raise ConfigError(f"trainer.{key}", f"needs a problem with inputs (least_squares), "
                                  f"not {problem['kind']!r}")
