"""Parameterizations of a vector β ∈ ℝ^d (least_squares, teacher_student, dataset, the
classification problems): a deep fully connected linear network and a full-width circular
linear convolutional network.

Both are linear in the input, f(x) = ⟨x, β(θ)⟩, so they only give the end-to-end vector; the
problem measures it (Xβ) and its loss compares the predictions with the targets. Their
implicit biases differ on separable data: gradient descent on a fully connected deep linear
network converges in direction to the ℓ2 max-margin separator at every depth (Ji & Telgarsky
2019, "Gradient descent aligns the layers of deep linear networks"), on an L-layer linear
convolutional network to a stationary point of ‖Fβ‖_{2/L} under the margin constraints
(Gunasekar, Lee, Soudry & Srebro 2018, "Implicit bias of gradient descent on linear
convolutional networks", Theorem 2).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from implicit_bias.core.model_base import FactorProduct, Model


class DeepLinear(FactorProduct):
    """A deep fully connected linear network with a scalar output, f(x) = W_N ⋯ W_1 x, so that

        β = (W_N ⋯ W_1)ᵀ ∈ ℝ^d,   W_1 ∈ ℝ^{h_1×d}, W_j ∈ ℝ^{h_j×h_{j−1}}, W_N ∈ ℝ^{1×h_{N−1}},

    with ``widths`` = (h_1, …, h_{N−1}) (N = len(widths) + 1 factors; N = 1 is β = W_1ᵀ, the
    linear model). Parameters ``W1`` … ``WN`` (as the factors of ``deep_matrix``); every entry of
    every factor is i.i.d. N(0, init_scale²) at init. Homogeneous of order N in the parameters.
    """

    widths: tuple[int, ...] = eqx.field(static=True)

    @property
    def dims(self) -> tuple[int, ...]:
        """(d, h_1, …, h_{N−1}, 1): factor W_j has shape (dims[j], dims[j−1])."""
        return (self.shape[0], *self.widths, 1)

    @property
    def depth(self) -> int:
        return len(self.widths) + 1

    def init(self, key, model, dtype):
        # Depth 1 draws W_1 from the "init" key itself, so that it is exactly the linear model's
        # W(0) = init_scale·N(0, I_d) (same numbers: a (1, d) draw equals a (d,) draw of one key).
        keys = [key] if self.depth == 1 else list(jax.random.split(key, self.depth))
        return {f"W{j}": model.init_scale * jax.random.normal(k, (self.dims[j], self.dims[j - 1]), dtype)
                for j, k in enumerate(keys, start=1)}



class LinearConv(Model):
    """An L-layer full-width circular linear convolutional network (Gunasekar, Lee, Soudry & Srebro
    2018, "Implicit bias of gradient descent on linear convolutional networks", §2 and eq. (4)),
    filters w_1, …, w_L ∈ ℝ^D (parameters ``w1`` … ``wL``; D = d, the input dimension), each entry
    i.i.d. N(0, init_scale²) at init.

    **Their network.** h_0 = x; for 1 ≤ l ≤ L − 1 the layer is the normalized circular
    *cross-correlation*

        h_l[j] = (h_{l−1} ⋆ w_l)[j] = D^{−1/2} Σ_k w_l[k] h_{l−1}[(j + k) mod D],

    and the output is f(x) = ⟨h_{L−1}, w_L⟩. It is linear in x: f(x) = ⟨x, β⟩ with

        β = D^{−(L−1)/2} · w_L ⊛ w_{L−1} ⊛ ⋯ ⊛ w_1,

    where ⊛ is circular **convolution**, (a ⊛ b)[j] = Σ_k a[k] b[(j − k) mod D] (commutative and
    associative, so the order of the filters does not matter). Why convolution although each layer
    correlates: for one layer, ⟨h_1, w_2⟩ = D^{−1/2} Σ_j w_2[j] Σ_k w_1[k] x[j + k]
    = D^{−1/2} Σ_m x[m] Σ_j w_2[j] w_1[m − j] = ⟨x, D^{−1/2} w_2 ⊛ w_1⟩; the same step with
    w_L replaced by D^{−1/2} w_L ⊛ w_{L−1} peels the layers off one by one (tests check β against
    the layer-wise forward pass).

    **Fourier identity.** With the unitary DFT F, F_{jk} = e^{−2πijk/D}/√D (``jnp.fft.fft(·,
    norm="ortho")``), the unnormalized DFT is 𝔉 = √D F and the convolution theorem
    𝔉(a ⊛ b) = 𝔉a ⊙ 𝔉b reads F(a ⊛ b) = √D · Fa ⊙ Fb. Applied L − 1 times,
    F(w_L ⊛ ⋯ ⊛ w_1) = D^{(L−1)/2} · Fw_L ⊙ ⋯ ⊙ Fw_1, so the factor D^{−(L−1)/2} gives exactly

        Fβ = (Fw_L) ⊙ ⋯ ⊙ (Fw_1),

    without complex conjugates (β is real, so Fβ is Hermitian: (Fβ)_{D−k} = conj((Fβ)_k)). The
    model computes β this way: the product of the filters' half spectra (``rfft``, "ortho"), then
    the inverse real FFT. The network is homogeneous of order L in its filters; L = 1 is β = w_1,
    the linear model.
    """

    depth: int = eqx.field(static=True)
    #: the contract of the ``margin_fourier`` metric (normalized by ‖Fβ‖₁)
    circular_convolution = True

    def init(self, key, model, dtype):
        D = self.shape[0]
        keys = jax.random.split(key, self.depth)
        return {f"w{l}": model.init_scale * jax.random.normal(k, (D,), dtype)
                for l, k in enumerate(keys, start=1)}

    def filters(self, params) -> list[jax.Array]:
        return [params[f"w{l}"] for l in range(1, self.depth + 1)]

    def end_to_end(self, params):
        D = self.shape[0]
        spectrum = None
        for w in self.filters(params):
            w_hat = jnp.fft.rfft(w, norm="ortho")
            spectrum = w_hat if spectrum is None else spectrum * w_hat
        return jnp.fft.irfft(spectrum, n=D, norm="ortho")

    def homogeneity_order(self) -> int:
        return self.depth


def make_vector_model(model, shape: tuple[int, ...]) -> Model:
    """The model of ``[model]`` kind ``deep_linear`` or ``linear_conv`` for a vector problem of shape (d,)."""
    if len(shape) != 1:
        raise ValueError(f"model kind {model.kind!r} needs a vector problem (shape (d,)), got shape {shape}")
    if model.kind == "deep_linear":
        widths = model.widths
        if widths is None:
            widths = (shape[0],)
        elif isinstance(widths, int):
            widths = (widths,)
        return DeepLinear(shape=shape, widths=tuple(widths))
    if model.kind == "linear_conv":
        return LinearConv(shape=shape, depth=model.depth)
    raise AssertionError(model.kind)


#: the kinds :func:`make_vector_model` builds
VECTOR_MODEL_KINDS = ("deep_linear", "linear_conv")
