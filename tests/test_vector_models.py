"""The vector models (core/vector_models.py: ``deep_linear``, ``linear_conv``) and ``relu2`` for mlp.

Each check is an identity that a wrong convention breaks: the deep linear end to end against the
explicit product, the convolutional network against its Fourier identity, against an O(D²)
circular-convolution loop and against Gunasekar et al. (2018)'s layer-wise forward pass, gradients
against finite differences, and the homogeneity order of a relu2 network against its scaling.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from implicit_bias import cli
from implicit_bias.core.models import ACTIVATIONS, Linear, make_model
from implicit_bias.core.objective import Objective
from implicit_bias.core.penalties import make_penalty
from implicit_bias.core.problems import make_problem
from implicit_bias.core.vector_models import DeepLinear, LinearConv
from implicit_bias.execution.single import run
from implicit_bias.settings import ConfigError, resolve, run_dir_name
from implicit_bias.settings.resolution import resolve_section
from implicit_bias.sweeps.sweep import execute, expand

from test_batched import assert_same_run_dir

KEY = jax.random.PRNGKey(0)


def _model(table, shape):
    settings = resolve_section("model", table)
    return make_model(settings, shape), settings


def _conv_loop(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a ⊛ b)[j] = Σ_k a[k] b[(j − k) mod D], term by term."""
    D = len(a)
    return np.array([sum(a[k] * b[(j - k) % D] for k in range(D)) for j in range(D)])


def _unitary_dft(v: np.ndarray) -> np.ndarray:
    """F v with F_jk = exp(−2πi jk/D)/√D, as an explicit matrix (independent of jnp.fft)."""
    D = len(v)
    j, k = np.meshgrid(np.arange(D), np.arange(D), indexing="ij")
    return (np.exp(-2j * np.pi * j * k / D) / np.sqrt(D)) @ v


def _fourier_identity_error(beta: np.ndarray, filters: list[np.ndarray]) -> float:
    """max_k |(Fβ)_k − Π_l (Fw_l)_k|, relative to max |Π_l (Fw_l)_k|."""
    product = np.prod([_unitary_dft(w) for w in filters], axis=0)
    return float(np.max(np.abs(_unitary_dft(beta) - product)) / np.max(np.abs(product)))


# --------------------------------------------------------------------------- deep_linear

def test_deep_linear_is_the_transposed_product_of_gaussian_factors():
    d, widths, s = 7, [5, 4, 3], 0.3
    model, settings = _model({"kind": "deep_linear", "widths": widths, "init_scale": s}, (d,))
    assert isinstance(model, DeepLinear) and model.depth == 4 and model.homogeneity_order() == 4
    params = model.init(KEY, settings, "float64")
    shapes = [params[f"W{j}"].shape for j in range(1, 5)]
    assert shapes == [(5, 7), (4, 5), (3, 4), (1, 3)]
    W = [np.asarray(params[f"W{j}"]) for j in range(1, 5)]
    explicit = (W[3] @ W[2] @ W[1] @ W[0]).T  # (W_N ⋯ W_1)ᵀ
    np.testing.assert_allclose(np.asarray(model.end_to_end(params)), explicit[:, 0], rtol=1e-13, atol=1e-15)
    assert model.end_to_end(params).shape == (d,)
    # every entry N(0, s²): a 400 x 300 factor's sample std within 2% of s (std error 0.4%)
    big, big_settings = _model({"kind": "deep_linear", "widths": [400], "init_scale": s}, (300,))
    entries = np.asarray(big.init(KEY, big_settings, "float64")["W1"])
    assert abs(entries.std() / s - 1) < 0.02 and abs(entries.mean()) < 0.02 * s


def test_deep_linear_default_width_is_d_and_an_integer_is_one_layer():
    assert _model({"kind": "deep_linear"}, (6,))[0].widths == (6,)
    assert _model({"kind": "deep_linear", "widths": 9}, (6,))[0].widths == (9,)


