"""Keep a long-lived process below the kernel's limit on memory mappings.

Every XLA:CPU executable holds a few memory mappings (measured here: about 3.2 per small jitted
function), and JAX keeps every executable it compiled alive in its caches. A process that runs
thousands of runs — a sweep with ``--jobs 1``, ``implicit-bias reproduce all``, the test suite —
reaches Linux's ``vm.max_map_count`` (65,530 by default) after about 20,000 compilations, and the
next compilation aborts the whole process (SIGABRT inside XLA, no Python traceback). After each
sweep task, :func:`release_compiled_code` drops JAX's caches once the process holds more than
``FRACTION`` of the limit; the next run compiles again, as a fresh process would.
"""

from __future__ import annotations

from pathlib import Path

#: drop the caches above this fraction of vm.max_map_count
FRACTION = 0.5
_DEFAULT_LIMIT = 65530


def map_count() -> int | None:
    """The number of memory mappings of this process (None where /proc is not available)."""
    try:
        with open("/proc/self/maps", "rb") as maps:
            return sum(1 for _ in maps)
    except OSError:
        return None


def map_limit() -> int:
    """The kernel's ``vm.max_map_count`` (65,530 where it cannot be read)."""
    try:
        return int(Path("/proc/sys/vm/max_map_count").read_text().strip())
    except (OSError, ValueError):
        return _DEFAULT_LIMIT


def release_compiled_code(fraction: float = FRACTION) -> bool:
    """``jax.clear_caches()`` (and a garbage collection) if the process holds more than
    ``fraction`` × ``vm.max_map_count`` mappings; True if it did."""
    count = map_count()
    if count is None or count <= fraction * map_limit():
        return False
    import gc

    import jax

    jax.clear_caches()
    gc.collect()
    return True
