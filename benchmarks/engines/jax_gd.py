"""Ours: one compiled ``train_chunk`` of the engine (what ``implicit-bias run`` executes), timed alone."""

from __future__ import annotations

import numpy as np

import jax
import jax.numpy as jnp

import implicit_bias  # noqa: F401  (switches on float64)
from implicit_bias.engine import named_key
from implicit_bias.engine import Experiment
from implicit_bias.trainers import OPTIMIZERS, Carry, StepSpec, hyperparameters, train_chunk
from implicit_bias.engine import RUNNING
from implicit_bias.engine import section_settings

__all__ = ["Engine", "RUNNING"]


class Engine:
    """One compiled ``train_chunk`` of ``chunk_len`` steps, always started from θ_0."""

    def __init__(self, experiment: Experiment, chunk_len: int):
        cfg = experiment.config
        self.objective = experiment.objective
        self.params0 = experiment.params0
        self.chunk_len = chunk_len
        dtype = jax.tree_util.tree_leaves(self.params0)[0].dtype
        trainer = section_settings("trainer", cfg["trainer"])
        self.spec = StepSpec.from_settings(trainer)
        self.hyper = hyperparameters(trainer, dtype)
        self.carry0 = Carry(params=self.params0, opt_state=OPTIMIZERS[self.spec.kind](self.hyper).init(self.params0),
                            step=jnp.asarray(0, jnp.int64), status=jnp.asarray(RUNNING, jnp.int32),
                            status_step=jnp.asarray(-1, jnp.int64))
        self.key = named_key(cfg["seed"], "sampling")
        self.stop_loss = jnp.asarray(cfg["trainer"]["stop_loss"], dtype)
        self.blowup = jnp.asarray(np.inf, dtype)

    def run(self, n_steps: int) -> Carry:
        """``n_steps`` ≤ chunk_len updates from θ_0, through the same compiled chunk."""
        carry = train_chunk(self.objective, self.spec, self.hyper, self.carry0, self.key,
                            jnp.asarray(n_steps, jnp.int64), self.stop_loss, self.blowup, self.chunk_len)
        return jax.block_until_ready(carry)

    def params(self, carry: Carry) -> list[np.ndarray]:
        return [np.asarray(carry.params[f"W{j}"]) for j in (1, 2, 3)]