def test_deep_linear_depth_one_is_the_linear_model(tmp_path):
    """widths = []: β = W_1ᵀ with W_1(0) the linear model's W(0) (same key, same numbers), so a GD run
    is the linear model's run, step for step."""
    d, s = 9, 0.2
    model, settings = _model({"kind": "deep_linear", "widths": [], "init_scale": s}, (d,))
    linear, linear_settings = _model({"kind": "linear", "init_scale": s}, (d,))
    assert isinstance(linear, Linear) and model.depth == 1
    np.testing.assert_array_equal(np.asarray(model.end_to_end(model.init(KEY, settings, "float64"))),
                                  np.asarray(linear.init(KEY, linear_settings, "float64")["W"]))
    base = {"name": "d1", "problem": {"kind": "least_squares", "n_samples": 6, "n_features": d},
            "trainer": {"steps": 60, "log_every": 20, "lr": 0.1}}
    deep = run({**base, "model": {"kind": "deep_linear", "widths": [], "init_scale": s}})
    flat = run({**base, "model": {"kind": "linear", "init_scale": s}})
    np.testing.assert_allclose(deep.end_to_end, flat.end_to_end, rtol=1e-12)
    np.testing.assert_allclose(deep.trajectory["loss"], flat.trajectory["loss"], rtol=1e-12)
    assert deep.trajectory["loss"].iloc[-1] < 0.5 * deep.trajectory["loss"].iloc[0]  # it did move


def test_deep_linear_empty_widths_resolve_but_other_bad_widths_are_named():
    resolve({"problem": {"kind": "least_squares"}, "model": {"kind": "deep_linear", "widths": []}})
    with pytest.raises(ConfigError) as err:
        resolve({"problem": {"kind": "least_squares"}, "model": {"kind": "deep_linear", "widths": [3, 0]}})
    assert err.value.key == "model.widths[1]"
    with pytest.raises(ConfigError) as err:  # [] stays refused where it was (mlp)
        resolve({"problem": {"kind": "least_squares"}, "model": {"kind": "mlp", "widths": []}})
    assert err.value.key == "model.widths"


# --------------------------------------------------------------------------- linear_conv

@pytest.mark.parametrize("L", [1, 2, 3])
def test_linear_conv_fourier_identity_and_convolution_loop(L):
    D = 8
    model, settings = _model({"kind": "linear_conv", "depth": L, "init_scale": 1.0}, (D,))
    assert isinstance(model, LinearConv) and model.circular_convolution is True
    assert model.homogeneity_order() == L
    params = model.init(jax.random.PRNGKey(L), settings, "float64")
    filters = [np.asarray(params[f"w{l}"]) for l in range(1, L + 1)]
    beta = np.asarray(model.end_to_end(params))
    assert beta.shape == (D,) and beta.dtype == np.float64
    assert _fourier_identity_error(beta, filters) < 1e-13
    # β = D^{−(L−1)/2} · w_L ⊛ ⋯ ⊛ w_1 by the O(D²) loop
    unnormalized = filters[0]
    for w in filters[1:]:
        unnormalized = _conv_loop(w, unnormalized)
    np.testing.assert_allclose(beta, D ** (-(L - 1) / 2) * unnormalized, rtol=1e-12, atol=1e-14)
    if L > 1:  # negative control: without the factor D^{−(L−1)/2} the identity is off by D^{(L−1)/2} − 1
        assert _fourier_identity_error(unnormalized, filters) > 0.5


def test_linear_conv_is_gunasekar_et_al_forward_pass_with_convolution_not_correlation():
    """Their network: h_0 = x, h_l[j] = D^{−1/2} Σ_k w_l[k] h_{l−1}[(j + k) mod D], f(x) = ⟨h_{L−1}, w_L⟩.
    It equals ⟨x, β⟩; β built with circular cross-correlation of the filters instead does not."""
    D, L = 7, 3
    model, settings = _model({"kind": "linear_conv", "depth": L, "init_scale": 1.0}, (D,))
    params = model.init(KEY, settings, "float64")
    w = [np.asarray(params[f"w{l}"]) for l in range(1, L + 1)]
    x = np.random.default_rng(0).standard_normal(D)
    h = x
    for l in range(L - 1):
        h = np.array([sum(w[l][k] * h[(j + k) % D] for k in range(D)) for j in range(D)]) / np.sqrt(D)
    f = h @ w[L - 1]
    beta = np.asarray(model.end_to_end(params))
    assert abs(f - x @ beta) < 1e-12 * max(1.0, abs(f))

    def correlate(a, b):
        return np.array([sum(a[k] * b[(j + k) % D] for k in range(D)) for j in range(D)])

    wrong = correlate(w[2], correlate(w[1], w[0])) / D
    assert abs(f - x @ wrong) > 1e-3 * max(1.0, abs(f))


