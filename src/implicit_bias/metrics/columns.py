"""The order of the metric columns in metrics.parquet and the progress line (docs/run-directory.md)."""

from __future__ import annotations

COLUMN_ORDER = ("loss", "test_error", "test_mse_all_entries", "test_loss", "param_norm", "singular_values",
                "effective_rank",
                "balancedness", "nuclear_norm", "nuclear_fro_ratio", "stable_rank", "end_to_end_norm", "end_to_end_l1", "objective", "penalty",
                "modified_loss",
                "accuracy", "test_accuracy", "margin_l1", "margin_l2", "margin_linf", "margin_fourier", "norm_l2")
#: the curvature columns (issue 17, metrics/curvature.py), after the historical ones.
COLUMN_ORDER = COLUMN_ORDER + ("sharpness", "hessian_eigenvalues", "hessian_trace", "hessian_trace_stderr",
                               "batch_sharpness")
#: the residual's DFT on the circle (issue 17, metrics/residual_spectrum.py).
COLUMN_ORDER = COLUMN_ORDER + ("residual_spectrum",)
#: the margins of homogeneous networks without an end-to-end vector (Lyu & Li 2020, metrics/classification.py).
COLUMN_ORDER = COLUMN_ORDER + ("margin_homogeneous", "smoothed_margin")


def column_rank(name: str) -> tuple[int, str]:
    """Sort key putting metric columns in the documented order (unknown names last, alphabetically)."""
    return (COLUMN_ORDER.index(name) if name in COLUMN_ORDER else len(COLUMN_ORDER), name)
