"""Gradient oracles: which objective a discrete step differentiates, and where.

A step of every discrete trainer is: sample the randomness of this step (the
minibatch, label/input noise, a dropout mask), giving a *step objective*
C_k; then evaluate the gradient of C_k, possibly at a perturbed point (SAM).

- minibatches (``batch_size`` > 0): ``with_replacement`` draws every batch
  uniformly (no repeat inside a batch, batches independent);
  ``random_reshuffling`` draws a permutation per epoch and walks it in
  consecutive batches of ``batch_size`` (an epoch is ⌊m / batch_size⌋ steps;
  a remainder is dropped in that epoch);
- ``label_noise``: y ← y + σ ξ; ``input_noise``: X ← X + σ Ξ (least squares);
- ``dropout`` with keep probability p: X ← M ⊙ X with M_ni ~ Bernoulli(p),
  unscaled, whose expected loss gives the ridge-like estimator
  (p XᵀX + (1 − p) Diag(XᵀX))⁻¹ XᵀY of Clara, Langer & Schmidt-Hieber 2024;
- SAM (Foret et al. 2021): g = ∇C_k(θ + ε) with ε = ρ ∇C_k/‖∇C_k‖ ("sam"),
  ε = ρ ∇C_k ("usam", unnormalized), or ε ~ N(0, ρ² I) ("stochastic" SAM of
  Clara et al. 2025, an unbiased step on E_ξ C_k(θ + ξ)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from implicit_bias.core.objective import Objective
from implicit_bias.trainers.info import trainer_info


@dataclass(frozen=True)
class StepSpec:
    """The static (compile-time) shape of a discrete step."""

    kind: str
    batch_size: int = 0
    sampling: str = "with_replacement"
    n_inner: int = 1
    sam_variant: str | None = None
    label_noise: bool = False
    input_noise: bool = False
    dropout: bool = False
    #: the step uses ∇ln L = ∇L/L of the data loss (Nacson et al. 2019) in place of ∇C
    normalize: bool = False
    #: "constant" (η_k = lr) or "power" (η_k = lr·(k+1)^(−lr_power)): a compile-time choice
    lr_schedule: str = "constant"

    @classmethod
    def from_settings(cls, trainer) -> "StepSpec":
        """The step of typed ``[trainer]`` settings of a discrete kind.

        ``batch_size``/``sampling`` (not for ``gd``), ``n_inner`` (``euler_same_batch``) and
        ``variant`` (``sam``) are keys of some kinds only: absent, they take their no-op value."""
        return cls(kind=trainer.kind, batch_size=getattr(trainer, "batch_size", 0),
                   sampling=getattr(trainer, "sampling", "with_replacement"),
                   n_inner=getattr(trainer, "n_inner", 1),
                   sam_variant=getattr(trainer, "variant", None),
                   label_noise=trainer.label_noise > 0,
                   input_noise=trainer.input_noise > 0,
                   dropout=trainer.dropout < 1.0,
                   normalize=bool(getattr(trainer, "normalize", False)) or trainer_info(trainer).normalized,
                   lr_schedule=getattr(trainer, "lr_schedule", "constant"))

    @property
    def minibatched(self) -> bool:
        """True when each step samples a minibatch of ``batch_size`` observations."""
        return self.batch_size > 0

    @property
    def deterministic(self) -> bool:
        """True when the step objective is the full objective (plain full-batch gradient)."""
        return (self.batch_size == 0 and not (self.label_noise or self.input_noise or self.dropout)
                and self.sam_variant != "stochastic")


def batch_indices(spec: StepSpec, key: jax.Array, step: jax.Array, m: int) -> jax.Array:
    """Indices of the observations used at ``step``."""
    B = spec.batch_size
    if spec.sampling == "random_reshuffling":
        per_epoch = m // B
        perm = jax.random.permutation(jax.random.fold_in(key, step // per_epoch), m)
        return jax.lax.dynamic_slice(perm, ((step % per_epoch) * B,), (B,))
    return jax.random.choice(jax.random.fold_in(key, step), m, (B,), replace=False)


def step_objective(objective: Objective, spec: StepSpec, hyper: Mapping, key: jax.Array,
                   step: jax.Array) -> Objective:
    """C_k: the objective with this step's minibatch and noise drawn from ``key``."""
    problem = objective.problem
    k_batch, k_label, k_input, k_drop = jax.random.split(jax.random.fold_in(key, step), 4)
    if spec.batch_size > 0:
        problem = problem.take(batch_indices(spec, key, step, problem.n_observations))
    if spec.label_noise:
        noise = hyper["label_noise"] * jax.random.normal(k_label, problem.targets.shape, problem.targets.dtype)
        problem = eqx.tree_at(lambda p: p.targets, problem, problem.targets + noise)
    if spec.input_noise:
        noise = hyper["input_noise"] * jax.random.normal(k_input, problem.X.shape, problem.X.dtype)
        problem = eqx.tree_at(lambda p: p.X, problem, problem.X + noise)
    if spec.dropout:
        mask = jax.random.bernoulli(k_drop, hyper["dropout"], problem.X.shape)
        problem = eqx.tree_at(lambda p: p.X, problem, jnp.where(mask, problem.X, 0.0))
    return eqx.tree_at(lambda o: o.problem, objective, problem)


