"""The base of every model (a pure function of a parameter pytree) and the product used by the
product models; split from :mod:`implicit_bias.core.models` so that model modules
(:mod:`~implicit_bias.core.vector_models`) build on it and ``models.make_model`` dispatches to them
without an import cycle. ``models`` re-exports every name here.
"""

from __future__ import annotations

import equinox as eqx
import jax

from implicit_bias.settings.typed import SectionSettings

Params = dict[str, jax.Array]


@jax.custom_jvp
def matmul(a: jax.Array, b: jax.Array) -> jax.Array:
    """a @ b whose reverse-mode derivative multiplies by a *materialized* transpose.

    Reverse mode transposes the JVP da @ b + a @ db into G bᵀ and aᵀ G; XLA on CPU runs the
    second kind of product (lhs contracted on its first dimension) about 2.5x slower than a
    plain one (measured 103 vs 41 µs for 100x100 float64, one thread; benchmarks/gd_steps.py
    --profile). Writing the JVP with a = (barrier(aᵀ))ᵀ makes the transposed product a plain
    one on the materialized aᵀ (the optimization barrier stops XLA folding the copy back):
    the depth-3 GD step went from 0.71x to 1.01x the speed of the NumPy loop. Being a
    custom JVP (not VJP), it still supports forward mode (Hessian-vector products).
    """
    return a @ b


@matmul.defjvp
def _matmul_jvp(primals, tangents):
    a, b = primals
    da, db = tangents
    a_materialized = jax.lax.optimization_barrier(a.T).T
    return a @ b, da @ b + a_materialized @ db


class Model(eqx.Module):
    """Base class. ``shape`` is the end-to-end shape, (d,) or (n_rows, n_cols)."""

    shape: tuple[int, ...] = eqx.field(static=True)

    def init(self, key: jax.Array, model: SectionSettings, dtype) -> Params:
        """The initial parameters; ``model`` (the settings of ``[model]``) gives the scale and kind of
        initialization, which are not part of the (static) model."""
        raise NotImplementedError

    def end_to_end(self, params: Params) -> jax.Array:
        raise NotImplementedError

    def factors(self, params: Params) -> list[jax.Array]:
        """The factors of a product model, first applied first; empty for other models."""
        return []

    #: False for models (MLPs) whose function is not a linear map W measured by the problem.
    has_end_to_end = True
    #: True for the circular convolutional networks (``linear_conv``), whose natural geometry is
    #: that of the DFT of β (the ``margin_fourier`` metric keys on it); False for every other model.
    circular_convolution = False

    def homogeneity_order(self) -> int | None:
        """K with f(x; cθ) = c^K f(x; θ) for every c > 0 (the model's output, end to end, is positively
        homogeneous of order K in all its parameters); None when it is not homogeneous."""
        return None

    def predict(self, params: Params, problem) -> jax.Array:
        """The predictions the loss compares with the targets: 𝒜(W(θ))."""
        return problem.measure(self.end_to_end(params))


class FactorProduct(Model):
    """A product of N factors W_N ⋯ W_1 (parameters ``W1`` … ``WN``), reshaped to the end-to-end
    shape: the shared algebra of ``deep_matrix`` and ``deep_linear``. Subclasses give ``depth``."""

    @property
    def depth(self) -> int:
        raise NotImplementedError

    def factors(self, params):
        return [params[f"W{j}"] for j in range(1, self.depth + 1)]

    def end_to_end(self, params):
        W = params["W1"]
        for j in range(2, self.depth + 1):
            W = matmul(params[f"W{j}"], W)
        return W.reshape(self.shape)

    def homogeneity_order(self) -> int:
        return self.depth