def test_linear_conv_float32_and_even_odd_lengths():
    for D in (5, 6):
        model, settings = _model({"kind": "linear_conv", "depth": 2}, (D,))
        params = model.init(KEY, settings, "float32")
        beta = model.end_to_end(params)
        assert beta.dtype == jnp.float32 and beta.shape == (D,)
        filters = [np.asarray(params[f"w{l}"], np.float64) for l in (1, 2)]
        assert _fourier_identity_error(np.asarray(beta, np.float64), filters) < 1e-5


# --------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("table", [{"kind": "deep_linear", "widths": [4, 3], "init_scale": 0.7},
                                   {"kind": "linear_conv", "depth": 3, "init_scale": 0.7}],
                         ids=["deep_linear", "linear_conv"])
def test_gradient_of_the_loss_through_the_model_equals_finite_differences(table):
    problem = make_problem(resolve_section("problem", {"kind": "least_squares", "n_samples": 5, "n_features": 6}),
                           0, "float64")
    model, settings = _model(table, problem.shape)
    objective = Objective(problem=problem, model=model,
                          penalty=make_penalty(resolve_section("penalty", {"kind": "none"}), "float64"))
    params = model.init(KEY, settings, "float64")
    grad = jax.grad(objective)(params)
    rng = np.random.default_rng(1)
    direction = {k: jnp.asarray(rng.standard_normal(v.shape)) for k, v in params.items()}
    h = 1e-6
    shifted = lambda t: float(objective({k: params[k] + t * direction[k] for k in params}))  # noqa: E731
    finite = (shifted(h) - shifted(-h)) / (2 * h)
    analytic = float(sum(jnp.vdot(grad[k], direction[k]) for k in params))
    assert abs(finite - analytic) < 1e-7 * max(1.0, abs(analytic))
    assert abs(analytic) > 1e-3  # not a trivially zero gradient


# --------------------------------------------------------------------------- relu2

def test_relu2_values():
    z = jnp.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    np.testing.assert_array_equal(np.asarray(ACTIVATIONS["relu2"](z)), [0.0, 0.0, 0.0, 0.25, 9.0])


@pytest.mark.parametrize("activation, widths, K", [("relu2", [5, 4], 7), ("relu2", [6], 3), ("relu", [5, 4], 3)])
def test_bias_free_mlp_is_homogeneous_of_the_derived_order(activation, widths, K):
    """f(x; cθ) = c^K f(x; θ) with K = Σ_{j<L} p^j: 2^L − 1 for relu2 (p = 2), L for relu."""
    model, settings = _model({"kind": "mlp", "widths": widths, "activation": activation, "bias": False}, (4,))
    assert model.homogeneity_order() == K
    params = model.init(KEY, settings, "float64")
    X = jnp.asarray(np.random.default_rng(2).standard_normal((10, 4)))
    f = np.asarray(model.apply(params, X))
    assert np.max(np.abs(f)) > 1e-3
    for c in (0.5, 1.7):
        scaled = np.asarray(model.apply({k: c * v for k, v in params.items()}, X))
        np.testing.assert_allclose(scaled, c**K * f, rtol=1e-12, atol=1e-14)
        assert not np.allclose(scaled, c ** (K + 1) * f, rtol=1e-3)  # the order is exactly K


def test_mlp_with_bias_or_smooth_activation_has_no_homogeneity_order():
    assert _model({"kind": "mlp", "activation": "relu2", "bias": True}, (3,))[0].homogeneity_order() is None
    assert _model({"kind": "mlp", "activation": "tanh"}, (3,))[0].homogeneity_order() is None


# --------------------------------------------------------------------------- runs, checks, sweeps

