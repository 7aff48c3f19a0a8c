"""Unit tests of the problem generators and the model parameterizations (float64)."""

from __future__ import annotations

import itertools
import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import implicit_bias  # noqa: F401  (switches on float64)
from implicit_bias.settings import end_to_end_shape, resolve_section, section_settings
from implicit_bias.keys import named_key
from implicit_bias.metrics import balancedness
from implicit_bias.core.models import make_model
from implicit_bias.core.problems import make_problem
from implicit_bias.execution.single import Experiment, as_config

LS = {"kind": "least_squares", "n_samples": 12, "n_features": 30}
MC = {"kind": "matrix_completion", "n_rows": 7, "n_cols": 9, "rank": 2, "n_obs": 25, "target_norm": 5.0}


def _resolved(problem: dict, model: dict | None = None, **rest) -> dict:
    return as_config({"seed": rest.pop("seed", 0), "problem": dict(problem),
                      "model": dict(model or {"kind": "linear"}), **rest})


_PROBLEMS: dict[str, object] = {}


def _problem(problem: dict, seed: int = 0):
    """make_problem, memoized: generation runs eagerly and every new shape costs compilations."""
    key = json.dumps([problem, seed], sort_keys=True)
    if key not in _PROBLEMS:
        _PROBLEMS[key] = make_problem(section_settings("problem", _resolved(problem)["problem"]), seed)
    return _PROBLEMS[key]


def _init(problem: dict, model: dict, seed: int = 0):
    """(model, params0) as Experiment.build makes them, without generating the problem data
    (every new array shape costs eager compilations; the model only needs the shape)."""
    cfg = _resolved(problem, model, seed=seed)
    settings = section_settings("model", cfg["model"])
    model = make_model(settings, end_to_end_shape(cfg["problem"]))
    return model, model.init(named_key(seed, "init"), settings, cfg["dtype"])


# --------------------------------------------------------------------------- problems

def test_orthogonal_design_has_gram_matrix_n_samples_identity():
    problem = _problem({**LS, "n_samples": 40, "n_features": 10, "design": "orthogonal"})
    X = np.asarray(problem.X)
    assert X.shape == (40, 10)
    # QR in float64: orthonormality holds to ~1e-15, times n = 40.
    np.testing.assert_allclose(X.T @ X, 40 * np.eye(10), rtol=0, atol=1e-12)
    gaussian = np.asarray(_problem({**LS, "n_samples": 40, "n_features": 10}).X)
    assert np.abs(gaussian.T @ gaussian - 40 * np.eye(10)).max() > 1.0  # negative control


def test_normalized_gaussian_design_rescales_the_gaussian_columns_to_norm_sqrt_n():
    normalized = np.asarray(_problem({**LS, "design": "normalized_gaussian"}).X)
    gaussian = np.asarray(_problem(LS).X)
    # every column has norm √n (one division, rounding ~1e-16 relative) ...
    np.testing.assert_allclose(np.linalg.norm(normalized, axis=0), np.sqrt(12), rtol=1e-14)
    # ... and is a positive multiple of the same Gaussian column (same key, same draw)
    scale = normalized / gaussian
    np.testing.assert_allclose(scale, np.broadcast_to(scale[0], scale.shape), rtol=1e-12)
    assert np.all(scale > 0)
    assert np.abs(np.linalg.norm(gaussian, axis=0) - np.sqrt(12)).max() > 0.1  # negative control


@pytest.mark.parametrize("sparsity", [1, 5, 30])
def test_sparse_target_has_exactly_sparsity_nonzeros(sparsity):
    problem = _problem({**LS, "target": "sparse", "sparsity": sparsity})
    beta = np.asarray(problem.ground_truth)
    assert beta.shape == (30,)
    assert np.count_nonzero(beta) == sparsity
    np.testing.assert_allclose(np.asarray(problem.targets), np.asarray(problem.X) @ beta, atol=1e-12)


def test_dense_target_has_no_zero():
    assert np.count_nonzero(np.asarray(_problem(LS).ground_truth)) == 30


