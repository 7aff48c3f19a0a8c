"""The conventions of Arora, Cohen, Hu & Luo (2019)'s reference code (roosephu/deep_matrix_factorization),
available as options (docs/conventions.md): the end-to-end init scale, the loss without ½, the
mean squared error over all entries, GroupRMSprop stopped at a training loss — and that adding
these options left the defaults and the config hashes of existing configs unchanged."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config

import implicit_bias as ib
from implicit_bias import settings as config_mod
from implicit_bias.settings import ConfigError, config_hash, resolve, section_settings
from implicit_bias.keys import named_key
from implicit_bias.metrics import compute_metrics, mse_all_entries
from implicit_bias.core.models import make_model
from implicit_bias.core.problems import make_problem
from implicit_bias.execution.single import Experiment, as_config


def _deep(depth: int, width=None, **model) -> dict:
    return {"kind": "deep_matrix", "depth": depth, "width": width, "init": "gaussian", "init_scale": 1e-3,
            "init_convention": "factor", **model}


def _init(model_table: dict, shape: tuple[int, int], seed: int):
    settings = section_settings("model", model_table)
    model = make_model(settings, shape)
    return model, model.init(named_key(seed, "init"), settings, "float64")


# --------------------------------------------------------------------------- init_convention = "end_to_end"

@pytest.mark.parametrize("shape, depth, width", [((12, 12), 3, None), ((4, 6), 3, [9, 7]), ((10, 10), 2, None)],
                         ids=["square-depth3", "rectangular-widths", "square-depth2"])
def test_gaussian_init_has_the_closed_form_frobenius_norm_in_both_conventions(shape, depth, width):
    """E‖W_N⋯W_1‖_F² = d_0 Π_j d_j σ_j² (E[W_jᵀW_j] = d_j σ_j² I, d_j = rows of W_j): with
    end_to_end, σ_j² = s^{2/N}/d_j gives s²·n_cols; with factor, σ_j = s gives n_cols·Π_j(d_j s²).
    The mean of ‖W(0)‖_F² / (its expectation) over K seeds is 1 within 4 standard errors."""
    s, K = 0.05, 300
    model = make_model(section_settings("model", _deep(depth, width)), shape)
    dims = model.dims
    expected = {"end_to_end": s**2 * shape[1],
                "factor": shape[1] * math.prod(d * s**2 for d in dims[1:])}
    for convention, mean_square in expected.items():
        cfg = section_settings("model", _deep(depth, width, init_scale=s, init_convention=convention))
        ratios = np.asarray([np.sum(np.asarray(model.end_to_end(model.init(named_key(seed, "init"), cfg, "float64")))
                                    ** 2) / mean_square for seed in range(K)])
        se = ratios.std(ddof=1) / math.sqrt(K)
        assert abs(ratios.mean() - 1) <= 4 * se, (convention, ratios.mean(), se)
    # the two conventions are different scales here (so the check above can tell them apart)
    assert not 0.5 < expected["factor"] / expected["end_to_end"] < 2


def test_end_to_end_gaussian_factors_are_the_reference_std_times_the_same_draws():
    """Each factor is s^{1/N}/√(fan-out) times the unit-std draw: for n×n with width n, the
    reference's std init_scale^{1/N}·n^{-1/2} (main.py, init_model)."""
    n, depth, s = 8, 3, 1e-3
    _, e2e = _init(_deep(depth, init_scale=s, init_convention="end_to_end"), (n, n), 7)
    _, unit = _init(_deep(depth, init_scale=1.0), (n, n), 7)
    for name in unit:
        np.testing.assert_allclose(np.asarray(e2e[name]), s ** (1 / depth) / math.sqrt(n) * np.asarray(unit[name]),
                                   rtol=1e-15, atol=0)


def test_end_to_end_init_at_the_reference_size_passes_the_reference_assertion():
    """The reference asserts 0.8 ≤ ‖W(0)‖_F / (init_scale·√n) ≤ 1.2 for its 100x100 runs (main.py:80)."""
    n, s = 100, 1e-3
    for depth in (2, 3):
        for seed in range(3):
            model, params = _init(_deep(depth, init_scale=s, init_convention="end_to_end"), (n, n), seed)
            ratio = float(jnp.linalg.norm(model.end_to_end(params))) / (s * math.sqrt(n))
            assert 0.8 <= ratio <= 1.2, (depth, seed, ratio)


