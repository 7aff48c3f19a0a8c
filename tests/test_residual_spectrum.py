"""``residual_spectrum`` (metrics/residual_spectrum.py): the residual's DFT moduli on the circle grid.

Checked against an independent O(n²) DFT, against Parseval's identity with the logged ``loss``, and
against the one dynamics where the answer is exact: gradient descent on the ``linear`` model
f(x) = ⟨x, β⟩, whose kernel K = XXᵀ on the circle is (n/2)·(cos θ_i cos θ_j + sin θ_i sin θ_j), so
the residual at frequency 1 decays by exactly (1 − η/2) per step and the others do not move.
"""

import numpy as np
import pytest

from implicit_bias.core.objective import Objective  # noqa: F401
from implicit_bias.core.problems import CircleRegression, LeastSquares
from implicit_bias.execution.single import Experiment, run
from implicit_bias.metrics import MetricSet, default_metrics
from implicit_bias.metrics.residual_spectrum import ResidualSpectrum, residual_spectrum
from implicit_bias.settings import resolve

CIRCLE = {"kind": "function_regression", "domain": "circle", "n_samples": 12, "target": "sinusoids",
          "frequencies": [1, 2, 5], "amplitudes": [1.0, 0.5, 0.25], "phases": [0.3, 0.0, 1.0]}


def _experiment(problem, model=None):
    model = model or {"kind": "mlp", "widths": [16], "activation": "relu", "bias": True}
    return Experiment.build(resolve({"problem": problem, "model": model,
                                     "trainer": {"kind": "gd", "lr": 0.1, "steps": 5}}))


def _naive_dft_moduli(r):
    n = len(r)
    k = np.arange(n // 2 + 1)
    F = np.exp(-2j * np.pi * np.outer(k, np.arange(n)) / n)
    return np.abs(F @ r) / np.sqrt(n)


@pytest.mark.parametrize("n", [12, 13])
def test_it_is_the_unitary_dft_modulus_and_satisfies_parseval(n):
    r = np.random.default_rng(n).normal(size=n)
    s = np.asarray(residual_spectrum(r))
    assert s.shape == (n // 2 + 1,)
    np.testing.assert_allclose(s, _naive_dft_moduli(r), rtol=1e-12, atol=1e-14)
    weights = np.full(s.shape, 2.0)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[-1] = 1.0
    np.testing.assert_allclose(np.sum(weights * s**2), np.sum(r**2), rtol=1e-12)


def test_applies_only_on_the_circle_grid():
    circle = _experiment(CIRCLE)
    assert isinstance(circle.objective.problem, CircleRegression)
    assert ResidualSpectrum().applies(circle.objective)
    interval = _experiment({"kind": "function_regression", "n_samples": 12})
    assert type(interval.objective.problem) is LeastSquares
    assert not ResidualSpectrum().applies(interval.objective)
    regression = _experiment({"kind": "least_squares", "n_samples": 6, "n_features": 2}, {"kind": "linear"})
    assert not ResidualSpectrum().applies(regression.objective)
    assert "ResidualSpectrum" in MetricSet.select(circle.objective, default_metrics(3)).names
    # a minibatch is no longer the grid
    assert type(circle.objective.problem.take(np.arange(4))) is LeastSquares


def test_the_column_matches_the_network_residual():
    e = _experiment(CIRCLE)
    columns = MetricSet.build(e.objective, 3)(e.objective, e.params0)
    problem = e.objective.problem
    r = np.asarray(e.objective.model.apply(e.params0, problem.X)) - np.asarray(problem.targets)
    np.testing.assert_allclose(np.asarray(columns["residual_spectrum"]), _naive_dft_moduli(r), rtol=1e-10, atol=1e-13)


def test_gd_on_the_linear_model_decays_frequency_one_only_at_rate_one_minus_half_lr():
    lr, steps = 0.3, 20
    result = run({"problem": {**CIRCLE, "n_samples": 16}, "model": {"kind": "linear"},
                  "trainer": {"kind": "gd", "lr": lr, "steps": steps, "log_every": 5, "stop_loss": 0}})
    frame = result.trajectory
    assert list(frame["step"]) == [0, 5, 10, 15, 20]
    S = np.stack(frame["residual_spectrum"].to_numpy())
    assert S.shape == (5, 9)
    # K/n = XXᵀ/n has eigenvalue 1/2 on frequency 1 and 0 elsewhere; β starts at 0 (f0 = 0)
    np.testing.assert_allclose(S[:, 1], S[0, 1] * (1 - lr / 2) ** frame["step"].to_numpy(), rtol=1e-10)
    others = np.delete(S, 1, axis=1)
    np.testing.assert_allclose(others, np.broadcast_to(others[0], others.shape), rtol=1e-12, atol=1e-13)
    # Parseval against the logged loss (mean of ½ r², n = 16 even)
    w = np.full(9, 2.0)
    w[[0, -1]] = 1.0
    np.testing.assert_allclose((S**2 @ w) / (2 * 16), frame["loss"].to_numpy(), rtol=1e-10)
