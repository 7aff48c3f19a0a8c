"""Trainers: how the parameters move. ``train`` dispatches on ``[trainer] kind``.

- discrete (loop.py): gd, sgd, euler_same_batch, momentum, adam, rmsprop, group_rmsprop, sam,
  steepest_descent, mirror_descent, normalized_gd, adagrad (geometry.py) —
  an optax transformation + a gradient oracle, driven by one shared ``lax.scan`` chunk and one
  host loop (``loop.host_loop``; a single run or a vmapped batch of members);
- continuous (flow.py): flow, modified_flow — diffrax solves.

What a kind can do (flow or not, resumable, batchable, logs a modified loss) is declared once,
in ``info.TRAINER_INFO``. Every entry point takes typed settings
(``settings.section_settings("trainer", table)``), never the table itself.
"""

from __future__ import annotations

from typing import Callable

import jax

from implicit_bias.core.models import Params
from implicit_bias.core.objective import Objective
from implicit_bias.trainers.gradients import StepSpec
from implicit_bias.trainers.info import TRAINER_INFO, TrainerInfo, modified_loss_lr, trainer_info
from implicit_bias.trainers.loop import (
    Carry,
    Checkpoint,
    Trajectory,
    host_loop,
    initial_opt_state,
    train_chunk,
    train_discrete,
    train_members,
)
from implicit_bias.trainers.optimizers import OPTIMIZERS, hyperparameters
from implicit_bias.trainers.registry import register_trainer
from implicit_bias.trainers.relative_lr import resolve_relative_lr

__all__ = ["Carry", "Checkpoint", "OPTIMIZERS", "StepSpec", "TRAINER_INFO", "TrainerInfo", "Trajectory",
           "host_loop", "hyperparameters", "initial_opt_state", "modified_loss_lr", "register_trainer", "resolve_relative_lr", "train", "train_chunk",
           "train_discrete", "train_flow", "train_members", "trainer_info"]


def train_flow(*args, **kwargs) -> Trajectory:
    """:func:`implicit_bias.trainers.flow.train_flow`, imported on first use: diffrax (and optimistix,
    lineax) cost a discrete run's start-up a few tenths of a second it never needs."""
    from implicit_bias.trainers.flow import train_flow as flow

    return flow(*args, **kwargs)


def train(objective: Objective, params0: Params, trainer, *, key: jax.Array,
          top_k: int = 10, on_log: Callable[[dict], None] | None = None,
          should_stop: Callable[[], bool] | None = None, resume: Checkpoint | None = None,
          on_checkpoint: Callable[[Checkpoint], None] | None = None, curvature=None) -> Trajectory:
    """Train ``params0`` on ``objective`` with the trainer of typed ``[trainer]`` settings
    (``settings.section_settings("trainer", table)``).

    ``key`` drives the sampling (minibatches, noise); ``on_log(row)`` is called after each
    logged row; ``should_stop()`` is polled between chunks (SIGINT → status ``interrupted``).
    Discrete trainers also take ``resume`` (a :class:`Checkpoint`) and ``on_checkpoint``.
    ``curvature`` is the run's curvature metric family (``metrics.curvature_metric``), or None.
    """
    if trainer_info(trainer).is_flow:
        return train_flow(objective, params0, trainer, key=key, top_k=top_k, on_log=on_log,
                          should_stop=should_stop, curvature=curvature)
    return train_discrete(objective, params0, trainer, key=key, top_k=top_k, on_log=on_log,
                          should_stop=should_stop, resume=resume, on_checkpoint=on_checkpoint,
                          curvature=curvature)
