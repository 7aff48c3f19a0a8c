"""JAX's persistent compilation cache, on by default, so a second run of the same shapes does not
compile again.

XLA compiles every jitted function of a run (the ``lax.scan`` training chunk, the metrics) once per
process; for the 100×100 depth-3 completion that is a second or more, a large part of a short run.
JAX can keep the compiled executables on disk (``jax_compilation_cache_dir``); its cache key
already covers the function, the shapes and dtypes, the backend, jax/jaxlib and the XLA flags, so a
hit is the same executable and gives the same bits. The directory here also carries this package's
and JAX's versions, so an upgrade starts a fresh cache instead of growing an old one:

    $IMPLICIT_BIAS_COMPILATION_CACHE   a directory to use instead, or 0 / off / false / no to disable
    default                            $XDG_CACHE_HOME (else ~/.cache) / implicit-bias / jax-<ours>-<jax>

Nothing is changed when the user configured JAX's cache already (``JAX_COMPILATION_CACHE_DIR`` or
``jax.config.update("jax_compilation_cache_dir", …)``). Every compilation is cached
(``jax_persistent_cache_min_compile_time_secs = 0``): the chunk of a small problem compiles in well
under JAX's default threshold of one second, yet it is most of the start-up. The tests disable the
cache (tests/conftest.py), since some of them count compilations.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "IMPLICIT_BIAS_COMPILATION_CACHE"
_OFF = {"0", "off", "false", "no", "none", "disable", "disabled"}
_enabled: Path | None = None


def cache_dir(environ=None) -> Path | None:
    """Where the cache goes (None: disabled), from ``IMPLICIT_BIAS_COMPILATION_CACHE`` and the versions."""
    environ = os.environ if environ is None else environ
    chosen = environ.get(ENV)
    if chosen is not None:
        if chosen.strip().lower() in _OFF or not chosen.strip():
            return None
        return Path(chosen).expanduser()
    import jax

    from implicit_bias.version import __version__

    base = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "implicit-bias" / f"jax-{__version__}-{jax.__version__}"


def enable_compilation_cache() -> Path | None:
    """Switch JAX's persistent compilation cache on (idempotent); returns its directory or None.

    Does nothing if it is disabled, if JAX's cache was configured by the user, or if the directory
    cannot be created (a read-only home: the run goes on, compiling as before)."""
    global _enabled
    if _enabled is not None:
        return _enabled
    import jax

    if jax.config.jax_compilation_cache_dir:  # the user's own setting wins
        return None
    directory = cache_dir()
    if directory is None:
        return None
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    _enabled = directory
    return directory