@pytest.mark.parametrize("n_rows,n_cols,n_obs", [(7, 9, 25), (7, 9, 63), (9, 7, 63)])
def test_completion_indices_are_unique_sorted_in_range(n_rows, n_cols, n_obs):
    problem = _problem({**MC, "n_rows": n_rows, "n_cols": n_cols, "n_obs": n_obs})
    rows, cols = np.asarray(problem.rows), np.asarray(problem.cols)
    assert rows.shape == cols.shape == (n_obs,)
    assert np.issubdtype(rows.dtype, np.integer) and np.issubdtype(cols.dtype, np.integer)
    assert rows.min() >= 0 and rows.max() < n_rows and cols.min() >= 0 and cols.max() < n_cols
    flat = rows.astype(np.int64) * n_cols + cols
    assert np.all(np.diff(flat) > 0)  # strictly increasing: sorted and unique
    W_star = np.asarray(problem.ground_truth)
    np.testing.assert_array_equal(np.asarray(problem.targets), W_star[rows, cols])  # noise = 0
    assert np.linalg.matrix_rank(W_star) == MC["rank"]
    assert np.linalg.norm(W_star) == pytest.approx(MC["target_norm"], rel=1e-12)


def test_completion_noise_is_added_to_observed_values():
    clean = _problem(MC)
    noisy = _problem({**MC, "noise": 0.1})
    np.testing.assert_array_equal(np.asarray(clean.rows), np.asarray(noisy.rows))
    np.testing.assert_array_equal(np.asarray(clean.ground_truth), np.asarray(noisy.ground_truth))
    diff = np.asarray(noisy.targets) - np.asarray(clean.targets)
    assert 0 < np.abs(diff).max() < 1.0


ALL_PROBLEMS = [
    {**LS},
    {**LS, "n_samples": 40, "n_features": 10, "design": "orthogonal"},
    {**LS, "target": "sparse", "noise": 0.3},
    {**MC},
    {**MC, "noise": 0.2},
    {"kind": "matrix_sensing", "n_rows": 7, "n_cols": 9, "n_measurements": 15},
    {"kind": "matrix_sensing", "n_rows": 5, "n_cols": 5, "n_measurements": 15, "measurements": "symmetric_gaussian"},
    {"kind": "matrix_sensing", "n_rows": 5, "n_cols": 5, "n_measurements": 15, "measurements": "commuting"},
    {"kind": "razin_2x2"},
    {"kind": "teacher_student", "n_samples": 15, "n_features": 6, "n_test": 20, "teacher_widths": [4]},
    {"kind": "dataset", "name": "diabetes"},
    {"kind": "ratings"},  # the path is filled in with a small file written by the test
]
PROBLEM_IDS = ["ls-gaussian", "ls-orthogonal", "ls-sparse-noisy", "completion", "completion-noisy",
               "sensing-gaussian", "sensing-symmetric", "sensing-commuting", "razin_2x2", "teacher_student",
               "dataset-diabetes", "ratings"]


def _ratings_file(tmp_path):
    """A MovieLens-style file: 'user item rating timestamp', sparse non-contiguous ids."""
    rng = np.random.default_rng(0)
    pairs = [(u, i) for u in (3, 10, 42, 7, 99) for i in (5, 1, 8, 20) if rng.random() < 0.7]
    path = tmp_path / "ratings.dat"
    path.write_text("".join(f"{u} {i} {rng.integers(1, 6)} 97000{k}\n" for k, (u, i) in enumerate(pairs)))
    return str(path)


@pytest.mark.parametrize("spec", ALL_PROBLEMS, ids=PROBLEM_IDS)
def test_measure_and_adjoint_are_adjoint(spec, tmp_path):
    if spec["kind"] == "ratings":
        spec = {**spec, "path": _ratings_file(tmp_path)}
    problem = _problem(spec)
    rng = np.random.default_rng(1)
    for _ in range(3):
        W = jnp.asarray(rng.normal(size=problem.shape))
        r = jnp.asarray(rng.normal(size=(problem.n_observations,)))
        q = {k: np.asarray(v) for k, v in _adjoint_quantities(problem, W, r).items()}
        # both sides are sums of O(m·size) products of O(1) numbers: 1e-12 relative is ~1e4 ε
        assert float(q["<AW, r>"]) == pytest.approx(float(q["<W, A*r>"]), rel=1e-12, abs=1e-12)
        # the adjoint is the transpose of the linear map measure: equal to its VJP
        np.testing.assert_allclose(q["A*r"], q["vjp"], rtol=1e-12, atol=1e-12)
        # loss convention: mean of ½(pred − target)², so ∇L = 𝒜*(𝒜W − y)/m
        assert float(q["loss"]) == pytest.approx(float(q["mean half square"]), rel=1e-14)
        np.testing.assert_allclose(q["grad"], q["A*res/m"], rtol=1e-12, atol=1e-14)


