"""Fitting a function of one variable: Chebyshev polynomials on an interval, sinusoids on the circle.

The data sets of the discrete, nonlinear regime (docs/config.md, ``[problem] kind = "function_regression"``):

- ``domain = "interval"``: x_i = −1 + 2i/(n − 1), i = 0 … n − 1, inputs X = [x_i] ∈ ℝ^{n×1};
- ``domain = "circle"``: θ_i = 2πi/n, inputs X = [cos θ_i, sin θ_i] ∈ ℝ^{n×2} (unit vectors).

Targets, with θ = arccos x on the interval (so both domains share one formula):

- ``target = "chebyshev"``: y = T_k(x) = cos(k θ), the Chebyshev polynomial of degree k = ``degree``
  (T_4(x) = 8x⁴ − 8x² + 1 is Cohen et al. 2021's edge-of-stability target);
- ``target = "sinusoids"``: y = Σ_j a_j cos(k_j θ + φ_j) with the ``frequencies`` k_j, ``amplitudes`` a_j
  (default 1) and ``phases`` φ_j (default 0) — on the circle the eigenfunctions of any rotation-invariant
  kernel, so frequency k is learned at the rate set by the kernel's k-th eigenvalue (Basri et al. 2019;
  Rahaman et al. 2019, "On the spectral bias of neural networks").

Plus Gaussian ``noise`` on the targets. The grid is deterministic; only the noise uses the key.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias.settings.typed import SectionSettings


def grid(problem: SectionSettings) -> tuple[np.ndarray, np.ndarray]:
    """(X, θ): the inputs and their angles for ``domain`` and ``n_samples``."""
    n = problem.n_samples
    if problem.domain == "circle":
        theta = 2 * np.pi * np.arange(n) / n
        return np.stack([np.cos(theta), np.sin(theta)], axis=1), theta
    x = np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1)
    return x[:, None], np.arccos(np.clip(x, -1.0, 1.0))


def target_values(problem: SectionSettings, theta: np.ndarray) -> np.ndarray:
    """y(θ) = cos(degree·θ) (Chebyshev) or Σ_j a_j cos(k_j θ + φ_j) (sinusoids)."""
    if problem.target == "chebyshev":
        return np.cos(problem.degree * theta)
    frequencies = np.asarray(problem.frequencies, float)
    amplitudes = np.ones_like(frequencies) if problem.amplitudes is None else np.asarray(problem.amplitudes, float)
    phases = np.zeros_like(frequencies) if problem.phases is None else np.asarray(problem.phases, float)
    return np.sum(amplitudes * np.cos(np.outer(theta, frequencies) + phases), axis=1)


def function_regression_problem(problem: SectionSettings, key: jax.Array, problem_cls):
    """The problem of the module docstring, as ``problem_cls`` (LeastSquares: X, y, no ground truth)."""
    X, theta = grid(problem)
    y = jnp.asarray(target_values(problem, theta)) + problem.noise * jax.random.normal(key, (problem.n_samples,))
    return problem_cls(targets=y, ground_truth=None, X=jnp.asarray(X))
