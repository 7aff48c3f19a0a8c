"""Cross-field checks of the vector models (``[model] kind = "deep_linear" | "linear_conv"``,
core/vector_models.py): they parameterize a vector β ∈ ℝ^d, so the problem must measure one.

A problem is vector-shaped when its record gives an end-to-end shape (d,), or, when the shape is only
known from the data (``dataset``), when it has inputs X (f(x) = ⟨x, β⟩); matrix problems
(completion, sensing, ``razin_2x2``, ``ratings``) are refused with a one-line error naming
``model.kind``. The checks ask the problem records, never kind names.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from implicit_bias.errors import ConfigError
from implicit_bias.settings.registry import CHECKS, problem_record

#: the largest factor of a deep_linear network (entries), as for deep_matrix
MAX_FACTOR_ENTRIES = 10**8


def vector_shape(problem: Mapping[str, Any]) -> tuple[bool, tuple[int, ...] | None]:
    """(whether the problem measures a vector β, its shape if known before the data is read)."""
    record = problem_record(problem["kind"])
    if record is None:
        return False, None
    shape = tuple(record.shape(problem)) if record.shape is not None else None
    if shape is not None:
        return len(shape) == 1, shape
    return record.has_inputs, None


def _check_vector_model(resolved: Mapping[str, Any]) -> None:
    problem, model = resolved["problem"], resolved["model"]
    is_vector, shape = vector_shape(problem)
    if not is_vector:
        got = f"shape {shape}" if shape is not None else "no inputs"
        raise ConfigError("model.kind", f"{model['kind']!r} parameterizes a vector β ∈ ℝ^d and needs a vector "
                          f"problem (least_squares, teacher_student, dataset, ...), not {problem['kind']!r} ({got})")
    if model["kind"] == "deep_linear" and shape is not None:
        widths = model["widths"]
        widths = [shape[0]] if widths is None else ([widths] if isinstance(widths, int) else widths)
        dims = [shape[0], *widths, 1]
        largest = max(dims[j] * dims[j - 1] for j in range(1, len(dims)))
        if largest > MAX_FACTOR_ENTRIES:
            raise ConfigError("model.widths", f"a factor would have {largest:.3g} entries; at most "
                              f"{MAX_FACTOR_ENTRIES:.0e} are supported")
    if model["kind"] == "linear_conv" and shape is not None and model["depth"] * math.prod(shape) > MAX_FACTOR_ENTRIES:
        raise ConfigError("model.depth", f"the filters would have more than {MAX_FACTOR_ENTRIES:.0e} entries")


for _kind in ("deep_linear", "linear_conv"):
    CHECKS[("model", _kind)] = _check_vector_model
