"""What the cross-field checks know of each built-in problem kind, declared the way an extension
declares its own (:class:`~implicit_bias.settings.registry.ProblemRecord`): the end-to-end shape,
the number of observations, inputs X, a held-out split, the size of the data, the problem's own
cross-field check, and that its loss is the squared error. :mod:`~implicit_bias.settings.checks` asks these records, never kind names.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from implicit_bias.errors import ConfigError
from implicit_bias.settings.registry import ProblemRecord, describe_problem

Table = Mapping[str, Any]


def _least_squares_check(resolved: Table) -> None:
    problem = resolved["problem"]
    if problem["design"] == "orthogonal" and problem["n_samples"] < problem["n_features"]:
        raise ConfigError("problem.design", "'orthogonal' (XᵀX = n_samples·I) needs n_samples >= n_features, "
                          f"got n_samples={problem['n_samples']} < n_features={problem['n_features']}")
    if problem["target"] == "sparse" and problem["sparsity"] > problem["n_features"]:
        raise ConfigError("problem.sparsity", f"must be <= n_features={problem['n_features']}, "
                          f"got {problem['sparsity']}")


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
