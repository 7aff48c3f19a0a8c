"""The optimizers of the geometry of implicit bias, as optax transformations of traced hyper-parameters.

- :func:`steepest_descent` w.r.t. a norm ‖·‖ (Gunasekar, Lee, Soudry & Srebro 2018, "Characterizing
  implicit bias in terms of optimization geometry"): Δw = −η ‖g‖_* · argmax_{‖v‖≤1} ⟨v, g⟩, ‖·‖_*
  the dual norm. The norm is taken over ALL trained parameters as ONE vector (the leaves of the
  parameter tree, each raveled row-major, concatenated in ``jax.tree_util`` order):

  * ``l2``: Δw = −η g (exactly ``optax.sgd``, i.e. ``gd``, bit for bit);
  * ``linf``: Δw = −η ‖g‖₁ sign(g) (sign descent scaled by the ℓ1 norm of the gradient);
  * ``l1``: Δw = −η ‖g‖_∞ sign(g_j) e_j at j = argmax_i |g_i| (greedy coordinate descent; on a tie
    the FIRST index of the concatenated vector is moved, ``jnp.argmax``'s rule).

- :func:`mirror_descent` with a potential ψ: ∇ψ(w_{k+1}) = ∇ψ(w_k) − η g_k. The dual variable
  z_k = ∇ψ(w_k) is kept in the optimizer state (z_0 = ∇ψ(w_0), then z_{k+1} = z_k − η g_k) and the
  update is w_{k+1} = ∇ψ*(z_{k+1}), so rounding errors of w (w + (∇ψ*(z) − w) ≠ ∇ψ*(z) in floating
  point) never accumulate in the mirror map. Potentials:

  * ``lp`` (p > 1): ψ(w) = ‖w‖_p^p / p, ∇ψ(w) = sign(w)|w|^{p−1}, ∇ψ*(z) = sign(z)|z|^{1/(p−1)};
  * ``hypentropy`` (β > 0): ψ_β(w) = Σ_i w_i arcsinh(w_i/β) − √(w_i² + β²), ∇ψ = arcsinh(w/β),
    ∇ψ*(z) = β sinh(z) (Ghai, Hazan & Singer 2020, "Exponentiated gradient meets gradient descent").

- :func:`adagrad`: ``optax.adagrad`` (Duchi, Hazan & Singer 2011): G_k = G_0 + Σ_{j≤k} g_j²
  (per coordinate, G_0 = ``initial_accumulator``), Δw = −η g_k / √(G_k + eps) (0 where G_k = 0).

- :func:`adam`: ``optax.adam`` unchanged for ε > 0 (bit for bit); with ε = 0 a coordinate whose
  second moment ν is exactly 0 gets a zero update (optax would give 0/0 = NaN).

- :func:`scheduled_lr` and :func:`elapsed_time`: the step-size schedule η_k = lr·(k+1)^(−a) of
  ``lr_schedule = "power"`` and the logged time t = Σ_{j<k} η_j.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

Hyper = Mapping[str, jax.Array]


# --------------------------------------------------------------------------- steepest descent

def _steepest_direction(norm: str) -> Callable[[jax.Array], jax.Array]:
    """g ↦ ‖g‖_* · argmax_{‖v‖≤1}⟨v, g⟩ on the flat vector g (so Δw = −η of it)."""
    if norm == "linf":
        return lambda g: jnp.sum(jnp.abs(g)) * jnp.sign(g)
    if norm == "l1":
        def greedy(g):
            j = jnp.argmax(jnp.abs(g))  # first index on a tie
            return jnp.zeros_like(g).at[j].set(g[j])  # ‖g‖_∞ sign(g_j) = g_j
        return greedy
    raise ValueError(f"no steepest direction for norm {norm!r}")


def steepest_descent(hyper: Hyper) -> optax.GradientTransformation:
    """Steepest descent w.r.t. ``hyper["norm"]`` (static) with step ``hyper["lr"]`` (module docstring)."""
    norm = hyper["norm"]
    if norm == "l2":
        return optax.sgd(hyper["lr"])
    direction = _steepest_direction(norm)

    def update(updates, state, params=None):
        del params
        flat, unravel = ravel_pytree(updates)
        return unravel(-hyper["lr"] * direction(flat)), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


# --------------------------------------------------------------------------- mirror descent

class MirrorState(NamedTuple):
    """The dual iterate z_k = ∇ψ(w_k), one array per parameter."""

    dual: Any


def mirror_maps(hyper: Hyper) -> tuple[Callable[[jax.Array], jax.Array], Callable[[jax.Array], jax.Array]]:
    """(∇ψ, ∇ψ*) of the potential ``hyper["potential"]`` (static), with ``hyper["p"]`` / ``hyper["beta"]``."""
    potential = hyper["potential"]
    if potential == "lp":
        p = hyper["p"]
        return (lambda w: jnp.sign(w) * jnp.abs(w) ** (p - 1),
                lambda z: jnp.sign(z) * jnp.abs(z) ** (1.0 / (p - 1)))
    if potential == "hypentropy":
        beta = hyper["beta"]
        return (lambda w: jnp.arcsinh(w / beta), lambda z: beta * jnp.sinh(z))
    raise ValueError(f"unknown mirror potential {potential!r}")


def mirror_descent(hyper: Hyper) -> optax.GradientTransformation:
    """Mirror descent ∇ψ(w_{k+1}) = ∇ψ(w_k) − η g_k with the dual iterate kept in the state."""
    grad_psi, grad_psi_star = mirror_maps(hyper)

    def init(params):
        return MirrorState(dual=jax.tree_util.tree_map(grad_psi, params))

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("mirror_descent needs the parameters in update()")
        dual = jax.tree_util.tree_map(lambda z, g: z - hyper["lr"] * g, state.dual, updates)
        new = jax.tree_util.tree_map(lambda z, w: grad_psi_star(z) - w, dual, params)
        return new, MirrorState(dual=dual)

    return optax.GradientTransformation(init, update)


# --------------------------------------------------------------------------- adagrad, adam

def adagrad(hyper: Hyper) -> optax.GradientTransformation:
    """``optax.adagrad(lr, initial_accumulator_value=initial_accumulator, eps=eps)``."""
    return optax.adagrad(hyper["lr"], initial_accumulator_value=hyper["initial_accumulator"], eps=hyper["eps"])


def _zero_where_no_second_moment(inner: optax.GradientTransformation, eps: jax.Array) -> optax.GradientTransformation:
    """``inner`` (optax.scale_by_adam), with a zero update where ε = 0 and ν = 0 (else unchanged)."""

    def update(updates, state, params=None):
        new_updates, new_state = inner.update(updates, state, params)
        safe = jax.tree_util.tree_map(lambda u, nu: jnp.where((eps == 0) & (nu == 0), jnp.zeros_like(u), u),
                                      new_updates, new_state.nu)
        return safe, new_state

    return optax.GradientTransformation(inner.init, update)


def adam(hyper: Hyper) -> optax.GradientTransformation:
    """``optax.adam(lr, b1, b2, eps)`` with the same state; ε = 0 and ν = 0 on a coordinate → update 0.

    For ε > 0 the ``where`` selects optax's own value, so results are optax's bit for bit."""
    return optax.chain(
        _zero_where_no_second_moment(optax.scale_by_adam(b1=hyper["b1"], b2=hyper["b2"], eps=hyper["eps"]),
                                     hyper["eps"]),
        optax.scale_by_learning_rate(hyper["lr"]))


# --------------------------------------------------------------------------- step-size schedule

def scheduled_lr(lr: jax.Array, power: jax.Array, step: jax.Array) -> jax.Array:
    """η_k = lr · (k + 1)^(−a) at step k = 0, 1, … (``lr_schedule = "power"``, a = ``lr_power``)."""
    return lr * jnp.power((step + 1).astype(lr.dtype), -power)


def elapsed_time(trainer, step: int, *, from_step: int = 0, from_time: float = 0.0) -> float:
    """The logged time t after ``step`` steps: lr × step for a constant step, Σ_{k<step} η_k under
    ``lr_schedule = "power"`` (accumulated from ``from_time`` at ``from_step``, exactly in float64)."""
    lr = float(trainer.lr)
    if getattr(trainer, "lr_schedule", "constant") == "constant":
        return lr * step
    power = float(trainer.lr_power)
    total, start = float(from_time), int(from_step)
    while start < step:  # in blocks, so that 10⁶ steps never build one huge array
        stop = min(step, start + 1_000_000)
        total += lr * float(np.sum(np.arange(start + 1, stop + 1, dtype=np.float64) ** -power))
        start = stop
    return total