def value_and_grad(objective: Objective, params):
    """((C(θ), L(θ)), ∇C(θ)) with L the data loss."""
    return jax.value_and_grad(lambda p: (objective(p), objective.data_loss(p)), has_aux=True)(params)


def normalized_value_and_grad(objective: Objective, params, log_power=None):
    """((C(θ), L(θ)), ∇ln L(θ)): the normalized gradient ∇L/L of Nacson, Lee, Gunasekar, Savarese,
    Srebro & Soudry 2019, "Convergence of gradient descent on separable data", taken as the
    gradient of ``Objective.log_data_loss`` (a log-sum-exp for the classification losses, which
    never underflows where L itself would).

    With ``log_power`` p (``normalized_gd.log_power``), the gradient is ∇ln L / max(1, ln(1/L))^p,
    a loss-based step η/(L·max(1, ln(1/L))^p) on L. For a network homogeneous of order K, the
    curvature of L near a separating θ is of order L·ln(1/L)^{2−2/K}, so p = 2 − 2/K keeps the step
    at a fixed fraction of the local stability bound, the regime of the discrete-time analysis of
    Lyu & Li 2020, "Gradient descent maximizes the margin of homogeneous neural networks" (their
    step size bound H(L) ∝ 1/(L ln(1/L)^{2−2/K})); p = 0 is ∇ln L exactly (a factor 1)."""
    def log_loss(p):
        return objective.log_data_loss(p), (objective(p), objective.data_loss(p))
    (log_l, values), grads = jax.value_and_grad(log_loss, has_aux=True)(params)
    if log_power is not None:
        scale = jnp.maximum(1.0, -log_l) ** (-log_power)
        grads = jax.tree_util.tree_map(lambda g: scale * g, grads)
    return values, grads


def oracle(objective: Objective, spec: StepSpec, hyper: Mapping, params, key: jax.Array):
    """((C_k(θ), L_k(θ)), g): values at θ and the gradient the update uses (∇ln L_k when normalized)."""
    if spec.normalize:
        return normalized_value_and_grad(objective, params, hyper.get("log_power"))
    (value, loss), grads = value_and_grad(objective, params)
    if spec.sam_variant is None:
        return (value, loss), grads
    if spec.sam_variant == "stochastic":
        leaves, treedef = jax.tree_util.tree_flatten(params)
        keys = jax.random.split(jax.random.fold_in(key, 7), len(leaves))
        eps = [hyper["rho"] * jax.random.normal(k, x.shape, x.dtype) for k, x in zip(keys, leaves)]
        eps = jax.tree_util.tree_unflatten(treedef, eps)
    elif spec.sam_variant == "usam":
        eps = jax.tree_util.tree_map(lambda g: hyper["rho"] * g, grads)
    else:
        norm = optax.tree.norm(grads)
        scale = hyper["rho"] / jnp.where(norm > 0, norm, 1.0)
        eps = jax.tree_util.tree_map(lambda g: scale * g, grads)
    perturbed = jax.tree_util.tree_map(jnp.add, params, eps)
    return (value, loss), jax.grad(objective)(perturbed)
