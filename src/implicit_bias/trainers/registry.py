"""Registration of a new discrete trainer kind by an extension (docs/extending.md)."""

from __future__ import annotations

from typing import Callable

import optax

from implicit_bias.settings.schema import DISCRETE_TRAINER_KEYS, TRAINERS
from implicit_bias.trainers.info import TRAINER_INFO, TrainerInfo
from implicit_bias.trainers.optimizers import OPTIMIZERS, Hyper, _with_weight_decay


def register_trainer(kind: str, transformation: Callable[[Hyper], optax.GradientTransformation],
                     info: TrainerInfo | None = None) -> None:
    """Add the discrete trainer ``kind``: ``transformation(hyper)`` is its optax transformation, ``hyper``
    the dict of its traced keys as arrays (``hyper["lr"]``, ...). Coupled weight decay
    (∇C + weight_decay·θ) is chained in front, as for the built-in trainers.

    Its keys are declared first with ``settings.registry.register_kind("trainer", kind, keys)``; they
    must include every key of ``DISCRETE_TRAINER_KEYS`` (the host loop reads them), plus
    ``MINIBATCH_KEYS`` for minibatches. ``info`` defaults to ``TrainerInfo(kind, "discrete")``
    (resumable, batchable, no modified loss). A kind that exists is refused (``ValueError``)."""
    if kind in OPTIMIZERS or kind in TRAINER_INFO:
        raise ValueError(f"trainer kind {kind!r} exists already")
    if kind not in TRAINERS:
        raise ValueError(f"declare the keys of trainer kind {kind!r} first (register_kind(\"trainer\", ...))")
    missing = sorted(set(DISCRETE_TRAINER_KEYS) - set(TRAINERS[kind]))
    if missing:
        raise ValueError(f"trainer kind {kind!r} lacks the discrete-trainer keys {', '.join(missing)}")
    info = TrainerInfo(kind, "discrete") if info is None else info
    if info.kind != kind or info.is_flow or info.has_modified_loss:
        raise ValueError("a registered trainer is discrete, without a modified loss, and its info names its kind")
    OPTIMIZERS[kind] = lambda hyper: _with_weight_decay(hyper, transformation(hyper))
    TRAINER_INFO[kind] = info
