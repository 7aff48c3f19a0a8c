"""The max-margin oracles (issue 16, §3): argmin ‖w‖_p s.t. y_i⟨x_i, w⟩ ≥ 1 for p = ℓ2, ℓ1, ℓ∞ and
Fourier-ℓ1, their dual certificates, the ``[baseline] kind = "max_margin"`` wiring and ``explain``'s
ranking of a classification run.

Exact answers used below (derived by hand; z_i = y_i x_i):

- one active point z: ŵ_2 = z/‖z‖₂², ŵ_1 = e_j/z_j at j = argmax |z_j| (sign included), ŵ_∞ =
  sign(z)/‖z‖₁; γ_p = 1/‖ŵ_p‖_p = ‖z‖_* (the dual norm). For z = (3, 2, 1): cos∠(ŵ_2, ŵ_1) = 3/√14,
  cos∠(ŵ_2, ŵ_∞) = 6/√42, cos∠(ŵ_1, ŵ_∞) = 1/√3.
- z₁ = (1, 1), z₂ = (2, −1) (and an inactive z₃ = (3, 1)): both margins active, w₁ + w₂ = 1,
  2w₁ − w₂ = 1 → ŵ = (2/3, 1/3) = (4/9)z₁ + (1/9)z₂, α = (4/9, 1/9, 0), Σα = ‖ŵ‖² = 5/9.
- Fourier-ℓ1 with one active point x (d = 8), x_j = cos(2πj/d) + ½cos(6πj/d) + 0.3: by Parseval
  ⟨x, w⟩ = Re⟨Fx, Fw⟩, so min ‖Fw‖₁ s.t. ⟨x, w⟩ ≥ 1 puts all of Fw on the frequencies ±1 where |Fx|
  is largest (√d/2 against √d/4 and 0.3√d): ŵ = (2/d)cos(2πj/d), ‖Fŵ‖₁ = 2/√d.
- d = 2: the unitary DFT is the real symmetric orthogonal F = [[1, 1], [1, −1]]/√2, so with u = Fw
  the Fourier-ℓ1 problem is the ℓ1 problem of the data ZF: ŵ_F(Z) = F ŵ_1(ZF). For d ≥ 3, F has
  non-real entries (e^{−2πi/d}) and the Fourier-ℓ1 norm pairs the frequencies ±k into 2-norms: no
  such identity holds, so it is only tested at d = 2.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import types

import numpy as np
import pytest

from implicit_bias.baselines import max_margin as mm
from implicit_bias.errors import ConfigError

DUAL = {"l2": "l2", "l1": "linf", "linf": "l1", "fourier_l1": "fourier_linf"}


def _separable(seed: int, n: int, d: int):
    """Gaussian inputs labelled by a random teacher through the origin (separable by the teacher)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.sign(X @ rng.normal(size=d))
    return X, y


# --------------------------------------------------------------------------- certificates

@pytest.mark.parametrize("norm", mm.NORMS)
@pytest.mark.parametrize("seed,n,d", [(0, 30, 8), (1, 12, 20)])
def test_each_oracle_is_certified_by_its_dual(norm, seed, n, d):
    """Primal feasibility, α ≥ 0, complementary slackness, stationarity (‖Zᵀα‖_* = ‖ŵ‖ and
    ⟨Zᵀα, ŵ⟩ = ‖ŵ‖²) and strong duality ½‖ŵ‖² = Σα − ½‖Zᵀα‖_*², computed here from the arrays."""
    X, y = _separable(seed, n, d)
    Z = y[:, None] * X
    sol = mm.max_margin(X, y, norm)
    tol = 1e-10 if norm == "l2" else 1e-9
    assert sol.status == "optimal"
    w, alpha = sol.w, sol.dual
    margins = Z @ w
    assert margins.min() >= 1 - 1e-12 and margins.min() == pytest.approx(1.0, abs=1e-12)
    assert alpha.min() >= 0
    assert np.max(alpha * (margins - 1)) <= tol * alpha.sum()
    v = Z.T @ alpha
    nw = mm.norm_value(w, norm)
    assert mm.norm_value(v, DUAL[norm]) == pytest.approx(nw, rel=tol)
    assert v @ w == pytest.approx(nw**2, rel=tol)
    primal, dual = 0.5 * nw**2, alpha.sum() - 0.5 * mm.norm_value(v, DUAL[norm]) ** 2
    assert dual == pytest.approx(primal, rel=tol)
    assert set(sol.support) == set(np.flatnonzero(alpha > 0))
    assert np.all(np.abs(margins[sol.support] - 1) <= 1e-7)  # support vectors sit on the margin
    assert sol.margin == pytest.approx(1 / nw)


