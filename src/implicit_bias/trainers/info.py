"""What each trainer kind can do, declared once: the rest of the code asks these, never a list of names.

``TRAINER_INFO[kind]`` (or :func:`trainer_info` of a kind or of its typed settings) is a
:class:`TrainerInfo`:

- ``family``: ``"discrete"`` (an optax step driven by the host loop of loop.py) or ``"flow"``
  (a diffrax solve, flow.py);
- ``progress_in``: the row column that measures progress, ``"step"`` or flow time ``"t"``
  (and what ``steps`` / ``t_max`` bounds);
- ``resumable``: a run can continue from a checkpoint (discrete trainers);
- ``batchable``: members that differ only in traced values can be trained together under
  ``jax.vmap`` (discrete trainers; adaptive flow steps differ per member);
- ``normalized``: every step uses ∇L/L (``normalized_gd``);
- ``has_modified_loss``: ``modified_loss`` (Smith et al. 2021, C + (η/4)‖∇C‖² with η the step of
  one plain (S)GD update) is logged — and, for a flow, it is the loss whose gradient flow is
  integrated (``modified_flow``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from implicit_bias.settings.schema import TRAINERS


@dataclass(frozen=True)
class TrainerInfo:
    kind: str
    family: str  # "discrete" | "flow"
    has_modified_loss: bool = False
    #: True if every step uses the normalized gradient ∇L/L = ∇ln L (``normalized_gd``); other kinds
    #: with a ``normalize`` key choose it per config (``StepSpec.normalize``)
    normalized: bool = False

    @property
    def is_flow(self) -> bool:
        return self.family == "flow"

    @property
    def progress_in(self) -> str:
        """``"t"`` (flow time) for flows, ``"step"`` for discrete trainers."""
        return "t" if self.is_flow else "step"

    @property
    def resumable(self) -> bool:
        return not self.is_flow

    @property
    def batchable(self) -> bool:
        return not self.is_flow


TRAINER_INFO: dict[str, TrainerInfo] = {
    "gd": TrainerInfo("gd", "discrete", has_modified_loss=True),
    "sgd": TrainerInfo("sgd", "discrete", has_modified_loss=True),
    "euler_same_batch": TrainerInfo("euler_same_batch", "discrete", has_modified_loss=True),
    "momentum": TrainerInfo("momentum", "discrete"),
    "adam": TrainerInfo("adam", "discrete"),
    "rmsprop": TrainerInfo("rmsprop", "discrete"),
    "group_rmsprop": TrainerInfo("group_rmsprop", "discrete"),
    "sam": TrainerInfo("sam", "discrete"),
    "steepest_descent": TrainerInfo("steepest_descent", "discrete"),
    "mirror_descent": TrainerInfo("mirror_descent", "discrete"),
    "normalized_gd": TrainerInfo("normalized_gd", "discrete", normalized=True),
    "adagrad": TrainerInfo("adagrad", "discrete"),
    "flow": TrainerInfo("flow", "flow"),
    "modified_flow": TrainerInfo("modified_flow", "flow", has_modified_loss=True),
}
assert set(TRAINER_INFO) == set(TRAINERS), "every [trainer] kind of the schema declares its capabilities"


def trainer_info(trainer: Any) -> TrainerInfo:
    """The capabilities of a trainer kind, given as its name or its typed settings (``.kind``)."""
    return TRAINER_INFO[trainer if isinstance(trainer, str) else trainer.kind]


def modified_loss_lr(trainer: Any) -> float | None:
    """η of the logged ``modified_loss``: the step of one plain update (``lr / n_inner``), None if not logged.

    euler_same_batch takes ``n_inner`` Euler steps of ``lr / n_inner`` on one step objective, so
    its modified loss uses that step; a modified flow uses its ``lr``."""
    if not trainer_info(trainer).has_modified_loss:
        return None
    return float(trainer.lr) / getattr(trainer, "n_inner", 1)