@eqx.filter_jit
def _adjoint_quantities(problem, W, r):
    """Everything the adjoint test compares, in one compiled call (eager ops compile per shape)."""
    _, vjp = jax.vjp(problem.measure, W)
    residual = problem.measure(W) - problem.targets
    return {"<AW, r>": jnp.vdot(problem.measure(W), r), "<W, A*r>": jnp.vdot(W, problem.adjoint(r)),
            "A*r": problem.adjoint(r), "vjp": vjp(r)[0], "loss": problem.loss(W),
            "mean half square": 0.5 * jnp.mean(residual**2), "grad": jax.grad(problem.loss)(W),
            "A*res/m": problem.adjoint(residual) / problem.n_observations}


def test_sensing_matrices_have_the_advertised_structure():
    sym = _problem({"kind": "matrix_sensing", "n_rows": 5, "n_cols": 5, "n_measurements": 15,
                    "measurements": "symmetric_gaussian"})
    A = np.asarray(sym.A)
    np.testing.assert_allclose(A, np.swapaxes(A, 1, 2), atol=0)
    com = _problem({"kind": "matrix_sensing", "n_rows": 5, "n_cols": 5, "n_measurements": 15,
                    "measurements": "commuting"})
    A = np.asarray(com.A)
    for i, j in itertools.combinations(range(4), 2):
        np.testing.assert_allclose(A[i] @ A[j], A[j] @ A[i], atol=1e-12)
    for p in (sym, com):  # PSD rank-2 ground truth for symmetric measurements
        eig = np.linalg.eigvalsh(np.asarray(p.ground_truth))
        assert eig.min() > -1e-12 and np.sum(eig > 1e-10) == 2


def test_problem_data_depends_only_on_seed_and_problem_table():
    problem = dict(MC)
    variants = [
        {"model": {"kind": "linear"}},
        {"model": {"kind": "deep_matrix", "depth": 4, "init": "orthogonal", "init_scale": 0.5}},
        {"model": {"kind": "diagonal", "form": "product"}},
        {"model": {"kind": "deep_matrix"}, "trainer": {"kind": "sgd", "batch_size": 3, "lr": 0.01}},
        {"model": {"kind": "deep_matrix"}, "trainer": {"kind": "adam"}, "penalty": {"kind": "nuclear", "weight": 0.1}},
        {"model": {"kind": "deep_matrix"}, "trainer": {"kind": "flow"}, "penalty": {"kind": "l2", "weight": 1.0}},
    ]
    arrays = [Experiment.build(as_config({"seed": 5, "problem": dict(problem), **v})).objective.problem.arrays()
              for v in variants]
    for other in arrays[1:]:
        assert other.keys() == arrays[0].keys()
        for name in arrays[0]:
            np.testing.assert_array_equal(other[name], arrays[0][name])
    # the same model under different trainers/penalties also starts from the same parameters
    p_a = Experiment.build(as_config({"seed": 5, "problem": dict(problem), **variants[3]})).params0
    p_b = Experiment.build(as_config({"seed": 5, "problem": dict(problem), **variants[4]})).params0
    for name in p_a:
        np.testing.assert_array_equal(np.asarray(p_a[name]), np.asarray(p_b[name]))
    # negative control: another seed gives other data
    other_seed = Experiment.build(as_config({"seed": 6, "problem": dict(problem), **variants[0]}))
    assert not np.array_equal(other_seed.objective.problem.arrays()["rows"], arrays[0]["rows"])


