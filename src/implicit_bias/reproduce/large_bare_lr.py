"""large-bare-lr (Smith, Dherin, Barrett & De 2021, "On the origin of implicit regularization in stochastic
gradient descent", their n-Euler-steps-per-minibatch experiment, as retold in the course notes on the
implicit regularization of SGD: "large bare learning rates α are actually beneficial … discretization
error is beneficial").

The experiment separates the two things a finite SGD step does: draw a minibatch, then take n Euler
steps of the *bare* rate α on it (``trainer.kind = "euler_same_batch"``, ``n_inner = n``, ``lr`` = ε),
so the effective rate ε = αn — the stochasticity of the minibatch sequence per unit of flow time — is
fixed while α, the discretization error of the Euler steps, varies; n → ∞ is the exact flow of each
minibatch loss. Smith et al. found (a Wide-ResNet on CIFAR-10) that at fixed ε test accuracy improves
as α grows, i.e. the discretization error itself is beneficial.

Here the small problem is the sparse regression of diagonal-large-steps (Even, Pesme, Gunasekar &
Flammarion 2023's setting: n = 20, d = 30, 3-sparse teacher, β = u² − v² from α₀ = 0.1, batch 1), where
the mechanism is exact: each Euler step multiplies u by (1 − x) and v by (1 + x), x = 2α g, so the
effective scale is |u v| = α₀² exp(−Gain) with Gain = Σ q(x), q(x) = −ln|1 − x²| = x² + O(x⁴)
(diagonal-large-steps checks this identity to rounding). On one minibatch n steps of α give a gain of
≈ n (2αg)² = 4εα g²: at fixed ε the gain is proportional to the bare rate. A larger gain is a smaller
effective scale α₀·exp(−Gain/2) and a sparser solution of the hyperbolic-entropy problem, so a larger
bare rate should give a smaller test error — the notes' claim, with a mechanism that can be measured.

ε = 0.9·γ_max of each seed's SGD (diagonal-large-steps' ``THRESHOLDS``), bare rates α = ε/n for
n = 1, 2, 4, 8, 32 (quick: 1, 4, 32), 10⁵ minibatches each (the same flow time ε·10⁵ for every run).
The test error is the population excess risk ½‖β − β*‖² (x ~ N(0, I)).

Claims:
- ``same-flow-time``: every run converges (loss ≤ 1e-10) at the same effective rate and flow time.
- ``larger-bare-lr-better``: ½‖β − β*‖² falls strictly as α grows, for every seed, and n = 1 (the
  largest α) reaches at most half the error of n = 32 (nearly the per-minibatch flow).
- ``gain-proportional-to-bare-lr``: the mean gain over coordinates, read off the final factors as
  −ln(|u v|/α₀²), grows like α as α → 0: the local log–log slope between consecutive n falls as α
  shrinks and ends in [1, 1.2]. The leading term is linear; both corrections are positive and vanish
  with α: q(x) − x² = x⁴/2 + x⁶/3 + …, and within a batch the sample's residual decays by (1 − ακ) per
  step, so Σ_j (1 − ακ)^{2j} exceeds its α → 0 limit (1 − e^{−2εκ})/(2ακ).

Broken setting: the full batch (``batch_size = 20``): no stochasticity, the inner steps are GD with
step α, and larger GD steps concentrate the gain and hurt (diagonal-large-steps), so
``larger-bare-lr-better`` fails.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import Claim, Figure, problem_arrays  # noqa: E402
from .diagonal_large_steps import ALPHA, N_FEATURES, N_SAMPLES, SPARSITY, THRESHOLDS  # noqa: E402

NAME = "large-bare-lr"
CLAIM = ("At a fixed effective rate ε = αn (n Euler steps of the bare rate α per minibatch), a larger bare rate "
         "gives a sparser, better solution on u² − v² sparse regression: the gain it adds is ∝ α.")
SOURCE = ("Smith, Dherin, Barrett & De 2021, 'On the origin of implicit regularization in stochastic gradient "
          "descent'; Even, Pesme, Gunasekar & Flammarion 2023, '(S)GD over diagonal linear networks'")
MINUTES = (0.5, 1.5)

OUTER_STEPS = 100_000
EPSILON_FRACTION = 0.9
N_INNER = {True: (1, 4, 32), False: (1, 2, 4, 8, 32)}
CONVERGED = 1e-10


def _seeds(quick: bool) -> list[int]:
    return [0] if quick else sorted(THRESHOLDS)


def _config(seed: int, n_inner: int) -> dict:
    return {"name": f"s{seed}-n{n_inner}", "seed": seed,
            "problem": {"kind": "least_squares", "n_samples": N_SAMPLES, "n_features": N_FEATURES,
                        "design": "gaussian", "target": "sparse", "sparsity": SPARSITY, "noise": 0.0},
            "model": {"kind": "diagonal", "form": "difference", "alpha": ALPHA},
            "trainer": {"kind": "euler_same_batch", "lr": EPSILON_FRACTION * THRESHOLDS[seed][1], "n_inner": n_inner,
                        "batch_size": 1, "sampling": "with_replacement", "steps": OUTER_STEPS, "stop_loss": 0.0,
                        "log_every": OUTER_STEPS // 100}}


def configs(quick: bool) -> list[dict]:
    return [_config(seed, n) for seed in _seeds(quick) for n in N_INNER[quick]]


def BROKEN(config: dict) -> dict:  # noqa: N802 - the module contract's name
    """The full batch: no stochasticity, the inner steps are GD with the bare step."""
    config["trainer"]["batch_size"] = N_SAMPLES
    return config


def _record(run) -> dict:
    X, y, truth = problem_arrays(run, "X", "y", "ground_truth")
    u, v = (np.asarray(run.params[k], float) for k in ("u", "v"))
    beta = np.asarray(run.end_to_end, float)
    trainer = run.config["trainer"]
    return {"n": trainer["n_inner"], "bare": trainer["lr"] / trainer["n_inner"], "epsilon": trainer["lr"],
            "flow_time": trainer["lr"] * run.summary["steps"],
            "loss": 0.5 * float(np.mean((X @ beta - y) ** 2)), "test_error": 0.5 * float(np.sum((beta - truth) ** 2)),
            "gain": -np.log(np.abs(u * v) / ALPHA**2), "l1": float(np.sum(np.abs(beta)))}


def analyze(runs: dict, quick: bool) -> tuple[list[Claim], list[Figure]]:
    seeds, ns = _seeds(quick), N_INNER[quick]
    records = {seed: [_record(runs[f"s{seed}-n{n}"]) for n in ns] for seed in seeds}
    claims = []

    losses = {seed: [r["loss"] for r in rs] for seed, rs in records.items()}
    times = {r["flow_time"] for rs in records.values() for r in rs if r["n"] == ns[0]}
    same_time = all(len({round(r["flow_time"], 9) for r in rs}) == 1 for rs in records.values())
    claims.append(Claim(
        "same-flow-time", "every run reaches an interpolator at the same effective rate ε and flow time ε·steps",
        SOURCE, {"final_loss": losses, "flow_time": sorted(times)},
        f"loss ≤ {CONVERGED:g} on every run; one flow time per seed",
        bool(same_time and all(loss <= CONVERGED for ls in losses.values() for loss in ls))))

    errors = {seed: [r["test_error"] for r in rs] for seed, rs in records.items()}  # n ascending: α descending
    better = all(np.all(np.diff(e) > 0) and e[0] <= 0.5 * e[-1] for e in errors.values())
    claims.append(Claim(
        "larger-bare-lr-better", "at fixed ε, a larger bare rate α = ε/n gives a lower test error (the notes: large "
        "bare learning rates are beneficial)", SOURCE,
        {"n_inner": list(ns), "test_error_by_n": errors,
         "l1_by_n": {seed: [r["l1"] for r in rs] for seed, rs in records.items()}},
        "½‖β − β*‖² strictly increasing in n (decreasing in α) for every seed, n = 1 at most half of n = 32",
        bool(better)))

    mean_gain = {seed: [float(np.mean(r["gain"])) for r in rs] for seed, rs in records.items()}
    slopes = {}
    for seed, rs in records.items():  # local slopes d ln Gain / d ln α between consecutive n, α descending
        bare, gain = np.log([r["bare"] for r in rs]), np.log(mean_gain[seed])
        slopes[seed] = (np.diff(gain) / np.diff(bare)).tolist()
    claims.append(Claim(
        "gain-proportional-to-bare-lr", "the gain of n Euler steps of α per minibatch is 4εα Σ g² to leading order: "
        "at fixed ε it grows like α as α → 0 (read off the final factors, −ln(|uv|/α₀²))", SOURCE,
        {"mean_gain_by_n": mean_gain, "local_log_log_slopes": slopes},
        "the local slope of ln(mean gain) against ln α falls strictly as α shrinks, to within [1, 1.2] at the "
        "smallest α (the corrections, q(x) − x² and the decay of g within a batch, are positive and vanish)",
        bool(all(np.all(np.diff(sl) < 0) and 1.0 <= sl[-1] <= 1.2 for sl in slopes.values()))))
    return claims, [_figure(records, seeds)]


def _figure(records: dict, seeds: list[int]) -> Figure:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for seed in seeds:
        rs = records[seed]
        bare = [r["bare"] for r in rs]
        axes[0].loglog(bare, [r["test_error"] for r in rs], "o-", label=f"seed {seed}")
        axes[1].loglog(bare, [float(np.mean(r["gain"])) for r in rs], "s-", label=f"seed {seed}")
    reference = np.array([min(r["bare"] for r in records[seeds[0]]), max(r["bare"] for r in records[seeds[0]])])
    start = float(np.mean(records[seeds[0]][-1]["gain"]))
    axes[1].loglog(reference, start * reference / reference[0], "k:", lw=0.8, label="∝ α")
    axes[0].set(xlabel="bare rate α = ε/n", ylabel="½‖β − β*‖²", title="fixed ε: larger bare rate, lower test error")
    axes[1].set(xlabel="bare rate α = ε/n", ylabel="mean gain −ln(|uv|/α₀²)", title="the gain grows like α")
    for ax in axes:
        ax.legend(fontsize=7)
    caption = ("n Euler steps of the bare rate α on each minibatch (batch 1) at fixed ε = αn on u² − v² sparse "
               "regression: the gain, and with it the sparsity, grows like α, so larger bare rates reach lower "
               "test error — the discretization error is beneficial (Smith et al. 2021).")
    return Figure("large_bare_lr", fig, caption)
