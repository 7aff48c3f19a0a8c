"""``residual_spectrum``: the residual of a fit on the circle in the Fourier basis (issue 17, the
spectral bias of Rahaman et al. 2019 and Basri, Jacobs, Kasten & Kritchman 2019).

For ``function_regression`` on ``domain = "circle"`` (θ_i = 2πi/n, x_i = (cos θ_i, sin θ_i); the
problem class :class:`~implicit_bias.core.problems.CircleRegression`) and residual r_i = f(x_i) − y_i,

    residual_spectrum_k = |r̂_k| / √n,    r̂_k = Σ_i r_i e^{−2πi ik/n},    k = 0 … ⌊n/2⌋,

i.e. the moduli of the unitary DFT of r at the non-negative frequencies (the negative ones are
their conjugates: r is real). Parseval: Σ_i r_i² = Σ_{k=0}^{n−1} |r̂_k|²/n, so
loss = (1/2n)(s_0² + 2 Σ_{0<k<n/2} s_k² + s_{n/2}²) with s = the column (the last term only for
even n). Why it is the right coordinate system: any rotation-invariant kernel K(x_i, x_j) =
κ(θ_i − θ_j) on the equispaced grid is a circulant matrix, diagonalized by the DFT, so under the
linearized (kernel) dynamics ḟ = −(1/n)K(f − y) each |r̂_k| decays as exp(−μ_k t) with μ_k the
eigenvalue of K/n at frequency k (reproduce/spectral_bias.py).

A list column (one array of ⌊n/2⌋ + 1 moduli per row, like ``singular_values``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from implicit_bias.core.objective import Objective
from implicit_bias.core.problems import CircleRegression
from implicit_bias.metrics.base import At, Metric


def residual_spectrum(residual: jax.Array) -> jax.Array:
    """|DFT(r)_k|/√n for k = 0 … ⌊n/2⌋ (``jnp.fft.rfft``)."""
    n = residual.shape[0]
    return jnp.abs(jnp.fft.rfft(residual)) / jnp.sqrt(jnp.asarray(n, residual.dtype))


class ResidualSpectrum(Metric):
    """``residual_spectrum`` of f(x_i) − y_i, for problems on the circle grid (:class:`CircleRegression`)."""

    def applies(self, objective: Objective) -> bool:
        return isinstance(objective.problem, CircleRegression)

    def compute(self, at: At):
        problem = at.problem
        W = at.end_to_end
        predictions = problem.measure(W) if W is not None else at.model.predict(at.params, problem)
        return {"residual_spectrum": residual_spectrum(predictions - problem.targets)}
