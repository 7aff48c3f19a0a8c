"""Explicit penalties R, added to the loss as ``weight · R``.

Each acts on the end-to-end object W (``on = "end_to_end"``, the default) or,
for ``l2`` and ``l1``, on all the parameters (``on = "params"``). The spectral
penalties go through :func:`implicit_bias.core.spectral.singular_values`, whose
derivative stays finite where singular values coincide.
"""

from __future__ import annotations

from typing import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp

from implicit_bias.core import spectral
from implicit_bias.settings.typed import SectionSettings


def _as_matrix(W: jax.Array) -> jax.Array:
    return W if W.ndim == 2 else W.reshape(1, -1)


def _sum_over(params: Mapping[str, jax.Array], fn) -> jax.Array:
    return sum(fn(p) for p in jax.tree_util.tree_leaves(params))


class Penalty(eqx.Module):
    """``weight · R(W or params)``; ``weight`` is a traced array (no recompilation when it changes)."""

    weight: jax.Array
    kind: str = eqx.field(static=True)
    on: str = eqx.field(static=True)
    p: float = eqx.field(static=True, default=1.0)
    eps: float = eqx.field(static=True, default=0.0)

    def value(self, params: Mapping[str, jax.Array], W: jax.Array) -> jax.Array:
        """The unweighted penalty R."""
        kind = self.kind
        if kind == "none":
            return jnp.zeros((), self.weight.dtype)
        if self.on == "params":
            if kind == "l2":
                return 0.5 * _sum_over(params, lambda p: jnp.sum(p**2))
            return _sum_over(params, lambda p: jnp.sum(jnp.abs(p)))
        if kind == "l2":
            return 0.5 * jnp.sum(W**2)
        if kind == "l1":
            return jnp.sum(jnp.abs(W))
        M = _as_matrix(W)
        if kind == "nuclear":
            return spectral.nuclear_norm(M)
        if kind == "schatten":
            return spectral.schatten(M, self.p, self.eps)
        if kind == "normalized_nuclear":
            return spectral.normalized_nuclear_norm(M)
        if kind == "effective_rank":
            return spectral.effective_rank(M)
        raise AssertionError(kind)

    def __call__(self, params, W):
        return self.weight * self.value(params, W)


def make_penalty(penalty: SectionSettings, dtype) -> Penalty:
    """Build the penalty of the settings of ``[penalty]`` (``p`` and ``eps`` exist for schatten only)."""
    return Penalty(weight=jnp.asarray(penalty.weight, dtype), kind=penalty.kind, on=penalty.on,
                   p=getattr(penalty, "p", 1.0), eps=getattr(penalty, "eps", 0.0))
