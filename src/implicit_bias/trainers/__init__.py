"""Trainers: how the parameters move. ``train`` dispatches on ``[trainer] kind``.

- discrete (loop.py): gd, sgd, euler_same_batch, momentum, adam, rmsprop, group_rmsprop, sam —
  an optax transformation + a gradient oracle, driven by one shared ``lax.scan`` loop;
- continuous (flow.py): flow, modified_flow — diffrax solves.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax

from ..models import Params
from ..objective import Objective
from .flow import train_flow
from .gradients import StepSpec
from .loop import Carry, Checkpoint, Trajectory, train_chunk, train_discrete
from .optimizers import OPTIMIZERS, hyperparameters

FLOW_KINDS = ("flow", "modified_flow")

__all__ = ["Carry", "Checkpoint", "OPTIMIZERS", "StepSpec", "Trajectory", "hyperparameters", "train", "train_chunk"]


def train(objective: Objective, params0: Params, trainer_cfg: Mapping[str, Any], *, key: jax.Array,
          top_k: int = 10, on_log: Callable[[dict], None] | None = None,
          should_stop: Callable[[], bool] | None = None, resume: Checkpoint | None = None,
          on_checkpoint: Callable[[Checkpoint], None] | None = None) -> Trajectory:
    """Train ``params0`` on ``objective`` with the trainer of a resolved ``[trainer]`` table.

    ``key`` drives the sampling (minibatches, noise); ``on_log(row)`` is called after each
    logged row; ``should_stop()`` is polled between chunks (SIGINT → status ``interrupted``).
    Discrete trainers also take ``resume`` (a :class:`Checkpoint`) and ``on_checkpoint``.
    """
    if trainer_cfg["kind"] in FLOW_KINDS:
        return train_flow(objective, params0, trainer_cfg, key=key, top_k=top_k, on_log=on_log,
                          should_stop=should_stop)
    return train_discrete(objective, params0, trainer_cfg, key=key, top_k=top_k, on_log=on_log,
                          should_stop=should_stop, resume=resume, on_checkpoint=on_checkpoint)
