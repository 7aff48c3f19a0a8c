"""``[problem] kind = "function_regression"``: the grid, the Chebyshev and sinusoid targets, the checks."""

import numpy as np
import pytest

from implicit_bias.cli import main
from implicit_bias.core.problems import make_problem
from implicit_bias.settings import ConfigError, resolve
from implicit_bias.settings.typed import RunSettings


def _problem(**keys):
    cfg = resolve({"problem": {"kind": "function_regression", **keys}, "model": {"kind": "mlp"}})
    return make_problem(RunSettings.from_resolved(cfg).problem, seed=0)


def test_chebyshev_t4_on_the_interval_is_the_polynomial():
    problem = _problem(n_samples=64)
    x = np.asarray(problem.X)[:, 0]
    assert x[0] == -1.0 and x[-1] == 1.0 and np.allclose(np.diff(x), 2 / 63)
    np.testing.assert_allclose(problem.targets, 8 * x**4 - 8 * x**2 + 1, atol=1e-13)  # T_4(x)


def test_sinusoids_on_the_circle():
    problem = _problem(domain="circle", n_samples=32, target="sinusoids", frequencies=[1, 3],
                       amplitudes=[1.0, 0.5], phases=[0.0, 1.0])
    X = np.asarray(problem.X)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-15)
    theta = 2 * np.pi * np.arange(32) / 32
    np.testing.assert_allclose(X[:, 0], np.cos(theta), atol=1e-15)
    np.testing.assert_allclose(problem.targets, np.cos(theta) + 0.5 * np.cos(3 * theta + 1.0), atol=1e-13)
    assert problem.shape == (2,)


def test_noise_depends_on_the_seed_only_through_the_problem_key():
    a, b = _problem(noise=0.1), _problem(noise=0.1)
    np.testing.assert_array_equal(a.targets, b.targets)
    assert np.std(np.asarray(a.targets) - np.asarray(_problem().targets)) > 0.05


@pytest.mark.parametrize("keys, key", [
    ({"target": "sinusoids", "frequencies": [1, 2], "amplitudes": [1.0]}, "problem.amplitudes"),
    ({"target": "sinusoids", "frequencies": 3, "phases": [0.0, 1.0]}, "problem.phases"),
    ({"domain": "sphere"}, "problem.domain"),
    ({"n_samples": 0}, "problem.n_samples"),
])
def test_bad_values_name_the_key(keys, key):
    with pytest.raises(ConfigError) as error:
        resolve({"problem": {"kind": "function_regression", **keys}, "model": {"kind": "mlp"}})
    assert error.value.key == key


def test_an_mlp_fits_it_through_the_cli(tmp_path):
    config = tmp_path / "fit.toml"
    config.write_text('[problem]\nkind = "function_regression"\nn_samples = 16\n'
                      '[model]\nkind = "mlp"\nwidths = [32]\nactivation = "tanh"\nbias = true\n'
                      '[trainer]\nkind = "gd"\nlr = 0.5\nsteps = 300\nlog_every = 100\n')
    assert main(["run", str(config), "--out", str(tmp_path / "runs"), "--quiet"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    with np.load(run / "problem.npz") as arrays:
        assert arrays["X"].shape == (16, 1) and arrays["y"].shape == (16,)
