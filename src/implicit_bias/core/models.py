"""Parameterizations of the end-to-end object: pure functions of a parameter pytree.

A model holds only static structure (shapes, depth, form). ``init(key, ...)``
returns the parameters, a flat ``dict[str, Array]``; ``end_to_end(params)``
returns the vector or matrix the problem measures. The initialization scale
is an argument of ``init``, not part of the model, so that changing it never
changes the compiled training step.
"""

from __future__ import annotations

import math
import equinox as eqx
import jax
import jax.numpy as jnp

from implicit_bias.settings.typed import SectionSettings

from implicit_bias.core.model_base import FactorProduct, Model, Params, matmul  # noqa: F401 - re-exported
from implicit_bias.core.vector_models import VECTOR_MODEL_KINDS, make_vector_model


class Linear(Model):
    """The end-to-end object itself: W. Starts at zero unless ``init_scale`` > 0 (then N(0, init_scale²))."""

    def init(self, key, model, dtype):
        return {"W": model.init_scale * jax.random.normal(key, self.shape, dtype)}

    def end_to_end(self, params):
        return params["W"]

    def homogeneity_order(self) -> int:
        return 1


class DeepMatrix(FactorProduct):
    """W = W_N ⋯ W_1, a depth-N linear network (Arora et al. 2019, "Implicit regularization in
    deep matrix factorization"). A vector problem of dimension d is the 1×d case.

    ``dims = (n_cols, h_1, …, h_{N−1}, n_rows)``: factor W_j has shape (dims[j], dims[j−1]).
    """

    dims: tuple[int, ...] = eqx.field(static=True)

    @property
    def depth(self) -> int:
        return len(self.dims) - 1


    def init(self, key, model, dtype):
        scale, kind = model.init_scale, model.init
        shapes = [(self.dims[j], self.dims[j - 1]) for j in range(1, self.depth + 1)]
        keys = jax.random.split(key, self.depth)
        if model.init_convention == "end_to_end":
            scales = self.end_to_end_factor_scales(kind, scale)
        else:
            scales = [scale] * self.depth
        if kind == "gaussian":
            mats = [c * jax.random.normal(k, s, dtype) for c, k, s in zip(scales, keys, shapes)]
        elif kind == "identity":
            mats = [c * jnp.eye(*s, dtype=dtype) for c, s in zip(scales, shapes)]
        elif kind == "orthogonal":
            mats = [c * _haar_semi_orthogonal(k, s, dtype) for c, k, s in zip(scales, keys, shapes)]
        else:
            mats = self._balanced(keys[0], scales[0], dtype)
        return {f"W{j + 1}": m for j, m in enumerate(mats)}

    def end_to_end_factor_scales(self, kind: str, init_scale: float) -> list[float]:
        """Per-factor scales when ``init_scale`` = s refers to the end-to-end matrix
        (``init_convention = "end_to_end"``), the convention of Arora, Cohen, Hu & Luo's code
        (roosephu/deep_matrix_factorization, main.py ``init_model``), where s is the "average
        magnitude" of the end-to-end entries:

        - gaussian: W_j has i.i.d. N(0, s^{2/N}/d_j) entries, d_j = dims[j] its number of rows
          (fan-out). Since E[W_jᵀW_j] = d_j σ_j² I, E‖W_N⋯W_1‖_F² = d_0 Π_j d_j σ_j² = s²·d_0,
          i.e. E‖W(0)‖_F² = init_scale²·n_cols. For an n×n matrix with hidden width n this is their
          std s^{1/N}/√n per factor and ‖W(0)‖_F ≈ s√n (their code asserts 0.8 ≤ ‖W(0)‖_F/(s√n) ≤ 1.2).
        - identity: W_j = s^{1/N}·I (rectangular), so W(0) = s·I as theirs.
        - orthogonal: W_j = (s√n_cols)^{1/N}·Q_j with Q_j Haar semi-orthogonal, their formula (for a
          square W every singular value of W(0) is s√n, so ‖W(0)‖_F = s·n).
        - balanced (not in their code): W0 with N(0, s²/n_rows) entries, E‖W0‖_F² = s²·n_cols as for
          gaussian; factored as in :meth:`_balanced` (scales[0] is that std).
        """
        N = self.depth
        if kind == "gaussian":
            return [init_scale ** (1.0 / N) / math.sqrt(self.dims[j]) for j in range(1, N + 1)]
        if kind == "identity":
            return [init_scale ** (1.0 / N)] * N
        if kind == "orthogonal":
            return [(init_scale * math.sqrt(self.dims[0])) ** (1.0 / N)] * N
        return [init_scale / math.sqrt(self.dims[-1])] * N

    def _balanced(self, key, scale, dtype) -> list[jax.Array]:
        """Arora, Cohen, Golowich & Hu (2019, ICLR), Procedure 1: draw W0 with N(0, scale²)
        entries, take W0 = U Σ Vᵀ (top r = min of all dims), and set W_1 = Σ^{1/N} Vᵀ,
        W_j = Σ^{1/N} (1 < j < N), W_N = U Σ^{1/N}, zero-padded to the hidden sizes, so that
        W_{j+1}ᵀ W_{j+1} = W_j W_jᵀ exactly and W_N ⋯ W_1 is the rank-r truncation of W0."""
        n_out, n_in, N = self.dims[-1], self.dims[0], self.depth
        W0 = scale * jax.random.normal(key, (n_out, n_in), dtype)
        U, s, Vt = jnp.linalg.svd(W0, full_matrices=False)
        r = min(self.dims)
        root = s[:r] ** (1.0 / N)
        mats = []
        for j in range(1, N + 1):
            rows, cols = self.dims[j], self.dims[j - 1]
            core = jnp.diag(root)
            if j == 1:
                core = core @ Vt[:r]
            if j == N:
                core = U[:, :r] @ core
            out_rows = rows if j == N else r
            out_cols = cols if j == 1 else r
            block = jnp.zeros((rows, cols), dtype)
            mats.append(block.at[:out_rows, :out_cols].set(core.reshape(out_rows, out_cols)))
        return mats


