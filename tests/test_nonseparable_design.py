"""``separable_classification`` with ``design = "nonseparable"``: Ji & Telgarsky's structure of a maximal
separable subset plus pure-noise points positively spanning a subspace S ⊥ w*."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

import implicit_bias  # noqa: F401 - switches on float64
from implicit_bias.core.classification import positively_spans
from implicit_bias.core.problems import make_problem
from implicit_bias.errors import ConfigError
from implicit_bias.settings import config_hash, resolve, resolve_section

BASE = {"kind": "separable_classification", "n_samples": 12, "n_features": 6, "n_test": 0, "margin": 0.5}
DESIGN = {"design": "nonseparable", "n_nonseparable": 6, "nonseparable_dim": 2}


def _problem(seed=0, **keys):
    return make_problem(resolve_section("problem", {**BASE, **keys}), seed)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_noise_points_span_a_subspace_orthogonal_to_the_teacher_that_no_direction_separates(seed):
    P = _problem(seed, **DESIGN)
    X, y, w = np.asarray(P.X), np.asarray(P.targets), np.asarray(P.teacher)
    separable, noise = X[:6], X[6:]
    np.testing.assert_array_equal(y[:6], np.sign(separable @ w))
    assert np.min(np.abs(separable @ w)) >= 0.5
    assert np.max(np.abs(noise @ w)) <= 1e-12 and np.linalg.matrix_rank(noise) == 2
    Z = y[:, None] * X
    # Ji & Telgarsky's partition: the largest set {i : ⟨z_i, u⟩ > 0} over u with Zu ≥ 0 is exactly the
    # separable rows (the LP max Σ s_i s.t. Zu ≥ s, 0 ≤ s ≤ 1, solved here independently of the generator)
    n, d = Z.shape
    lp = optimize.linprog(np.r_[np.zeros(d), -np.ones(n)], A_ub=np.c_[-Z, np.eye(n)], b_ub=np.zeros(n),
                          bounds=[(None, None)] * d + [(0, 1)] * n, method="highs")
    np.testing.assert_allclose(lp.x[d:], np.r_[np.ones(6), np.zeros(6)], atol=1e-9)


def test_positive_spanning_is_the_lp_it_claims():
    assert positively_spans(np.array([[1.0, 0], [0, 1], [-1, -1]]))
    assert not positively_spans(np.array([[1.0, 0], [0, 1], [1, 1]]))  # all in the half-space u = (1, 1)
    assert not positively_spans(np.array([[1.0, 0], [-1, 0]]))  # rank 1 in ℝ²


def test_zero_noise_points_are_the_separable_rows_and_the_default_keeps_the_hash():
    alone = _problem(n_samples=6, design="nonseparable", n_nonseparable=0, nonseparable_dim=0)
    plain = _problem(n_samples=6)
    np.testing.assert_array_equal(np.asarray(alone.X), np.asarray(plain.X))
    np.testing.assert_array_equal(np.asarray(_problem(**DESIGN).X)[:6], np.asarray(plain.X))
    base = {"problem": BASE, "model": {"kind": "linear"}, "trainer": {"kind": "gd"}}
    explicit = {**base, "problem": {**BASE, "design": "gaussian"}}
    assert config_hash(resolve(base)) == config_hash(resolve(explicit))
    assert config_hash(resolve({**base, "problem": {**BASE, **DESIGN}})) != config_hash(resolve(base))


@pytest.mark.parametrize(("keys", "named"), [
    ({"design": "nonseparable"}, "problem.n_nonseparable"),
    ({"n_nonseparable": 4}, "problem.n_nonseparable"),
    ({**DESIGN, "n_nonseparable": 3}, "problem.n_nonseparable"),
    ({**DESIGN, "nonseparable_dim": 6}, "problem.nonseparable_dim"),
    ({**DESIGN, "n_nonseparable": 13}, "problem.n_nonseparable"),
    ({**DESIGN, "flip": 0.1}, "problem.flip"),
])
def test_bad_designs_name_the_key(keys, named):
    with pytest.raises(ConfigError) as error:
        resolve({"problem": {**BASE, **keys}, "model": {"kind": "linear"}, "trainer": {"kind": "gd"}})
    assert error.value.key == named
