"""Random keys split by name, so that each consumer of randomness is independent.

``named_key(seed, "problem")`` depends only on the seed and the name: changing
the trainer (which draws from "sampling") never changes the problem data or
the initialization.
"""

from __future__ import annotations

import zlib

import jax


def named_key(seed: int, name: str) -> jax.Array:
    """A typed PRNG key for the consumer ``name`` ("problem", "init", "sampling", ...)."""
    return jax.random.fold_in(jax.random.key(seed), zlib.crc32(name.encode()))