def test_end_to_end_identity_and_orthogonal_follow_the_reference_formulas():
    n, depth, s = 6, 3, 1e-2
    model, params = _init(_deep(depth, init="identity", init_scale=s, init_convention="end_to_end"), (n, n), 0)
    np.testing.assert_allclose(np.asarray(model.end_to_end(params)), s * np.eye(n), rtol=1e-14, atol=0)
    model, params = _init(_deep(depth, init="orthogonal", init_scale=s, init_convention="end_to_end"), (n, n), 0)
    sv = np.linalg.svd(np.asarray(model.end_to_end(params)), compute_uv=False)
    np.testing.assert_allclose(sv, s * math.sqrt(n), rtol=1e-12)  # (s√n)^{1/N} per factor, their formula
    model, params = _init(_deep(depth, init="balanced", init_scale=s, init_convention="end_to_end"), (n, n), 0)
    assert float(jnp.linalg.norm(model.end_to_end(params))) == pytest.approx(s * math.sqrt(n), rel=0.5)


def test_factor_convention_is_the_unchanged_default():
    base = tiny_config("completion")
    explicit = tiny_config("completion", model__init_convention="factor")
    a, b = Experiment.build(as_config(base)), Experiment.build(as_config(explicit))
    for name in a.params0:
        np.testing.assert_array_equal(np.asarray(a.params0[name]), np.asarray(b.params0[name]))
    # the default: every factor entry N(0, init_scale²), the same draws times init_scale
    cfg = as_config(base)
    _, unit = _init({**cfg["model"], "init_scale": 1.0}, (10, 10), cfg["seed"])
    for name in unit:
        np.testing.assert_allclose(np.asarray(a.params0[name]), 0.1 * np.asarray(unit[name]), rtol=1e-15, atol=0)


# --------------------------------------------------------------------------- problem.loss = "mse"

@pytest.mark.parametrize("base", ["completion", "sensing"])
def test_mse_loss_and_its_gradient_are_exactly_twice_half_mse(base):
    half = Experiment.build(as_config(tiny_config(base)))
    full = Experiment.build(as_config(tiny_config(base, problem__loss="mse")))
    params = half.params0
    residual = half.objective.problem.measure(half.objective.model.end_to_end(params)) - half.objective.problem.targets
    assert float(full.objective(params)) == 2 * float(half.objective(params))
    assert float(full.objective(params)) == pytest.approx(float(jnp.mean(residual**2)), rel=1e-15)
    g_half, g_full = jax.grad(half.objective)(params), jax.grad(full.objective)(params)
    for name in params:  # a factor 2 is exact in binary floating point
        np.testing.assert_array_equal(np.asarray(g_full[name]), 2 * np.asarray(g_half[name]))
    # minibatches keep the convention
    idx, W = jnp.arange(3), half.objective.model.end_to_end(params)
    assert float(full.objective.problem.take(idx).loss(W)) == 2 * float(half.objective.problem.take(idx).loss(W))


def test_loss_option_is_validated_and_only_for_generated_matrix_problems():
    with pytest.raises(ConfigError) as info:
        resolve(tiny_config("completion", problem__loss="l2"))
    assert info.value.key == "problem.loss"
    with pytest.raises(ConfigError) as info:
        resolve(tiny_config("least_squares", problem__loss="mse"))
    assert info.value.key == "problem.loss"
    with pytest.raises(ConfigError) as info:
        resolve(tiny_config("completion", model__init_convention="entries"))
    assert info.value.key == "model.init_convention"
    with pytest.raises(ConfigError) as info:
        resolve(tiny_config("least_squares", model__init_convention="end_to_end"))
    assert info.value.key == "model.init_convention"