def test_l2_hand_derived_two_dimensional_example():
    X = np.array([[1.0, 1.0], [-2.0, 1.0], [3.0, 1.0]])
    y = np.array([1.0, -1.0, 1.0])
    sol = mm.max_margin_l2(X, y)
    np.testing.assert_allclose(sol.w, [2 / 3, 1 / 3], rtol=0, atol=1e-14)
    np.testing.assert_allclose(sol.dual, [4 / 9, 1 / 9, 0.0], rtol=0, atol=1e-13)
    assert list(sol.support) == [0, 1]
    assert sol.margin == pytest.approx(1 / np.sqrt(5 / 9), rel=1e-13)


def _brute_force_svm(Z):
    """The hard-margin SVM by enumerating support sets S (|S| ≤ d): w = Z_S⁺1 with α_S = (Z_S Z_Sᵀ)⁻¹1 ≥ 0
    and every margin ≥ 1 is the (unique) KKT point."""
    n, d = Z.shape
    for size in range(1, d + 1):
        for S in itertools.combinations(range(n), size):
            ZS = Z[list(S)]
            G = ZS @ ZS.T
            if np.linalg.matrix_rank(G) < size:
                continue
            aS = np.linalg.solve(G, np.ones(size))
            w = ZS.T @ aS
            if aS.min() > 0 and (Z @ w).min() >= 1 - 1e-12:
                return w
    raise AssertionError("no KKT point found")


@pytest.mark.parametrize("seed", range(4))
def test_l2_matches_brute_force_over_support_sets_to_1e_10(seed):
    X, y = _separable(seed, 9, 3)
    expected = _brute_force_svm(y[:, None] * X)
    sol = mm.max_margin_l2(X, y)
    np.testing.assert_allclose(sol.w, expected, rtol=0, atol=1e-10 * np.abs(expected).max())
    assert sol.kkt_residual <= 1e-10


@pytest.mark.parametrize("seed,n,d", [(3, 60, 10), (4, 10, 40), (5, 200, 5)])
def test_l2_polish_reaches_kkt_residual_1e_10(seed, n, d):
    X, y = _separable(seed, n, d)
    sol = mm.max_margin_l2(X, y)
    assert sol.solver == "clarabel+polish" and sol.status == "optimal"
    assert mm.kkt_residual(X, y, sol.w, sol.dual, "l2") <= 1e-10
    np.testing.assert_allclose((y[:, None] * X).T @ sol.dual, sol.w, rtol=0, atol=1e-10 * np.abs(sol.w).max())


def test_l2_polish_on_a_degenerate_support_with_more_active_points_than_dimensions():
    """(1, 0), (1, ±1) all on the margin of ŵ = (1, 0): α is not unique (α₂ = α₃ = t, α₁ = 1 − 2t),
    the polished certificate must still satisfy every KKT condition to 1e-10."""
    X = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, -1.0], [2.0, 0.5]])
    sol = mm.max_margin_l2(X, np.ones(4))
    assert sol.solver == "clarabel+polish" and sol.kkt_residual <= 1e-10
    np.testing.assert_allclose(sol.w, [1.0, 0.0], atol=1e-14)
    assert sol.dual[3] == 0 and sol.dual[1] == pytest.approx(sol.dual[2]) and sol.dual.sum() == pytest.approx(1.0)


def test_l2_falls_back_to_the_solver_when_the_polish_fails_the_kkt_check(monkeypatch):
    X, y = _separable(0, 30, 8)
    good = mm.max_margin_l2(X, y)
    monkeypatch.setattr(mm, "_polish_l2", lambda Z, alpha: (good.w * 1.01, good.dual))  # a wrong point
    sol = mm.max_margin_l2(X, y)
    assert sol.status == "optimal_unpolished" and sol.solver == "clarabel"
    np.testing.assert_allclose(sol.w, good.w, rtol=1e-6)


