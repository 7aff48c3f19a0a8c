"""implicit-bias: a JAX laboratory for the implicit regularization of gradient methods.

    >>> import implicit_bias as ib
    >>> result = ib.run("experiment.toml")          # or a dict, or None for the default
    >>> result.trajectory[["step", "loss", "test_error"]]

The engine runs in float64 by default (``jax_enable_x64`` is switched on at import).
"""

import os as _os

# The matrices here are small (≤ a few hundred): a multi-threaded BLAS only spins, and on a busy
# 2-core machine it made a 100x100 SVD ~100x slower (measured: 105 ms vs 0.6 ms of CPU). Default
# to one BLAS thread unless the user chose otherwise (docs/conventions.md).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")
try:  # numpy may have been imported (and its BLAS started) before us
    if _os.environ["OPENBLAS_NUM_THREADS"] == "1":
        import threadpoolctl as _threadpoolctl

        _threadpoolctl.threadpool_limits(1, user_api="blas")
except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
    pass

import jax as _jax

_jax.config.update("jax_enable_x64", True)

from .config import ConfigError  # noqa: E402
from .index import load, load_metrics  # noqa: E402
from .run import RunResult, load_run, run  # noqa: E402

__version__ = "0.1.0"
__all__ = ["ConfigError", "RunResult", "load", "load_metrics", "load_run", "run", "__version__"]
