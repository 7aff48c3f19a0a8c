"""Reproductions: every claim of the cited papers and notes (listed under "Sources" in
docs/reproductions.md), as one command with figures and a verdict.

    implicit-bias reproduce --list
    implicit-bias reproduce NAME [--quick] [--out DIR] [--jobs N]      (NAME or all)

A reproduction is a small module in this package (copy one to start your own study) with:

- ``NAME``, ``CLAIM`` (one line), ``SOURCE`` (paper, title and authors), ``MINUTES`` = (quick, full)
  (measured wall-clock minutes on 2 cores),
- ``configs(quick) -> list[dict]``: the runs (training runs or ``[baseline]`` runs), executed
  through the sweep machinery into ``DIR/NAME/runs`` — cached by config hash and resumable,
- ``analyze(runs, quick) -> (claims, figures)``: ``runs`` maps each config's ``name`` to its
  :class:`~implicit_bias.execution.single.RunResult`; ``claims`` is a list of :class:`Claim`, ``figures`` a
  list of :class:`Figure` (a matplotlib figure with a caption that states the claim),
- ``BROKEN(config) -> config``: a deliberately wrong setting (e.g. depth 1 in place of depth 3)
  under which at least one claim must fail — the test of each reproduction checks that, so the
  verdicts can fail.

The runner (``runner.py``) writes ``DIR/NAME/claims.json`` (a list of ``{id, statement,
source, measured, expected, passed}``), every figure as PNG and SVG, and ``DIR/NAME/report.html``
(figures, the claims table, the configs, the command to rerun). Exit status 0 iff every claim
passed.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from typing import Any

#: reproduction name -> module (in this package); the names are a contract.
MODULES = {
    "gd-min-norm": "gd_min_norm",
    "early-stopping-ridge": "early_stopping_ridge",
    "weight-decay-hessian": "weight_decay_hessian",
    "sgd-modified-loss": "sgd_modified_loss",
    "dropout-ridge": "dropout_ridge",
    "arora-deep-completion": "arora_deep_completion",
    "razin-rank-not-norms": "razin_rank_not_norms",
    "saxe-deep-linear": "saxe_deep_linear",
    "depth-low-rank": "depth_low_rank",
    "woodworth-kernel-rich": "woodworth_kernel_rich",
    "gunasekar-completion": "gunasekar_completion",
    "zhao-normalized-nuclear": "zhao_normalized_nuclear",
    "ntk-lazy": "ntk_lazy",
    "sam-diagonal": "sam_diagonal",
    "sam-flatness": "sam_flatness",
    "soudry-max-margin": "soudry_max_margin",
    "gunasekar-geometry": "gunasekar_geometry",
    "edge-of-stability": "edge_of_stability",
    "catapult": "catapult",
    "adam-linf-margin": "adam_linf_margin",
    "spectral-bias": "spectral_bias",
    "linear-conv-fourier": "linear_conv_fourier",
    "sharpness-deep-linear": "sharpness_deep_linear",
    "nonseparable-logistic": "nonseparable_logistic",
    "diagonal-large-steps": "diagonal_large_steps",
    "large-bare-lr": "large_bare_lr",
    "diagonal-margin": "diagonal_margin",
    "homogeneous-margin": "homogeneous_margin",
    "label-noise-sparse": "label_noise_sparse",
}


@dataclass
class Claim:
    """One checked statement: what was measured, what was expected, and whether it holds."""

    id: str
    statement: str
    source: str
    measured: Any
    expected: str
    passed: bool

    def to_json(self) -> dict:
        out = asdict(self)
        out["passed"] = bool(self.passed)
        return out


@dataclass
class Figure:
    """A matplotlib figure, the file stem it is saved under, and a caption stating the claim."""

    name: str
    figure: Any
    caption: str


def relative_distance(a, b) -> float:
    """‖a − b‖ / ‖b‖ (Frobenius / ℓ2, over all entries)."""
    import numpy as np

    a, b = np.ravel(a), np.ravel(b)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def problem_arrays(run, *names: str) -> tuple:
    """The named arrays of a run's ``problem.npz`` (docs/run-directory.md), as NumPy arrays."""
    import numpy as np

    with np.load(run.path / "problem.npz") as arrays:
        return tuple(np.asarray(arrays[name]) for name in names)


def signed_samples(run):
    """Z = diag(y) X, the rows y_i x_i of a classification run's data."""
    X, y = problem_arrays(run, "X", "y")
    return y[:, None] * X


def angle_degrees(a, b) -> float:
    """The angle between two vectors in degrees, arccos of their clipped cosine."""
    import numpy as np

    a, b = np.ravel(a), np.ravel(b)
    cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def load(name: str):
    """The module of reproduction ``name``."""
    from implicit_bias.engine import ConfigError

    if name not in MODULES:
        raise ConfigError("NAME", f"unknown reproduction {name!r}; one of: {', '.join(MODULES)} (or all)")
    return importlib.import_module(f"{__name__}.{MODULES[name]}")