def test_loss_column_and_stop_loss_use_the_chosen_convention():
    """With loss = "mse" the run stops at the first iterate whose MSE (no ½) is ≤ stop_loss, before
    updating it — the reference's rule (main.py:286, 328) — and the half-MSE run does not stop there."""
    stop = 1e-4
    trainer = {"kind": "group_rmsprop", "lr": 1e-2, "steps": 20000, "log_every": 50, "stop_loss": stop}
    cfg = tiny_config("completion", problem__loss="mse", trainer=trainer, model__init_convention="end_to_end",
                      model__init_scale=1e-2)
    result = ib.run(cfg)
    assert result.status == "converged"
    k = result.summary["converged_step"]
    assert result.trajectory["loss"].iloc[-1] <= stop
    before = ib.run({**cfg, "trainer": {**trainer, "steps": k - 1, "stop_loss": 0.0}})
    assert before.trajectory["loss"].iloc[-1] > stop
    experiment = Experiment.build(as_config(cfg))
    problem, model = experiment.objective.problem, experiment.objective.model
    W = model.end_to_end({name: jnp.asarray(v) for name, v in result.params.items()})
    assert result.trajectory["loss"].iloc[-1] == pytest.approx(
        float(jnp.mean((problem.measure(W) - problem.targets) ** 2)), rel=1e-12)


# --------------------------------------------------------------------------- test_mse_all_entries

def test_mse_over_all_entries_is_rel_fro_squared_times_norm_squared_over_entries():
    cfg = as_config(tiny_config("completion", problem__n_rows=6, problem__n_cols=9, problem__target_norm=4.0))
    experiment = Experiment.build(cfg)
    metrics = compute_metrics(experiment.objective, experiment.params0, 5)
    W = experiment.objective.model.end_to_end(experiment.params0)
    W_star = experiment.objective.problem.ground_truth
    expected = float(metrics["test_error"]) ** 2 * 4.0**2 / (6 * 9)
    assert float(metrics["test_mse_all_entries"]) == pytest.approx(expected, rel=1e-12)
    assert float(mse_all_entries(W, W_star)) == pytest.approx(float(np.mean((np.asarray(W - W_star)) ** 2)),
                                                              rel=1e-14)
    # the reference's 100x100, ‖W*‖_F = 100: it is test_error² exactly (up to round-off)
    problem = make_problem(section_settings("problem", resolve(tiny_config(
        "completion", problem__n_rows=100, problem__n_cols=100, problem__rank=5, problem__target_norm=100.0))["problem"]), 0)
    W = problem.ground_truth + 0.1 * jax.random.normal(jax.random.key(1), (100, 100))
    assert float(mse_all_entries(W, problem.ground_truth)) == pytest.approx(float(problem.test_error(W)) ** 2,
                                                                           rel=1e-12)


def test_mse_over_all_entries_is_absent_without_a_ground_truth():
    cfg = as_config({"problem": {"kind": "razin_2x2"}, "model": {"kind": "deep_matrix", "depth": 2},
                     "trainer": {"steps": 1}})
    experiment = Experiment.build(cfg)
    assert "test_mse_all_entries" not in compute_metrics(experiment.objective, experiment.params0, 2)


# --------------------------------------------------------------------------- hashes of existing configs

#: config_hash of the embedded default config, measured before the options above were added.
DEFAULT_CONFIG_HASH = "ea526f7951a571198fdad0c543cdb8290a705dc30d9d05d03b42adee36896c2a"


def test_new_keys_at_their_default_leave_existing_hashes_unchanged():
    assert config_hash(config_mod.load()) == DEFAULT_CONFIG_HASH
    for base in ("completion", "sensing"):
        plain = resolve(tiny_config(base))
        spelled = resolve(tiny_config(base, problem__loss="half_mse"))
        assert spelled == plain and config_hash(spelled) == config_hash(plain)
        assert config_hash(resolve(tiny_config(base, problem__loss="mse"))) != config_hash(plain)
    plain = resolve(tiny_config("completion"))
    assert plain["model"]["init_convention"] == "factor" and plain["problem"]["loss"] == "half_mse"
    other = resolve(tiny_config("completion", model__init_convention="end_to_end"))
    assert config_hash(other) != config_hash(plain)
