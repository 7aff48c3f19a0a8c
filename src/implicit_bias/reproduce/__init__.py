"""Reproductions: every claim of the cited papers and notes (listed under "Sources" in
docs/reproductions.md), as one command with figures and a verdict.

    implicit-bias reproduce --list
    implicit-bias reproduce NAME [--quick] [--out DIR] [--jobs N]      (NAME or all)

A reproduction is a small module (copy one to start your own study) with:

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

The built-in ones live in this package (:data:`BUILT_IN`); a module elsewhere becomes one by calling
:func:`register_reproduction` when it is imported (through ``IMPLICIT_BIAS_PLUGINS``, docs/extending.md).

The runner (``runner.py``) writes ``DIR/NAME/claims.json`` (a list of ``{id, statement,
source, measured, expected, passed}``), every figure as PNG and SVG, and ``DIR/NAME/report.html``
(figures, the claims table, the configs, the command to rerun). Exit status 0 iff every claim
passed.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from typing import Any

#: the built-in reproductions' modules (in this package), in the order of docs/reproductions.md;
#: each module's ``NAME`` is a contract (``implicit-bias reproduce NAME``)
BUILT_IN = (
    "gd_min_norm",
    "early_stopping_ridge",
    "weight_decay_hessian",
    "sgd_modified_loss",
    "dropout_ridge",
    "arora_deep_completion",
    "razin_rank_not_norms",
    "saxe_deep_linear",
    "depth_low_rank",
    "woodworth_kernel_rich",
    "gunasekar_completion",
    "zhao_normalized_nuclear",
    "ntk_lazy",
    "sam_diagonal",
    "sam_flatness",
    "soudry_max_margin",
    "gunasekar_geometry",
    "edge_of_stability",
    "catapult",
    "adam_linf_margin",
    "spectral_bias",
    "linear_conv_fourier",
    "sharpness_deep_linear",
    "nonseparable_logistic",
    "diagonal_large_steps",
    "large_bare_lr",
    "diagonal_margin",
    "homogeneous_margin",
    "label_noise_sparse",
)

#: reproduction name -> the importable module that defines it: the built-in ones, then those that
#: extensions add with :func:`register_reproduction`
MODULES: dict[str, str] = {module.replace("_", "-"): f"{__name__}.{module}" for module in BUILT_IN}

#: what a reproduction module defines (the module docstring above)
REQUIRED = ("NAME", "CLAIM", "SOURCE", "MINUTES", "configs", "analyze", "BROKEN")


def register_reproduction(module) -> str:
    """Add an extension's module as reproduction ``module.NAME`` (from the module itself:
    ``register_reproduction(sys.modules[__name__])`` at its end).

    It must define everything a built-in reproduction does (:data:`REQUIRED`, the module
    docstring above); then ``implicit-bias reproduce NAME``, ``--list`` and ``all`` run it with the
    same runner, claims.json, figures and report.html. A name that exists, or a module that lacks
    a part, is refused (``ValueError``). Returns the name. Called by the extension when it is
    imported (``IMPLICIT_BIAS_PLUGINS``, docs/extending.md)."""
    missing = [part for part in REQUIRED if not hasattr(module, part)]
    if missing:
        raise ValueError(f"module {module.__name__} is not a reproduction: it lacks {', '.join(missing)}")
    name = module.NAME
    if not isinstance(name, str) or not name or any(c not in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in name):
        raise ValueError(f"module {module.__name__}: NAME must be lower-case letters, digits and '-', got {name!r}")
    if name == "all":
        raise ValueError(f"module {module.__name__}: NAME 'all' is reserved (`implicit-bias reproduce all`)")
    if name in MODULES:
        raise ValueError(f"reproduction {name!r} exists already")
    MODULES[name] = module.__name__
    return name


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
    return importlib.import_module(MODULES[name])
