"""Diagnostics of the engine itself (not of the science): how often XLA compiles.

A sweep over learning rates, seeds or init scales must reuse one compiled program: those values
are traced arrays. :class:`CompileCounter` counts XLA backend compilations while active, so a
test or a user can check it:

    with CompileCounter() as counter:
        implicit_bias.run(config_with_a_new_lr)
    assert counter.count == 0
"""

from __future__ import annotations

import jax

#: the jax.monitoring event recorded once per XLA backend compilation
BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


class CompileCounter:
    """Counts XLA backend compilations (``jax.monitoring`` events) while active."""

    def __init__(self) -> None:
        self.count = 0

    def _listener(self, event: str, duration: float, **kwargs) -> None:
        if event == BACKEND_COMPILE_EVENT:
            self.count += 1

    def __enter__(self) -> "CompileCounter":
        jax.monitoring.register_event_duration_secs_listener(self._listener)
        return self

    def __exit__(self, *exc) -> None:
        jax.monitoring.unregister_event_duration_listener(self._listener)