def test_razin_2x2_data():
    problem = _problem({"kind": "razin_2x2"})
    assert problem.shape == (2, 2)
    np.testing.assert_array_equal(np.asarray(problem.targets), [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(np.asarray(problem.rows), [0, 1, 1])
    np.testing.assert_array_equal(np.asarray(problem.cols), [1, 0, 1])
    assert problem.ground_truth is None
    W = jnp.array([[7.0, 1.0], [1.0, 0.0]])
    assert float(problem.loss(W)) == 0.0
    assert np.isnan(float(problem.test_error(W)))
    # W[0, 0] is unobserved: the loss does not depend on it
    assert float(problem.loss(W.at[0, 0].set(-3.0))) == 0.0
    assert float(jax.grad(problem.loss)(W + 0.1)[0, 0]) == 0.0


# --------------------------------------------------------------------------- models

def test_linear_init():
    model, params = _init(LS, {"kind": "linear"})
    assert np.all(np.asarray(model.end_to_end(params)) == 0.0)
    _, small = _init(LS, {"kind": "linear", "init_scale": 0.3})
    _, large = _init(LS, {"kind": "linear", "init_scale": 0.6})
    W = np.asarray(small["W"])
    np.testing.assert_allclose(2 * W, np.asarray(large["W"]), rtol=1e-15)  # the same draw, scaled
    assert np.all(W != 0) and 0.15 < W.std() < 0.45  # 30 N(0, 0.3²) draws: std error ≈ 13 %


BALANCED_CASES = [  # (problem shape, depth, width)
    ((8, 6), 3, None),
    ((8, 6), 3, [5, 7]),  # hidden 5 < min(8, 6): the rank-5 truncation of W0
    ((1, 12), 3, None),  # a vector problem is the 1×d case
]


def _matrix_problem(shape):
    if shape[0] == 1:
        return {"kind": "least_squares", "n_samples": 5, "n_features": shape[1]}
    return {"kind": "matrix_sensing", "n_rows": shape[0], "n_cols": shape[1], "rank": 1, "n_measurements": 4}


@pytest.mark.parametrize("shape,depth,width", BALANCED_CASES)
def test_balanced_init_is_balanced_with_rank_min_dims(shape, depth, width):
    scale = 0.7
    model, params = _init(_matrix_problem(shape), {"kind": "deep_matrix", "depth": depth, "init": "balanced",
                                                   "init_scale": scale, "width": width})
    factors = model.factors(params)
    assert len(factors) == depth
    size = max(float(jnp.sum(W**2)) for W in factors)
    # W_{j+1}ᵀW_{j+1} and W_jW_jᵀ are both Σ^{2/N} (zero-padded) up to rounding: 1e-12 relative
    assert float(balancedness(factors)) <= 1e-12 * size
    E = np.asarray(model.end_to_end(params)).reshape(shape)
    r = min(model.dims)
    s = np.linalg.svd(E, compute_uv=False)
    assert np.sum(s > 1e-10 * s[0]) == r
    # Procedure 1 of Arora et al. (2019, ICLR): W0 has N(0, scale²) entries, drawn from the first
    # of the depth split init keys, and the product is its best rank-r approximation (W0 itself
    # when every hidden width is >= min(n_rows, n_cols)).
    W0 = np.asarray(scale * jax.random.normal(jax.random.split(named_key(0, "init"), depth)[0], shape))
    U, s0, Vt = np.linalg.svd(W0, full_matrices=False)
    np.testing.assert_allclose(E, (U[:, :r] * s0[:r]) @ Vt[:r], rtol=0, atol=1e-12)
    if r == min(shape):
        np.testing.assert_allclose(E, W0, rtol=0, atol=1e-12)


def test_gaussian_init_is_not_balanced():  # negative control of the balancedness check
    model, params = _init(_matrix_problem((8, 6)), {"kind": "deep_matrix", "depth": 3, "init": "gaussian",
                                                    "init_scale": 0.7})
    assert float(balancedness(model.factors(params))) > 0.1


@pytest.mark.parametrize("shape,depth,width", [((6, 6), 3, None), ((6, 6), 3, [9, 7]), ((5, 7), 3, 8),
                                               ((7, 5), 2, [7])])
def test_identity_init(shape, depth, width):
    scale = 1.3
    model, params = _init(_matrix_problem(shape), {"kind": "deep_matrix", "depth": depth, "init": "identity",
                                                   "init_scale": scale, "width": width})
    E = np.asarray(model.end_to_end(params))
    np.testing.assert_allclose(E, scale**depth * np.eye(*shape), rtol=1e-14, atol=0)
    if shape[0] == shape[1]:
        assert np.linalg.det(E) > 0
    for W in model.factors(params):  # each factor is scale · (rectangular) identity
        np.testing.assert_array_equal(np.asarray(W), scale * np.eye(*W.shape))


@pytest.mark.parametrize("shape,depth,width", [((6, 7), 3, [5, 9])])
def test_orthogonal_init_factors_have_singular_values_init_scale(shape, depth, width):
    scale = 0.4
    model, params = _init(_matrix_problem(shape), {"kind": "deep_matrix", "depth": depth, "init": "orthogonal",
                                                   "init_scale": scale, "width": width})
    factors = model.factors(params)
    for W in factors:
        s = np.linalg.svd(np.asarray(W), compute_uv=False)
        assert s.shape == (min(W.shape),)
        np.testing.assert_allclose(s, scale, rtol=1e-13)
    # not all the same matrix: independent Haar draws
    assert not np.allclose(np.asarray(factors[0])[:4, :4], np.asarray(factors[1])[:4, :4])


@pytest.mark.parametrize("form,power", [("product", 2), ("difference", 2), ("difference", 3), ("difference", 5)])
@pytest.mark.parametrize("shape", ["uniform", [0.5, 1.0, 2.0, 3.0, 0.1, 4.0]])
def test_diagonal_init(form, power, shape):
    alpha = 0.3
    model, params = _init({**LS, "n_features": 6}, {"kind": "diagonal", "form": form, "power": power,
                                                    "alpha": alpha, "shape": shape})
    base = np.ones(6) if shape == "uniform" else np.asarray(shape)
    np.testing.assert_allclose(np.asarray(params["u"]), alpha * base, rtol=1e-15)
    np.testing.assert_allclose(np.asarray(params["v"]), alpha * base, rtol=1e-15)
    beta = np.asarray(model.end_to_end(params))
    if form == "difference":
        assert np.all(beta == 0.0)
    else:
        np.testing.assert_allclose(beta, alpha**2 * base**2, rtol=1e-14)


def test_diagonal_model_on_a_matrix_problem_reshapes_the_shape():
    shape = list(np.arange(1.0, 13.0))
    model, params = _init({**MC, "n_rows": 3, "n_cols": 4, "rank": 1, "n_obs": 5},
                          {"kind": "diagonal", "form": "product", "alpha": 2.0, "shape": shape})
    np.testing.assert_allclose(np.asarray(params["u"]), 2.0 * np.arange(1.0, 13.0).reshape(3, 4))
    np.testing.assert_allclose(np.asarray(model.end_to_end(params)), 4.0 * np.arange(1.0, 13.0).reshape(3, 4) ** 2)


@pytest.mark.parametrize("width", [None, 8])
def test_symmetric_identity_init_gives_alpha_squared_identity(width):
    alpha = 0.6
    model, params = _init({"kind": "matrix_sensing", "n_rows": 5, "n_cols": 5, "n_measurements": 4},
                          {"kind": "symmetric", "init": "identity", "init_scale": alpha, "width": width})
    assert params["U"].shape == (5, width or 5)
    np.testing.assert_allclose(np.asarray(model.end_to_end(params)), alpha**2 * np.eye(5), rtol=1e-15)


def test_symmetric_gaussian_init_is_psd():
    model, params = _init({"kind": "matrix_sensing", "n_rows": 5, "n_cols": 5, "n_measurements": 4},
                          {"kind": "symmetric", "init_scale": 0.6, "width": 3})
    W = np.asarray(model.end_to_end(params))
    np.testing.assert_allclose(W, W.T, atol=0)
    eig = np.linalg.eigvalsh(W)
    assert eig.min() > -1e-12 and np.sum(eig > 1e-10) == 3


def test_make_model_dims_convention():
    # dims = (n_cols, h_1, …, h_{N−1}, n_rows), factor W_j of shape (dims[j], dims[j−1])
    settings = resolve_section("model", {"kind": "deep_matrix", "depth": 3, "width": [4, 5], "init": "gaussian",
                                         "init_scale": 1.0})
    model = make_model(settings, (7, 3))
    assert model.dims == (3, 4, 5, 7)
    params = model.init(named_key(0, "init"), settings, jnp.float64)
    assert [tuple(W.shape) for W in model.factors(params)] == [(4, 3), (5, 4), (7, 5)]
    W1, W2, W3 = (np.asarray(W) for W in model.factors(params))
    np.testing.assert_allclose(np.asarray(model.end_to_end(params)), W3 @ W2 @ W1, rtol=1e-13)