def test_one_point_gives_the_three_textbook_answers_and_their_angles():
    z = np.array([3.0, 2.0, 1.0])
    X, y = np.stack([z, -2 * z]), np.array([1.0, -1.0])  # the second point has margin 2: inactive
    w2, w1, winf = (mm.max_margin(X, y, p).w for p in ("l2", "l1", "linf"))
    np.testing.assert_allclose(w2, z / 14, atol=1e-14)
    np.testing.assert_allclose(w1, [1 / 3, 0, 0], atol=1e-12)
    np.testing.assert_allclose(winf, np.ones(3) / 6, atol=1e-12)
    assert mm.angle(w2, w1) == pytest.approx(np.arccos(3 / np.sqrt(14)), rel=1e-10)
    assert mm.angle(w2, winf) == pytest.approx(np.arccos(6 / np.sqrt(42)), rel=1e-10)
    assert mm.angle(w1, winf) == pytest.approx(np.arccos(1 / np.sqrt(3)), rel=1e-10)
    for p, gamma in (("l2", np.sqrt(14)), ("l1", 3.0), ("linf", 6.0)):
        assert mm.max_margin(X, y, p).margin == pytest.approx(gamma, rel=1e-10)  # the dual norm of z
        assert mm.max_margin(X, y, p).dual[1] == 0.0


def test_fourier_l1_picks_the_dominant_frequency():
    d = 8
    j = np.arange(d)
    x = np.cos(2 * np.pi * j / d) + 0.5 * np.cos(6 * np.pi * j / d) + 0.3
    X, y = np.stack([x, -1.5 * x]), np.array([1.0, -1.0])
    sol = mm.max_margin_fourier_l1(X, y)
    expected = 2 / d * np.cos(2 * np.pi * j / d)
    np.testing.assert_allclose(sol.w, expected, atol=1e-9)
    assert sol.norm_value == pytest.approx(2 / np.sqrt(d), rel=1e-8)
    assert sol.dual == pytest.approx([4 / d, 0.0], abs=1e-9)  # Σα = ‖ŵ‖²
    l2 = mm.max_margin_l2(X, y)
    assert mm.angle(l2.w, sol.w) == pytest.approx(mm.angle(x, expected), rel=1e-6)
    assert mm.angle(l2.w, sol.w) > 0.3  # ℓ2 keeps the other frequencies


@pytest.mark.parametrize("seed", range(3))
def test_fourier_l1_is_the_l1_problem_in_the_dft_basis_at_d_2(seed):
    X, y = _separable(seed, 10, 2)
    F = mm.dft_matrix(2)
    assert np.allclose(F.imag, 0) and np.allclose(F.real @ F.real, np.eye(2))
    F = F.real
    fourier = mm.max_margin_fourier_l1(X, y)
    l1 = mm.max_margin_l1(X @ F, y)
    np.testing.assert_allclose(fourier.w, F @ l1.w, atol=1e-9)
    assert fourier.norm_value == pytest.approx(l1.norm_value, rel=1e-8)


@pytest.mark.parametrize("d", [1, 2, 3, 8, 9])
def test_the_real_fourier_basis_is_orthonormal_and_turns_fourier_l1_into_a_group_norm(d):
    Q, singles, pairs = mm.real_fourier_basis(d)
    np.testing.assert_allclose(Q.T @ Q, np.eye(d), atol=1e-13)
    assert sorted(singles + [i for p in pairs for i in p]) == list(range(d))
    w = np.random.default_rng(d).normal(size=d)
    c = Q.T @ w
    group = np.abs(c[singles]).sum() + np.sqrt(2) * sum(np.hypot(c[a], c[b]) for a, b in pairs)
    assert group == pytest.approx(np.abs(mm.dft_matrix(d) @ w).sum(), rel=1e-13)


def test_angle_is_accurate_near_zero_and_pi():
    a = np.array([1.0, 0.0])
    assert mm.angle(a, [1.0, 1e-12]) == pytest.approx(1e-12, rel=1e-6)
    assert mm.angle(a, [-1.0, 1e-12]) == pytest.approx(np.pi - 1e-12, rel=1e-12)


# --------------------------------------------------------------------------- not separable

