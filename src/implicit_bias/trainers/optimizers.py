"""Optimizers as optax transformations built from traced hyper-parameters.

``OPTIMIZERS[kind](hyper)`` returns an ``optax.GradientTransformation``;
``hyper`` is a dict of arrays, so the same compiled step serves every value.
Weight decay is *coupled* (L2 added to the gradient before the optimizer:
``∇C + weight_decay·θ``), also for Adam; it is not AdamW.
"""

from __future__ import annotations

from typing import Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import optax

from implicit_bias.settings.typed import attribute
from implicit_bias.trainers import geometry

Hyper = Mapping[str, jax.Array]


class GroupRMSState(NamedTuple):
    count: jax.Array
    square_avg: jax.Array


def scale_by_group_rms(decay: jax.Array, eps: jax.Array) -> optax.GradientTransformation:
    """The adaptive step of Arora, Cohen, Hu & Luo (2019), as in their reference code (opt.py, GroupRMSprop).

    ONE running second moment for all parameters together:

        s_k = decay · s_{k−1} + (1 − decay) · Σ_{all entries} g²,
        update = g / (√(s_k / (1 − decay^k)) + eps),

    so every parameter is stepped with the same adjusted learning rate lr/(√ŝ + eps).
    """

    def init(params):
        return GroupRMSState(count=jnp.zeros((), jnp.int64), square_avg=jnp.zeros(()))

    def update(updates, state, params=None):
        del params
        count = state.count + 1
        squared = sum(jnp.sum(g**2) for g in jax.tree_util.tree_leaves(updates))
        square_avg = decay * state.square_avg + (1 - decay) * squared
        denom = jnp.sqrt(square_avg / (1 - decay**count)) + eps
        return jax.tree_util.tree_map(lambda g: g / denom, updates), GroupRMSState(count, square_avg)

    return optax.GradientTransformation(init, update)


def _with_weight_decay(hyper: Hyper, tx: optax.GradientTransformation) -> optax.GradientTransformation:
    return optax.chain(optax.add_decayed_weights(hyper["weight_decay"]), tx)


_BASE: dict[str, Callable[[Hyper], optax.GradientTransformation]] = {
    "gd": lambda h: optax.sgd(h["lr"]),
    "sgd": lambda h: optax.sgd(h["lr"]),
    "sam": lambda h: optax.sgd(h["lr"]),
    "euler_same_batch": lambda h: optax.sgd(h["lr"] / h["n_inner"]),
    "momentum": lambda h: optax.sgd(h["lr"], momentum=h["momentum"], nesterov=bool(h["nesterov"])),
    "adam": geometry.adam,  # optax.adam, bit for bit for eps > 0; a zero update where eps = 0 and ν = 0
    "rmsprop": lambda h: optax.rmsprop(h["lr"], decay=h["decay"], eps=h["eps"]),
    "group_rmsprop": lambda h: optax.chain(scale_by_group_rms(h["decay"], h["eps"]), optax.scale(-h["lr"])),
    "steepest_descent": geometry.steepest_descent,
    "mirror_descent": geometry.mirror_descent,
    "normalized_gd": lambda h: optax.sgd(h["lr"]),  # the gradient is ∇ln L (StepSpec.normalize)
    "adagrad": geometry.adagrad,
}

OPTIMIZERS: dict[str, Callable[[Hyper], optax.GradientTransformation]] = {
    kind: (lambda base: lambda h: _with_weight_decay(h, base(h)))(base) for kind, base in _BASE.items()
}

#: config keys that must stay Python values inside the compiled step.
STATIC_KEYS = ("nesterov", "norm", "potential")


def hyperparameters(trainer, dtype) -> dict:
    """The hyper-parameters of typed ``[trainer]`` settings: traced arrays + static flags.

    Traced: the keys its kind declares ``traced`` (``trainer.traced_names()``) except
    ``stop_loss``, which the loop takes as its own argument."""
    hyper = {name: jnp.asarray(getattr(trainer, attribute(name)), dtype)
             for name in trainer.traced_names() if name != "stop_loss"}
    hyper.update({name: getattr(trainer, attribute(name)) for name in STATIC_KEYS if name in trainer.keys})
    return hyper
