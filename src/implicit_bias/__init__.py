"""implicit-bias: a JAX laboratory for the implicit regularization of gradient methods.

    >>> import implicit_bias as ib
    >>> result = ib.run("experiment.toml")          # or a dict, or None for the default
    >>> result.trajectory[["step", "loss", "test_error"]]

The engine runs in float64 by default (``jax_enable_x64`` is switched on at import).
"""

import jax as _jax

_jax.config.update("jax_enable_x64", True)

from .config import ConfigError  # noqa: E402
from .run import RunResult, load_run, run  # noqa: E402

__version__ = "0.1.0"
__all__ = ["ConfigError", "RunResult", "load_run", "run", "__version__"]