@pytest.mark.parametrize("norm", mm.NORMS)
def test_non_separable_data_raise_the_documented_error(norm):
    X = np.array([[1.0, 0.5], [-1.0, -0.5], [0.3, 2.0]])
    y = np.array([1.0, 1.0, -1.0])  # x and −x with the same label
    assert not mm.is_separable(X, y)
    with pytest.raises(mm.NotSeparableError, match="not linearly separable.*soft-margin"):
        mm.max_margin(X, y, norm)


def test_labels_must_be_plus_minus_one():
    with pytest.raises(ValueError, match="−1 or \\+1"):
        mm.max_margin(np.eye(2), np.array([1.0, 0.0]))


# --------------------------------------------------------------------------- wiring

def _problem(X, y):
    import jax.numpy as jnp

    from implicit_bias.core.problems import LeastSquares

    return LeastSquares(targets=jnp.asarray(y), ground_truth=None, X=jnp.asarray(X))


@pytest.mark.parametrize("norm", mm.NORMS)
def test_the_baseline_returns_the_unit_margin_solution_and_its_certificate(norm):
    from implicit_bias.baselines.runs import solve

    X, y = _separable(2, 25, 6)
    settings = types.SimpleNamespace(baseline=types.SimpleNamespace(kind="max_margin", norm=norm), model=None, seed=0)
    W, W0, info, path = solve(settings, _problem(X, y))
    expected = mm.max_margin(X, y, norm)
    np.testing.assert_allclose(W, expected.w, rtol=1e-12)
    assert np.all(W0 == 0) and path == []
    json.dumps(info)  # JSON-ready for summary.json
    assert info["status"] == "optimal" and info["norm"] == norm
    assert info["unit_margin"] == pytest.approx(1.0, abs=1e-12)
    assert info["margin"] == pytest.approx(1 / mm.norm_value(W, norm))
    assert info["support_size"] == len(info["support"]) == int(np.sum(np.asarray(info["dual"]) > 0))
    assert info["dual_objective"] == pytest.approx(mm.norm_value(W, norm) ** 2, rel=1e-7)


def test_the_baseline_on_non_separable_data_is_a_config_error_naming_baseline_kind():
    from implicit_bias.baselines.runs import max_margin_baseline

    with pytest.raises(ConfigError, match="not linearly separable") as info:
        max_margin_baseline(_problem(np.array([[1.0], [-1.0]]), np.array([1.0, 1.0])), "l2")
    assert info.value.key == "baseline.kind" and "\n" not in str(info.value)


def test_max_margin_on_a_regression_problem_is_refused_by_name():
    from implicit_bias.settings import resolve

    problem = {"kind": "least_squares", "n_samples": 10, "n_features": 20}
    with pytest.raises(ConfigError) as info:
        resolve({"problem": problem, "baseline": {"kind": "max_margin"}})
    assert info.value.key == "baseline.kind" and "classification" in str(info.value)
    with pytest.raises(ConfigError) as info:
        resolve({"problem": problem, "baseline": {"kind": "max_margin", "norm": "l3"}})
    assert info.value.key == "baseline.norm"


