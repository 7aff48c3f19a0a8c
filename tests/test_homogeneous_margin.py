"""Lyu & Li's margins of homogeneous networks: the metric columns, the loss-based step of
``normalized_gd.log_power``, and the NumPy gradients the homogeneous-margin reproduction's KKT oracle uses."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import implicit_bias as ib
from implicit_bias.engine import resolve
from implicit_bias.reproduce.homogeneous_margin import ORDER, margins_and_gradients

CONFIG = {"seed": 0,
          "problem": {"kind": "separable_classification", "n_samples": 10, "n_features": 4, "n_test": 0,
                      "margin": 0.5, "loss": "exponential"},
          "model": {"kind": "mlp", "widths": [20], "activation": "relu2", "bias": False},
          "trainer": {"kind": "normalized_gd", "lr": 0.1, "log_power": 4 / 3, "steps": 300, "stop_loss": 0.0,
                      "log_every": 10}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return ib.run(CONFIG, out=tmp_path_factory.mktemp("homogeneous"))


def _arrays(run):
    with np.load(run.path / "problem.npz") as arrays:
        return arrays["X"], arrays["y"]


def test_the_numpy_margins_and_gradients_are_the_engines_network(trained):
    X, y = _arrays(trained)
    params = {k: np.asarray(v) for k, v in trained.params.items()}
    q, G = margins_and_gradients(params, X, y)

    def f(W1, W2):  # the engine's NTK-scaled apply, written again with jax for the gradient
        return (W2 @ jnp.square(jax.nn.relu(W1 @ X.T / math.sqrt(4)))) [0] / math.sqrt(20)

    np.testing.assert_allclose(q, y * np.asarray(f(params["W1"], params["W2"])), rtol=1e-12)
    J1, J2 = jax.jacobian(f, argnums=(0, 1))(jnp.asarray(params["W1"]), jnp.asarray(params["W2"]))
    expected = y[:, None] * np.concatenate([np.asarray(J1).reshape(10, -1), np.asarray(J2).reshape(10, -1)], axis=1)
    np.testing.assert_allclose(G, expected, rtol=1e-10, atol=1e-14)
    # Euler's identity for a function homogeneous of order K: ⟨θ, ∇q_i(θ)⟩ = K q_i
    theta = np.concatenate([params["W1"].ravel(), params["W2"].ravel()])
    np.testing.assert_allclose(G @ theta, ORDER * q, rtol=1e-10)


def test_the_margin_columns_are_lyu_and_lis_and_sandwich_each_other(trained):
    X, y = _arrays(trained)
    q, _ = margins_and_gradients({k: np.asarray(v) for k, v in trained.params.items()}, X, y)
    rho_K = sum(float(np.sum(np.asarray(v) ** 2)) for v in trained.params.values()) ** (ORDER / 2)
    last = trained.trajectory.iloc[-1]
    np.testing.assert_allclose(last["margin_homogeneous"], q.min() / rho_K, rtol=1e-10)
    sum_loss = np.sum(np.exp(-q))  # L_Σ, the paper's sum convention
    np.testing.assert_allclose(last["smoothed_margin"], -np.log(sum_loss) / rho_K, rtol=1e-10)
    assert q.min() / rho_K - math.log(10) / rho_K <= last["smoothed_margin"] <= q.min() / rho_K


def test_the_loss_based_step_divides_the_normalized_gradient_by_a_power_of_ln_inverse_loss(trained):
    X, y = _arrays(trained)
    after = ib.run({**CONFIG, "trainer": {**CONFIG["trainer"], "steps": 301}})  # one step past ``trained``
    W1, W2 = (jnp.asarray(trained.params[k]) for k in ("W1", "W2"))

    def log_loss(W1, W2):
        f = (W2 @ jnp.square(jax.nn.relu(W1 @ X.T / 2.0)))[0] / math.sqrt(20)
        return jax.nn.logsumexp(-y * f) - math.log(10)

    g1, g2 = jax.grad(log_loss, argnums=(0, 1))(W1, W2)
    assert -float(log_loss(W1, W2)) > 2  # so the factor max(1, ln(1/L))^(−p) is not 1
    scale = (-float(log_loss(W1, W2))) ** (-4 / 3)
    np.testing.assert_allclose(after.params["W1"], W1 - 0.1 * scale * g1, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(after.params["W2"], W2 - 0.1 * scale * g2, rtol=1e-9, atol=1e-13)


def test_log_power_defaults_to_plain_normalized_gd_and_is_validated():
    resolved = resolve({**CONFIG, "trainer": {"kind": "normalized_gd"}})
    assert resolved["trainer"]["log_power"] == 0.0
    with pytest.raises(ib.ConfigError) as error:
        resolve({**CONFIG, "trainer": {"kind": "normalized_gd", "log_power": -1.0}})
    assert "trainer.log_power" in str(error.value)