class Symmetric(Model):
    """W = U Uᵀ with U ∈ ℝ^{n×k} (Gunasekar et al. 2017, "Implicit regularization in matrix
    factorization"). ``init``: U0 with N(0, init_scale²) entries, or U0 = init_scale·I (rectangular)."""

    width: int = eqx.field(static=True)

    def init(self, key, model, dtype):
        n, k, scale = self.shape[0], self.width, model.init_scale
        if model.init == "identity":
            return {"U": scale * jnp.eye(n, k, dtype=dtype)}
        return {"U": scale * jax.random.normal(key, (n, k), dtype)}

    def end_to_end(self, params):
        return params["U"] @ params["U"].T

    def homogeneity_order(self) -> int:
        return 2


class Diagonal(Model):
    """Diagonal linear networks, applied coordinate-wise to the end-to-end object.

    ``form = "product"``: β = u ⊙ v. ``form = "difference"``: β = u^N − v^N (Woodworth et al. 2020,
    "Kernel and rich regimes in overparametrized models"; N = 2 is their depth-2 model).
    Both start at u(0) = v(0) = α·shape. Note that for "product" this keeps u = v for all
    time under GD (the updates are symmetric), so β = u² ≥ 0 and β(0) = α²·shape².
    """

    form: str = eqx.field(static=True)
    power: int = eqx.field(static=True)

    def init(self, key, model, dtype):
        shape = model.shape
        base = jnp.ones(self.shape, dtype) if shape == "uniform" else jnp.asarray(shape, dtype).reshape(self.shape)
        u0 = model.alpha * base
        return {"u": u0, "v": u0}

    def end_to_end(self, params):
        u, v = params["u"], params["v"]
        if self.form == "product":
            return u * v
        return u**self.power - v**self.power

    def homogeneity_order(self) -> int:
        return 2 if self.form == "product" else self.power


def _haar_semi_orthogonal(key, shape, dtype) -> jax.Array:
    """A Haar-random matrix with orthonormal rows or columns (QR of a Gaussian, signs fixed)."""
    rows, cols = shape
    G = jax.random.normal(key, (max(shape), min(shape)), dtype)
    Q, R = jnp.linalg.qr(G)
    Q = Q * jnp.sign(jnp.diag(R))
    return Q if rows >= cols else Q.T


