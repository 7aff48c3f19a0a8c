"""Classification losses of the margins m_i = y_i f(x_i), and their logarithms, computed stably.

With labels y_i ∈ {−1, +1} and predictions f(x_i), the margins are m_i = y_i f(x_i) and the
training loss is the **mean** over the n samples (this project's convention; the papers on the
implicit bias of GD on separable data — Soudry, Hoffer, Nacson, Gunasekar & Srebro 2018, "The
implicit bias of gradient descent on separable data" — use the sum, so a step η on their loss is
``lr = n·η`` here):

- logistic:     L(m) = (1/n) Σ_i log(1 + e^{−m_i}) = (1/n) Σ_i softplus(−m_i),
- exponential:  L(m) = (1/n) Σ_i e^{−m_i},
- half_mse:     L(f) = (1/n) Σ_i ½ (f(x_i) − y_i)²  (= (1/n) Σ_i ½ (1 − m_i)² on ±1 labels).

On separable data the margins grow like ln t and L → 0, so both L and ln L must survive tiny
losses. Naively, log(1 + e^{−m}) rounds to 0 at m ≈ 37 in float64 and m ≈ 17 in float32 (1 + e^{−m}
= 1), and e^{−m} underflows at m ≈ 745 (float64) or ≈ 104 (float32). Here:

- softplus(−m) = ``jnp.logaddexp(0, −m)`` = max(0, −m) + log1p(e^{−|m|}), accurate to a few ulps for
  every m until e^{−m} itself underflows; its gradient is −σ(−m) (``jax.nn.sigmoid``);
- ln L is computed as a log-sum-exp of the per-sample logarithms, ln L = LSE_i(ℓ_i) − ln n, with
  ℓ_i = −m_i (exponential) or ℓ_i = ln softplus(−m_i) (logistic), so ln L stays finite and exact
  for margins in the thousands and beyond, where L is 0 in floating point. Its gradient is a
  softmax-weighted sum — the normalized gradient ∇L/L (Nacson et al. 2019, "Convergence of
  gradient descent on separable data") without ever forming L.

ln softplus(z) for z = −m: with u = e^{z}, softplus(z) = log1p(u) = u (1 − u/2 + u²/3 − …), so
ln softplus(z) = z + ln(log1p(u)/u) → z − u/2 as z → −∞; it is evaluated in this form for z ≤ 0
(where log1p(u)/u ∈ [ln 2, 1] and is exactly 1 once u underflows) and as ln(softplus(z)) for z > 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp

Array = jax.Array


def log_softplus(z: jax.Array) -> jax.Array:
    """ln softplus(z) = ln log(1 + e^z), stable for every z (see the module docstring)."""
    negative = z <= 0
    z_neg = jnp.where(negative, z, 0.0)  # the double-where keeps both branches' gradients finite
    u = jnp.exp(z_neg)
    ratio = jnp.where(u > 0, jnp.log1p(u) / jnp.where(u > 0, u, 1.0), 1.0)
    small = z_neg + jnp.log(ratio)
    large = jnp.log(jax.nn.softplus(jnp.where(negative, 1.0, z)))
    return jnp.where(negative, small, large)


def logistic_loss(margins: jax.Array) -> jax.Array:
    """L = (1/n) Σ_i log(1 + e^{−m_i}), via ``logaddexp(0, −m)`` (never 0 while e^{−m} is representable)."""
    return jnp.mean(jnp.logaddexp(0.0, -margins))


def exponential_loss(margins: jax.Array) -> jax.Array:
    """L = (1/n) Σ_i e^{−m_i}."""
    return jnp.mean(jnp.exp(-margins))


def _log_mean(per_sample_logs: jax.Array) -> jax.Array:
    """ln((1/n) Σ_i e^{ℓ_i}) = LSE(ℓ) − ln n."""
    return jax.nn.logsumexp(per_sample_logs) - math.log(per_sample_logs.shape[0])


def log_logistic_loss(margins: jax.Array) -> jax.Array:
    """ln L for the logistic loss: LSE_i ln softplus(−m_i) − ln n ≈ −min_i m_i for large margins."""
    return _log_mean(log_softplus(-margins))


def log_exponential_loss(margins: jax.Array) -> jax.Array:
    """ln L for the exponential loss: LSE_i(−m_i) − ln n (finite and exact at any margin)."""
    return _log_mean(-margins)


def half_mse_loss(predictions: jax.Array, labels: jax.Array) -> jax.Array:
    """L = (1/n) Σ_i ½ (f(x_i) − y_i)²."""
    return 0.5 * jnp.mean((predictions - labels) ** 2)


@dataclass(frozen=True)
class ClassificationLoss:
    """A loss of predictions f against labels y ∈ {−1, +1}, as ``problem.loss = name`` selects it.

    ``mean(f, y)`` is the training loss (the mean over samples); ``log_mean(f, y)`` is its
    logarithm ln L, computed so that it stays finite where L underflows (the normalized trainers and
    the smoothed margin read it)."""

    name: str
    mean: Callable[[Array, Array], Array]
    log_mean: Callable[[Array, Array], Array]


#: ``problem.loss`` of a classification problem → its loss (built-in ones below; :func:`register_loss`)
LOSSES: dict[str, ClassificationLoss] = {}


def register_loss(loss: ClassificationLoss) -> ClassificationLoss:
    """Add a classification loss under ``loss.name`` (a name that exists is refused: ``ValueError``).

    The config's ``problem.loss`` choices are declared with the problem kind's keys
    (settings/schema.py, or the keys of a registered kind); ``tests/test_classification.py``
    checks that every declared choice has a registered loss."""
    if loss.name in LOSSES:
        raise ValueError(f"classification loss {loss.name!r} exists already")
    LOSSES[loss.name] = loss
    return loss


register_loss(ClassificationLoss("logistic", lambda f, y: logistic_loss(y * f), lambda f, y: log_logistic_loss(y * f)))
register_loss(ClassificationLoss("exponential", lambda f, y: exponential_loss(y * f),
                                 lambda f, y: log_exponential_loss(y * f)))
# half_mse: ln of the loss itself, which does not underflow before the fit is exact
register_loss(ClassificationLoss("half_mse", half_mse_loss, lambda f, y: jnp.log(half_mse_loss(f, y))))


def _loss(kind: str) -> ClassificationLoss:
    try:
        return LOSSES[kind]
    except KeyError:
        raise ValueError(f"unknown classification loss {kind!r}; one of {', '.join(LOSSES)}") from None


def classification_loss(kind: str, predictions: Array, labels: Array) -> Array:
    """The mean loss ``kind`` (a name in :data:`LOSSES`) of predictions f against labels ±1."""
    return _loss(kind).mean(predictions, labels)


def log_classification_loss(kind: str, predictions: Array, labels: Array) -> Array:
    """ln L of :func:`classification_loss`, through log-sum-exp for the logistic and exponential losses."""
    return _loss(kind).log_mean(predictions, labels)
