"""``separable_classification`` with ``teacher = "fourier"``: one real Fourier mode as the teacher."""

from __future__ import annotations

import numpy as np
import pytest

import implicit_bias  # noqa: F401 - switches on float64
from implicit_bias.core.classification import fourier_teacher
from implicit_bias.core.problems import make_problem
from implicit_bias.errors import ConfigError
from implicit_bias.settings import config_hash, resolve, resolve_section

BASE = {"kind": "separable_classification", "n_samples": 40, "n_features": 16, "n_test": 10, "margin": 1.0}


def _problem(seed=0, **keys):
    return make_problem(resolve_section("problem", {**BASE, **keys}), seed)


@pytest.mark.parametrize("k", [0, 1, 3, 8])
def test_the_teacher_is_a_unit_mode_supported_on_k_and_d_minus_k(k):
    w = np.asarray(_problem(teacher="fourier", teacher_frequency=k).teacher)
    np.testing.assert_allclose(np.linalg.norm(w), 1.0, rtol=1e-12)
    spectrum = np.abs(np.fft.fft(w)) / np.sqrt(w.size)  # the unitary DFT
    support = {k, (16 - k) % 16}
    assert np.max(np.delete(spectrum, sorted(support))) <= 1e-12
    # Parseval on the support: a real mode splits its unit energy evenly between k and d − k
    np.testing.assert_allclose(spectrum[sorted(support)] ** 2, 1.0 / len(support), rtol=1e-10)


def test_the_labels_and_margin_follow_the_fourier_teacher_and_the_phase_depends_on_the_seed():
    P = _problem(teacher="fourier", teacher_frequency=2)
    w, X, y = np.asarray(P.teacher), np.asarray(P.X), np.asarray(P.targets)
    np.testing.assert_array_equal(y, np.sign(X @ w))
    assert np.min(np.abs(X @ w)) >= 1.0
    other = np.asarray(_problem(seed=1, teacher="fourier", teacher_frequency=2).teacher)
    assert abs(w @ other) < 1 - 1e-6  # another phase φ
    np.testing.assert_array_equal(w, np.asarray(_problem(teacher="fourier", teacher_frequency=2).teacher))


def test_the_real_modes_have_phase_zero():
    rng = np.random.default_rng(0)
    np.testing.assert_allclose(fourier_teacher(8, 4, rng), np.cos(np.pi * np.arange(8)) / np.sqrt(8))
    np.testing.assert_allclose(fourier_teacher(8, 0, rng), np.ones(8) / np.sqrt(8))


def test_the_default_keeps_the_generator_and_the_hash():
    a, b = _problem(), _problem(teacher="gaussian")
    for key in a.arrays():
        np.testing.assert_array_equal(a.arrays()[key], b.arrays()[key])
    base = {"problem": BASE, "model": {"kind": "linear"}, "trainer": {"kind": "gd"}}
    explicit = {**base, "problem": {**BASE, "teacher": "gaussian"}}
    assert config_hash(resolve(base)) == config_hash(resolve(explicit))
    fourier = {**base, "problem": {**BASE, "teacher": "fourier", "teacher_frequency": 1}}
    assert config_hash(resolve(fourier)) != config_hash(resolve(base))


@pytest.mark.parametrize("keys", [{"teacher": "fourier"}, {"teacher_frequency": 2},
                                  {"teacher": "fourier", "teacher_frequency": 9}])
def test_bad_frequencies_name_the_key(keys):
    config = {"problem": {**BASE, **keys}, "model": {"kind": "linear"}, "trainer": {"kind": "gd"}}
    with pytest.raises(ConfigError) as error:
        resolve(config)
    assert "problem.teacher_frequency" in str(error.value)