def make_model(model: SectionSettings, shape: tuple[int, ...]) -> Model:
    """Build the (static) model for the settings of ``[model]`` and an end-to-end shape."""
    kind = model.kind
    if kind == "linear":
        return Linear(shape=shape)
    if kind == "deep_matrix":
        n_rows, n_cols = (1, shape[0]) if len(shape) == 1 else shape
        width = model.width
        if width is None:
            width = max(n_rows, n_cols)
        hidden = list(width) if isinstance(width, (list, tuple)) else [width] * (model.depth - 1)
        return DeepMatrix(shape=shape, dims=(n_cols, *hidden, n_rows))
    if kind == "symmetric":
        return Symmetric(shape=shape, width=model.width or shape[0])
    if kind == "diagonal":
        return Diagonal(shape=shape, form=model.form, power=model.power)
    if kind in VECTOR_MODEL_KINDS:
        return make_vector_model(model, shape)
    if kind == "mlp":
        widths = model.widths
        return MLP(shape=shape, widths=tuple([widths] if isinstance(widths, int) else widths),
                   activation=model.activation, bias=model.bias,
                   parameterization=model.parameterization, sigma_w=model.init_scale)
    raise AssertionError(kind)


def n_params(params: Params) -> int:
    return sum(math.prod(p.shape) for p in params.values())


ACTIVATIONS = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "linear": lambda x: x,
    "gelu": jax.nn.gelu,
    "relu2": lambda x: jnp.square(jax.nn.relu(x)),
}
#: p with φ(cz) = c^p φ(z) for every c > 0, of the positively homogeneous activations
ACTIVATION_ORDERS = {"relu": 1, "linear": 1, "relu2": 2}


class MLP(Model):
    """A fully connected network f(x) = W_L φ(… φ(W_1 x + b_1) …) + b_L with a scalar output.

    ``parameterization = "ntk"`` (Jacot et al. 2018): entries W_ij ~ N(0, 1) and each layer computes
    (σ_w/√fan_in) W h + b, so the NTK has a finite infinite-width limit. ``"standard"``: entries
    W_ij ~ N(0, σ_w²/fan_in) and each layer computes W h + b. σ_w = ``init_scale``; biases start at 0.
    ``shape`` is (n_features,), the input dimension. MLPs have no end-to-end matrix: the objective
    uses ``predict`` and the metrics the predictions. ``activation = "relu2"`` is φ(z) = max(z, 0)²,
    positively homogeneous of order 2 and C¹, which makes a bias-free network homogeneous of order
    2^L − 1 (:meth:`homogeneity_order`) without ReLU's kinks: a strict check of the monotone
    smoothed margin of Lyu & Li (2020, "Gradient descent maximizes the margin of homogeneous
    neural networks").
    """

    widths: tuple[int, ...] = eqx.field(static=True)
    activation: str = eqx.field(static=True)
    bias: bool = eqx.field(static=True)
    parameterization: str = eqx.field(static=True)
    sigma_w: float = eqx.field(static=True, default=1.0)
    has_end_to_end = False

    @property
    def dims(self) -> tuple[int, ...]:
        return (self.shape[0], *self.widths, 1)

    def init(self, key, model, dtype):
        scale = model.init_scale
        params = {}
        for j, k in enumerate(jax.random.split(key, len(self.dims) - 1), start=1):
            fan_in, fan_out = self.dims[j - 1], self.dims[j]
            W = jax.random.normal(k, (fan_out, fan_in), dtype)
            params[f"W{j}"] = W if self.parameterization == "ntk" else W * (scale / math.sqrt(fan_in))
            if self.bias:
                params[f"b{j}"] = jnp.zeros((fan_out,), dtype)
        return params

    def apply(self, params: Params, X: jax.Array) -> jax.Array:
        """Predictions f(x_n) for the rows of X, shape (n,)."""
        scale = self.sigma_w
        h = X.T
        n_layers = len(self.dims) - 1
        phi = ACTIVATIONS[self.activation]
        for j in range(1, n_layers + 1):
            W = params[f"W{j}"]
            h = (scale / math.sqrt(self.dims[j - 1])) * (W @ h) if self.parameterization == "ntk" else W @ h
            if self.bias:
                h = h + params[f"b{j}"][:, None]
            if j < n_layers:
                h = phi(h)
        return h[0]

    def predict(self, params, problem):
        return self.apply(params, problem.X)

    def homogeneity_order(self) -> int | None:
        """Without biases and with φ homogeneous of order p (relu, linear: 1; relu2: 2), the
        pre-activation of layer j is homogeneous of order a_j in all the weights, a_1 = 1 and
        a_{j+1} = p·a_j + 1, so the output of L = len(widths) + 1 layers has order
        K = Σ_{j<L} p^j: K = L for ReLU, K = 2^L − 1 for relu2. None with biases or another φ."""
        p = ACTIVATION_ORDERS.get(self.activation)
        if self.bias or p is None:
            return None
        return sum(p**j for j in range(len(self.dims) - 1))

    def end_to_end(self, params):
        raise TypeError("an MLP has no end-to-end matrix")