def _toml(path, model_lines):
    path.write_text("name = \"vm\"\n[problem]\nkind = \"least_squares\"\nn_samples = 6\nn_features = 10\n"
                    f"[model]\n{model_lines}\n[trainer]\nsteps = 100\nlog_every = 50\nlr = 0.05\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("model_lines, names", [
    ('kind = "deep_linear"\nwidths = [8, 4]\ninit_scale = 0.4', ["W1", "W2", "W3"]),
    ('kind = "linear_conv"\ndepth = 3\ninit_scale = 0.5', ["w1", "w2", "w3"]),
    ('kind = "mlp"\nwidths = [8]\nactivation = "relu2"', ["W1", "W2"]),
], ids=["deep_linear", "linear_conv", "mlp-relu2"])
def test_cli_run_writes_final_end_to_end_of_shape_d(tmp_path, model_lines, names):
    config = _toml(tmp_path / "vm.toml", model_lines)
    assert cli.main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    (run_dir,) = (tmp_path / "out").iterdir()
    final = np.load(run_dir / "final.npz")
    assert sorted(set(final.files) - {"end_to_end", "end_to_end_init"}) == names
    if "mlp" not in model_lines:  # an mlp's end_to_end is its predictions on the 6 training inputs
        assert final["end_to_end"].shape == (10,)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "max_steps" and np.isfinite(summary["final"]["loss"])


@pytest.mark.parametrize("kind", ["deep_linear", "linear_conv"])
@pytest.mark.parametrize("problem", [{"kind": "matrix_completion", "n_rows": 4, "n_cols": 4, "rank": 1, "n_obs": 8},
                                     {"kind": "matrix_sensing"}, {"kind": "razin_2x2"}],
                         ids=["completion", "sensing", "razin"])
def test_vector_models_refuse_matrix_problems_naming_model_kind(kind, problem):
    with pytest.raises(ConfigError) as err:
        resolve({"problem": problem, "model": {"kind": kind}})
    assert err.value.key == "model.kind" and kind in str(err.value) and "\n" not in str(err.value)


def test_vector_models_accept_every_vector_problem():
    for problem in ({"kind": "least_squares"}, {"kind": "teacher_student"}, {"kind": "dataset"}):
        for kind in ("deep_linear", "linear_conv"):
            resolve({"problem": problem, "model": {"kind": kind}})


def test_matrix_problem_error_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[problem]\nkind = "matrix_completion"\n[model]\nkind = "linear_conv"\n', encoding="utf-8")
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "model.kind" in err and len(err.splitlines()) == 1


def test_sweep_batch_on_over_seed_equals_single_runs_for_linear_conv(tmp_path):
    base = {"name": "lcb", "problem": {"kind": "least_squares", "n_samples": 6, "n_features": 10},
            "model": {"kind": "linear_conv", "depth": 2, "init_scale": 0.5},
            "trainer": {"steps": 200, "log_every": 50, "lr": 0.05}}
    sweep = expand(base, zipped={"seed": [0, 1, 2], "model.init_scale": [0.5, 0.5, 0.3]})
    together = execute(sweep, tmp_path / "batched", jobs=1, batch="on")
    apart = execute(sweep, tmp_path / "separate", jobs=1, batch="off")
    assert all(r.get("batch_size") == len(sweep.configs) for r in together.results)  # really one batch
    assert not any("batch_size" in r for r in apart.results)
    for cfg in sweep.configs:
        assert_same_run_dir(tmp_path / "batched" / run_dir_name(cfg), tmp_path / "separate" / run_dir_name(cfg))


@pytest.mark.parametrize("d", [1, 13])
@pytest.mark.parametrize("table, beta0", [({"kind": "diagonal", "form": "difference", "power": 2, "alpha": 0.5}, 0.0),
                                          ({"kind": "diagonal", "form": "difference", "power": 3, "alpha": 0.5}, 0.0),
                                          ({"kind": "diagonal", "form": "product", "alpha": 0.5}, 0.25)],
                         ids=["u2-v2", "u3-v3", "u*v"])
def test_diagonal_runs_on_a_vector_problem_of_any_dimension(d, table, beta0):
    """u^N − v^N and u ⊙ v with u(0) = v(0) = α: β(0) = 0 or α², and GD lowers the loss for any d."""
    model, settings = _model(table, (d,))
    np.testing.assert_array_equal(np.asarray(model.end_to_end(model.init(KEY, settings, "float64"))), np.full(d, beta0))
    assert model.homogeneity_order() == (2 if table["form"] == "product" else table["power"])
    result = run({"name": "dg", "problem": {"kind": "least_squares", "n_samples": 4, "n_features": d},
                  "model": table, "trainer": {"steps": 40, "log_every": 20, "lr": 0.05}})
    assert result.end_to_end.shape == (d,)
    assert result.trajectory["loss"].iloc[-1] < result.trajectory["loss"].iloc[0]
