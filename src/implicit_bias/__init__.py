"""implicit-bias: a JAX laboratory for the implicit regularization of gradient methods.

    >>> import implicit_bias as ib
    >>> result = ib.run("experiment.toml")          # or a dict, or None for the default
    >>> result.trajectory[["step", "loss", "test_error"]]

This module is the public facade: it re-exports, lazily, so that ``import implicit_bias`` (and
``implicit-bias --help``, ``--print-config`` or a config error) does not start JAX. Nothing inside
the package imports it. The engine runs in float64 by default: ``jax_enable_x64`` is switched on
before JAX is imported (``JAX_ENABLE_X64=1``), or at once if JAX was imported first.
"""

import os as _os
import sys as _sys

# The matrices here are small (≤ a few hundred): a multi-threaded BLAS only spins, and on a busy
# 2-core machine it made a 100x100 SVD ~100x slower (measured: 105 ms vs 0.6 ms of CPU). Default
# to one BLAS thread unless the user chose otherwise (docs/conventions.md).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")
if "numpy" in _sys.modules and _os.environ["OPENBLAS_NUM_THREADS"] == "1":
    try:  # numpy was imported (and its BLAS started) before us
        import threadpoolctl as _threadpoolctl

        _threadpoolctl.threadpool_limits(1, user_api="blas")
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass

_os.environ["JAX_ENABLE_X64"] = "1"
if "jax" in _sys.modules:  # imported before us: its flags are read already
    _sys.modules["jax"].config.update("jax_enable_x64", True)

from implicit_bias.version import __version__  # noqa: E402

#: public name -> module that defines it (imported on first use)
_EXPORTS = {
    "ConfigError": "implicit_bias.errors",
    "RunResult": "implicit_bias.execution.single",
    "load_run": "implicit_bias.execution.single",
    "run": "implicit_bias.execution.single",
    "load": "implicit_bias.catalog.index",
    "load_metrics": "implicit_bias.catalog.index",
}
__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'implicit_bias' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