def test_cli_refuses_max_margin_on_regression_in_one_line(tmp_path, capsys):
    from implicit_bias.cli import main

    (tmp_path / "r.toml").write_text('[problem]\nkind = "least_squares"\n[baseline]\nkind = "max_margin"\n',
                                     encoding="utf-8")
    assert main(["run", str(tmp_path / "r.toml"), "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "baseline.kind" in err and "classification" in err and len(err.splitlines()) == 1
    assert not any(tmp_path.iterdir()) or [p.name for p in tmp_path.iterdir()] == ["r.toml"]


def test_cli_max_margin_baseline_and_explain_end_to_end(tmp_path, capsys):
    """A max_margin baseline through the CLI, then explain on a GD run of the same data: the ℓ2
    direction (Soudry et al. 2018) must rank first and the baseline's final.npz is the oracle.
    d > n on purpose: with n > d the ℓ2 SVM often has d support vectors, its vertex can also be the
    ℓ1 or ℓ∞ optimum and the ranking would be a tie. Measured with a NumPy GD (lr 1, 20,000 steps,
    mean logistic loss, Gaussian 10×20 data, seeds 0-2): angles 0.10-0.12 rad to ℓ2, ≥ 0.43 to ℓ1/ℓ∞."""
    import implicit_bias as ib
    from implicit_bias.analysis.explain import explain
    from implicit_bias.cli import main
    from implicit_bias.rundir import files as store

    problem = {"kind": "separable_classification", "n_samples": 10, "n_features": 20, "n_test": 100, "margin": 0.2}
    (tmp_path / "b.toml").write_text('[problem]\nkind = "separable_classification"\nn_samples = 10\n'
                                     'n_features = 20\nn_test = 100\nmargin = 0.2\n'
                                     '[baseline]\nkind = "max_margin"\nnorm = "l2"\n', encoding="utf-8")
    assert main(["run", str(tmp_path / "b.toml"), "--out", str(tmp_path), "--quiet"]) == 0
    run_dir = __import__("pathlib").Path(capsys.readouterr().out.splitlines()[-1])
    arrays = store.read_npz(run_dir / "problem.npz")
    final = store.read_npz(run_dir / "final.npz")
    np.testing.assert_allclose(final["end_to_end"], mm.max_margin_l2(arrays["X"], arrays["y"]).w, rtol=1e-10)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["solver"]["status"] == "optimal" and summary["solver"]["support_size"] >= 1
    trained = ib.run({"problem": problem, "model": {"kind": "linear", "init_scale": 0.0},
                      "trainer": {"kind": "gd", "lr": 1.0, "steps": 20000, "log_every": 5000, "stop_loss": 0.0}},
                     out=tmp_path)
    report = explain(trained.path)
    assert report["ranking"][0]["baseline"] == "max_margin_l2"
    # n ≤ d points in general position are separable with any labels: non-separable needs n > d
    code = main(["run", str(tmp_path / "b.toml"), "--set", "problem.flip=0.3", "--set", "problem.n_samples=60",
                 "--set", "problem.n_features=3", "--out", str(tmp_path / "nonsep"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "baseline.kind" in err and "not linearly separable" in err and "soft-margin" in err


TOY = "mm_toy_separable"


@pytest.fixture
def toy_classification(monkeypatch):
    """A classification problem kind for this test only (the real one, issue 16 §1, is written
    elsewhere): Gaussian X (n × d), labels sign⟨x, w*⟩, the mean logistic loss; its record says
    ``classification``. Registered by monkeypatching the three registries, so it leaves no trace."""
    import jax
    import jax.numpy as jnp

    from implicit_bias.core import problems
    from implicit_bias.core.problems import LeastSquares
    from implicit_bias.settings import registry, schema

    class Toy(LeastSquares):
        def residual_loss(self, predictions):
            return jnp.mean(jnp.logaddexp(0.0, -self.targets * predictions))

        def take(self, idx):
            return Toy(targets=self.targets[idx], ground_truth=self.ground_truth, X=self.X[idx])

    def build(problem, key):
        k_teacher, k_x = jax.random.split(key)
        X = jax.random.normal(k_x, (problem.n_samples, problem.n_features))
        teacher = jax.random.normal(k_teacher, (problem.n_features,))
        return Toy(targets=jnp.sign(X @ teacher), ground_truth=None, X=X)

    keys = {"n_samples": schema.int_key(10, "Samples.", minimum=1), "n_features": schema.int_key(20, "d.", minimum=1)}
    monkeypatch.setitem(schema.PROBLEMS, TOY, keys)
    monkeypatch.setitem(registry.PROBLEM_RECORDS, TOY, registry.ProblemRecord(
        TOY, shape=lambda p: (p["n_features"],), n_observations=lambda p: p["n_samples"], has_inputs=True,
        classification=True))
    monkeypatch.setitem(problems._GENERATORS, TOY, build)
    return TOY


def test_a_max_margin_run_directory_and_explain_of_a_gd_run_end_to_end(tmp_path, toy_classification):
    """Through ``ib.run``: the baseline's final.npz is the oracle on its problem.npz, its summary.json
    carries the certificate; GD on the logistic loss (d > n) is then ranked closest to the ℓ2
    direction (Soudry et al. 2018; measured angles 0.10-0.12 rad to ℓ2 vs ≥ 0.43 to ℓ1/ℓ∞ after
    20,000 steps of lr 1 on three seeds with a NumPy GD, see the skipped CLI test)."""
    import implicit_bias as ib
    from implicit_bias.analysis.explain import explain
    from implicit_bias.rundir import files as store
    from implicit_bias.settings import RunSettings, resolve

    problem = {"kind": toy_classification, "n_samples": 10, "n_features": 20}
    config = {"problem": problem, "baseline": {"kind": "max_margin", "norm": "linf"}}
    assert RunSettings.from_resolved(resolve(config)).baseline.norm == "linf"
    baseline = ib.run(config, out=tmp_path)
    arrays = store.read_npz(baseline.path / "problem.npz")
    oracle = mm.max_margin_linf(arrays["X"], arrays["y"])
    np.testing.assert_allclose(store.read_npz(baseline.path / "final.npz")["end_to_end"], oracle.w, rtol=1e-12)
    summary = json.loads((baseline.path / "summary.json").read_text())
    solver = summary["solver"]
    assert summary["status"] == "converged" and solver["status"] == "optimal" and solver["solver"] == "highs"
    assert solver["margin"] == pytest.approx(oracle.margin) and solver["support_size"] == oracle.support.size
    assert solver["dual"] == pytest.approx(list(oracle.dual))
    trained = ib.run({"problem": problem, "model": {"kind": "linear", "init_scale": 0.0},
                      "trainer": {"kind": "gd", "lr": 1.0, "steps": 20000, "log_every": 10000}}, out=tmp_path)
    report = explain(trained.path)
    names = [r["baseline"] for r in report["ranking"]]
    assert names[0] == "max_margin_l2" and len(names) == 3
    assert report["ranking"][0]["angle"] < 0.5 * report["ranking"][1]["angle"]


# --------------------------------------------------------------------------- explain

def _classification_run_dir(tmp_path, monkeypatch, X, y, beta):
    """A finished run directory whose problem.npz holds (X, y) and whose final β is ``beta``: a tiny
    least_squares run with its arrays replaced, its problem record marked as classification."""
    import implicit_bias as ib
    from implicit_bias.rundir import files as store
    from implicit_bias.settings import registry

    n, d = X.shape
    result = ib.run({"problem": {"kind": "least_squares", "n_samples": n, "n_features": d},
                     "model": {"kind": "linear"}, "trainer": {"kind": "gd", "lr": 0.01, "steps": 2, "log_every": 1}},
                    out=tmp_path)
    store.write_npz(result.path / "problem.npz", {"X": X, "y": y})
    final = store.read_npz(result.path / "final.npz")
    store.write_npz(result.path / "final.npz", {**final, "end_to_end": np.asarray(beta, float)})
    record = registry.PROBLEM_RECORDS["least_squares"]
    monkeypatch.setitem(registry.PROBLEM_RECORDS, "least_squares", dataclasses.replace(record, classification=True))
    return result.path


@pytest.mark.parametrize("target", ["linf", "l2"])
def test_explain_ranks_the_direction_training_converged_to_first(tmp_path, monkeypatch, capsys, target):
    """β = ŵ_target + a perturbation at angle ε: by the triangle inequality for angles every other
    direction q is at ≥ ∠(ŵ_target, ŵ_q) − ε, so it ranks first when the oracles are > 2ε apart."""
    from implicit_bias.analysis.explain import explain
    from implicit_bias.cli import main

    X, y = _separable(11, 15, 6)  # oracles 0.30 (ℓ2, ℓ1), 0.58 (ℓ2, ℓ∞), 0.63 (ℓ1, ℓ∞) rad apart
    oracles = {p: mm.max_margin(X, y, p).w for p in ("l2", "l1", "linf")}
    rng = np.random.default_rng(1)
    beta = oracles[target] + 1e-3 * np.linalg.norm(oracles[target]) * rng.normal(size=6) / np.sqrt(6)
    eps = mm.angle(beta, oracles[target])
    assert all(mm.angle(oracles[target], w) > 2 * eps for p, w in oracles.items() if p != target)
    run_dir = _classification_run_dir(tmp_path, monkeypatch, X, y, 7.0 * beta)  # the scale is irrelevant
    report = explain(run_dir)
    assert report["task"] == "classification"
    names = [r["baseline"] for r in report["ranking"]]
    assert names[0] == f"max_margin_{target}" and sorted(names) == sorted(f"max_margin_{p}" for p in oracles)
    first = report["ranking"][0]
    assert first["angle"] == pytest.approx(eps, rel=1e-6)
    for r in report["ranking"]:  # no direction beats the max margin of its own norm
        assert r["ratio"] <= 1 + 1e-9
        assert r["max_margin"] == pytest.approx(1 / mm.norm_value(oracles[r["norm"]], r["norm"]), rel=1e-9)
        assert r["margin"] == pytest.approx(mm.normalized_margin(X, y, beta, r["norm"]), rel=1e-9)
    assert (run_dir / "baselines" / f"max_margin_{target}.npz").is_file()  # cached
    assert main(["explain", str(run_dir)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    rows = [line for line in lines if line.split() and line.split()[0].isdigit()]
    assert len(rows) == 3 and rows[0].split()[1] == f"max_margin_{target}"
    assert f"closest to max_margin_{target}" in out


def test_fourier_direction_is_ranked_for_linear_conv_models_only(tmp_path):
    from implicit_bias.analysis.explain_margin import applicable_norms, margin_report
    from implicit_bias.rundir import files as store

    assert applicable_norms("linear") == ("l2", "l1", "linf")
    assert applicable_norms("linear_conv") == ("l2", "l1", "linf", "fourier_l1")
    d = 8
    j = np.arange(d)
    x = np.cos(2 * np.pi * j / d) + 0.5 * np.cos(6 * np.pi * j / d) + 0.3
    rng = np.random.default_rng(0)
    X = np.vstack([x, x + 0.1 * rng.normal(size=(5, d))])
    y = np.ones(6)
    store.write_npz(tmp_path / "problem.npz", {"X": X, "y": y})
    beta = mm.max_margin_fourier_l1(X, y).w
    report = margin_report(tmp_path, beta, "linear_conv")
    assert report["ranking"][0]["baseline"] == "max_margin_fourier_l1"
    assert report["ranking"][0]["angle"] < 1e-6
    assert len(report["ranking"]) == 4


def test_explain_of_a_linear_conv_run_adds_the_fourier_direction(tmp_path, toy_classification):
    """Plumbing only: a linear_conv run gets four rows, Fourier-ℓ1 among them, and the normalized
    margins never exceed their oracles'. Which direction ranks first after a short run is not asserted:
    the directions converge at a logarithmic rate (that is the linear-conv-fourier reproduction)."""
    import implicit_bias as ib
    from implicit_bias.analysis.explain import explain

    run = ib.run({"problem": {"kind": toy_classification, "n_samples": 6, "n_features": 8},
                  "model": {"kind": "linear_conv", "depth": 2, "init_scale": 0.1},
                  "trainer": {"kind": "gd", "lr": 0.5, "steps": 400, "log_every": 200}}, out=tmp_path)
    rows = explain(run.path)["ranking"]
    assert sorted(r["norm"] for r in rows) == sorted(mm.NORMS)
    assert all(r["ratio"] <= 1 + 1e-9 for r in rows)
    assert [r["angle"] for r in rows] == sorted(r["angle"] for r in rows)


def test_explain_says_when_two_oracles_are_the_same_direction(tmp_path):
    """With n = d points in general position and all margins tight, the ℓ2 SVM and the ℓ∞ optimum can be
    the same vertex: explain must say that the ranking between them means nothing (and not say it
    for distinct directions)."""
    from implicit_bias.analysis.explain_margin import margin_report
    from implicit_bias.rundir import files as store

    X = np.eye(2)  # ŵ = (1, 1) for every norm: each constraint w_i ≥ 1 is tight at the optimum
    y = np.ones(2)
    store.write_npz(tmp_path / "problem.npz", {"X": X, "y": y})
    report = margin_report(tmp_path, np.array([1.0, 1.0]), "linear")
    assert set(report["same_direction_as_closest"]) == {"max_margin_l1", "max_margin_l2", "max_margin_linf"} - {
        report["ranking"][0]["baseline"]}
    assert "the oracles coincide" in report["verdict"]
    other = tmp_path / "other"
    other.mkdir()
    X = np.random.default_rng(0).normal(size=(3, 6))  # its three oracles are 19°, 25° and 40° apart
    store.write_npz(other / "problem.npz", {"X": X, "y": np.array([1.0, -1.0, 1.0])})
    distinct = margin_report(other, np.ones(6), "linear")
    assert distinct["same_direction_as_closest"] == [] and "coincide" not in distinct["verdict"]
