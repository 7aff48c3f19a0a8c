"""What the cross-field checks know of each built-in problem kind, declared the way an extension
declares its own (:class:`~implicit_bias.settings.registry.ProblemRecord`): the end-to-end shape,
the number of observations, inputs X, a held-out split, the size of the data, the problem's own
cross-field check, that its loss is the squared error, and whether it is a classification problem. :mod:`~implicit_bias.settings.checks` asks these records, never kind names.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from implicit_bias.errors import ConfigError
from implicit_bias.settings.registry import PROBLEM_RECORDS, ProblemRecord, describe_problem

Table = Mapping[str, Any]


def _least_squares_check(resolved: Table) -> None:
    problem = resolved["problem"]
    if problem["design"] == "orthogonal" and problem["n_samples"] < problem["n_features"]:
        raise ConfigError("problem.design", "'orthogonal' (XᵀX = n_samples·I) needs n_samples >= n_features, "
                          f"got n_samples={problem['n_samples']} < n_features={problem['n_features']}")
    if problem["target"] == "sparse" and problem["sparsity"] > problem["n_features"]:
        raise ConfigError("problem.sparsity", f"must be <= n_features={problem['n_features']}, "
                          f"got {problem['sparsity']}")


def _labels_stay_pm1(resolved: Table) -> None:
    """Labels ±1 admit no Gaussian label noise (a classification loss reads their sign)."""
    if resolved.get("trainer", {}).get("label_noise", 0.0) > 0:
        raise ConfigError("trainer.label_noise", "a classification problem has labels ±1: Gaussian label noise "
                          "does not apply (use problem.flip for label noise)")


def _separable_check(resolved: Table) -> None:
    """``separable_classification``: labels ±1, and ``teacher_frequency`` exactly with ``teacher = "fourier"``."""
    _labels_stay_pm1(resolved)
    problem = resolved["problem"]
    frequency, fourier = problem.get("teacher_frequency"), problem.get("teacher", "gaussian") == "fourier"
    if fourier and frequency is None:
        raise ConfigError("problem.teacher_frequency", 'teacher = "fourier" needs the frequency k of its mode')
    if not fourier and frequency is not None:
        raise ConfigError("problem.teacher_frequency", 'only with teacher = "fourier" (a gaussian teacher has none)')
    if fourier and frequency > problem["n_features"] // 2:
        raise ConfigError("problem.teacher_frequency", f"must be at most n_features/2 = {problem['n_features'] // 2} "
                          f"(frequencies k and d − k are the same real mode), got {frequency}")
    _nonseparable_design_check(problem)


def _nonseparable_design_check(problem: Table) -> None:
    """``design = "nonseparable"`` needs ``n_nonseparable`` m and ``nonseparable_dim`` k (refused otherwise) with
    k ≤ d − 1 (S ⊥ w*), m ≤ n_samples, m ≥ 2k (k ≥ 1; then a draw positively spans S with probability ≥ 1/2,
    Wendel 1962) or m = k = 0, and no ``flip`` (the design fixes which samples are non-separable)."""
    nonseparable = problem.get("design", "gaussian") == "nonseparable"
    for key in ("n_nonseparable", "nonseparable_dim"):
        if nonseparable and problem.get(key) is None:
            raise ConfigError(f"problem.{key}", 'design = "nonseparable" needs it (see docs/config.md)')
        if not nonseparable and problem.get(key) is not None:
            raise ConfigError(f"problem.{key}", 'only with design = "nonseparable"')
    if not nonseparable:
        return
    m, k, d = problem["n_nonseparable"], problem["nonseparable_dim"], problem["n_features"]
    if k > d - 1:
        raise ConfigError("problem.nonseparable_dim", f"must be at most n_features − 1 = {d - 1} (S ⊥ the teacher), "
                          f"got {k}")
    if m > problem["n_samples"]:
        raise ConfigError("problem.n_nonseparable", f"must be at most n_samples = {problem['n_samples']}, got {m}")
    if (k == 0) != (m == 0) or m < 2 * k:
        raise ConfigError("problem.n_nonseparable", f"must be at least 2·nonseparable_dim = {2 * k} (and 0 exactly "
                          f"when nonseparable_dim = 0), got {m}")
    if problem["flip"] > 0:
        raise ConfigError("problem.flip", 'must be 0 with design = "nonseparable" (the design fixes which samples '
                          "are non-separable)")


def _dataset_check(resolved: Table) -> None:
    """``task``, ``classes`` and ``loss`` of a ``dataset`` (classification: docs/config.md)."""
    problem = resolved["problem"]
    classification = problem.get("task", "regression") == "classification"
    if classification:
        _labels_stay_pm1(resolved)
    classes = problem.get("classes")
    if problem.get("loss") in ("logistic", "exponential") and not classification:
        raise ConfigError("problem.loss", f"{problem['loss']!r} is a classification loss: it needs "
                          "task = \"classification\" (regression uses half_mse)")
    if classes is not None:
        if not classification:
            raise ConfigError("problem.classes", "applies only with task = \"classification\"")
        if not isinstance(classes, list) or len(classes) != 2 or classes[0] == classes[1]:
            raise ConfigError("problem.classes", f"must be a list of two different target values, got {classes}")
    bundled_digits = problem.get("path") is None and problem.get("name") == "digits"
    if classification and bundled_digits and classes is None:
        raise ConfigError("problem.classes", "digits has 10 classes: give the two to keep, e.g. classes = [0, 1]")
    if classes is not None and bundled_digits and not all(0 <= c <= 9 for c in classes):
        raise ConfigError("problem.classes", f"the digits classes are 0 … 9, got {classes}")


def _rank_check(problem: Table) -> None:
    n, m = problem["n_rows"], problem["n_cols"]
    if problem["rank"] > min(n, m):
        raise ConfigError("problem.rank", f"must be <= min(n_rows, n_cols) = {min(n, m)}, got {problem['rank']}")


def _matrix_completion_check(resolved: Table) -> None:
    problem = resolved["problem"]
    _rank_check(problem)
    if problem["n_obs"] > problem["n_rows"] * problem["n_cols"]:
        raise ConfigError("problem.n_obs", f"must be <= n_rows*n_cols = {problem['n_rows'] * problem['n_cols']}, "
                          f"got {problem['n_obs']}")


def _matrix_sensing_check(resolved: Table) -> None:
    problem = resolved["problem"]
    _rank_check(problem)
    if problem["measurements"] != "gaussian" and problem["n_rows"] != problem["n_cols"]:
        raise ConfigError("problem.measurements", f"{problem['measurements']!r} needs a square matrix, got "
                          f"{problem['n_rows']}x{problem['n_cols']}")


def _ratings_check(resolved: Table) -> None:
    if resolved["problem"]["path"] is None:
        raise ConfigError("problem.path", "a ratings problem needs the path of its ratings file")


def _function_regression_check(resolved: Table) -> None:
    problem = resolved["problem"]
    if problem["target"] != "sinusoids":
        return
    frequencies = problem["frequencies"]
    count = len(frequencies) if isinstance(frequencies, list) else 1
    for name in ("amplitudes", "phases"):
        values = problem[name]
        if values is not None and len(values) != count:
            raise ConfigError(f"problem.{name}", f"needs one value per frequency ({count}), got {len(values)}")


def _matrix_shape(problem: Table) -> tuple[int, int]:
    return (problem["n_rows"], problem["n_cols"])


for _record in (
    ProblemRecord("least_squares", shape=lambda p: (p["n_features"],), n_observations=lambda p: p["n_samples"],
                  has_inputs=True, check=_least_squares_check,
                  data_size=lambda p: ("n_samples", p["n_samples"] * p["n_features"])),
    ProblemRecord("matrix_completion", shape=_matrix_shape, n_observations=lambda p: p["n_obs"],
                  check=_matrix_completion_check, data_size=lambda p: ("n_rows", p["n_rows"] * p["n_cols"])),
    ProblemRecord("matrix_sensing", shape=_matrix_shape, n_observations=lambda p: p["n_measurements"],
                  check=_matrix_sensing_check,
                  data_size=lambda p: ("n_measurements", p["n_measurements"] * p["n_rows"] * p["n_cols"])),
    ProblemRecord("razin_2x2", shape=lambda p: (2, 2), n_observations=lambda p: 3),
    ProblemRecord("teacher_student", shape=lambda p: (p["n_features"],), n_observations=lambda p: p["n_samples"],
                  has_inputs=True, held_out=lambda p: p["n_test"] > 0,
                  data_size=lambda p: ("n_test" if p["n_test"] > p["n_samples"] else "n_samples",
                                       (p["n_samples"] + p["n_test"]) * p["n_features"])),
    ProblemRecord("ratings", held_out=lambda p: p["test_fraction"] > 0, check=_ratings_check),
    ProblemRecord("dataset", has_inputs=True, held_out=lambda p: p["test_fraction"] > 0),
    ProblemRecord("function_regression", shape=lambda p: (2,) if p["domain"] == "circle" else (1,),
                  n_observations=lambda p: p["n_samples"], has_inputs=True, check=_function_regression_check,
                  data_size=lambda p: ("n_samples", 2 * p["n_samples"])),
):
    describe_problem(replace(_record, squared_loss=True))

# dataset: its task = "classification" (labels ±1 under a classification loss), classes and loss keys
PROBLEM_RECORDS["dataset"] = replace(PROBLEM_RECORDS["dataset"], check=_dataset_check,
                                     classification=lambda p: p.get("task", "regression") == "classification")

describe_problem(ProblemRecord(
    "separable_classification", shape=lambda p: (p["n_features"],), n_observations=lambda p: p["n_samples"],
    has_inputs=True, held_out=lambda p: p["n_test"] > 0, classification=True, check=_separable_check,
    data_size=lambda p: ("n_test" if p["n_test"] > p["n_samples"] else "n_samples",
                         (p["n_samples"] + p["n_test"]) * p["n_features"])))
