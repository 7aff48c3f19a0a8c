"""function_spectrum: the Jacobian spectrum stacked over data equals the SVD for (deep) linear maps."""

import jax
import jax.numpy as jnp
import numpy as np

import implicit_bias as ib
from implicit_bias.core.models import DeepMatrix, MLP
from implicit_bias.core.spectral import function_spectrum
from implicit_bias.settings import resolve_section


def test_equals_singular_values_of_a_linear_map():
    W = jax.random.normal(jax.random.key(0), (4, 7))
    X = jax.random.normal(jax.random.key(1), (30, 7))
    s = function_spectrum(lambda p, X: X @ p["W"].T, {"W": W}, X)
    np.testing.assert_allclose(s[:4], np.linalg.svd(np.asarray(W), compute_uv=False), rtol=1e-12)
    np.testing.assert_allclose(s[4:], 0.0, atol=1e-12)


def test_equals_singular_values_of_a_deep_linear_network():
    model = DeepMatrix(shape=(5, 6), dims=(6, 8, 8, 5))
    params = model.init(jax.random.key(2), resolve_section("model", {"kind": "deep_matrix", "init": "gaussian",
                                                                      "init_scale": 0.5}), jnp.float64)
    X = jax.random.normal(jax.random.key(3), (20, 6))
    s = function_spectrum(lambda p, X: X @ model.end_to_end(p).T, params, X)
    expected = np.linalg.svd(np.asarray(model.end_to_end(params)), compute_uv=False)
    np.testing.assert_allclose(s[:5], expected, rtol=1e-10)


def test_a_linear_activation_mlp_collapses_to_its_product_vector():
    """A scalar-output MLP with φ = identity is x ↦ wᵀx: one singular value, equal to ‖w‖."""
    model = MLP(shape=(6,), widths=(16,), activation="linear", bias=False, parameterization="ntk")
    params = model.init(jax.random.key(4), resolve_section("model", {"kind": "mlp", "init_scale": 1.0}), jnp.float64)
    X = jax.random.normal(jax.random.key(5), (25, 6))
    w = jax.grad(lambda x: model.apply(params, x[None])[0])(jnp.zeros(6))
    s = function_spectrum(model.apply, params, X)
    np.testing.assert_allclose(s[0], np.linalg.norm(w), rtol=1e-12)
    np.testing.assert_allclose(s[1:], 0.0, atol=1e-12)


def test_relu_mlp_spectrum_is_logged():
    result = ib.run({"problem": {"kind": "teacher_student", "n_samples": 30, "n_features": 5, "n_test": 50},
                     "model": {"kind": "mlp", "widths": [32]},
                     "trainer": {"kind": "gd", "lr": 0.1, "steps": 20, "log_every": 10}})
    spectrum = result.trajectory["function_spectrum"].iloc[-1]
    assert len(spectrum) == 5 and all(np.diff(spectrum) <= 0)
    assert 1.0 <= result.summary["final"]["function_effective_rank"] <= 5.0
