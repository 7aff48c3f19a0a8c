"""The oracles of reproduce/diagonal_margin.py against closed forms: the Q_μ direction's two limits
and KKT conditions, and the flow in s-time (normalized GD) against the flow in t-time (GD)."""

import numpy as np
import pytest

from implicit_bias.reproduce.diagonal_margin import Margins, flow_oracle, q_mu_direction, q_mu_path


@pytest.fixture
def Z():
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((3, 8))
    Z[:, 0] = np.abs(Z[:, 0]) + 1.0  # separable along e₁
    return Z


def _svm(Z):
    """The ℓ2 SVM when every sample is a support vector: ŵ = Zᵀ(ZZᵀ)⁻¹1 (dual > 0 checked)."""
    dual = np.linalg.solve(Z @ Z.T, np.ones(Z.shape[0]))
    assert np.all(dual > 0)
    return Z.T @ dual


def test_q_mu_kkt_and_large_mu_limit(Z):
    b, lam, kkt = q_mu_direction(Z, 100.0)
    assert kkt < 1e-10 and np.all(lam >= 0)
    assert abs((Z @ b).min() - 1) < 1e-9
    # q(z) = z²/4 − z⁴/192 + …: the direction differs from the ℓ2 SVM by O(1/μ²)
    w = _svm(Z)
    assert np.linalg.norm(b - w) / np.linalg.norm(w) < 1e-3


def test_q_mu_small_mu_reaches_the_l1_max_margin(Z):
    from scipy.optimize import linprog

    n, d = Z.shape
    lp = linprog(np.ones(2 * d), A_ub=-np.hstack([Z, -Z]), b_ub=-np.ones(n), bounds=(0, None), method="highs")
    w1 = lp.x[:d] - lp.x[d:]
    ratios = Margins(Z, w1, _svm(Z))
    path = q_mu_path(Z, [10.0**k for k in range(2, -9, -1)])
    r1 = [ratios(path[mu][0])[0] for mu in sorted(path)]
    assert r1[0] > 0.99 and all(a >= b - 1e-9 for a, b in zip(r1, r1[1:]))  # r₁ grows as μ falls
    assert ratios(path[100.0][0])[1] > 1 - 1e-6  # and r₂ → 1 as μ grows


def test_normalized_flow_is_the_same_path(Z):
    margins = [2.0, 5.0]
    by_t = flow_oracle(Z, 0.5, margins=margins)
    by_s = flow_oracle(Z, 0.5, margins=margins, normalized=True)
    for g, a, b in zip(margins, by_t, by_s):
        assert np.min(Z @ a) == pytest.approx(g, rel=1e-8)
        assert np.linalg.norm(a - b) / np.linalg.norm(a) < 1e-6
