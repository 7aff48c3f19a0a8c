"""Neural tangent kernels: the analytic infinite-width kernel of a one-hidden-layer ReLU network,
empirical NTKs, kernel regression and the linearized dynamics (Jacot, Gabriel & Hongler 2018; Lee et al. 2019).

Part of the baselines (``baselines.py`` re-exports these); conventions as stated there.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)



def ntk_relu(X1, X2=None) -> np.ndarray:
    """Infinite-width NTK of a one-hidden-layer ReLU network in the NTK parameterization.

    Network (no biases): f(x) = (1/√m) Σ_{j=1}^m a_j relu(w_jᵀx/√d), w_j ~ N(0, I_d),
    a_j ~ N(0, 1), all parameters (a and W) trained. Its tangent kernel
    Θ_m(x, x') = ∇_θf(x)·∇_θf(x') converges (m → ∞, law of large numbers, fluctuations
    O(1/√m)) to

        Θ(x, x') = |x||x'|/(2πd) · (sin θ + (π − θ) cos θ)  +  (x·x'/d) · (π − θ)/(2π),

    θ = angle(x, x'): the first term is E[relu(u)relu(u')] from the a-gradients (the
    arc-cosine kernel of order 1, Cho & Saul 2009), the second E[a²]·P(u > 0, u' > 0)·x·x'/d
    from the W-gradients (Jacot, Gabriel & Hongler 2018). Rows of X are inputs.
    """
    X1 = _f64(X1)
    X2 = X1 if X2 is None else _f64(X2)
    d = X1.shape[1]
    n1, n2 = np.linalg.norm(X1, axis=1), np.linalg.norm(X2, axis=1)
    dot = X1 @ X2.T
    norms = np.outer(n1, n2)
    cos = np.clip(np.divide(dot, norms, out=np.ones_like(dot), where=norms > 0), -1.0, 1.0)
    theta = np.arccos(cos)
    first = norms / (2 * np.pi * d) * (np.sqrt(1 - cos**2) + (np.pi - theta) * cos)
    second = dot / d * (np.pi - theta) / (2 * np.pi)
    return first + second


def init_relu_network(key, d: int, m: int, dtype=None) -> dict:
    """Parameters {"W": (m, d) ~ N(0, 1), "a": (m,) ~ N(0, 1)} of :func:`relu_network`."""
    import jax

    kw, ka = jax.random.split(key)
    dtype = dtype or ("float64" if jax.config.jax_enable_x64 else "float32")
    return {"W": jax.random.normal(kw, (m, d), dtype), "a": jax.random.normal(ka, (m,), dtype)}


def relu_network(params: Mapping, X):
    """f(x) = (1/√m) Σ_j a_j relu(w_jᵀx/√d) for the rows x of X (NTK parameterization)."""
    import jax.numpy as jnp

    W, a = params["W"], params["a"]
    m, d = W.shape
    return jnp.maximum(X @ W.T / jnp.sqrt(d), 0.0) @ a / jnp.sqrt(m)


def _ntk_function(fn: Callable) -> Callable:
    """A jitted (params, X1, X2) ↦ J(X1) J(X2)ᵀ for ``fn``, cached per function."""
    cached = _NTK_CACHE.get(fn)
    if cached is None:
        import jax
        import jax.numpy as jnp

        def jac(params, X):
            J = jax.jacobian(lambda p: fn(p, X))(params)
            return jnp.concatenate([j.reshape(X.shape[0], -1) for j in jax.tree_util.tree_leaves(J)], axis=1)

        cached = jax.jit(lambda params, X1, X2: jac(params, X1) @ jac(params, X2).T)
        _NTK_CACHE[fn] = cached
    return cached


_NTK_CACHE: dict = {}


def empirical_ntk(params: Mapping, X1, X2=None, fn: Callable = relu_network) -> np.ndarray:
    """Θ_θ(x, x') = ∇_θ f(x)·∇_θ f(x') at the given parameters (``jax.jacobian``, jitted).

    ``fn(params, X)`` returns the outputs for the rows of X (default :func:`relu_network`);
    the gradient is over every leaf of ``params``.
    """
    import jax.numpy as jnp

    X1 = jnp.asarray(X1)
    X2 = X1 if X2 is None else jnp.asarray(X2)
    return np.asarray(_ntk_function(fn)(dict(params), X1, X2))


def kernel_regression(K_train, Y, K_test_train=None, ridge: float = 0.0) -> np.ndarray:
    """Kernel (ridge) regression: f(X_test) = K(X_test, X)(K(X, X) + ridge·I)⁻¹ Y.

    ``ridge = 0`` is the minimum-RKHS-norm interpolant, the t → ∞ limit of
    :func:`ntk_linearized_predictions` from f0 = 0 (solved by least squares, so a
    singular K gives the pseudo-inverse). Without ``K_test_train`` the training
    predictions are returned.
    """
    K = _f64(K_train)
    Y = _f64(Y)
    A = K + ridge * np.eye(K.shape[0])
    coef = np.linalg.lstsq(A, Y, rcond=None)[0] if ridge == 0 else np.linalg.solve(A, Y)
    return (K if K_test_train is None else _f64(K_test_train)) @ coef


def ntk_linearized_predictions(K, f0, Y, t, K_test_train=None, f0_test=None, n: int | None = None):
    """Predictions of the linearized network under gradient flow on our loss (Lee et al. 2019).

    With L(θ) = (1/n) Σ_i ½ (f(x_i; θ) − y_i)² and θ̇ = −∇L (GD with lr η for k steps has
    t = ηk, the engine's time), the linearized model f_lin(θ) = f(θ₀) + J(θ − θ₀) obeys
    ḟ = −(1/n) K (f − Y) with K = J Jᵀ, hence

        f(t) = e^{−Kt/n} f0 + (I − e^{−Kt/n}) Y,
        f_test(t) = f0_test + K_test K⁻¹ (I − e^{−Kt/n}) (Y − f0).

    The course notes "Advanced Topics in Machine Learning – Notes part 1"
    (DSSC, University of Trieste) write e^{−η K t} for the sum-of-squared-residuals loss and t in steps; our
    mean loss contributes the 1/n. ``t`` may be a scalar or a 1-D array (then the leading
    axis of the output is time). K⁻¹(I − e^{−Kt/n}) is evaluated spectrally (its value
    t/n on null directions of K), so a singular K is fine.
    """
    K, f0, Y = _f64(K), _f64(f0), _f64(Y)
    n = K.shape[0] if n is None else n
    lam, Q = np.linalg.eigh((K + K.T) / 2)
    ts = np.atleast_1d(_f64(t))
    r0 = Q.T @ (f0 - Y)
    decay = np.exp(-np.outer(ts, lam) / n)  # (T, n)
    train = Y + (decay * r0) @ Q.T
    out_train = train if np.ndim(t) else train[0]
    if K_test_train is None:
        return out_train
    safe = np.where(np.abs(lam) > 1e-300, lam, 1.0)
    kernel_factor = np.where(np.abs(lam) > 1e-300, -np.expm1(-np.outer(ts, lam) / n) / safe, ts[:, None] / n)
    f0_test = np.zeros(_f64(K_test_train).shape[0]) if f0_test is None else _f64(f0_test)
    test = f0_test - (kernel_factor * r0) @ (_f64(K_test_train) @ Q).T
    return out_train, (test if np.ndim(t) else test[0])
