"""sgd-modified-loss (Smith, Dherin, Barrett & De 2021; Barrett & Dherin 2021): gradient
descent with step η follows the gradient flow of the MODIFIED loss C̃ = C + (η/4)‖∇C‖² to O(η²),
but the flow of C itself only to O(η); random-reshuffling SGD adds the term ε/(4m)Σ_k‖∇Ĉ_k‖²'s
excess over (ε/4)‖∇C‖²; taking n Euler steps of ε/n per batch shrinks the implicit term as 1/n
while leaving the stochasticity (so the term is discretization); and it scales with ε/B.

The math: backward error analysis. One GD step is θ − η∇C; the flow of C over time η is
θ − η∇C + (η²/2)∇²C∇C + O(η³), so GD makes a local error (η²/2)∇²C∇C per step, a global error
O(η) at fixed time T = kη. The flow of C̃ has ∇C̃ = ∇C + (η/2)∇²C∇C, which cancels that term: the
local error drops to O(η³) and the global one to O(η²). The engine integrates both flows with an
adaptive Runge–Kutta solver (``flow`` and ``modified_flow``, rtol 1e-10: error ~1e-9, far below
the smallest measured gap ~1e-5).

Setting (the one of tests/test_trainer_dynamics.py): 6×6 rank-2 Gaussian sensing, depth-2
factorization from a Gaussian init of scale 0.5; the loss drops ~20× by T = 1, so the dynamics
are far from linear. GD runs with η ∈ {0.04, 0.02, 0.01, 0.005} to T = 1.

Claims and tolerances (slopes are least-squares fits of log gap on log η over the four η):
- ``gd-vs-flow-first-order``: slope of ‖θ_GD − θ_flow(T)‖ in [0.9, 1.1] (the O(η²) correction
  bends the fit by < 0.1 at these η; measured in the tests at 1.0).
- ``gd-vs-modified-flow-second-order``: slope of ‖θ_GD − θ_modified(T)‖ in [1.85, 2.15], and at the
  smallest η the modified flow is > 10× closer to GD than the plain flow.

Random reshuffling (Smith et al. 2021). An epoch of m steps
θ ← θ − ε∇Ĉ_{π(j)}(θ), π a random order of the m batches, expands as
θ0 − mε∇C + ε² Σ_{j} Σ_{k<j} ∇²Ĉ_{π(j)}∇Ĉ_{π(k)} + O(m³ε³); averaged over the orders it equals
the flow of C̃_SGD = C + ε/(4m) Σ_k ‖∇Ĉ_k‖² over time mε up to O(m³ε³). Since
(1/m)Σ_k‖∇Ĉ_k‖² = ‖∇C‖² + (1/m)Σ_k‖∇Ĉ_k − ∇C‖², this is the GD modified loss plus an EXTRA term
ε/(4m) Σ_k ‖∇Ĉ_k − ∇C‖². Setting (that of tests/test_trainer_dynamics.py): β = u² − v² (diagonal
"difference" network, α = 0.3) on 4 Gaussian samples in 3 dimensions, batch size 1 (so an order is
a permutation of the samples), ε ∈ {0.02, 0.01, 0.005, 0.0025}. The expectation over orders is
EXACT: all 4! = 24 orders are enumerated (with-replacement sampling: all 4⁴ = 256 sequences), using
the engine's per-batch objective; the flows are RK4 with h = mε/100 (local error ~1e-15, far below
the smallest measured gap ~1e-9).

- ``rr-extra-term``: one epoch, so the expected slopes in ε are 3 against the flow of C̃_SGD and 2
  against the flow of the GD modified loss C + (ε/4)‖∇C‖² (the extra term is O(ε²) per epoch and
  does not cancel). Tolerances [2.7, 3.3] and [1.7, 2.3]: the next order bends a four-point fit by
  < 0.1 (measured 3.0 / 2.0 in the tests), and at the smallest ε the C̃_SGD flow must be > 10×
  closer. The engine must agree with the rule analysed: its `sgd` (random_reshuffling) epoch equals
  the update rule on the permutation it drew (≤ 1e-13, rounding) and its logged `modified_loss`
  at step 0 equals C̃_SGD(θ0) (relative 1e-12).

Discretization vs stochasticity (Smith et al. 2021's experiment: n Euler steps of size α = ε/n on each sampled batch,
``euler_same_batch``). The same expansion gives, for the order-average of one epoch,
E[θ_n] − θ_flow(mε) = −(ε²/(2n)) Σ_k ∇²Ĉ_k∇Ĉ_k + O(ε³): the implicit (bias) term is set by the
bare step α = ε/n and vanishes as n → ∞, while the order-dependent (stochastic) term
ε² Σ_{k<j} ∇²Ĉ_{π(j)}∇Ĉ_{π(k)} does not depend on n.
- ``euler-separates``: at ε = 0.005, n ∈ {1, 2, 4, 8, 16}: log-log slope of ‖E[θ_n] − θ_flow‖ in n
  within [−1.1, −0.9] (the O(ε³) remainder is ≲ 5 % of the n = 16 gap at this ε), the RMS
  spread of θ_n over the orders changes by < 10 % across n (it is n-independent at leading order),
  and the engine's `euler_same_batch` epoch equals n steps of ε/n on each sample of its permutation.

Batch size (Smith et al. 2021: E_batches[C̃_SGD] = C + (ε/4)‖∇C‖² + ((N − B)/(N − 1))(ε/(4B)) Γ,
Γ = (1/N) Σ_i ‖∇C_i − ∇C‖²). The extra term, so the displacement of the mean SGD iterate from the
GD iterate with the same ε over a fixed flow time T, is to leading order proportional to
x = (ε/B)(N − B)/(N − 1) ≈ ε/B. Setting: the same model on N = 12 samples, B ∈ {1, 2, 4},
ε ∈ {0.01, 0.02, 0.04}, T = 0.48 (K = T/ε steps, whole epochs); E[θ_SGD] is the mean of R
random-reshuffling runs of the engine's own compiled step (``train_chunk`` vmapped over sampling
keys; it reproduces the engine run of the grid point exactly).
- ``implicit-term-lr-over-b``: the log-log slope of D = ‖E[θ_SGD] − θ_GD‖ against x over the nine
  points is in [0.85, 1.15] (the leading order; the next order is O(ε) relative, ≤ ~10 % at
  ε = 0.04), the points collapse — max/min of D/x ≤ 1.5, while D/ε alone spreads over ≥ 2×
  (B matters as 1/B) — and the Monte-Carlo standard error of D is ≤ 10 % of D at every point.

BROKEN: the modified flow solved with 2η (a factor-2 error in the implicit term, like η/2 for η/4:
the correction no longer cancels the local error, the gap is O(η) again and
``gd-vs-modified-flow-second-order`` fails), and with-replacement sampling in place of random
reshuffling for the batch-1 runs: the order-average is then over i.i.d. draws, whose O(ε²) term
is not that of C̃_SGD (``rr-extra-term`` fails: slope 1.9 against the C̃_SGD flow — and 2.9
against the GD modified flow: for i.i.d. draws E[Σ_{k<j}∇²Ĉ_{i_j}∇Ĉ_{i_k}] = (m(m−1)/2)∇²C∇C,
exactly GD's term, so without reshuffling there is no extra term at this order) and keeps a part
that does not vanish with n (``euler-separates`` fails, slope 0.17).

Full mode is quick mode with 4× the Monte-Carlo replicates (everything else is exact or already
at the paper's level of the claim).
"""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
from jax.flatten_util import ravel_pytree

from implicit_bias.engine import resolve
from implicit_bias.engine import section_settings
from implicit_bias.engine import named_key
from implicit_bias.engine import Objective
from implicit_bias.engine import Experiment
from implicit_bias.reproduce import Claim, Figure

NAME = "sgd-modified-loss"
CLAIM = ("GD tracks the modified flow of C + (η/4)‖∇C‖² to O(η²) (the plain flow to O(η)); random reshuffling adds "
         "ε/(4m)Σ‖∇Ĉ_k‖²; n Euler steps per batch shrink it as 1/n; it scales with lr/B.")
SOURCE = ("Smith, Dherin, Barrett & De 2021, 'On the origin of implicit regularization in stochastic gradient "
          "descent'; Barrett & Dherin 2021, 'Implicit gradient regularization'")
MINUTES = (1.5, 1.5)
T = 1.0
LRS = [0.04, 0.02, 0.01, 0.005]
BASE = {
    "seed": 0,
    "problem": {"kind": "matrix_sensing", "n_rows": 6, "n_cols": 6, "rank": 2, "n_measurements": 30},
    "model": {"kind": "deep_matrix", "depth": 2, "init_scale": 0.5},
}
RR_M = 4
RR_EPS = [0.02, 0.01, 0.005, 0.0025]
RR_BASE = {
    "seed": 0,
    "problem": {"kind": "least_squares", "n_samples": RR_M, "n_features": 3},
    "model": {"kind": "diagonal", "form": "difference", "alpha": 0.3},
}
EULER_EPS = 0.005
EULER_N = [1, 2, 4, 8, 16]
LB_N = 12
LB_BATCHES = [1, 2, 4]
LB_EPS = [0.01, 0.02, 0.04]
LB_T = 0.48
LB_REPLICATES = 4000
LB_BASE = {
    "seed": 0,
    "problem": {"kind": "least_squares", "n_samples": LB_N, "n_features": 3},
    "model": {"kind": "diagonal", "form": "difference", "alpha": 0.3},
}


def _flow(kind: str, lr: float | None = None) -> dict:
    trainer = {"kind": kind, "t_max": T, "log_dt": T / 20, "rtol": 1e-10, "atol": 1e-12}
    if lr is not None:
        trainer["lr"] = lr
    return trainer


def configs(quick: bool) -> list[dict]:
    out = [{"name": "flow", **BASE, "trainer": _flow("flow")}]
    for lr in LRS:
        out.append({"name": f"gd-lr{lr}", **BASE,
                    "trainer": {"kind": "gd", "lr": lr, "steps": round(T / lr), "log_every": max(1, round(T / lr) // 25)}})
        out.append({"name": f"modified-flow-lr{lr}", **BASE, "trainer": _flow("modified_flow", lr)})
    # one epoch of random-reshuffling SGD (batch 1) per ε, and of euler_same_batch per n
    for eps in RR_EPS:
        out.append({"name": f"rr-eps{eps}", **RR_BASE,
                    "trainer": {"kind": "sgd", "batch_size": 1, "sampling": "random_reshuffling", "lr": eps,
                                "steps": RR_M, "log_every": RR_M}})
    for n in EULER_N:
        out.append({"name": f"euler-n{n}", **RR_BASE,
                    "trainer": {"kind": "euler_same_batch", "batch_size": 1, "sampling": "random_reshuffling",
                                "n_inner": n, "lr": EULER_EPS, "steps": RR_M, "log_every": RR_M}})
    # the lr/B grid: GD and random-reshuffling SGD over the same flow time
    for eps in LB_EPS:
        steps = round(LB_T / eps)
        out.append({"name": f"lb-gd-eps{eps}", **LB_BASE,
                    "trainer": {"kind": "gd", "lr": eps, "steps": steps, "log_every": steps}})
        for B in LB_BATCHES:
            out.append({"name": f"lb-sgd-eps{eps}-B{B}", **LB_BASE,
                        "trainer": {"kind": "sgd", "batch_size": B, "sampling": "random_reshuffling", "lr": eps,
                                    "steps": steps, "log_every": steps}})
    return out


def BROKEN(config: dict) -> dict:
    """Modified flow solved with 2η; with-replacement sampling for the batch-1 epochs."""
    if config["trainer"]["kind"] == "modified_flow":
        config["trainer"]["lr"] *= 2
    if config["name"].startswith(("rr-", "euler-")):
        config["trainer"]["sampling"] = "with_replacement"
    return config


def _flat(params) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(params[k])) for k in sorted(params)])


def _slope(xs, ys) -> float:
    return float(np.polyfit(np.log(np.asarray(xs)), np.log(np.asarray(ys)), 1)[0])


class PerBatch:
    """The full objective C and the per-sample objectives Ĉ_k of a run, on a flat parameter vector
    (sorted keys, as :func:`_flat`), with exact order-averages of epochs and RK4 flows of
    C̃ = C + λ/(4m) Σ_k ‖∇Ĉ_k‖² (λ = 0: the plain flow) and of C + (λ/4)‖∇C‖²."""

    def __init__(self, config: dict, rk4_steps: int = 100):
        experiment = Experiment.build(resolve(config))
        self.objective = experiment.objective
        self.theta0, self._unravel = ravel_pytree(experiment.params0)
        self.m = self.objective.problem.n_observations
        self.rk4_steps = rk4_steps
        self._epoch = jax.jit(self._epoch_impl)
        self._flow = jax.jit(self._flow_impl, static_argnums=(2,))

    def flat(self, theta) -> np.ndarray:
        return _flat(self._unravel(jnp.asarray(theta)))

    def C(self, theta):
        return self.objective(self._unravel(theta))

    def C_k(self, theta, k):
        problem = self.objective.problem.take(jnp.reshape(k, (1,)))
        return Objective(problem=problem, model=self.objective.model, penalty=self.objective.penalty)(
            self._unravel(theta))

    def modified_sgd(self, theta, lam):
        norms = jax.vmap(lambda k: jnp.sum(jax.grad(self.C_k)(theta, k) ** 2))(jnp.arange(self.m))
        return self.C(theta) + lam / (4 * self.m) * jnp.sum(norms)

    def _epoch_impl(self, seqs, step):
        def one(seq):
            return jax.lax.scan(lambda th, k: (th - step * jax.grad(self.C_k)(th, k), None), self.theta0, seq)[0]
        return jax.vmap(one)(seqs)

    def epochs(self, sequences: np.ndarray, step: float) -> np.ndarray:
        """θ after θ ← θ − step·∇Ĉ_{k_j}(θ) along each index sequence, from θ0 (one row per sequence)."""
        return np.asarray(self._epoch(jnp.asarray(sequences), jnp.asarray(step)))

    def _flow_impl(self, horizon, lam, form):
        def loss(th):
            if form == "sgd":
                return self.modified_sgd(th, lam)
            return self.C(th) + lam / 4 * jnp.sum(jax.grad(self.C)(th) ** 2)
        field = jax.grad(lambda th: -loss(th))
        h = horizon / self.rk4_steps

        def rk4(_, th):
            k1 = field(th)
            k2 = field(th + h / 2 * k1)
            k3 = field(th + h / 2 * k2)
            k4 = field(th + h * k3)
            return th + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return jax.lax.fori_loop(0, self.rk4_steps, rk4, self.theta0)

    def flow(self, horizon: float, lam: float, form: str = "sgd") -> np.ndarray:
        return np.asarray(self._flow(jnp.asarray(horizon), jnp.asarray(lam), form))


def _sequences(sampling: str, m: int, repeat: int = 1) -> np.ndarray:
    """Every equally likely index sequence of one epoch of m batch-1 steps (each repeated)."""
    if sampling == "random_reshuffling":
        seqs = np.asarray(list(itertools.permutations(range(m))))
    else:
        seqs = np.asarray(list(itertools.product(range(m), repeat=m)))
    return np.repeat(seqs, repeat, axis=1)


def _engine_order(config: dict) -> list[int]:
    """The sample order the engine drew in the first epoch of a batch-1 run."""
    from implicit_bias.engine import StepSpec, batch_indices

    spec = StepSpec.from_settings(section_settings("trainer", config["trainer"]))
    key = named_key(config["seed"], "sampling")
    return [int(batch_indices(spec, key, jnp.asarray(j), RR_M)[0]) for j in range(RR_M)]


def _analyze_rr(runs: dict) -> tuple[list[Claim], list[Figure], dict]:
    sampling = runs[f"rr-eps{RR_EPS[0]}"].config["trainer"]["sampling"]
    ps = PerBatch(runs[f"rr-eps{RR_EPS[0]}"].config)
    seqs = _sequences(sampling, RR_M)
    gap_sgd, gap_gd, gap_plain, engine_gap, metric_gap = [], [], [], 0.0, 0.0
    for eps in RR_EPS:
        run = runs[f"rr-eps{eps}"]
        mean = ps.epochs(seqs, eps).mean(axis=0)
        horizon = RR_M * eps
        gap_sgd.append(float(np.linalg.norm(mean - ps.flow(horizon, eps, "sgd"))))
        gap_gd.append(float(np.linalg.norm(mean - ps.flow(horizon, eps, "gd"))))
        gap_plain.append(float(np.linalg.norm(mean - ps.flow(horizon, 0.0, "sgd"))))
        order = _engine_order(run.config)
        if sampling == "random_reshuffling":
            mine = ps.flat(ps.epochs(np.asarray([order]), eps)[0])
            engine_gap = max(engine_gap, float(np.max(np.abs(mine - _flat(run.params)))))
        expected = float(ps.modified_sgd(ps.theta0, eps))
        metric_gap = max(metric_gap, abs(float(run.trajectory["modified_loss"].iloc[0]) - expected) / abs(expected))
    s_sgd, s_gd, s_plain = _slope(RR_EPS, gap_sgd), _slope(RR_EPS, gap_gd), _slope(RR_EPS, gap_plain)
    ratio = gap_gd[-1] / gap_sgd[-1]
    ok = (2.7 <= s_sgd <= 3.3 and 1.7 <= s_gd <= 2.3 and ratio > 10 and engine_gap <= 1e-13 and metric_gap <= 1e-12
          and sampling == "random_reshuffling")
    g3 = lambda x: float(f"{x:.3g}")
    claim = Claim(
        "rr-extra-term",
        "random-reshuffling SGD (mean over all orders of one epoch) follows the flow of C + ε/(4m)Σ_k‖∇Ĉ_k‖² to "
        "O(ε³), but the GD modified flow C + (ε/4)‖∇C‖² only to O(ε²): the extra ε/(4m)Σ‖∇Ĉ_k − ∇C‖² term is real",
        SOURCE, {"sampling": sampling, "slope_vs_rr_modified_flow": g3(s_sgd), "slope_vs_gd_modified_flow": g3(s_gd),
                 "slope_vs_plain_flow": g3(s_plain), "gd_over_rr_gap_at_min_eps": g3(ratio),
                 "gaps_rr_modified": {str(e): g3(v) for e, v in zip(RR_EPS, gap_sgd)},
                 "engine_epoch_vs_update_rule": engine_gap, "modified_loss_metric_rel_error": metric_gap},
        "slopes in [2.7, 3.3] (RR modified flow) and [1.7, 2.3] (GD modified flow), ratio > 10; engine = rule "
        "(≤ 1e-13), logged modified_loss = C̃_SGD (≤ 1e-12 relative)", ok)
    return [claim], [], {"gap_sgd": gap_sgd, "gap_gd": gap_gd, "gap_plain": gap_plain, "s_sgd": s_sgd,
                         "s_gd": s_gd, "s_plain": s_plain}


def _analyze_euler(runs: dict) -> tuple[list[Claim], dict]:
    sampling = runs[f"euler-n{EULER_N[0]}"].config["trainer"]["sampling"]
    ps = PerBatch(runs[f"euler-n{EULER_N[0]}"].config)
    horizon = RR_M * EULER_EPS
    plain = ps.flow(horizon, 0.0, "sgd")
    to_flow, to_bare, spread, engine_gap = [], [], [], 0.0
    for n in EULER_N:
        thetas = ps.epochs(_sequences(sampling, RR_M, n), EULER_EPS / n)
        mean = thetas.mean(axis=0)
        to_flow.append(float(np.linalg.norm(mean - plain)))
        to_bare.append(float(np.linalg.norm(mean - ps.flow(horizon, EULER_EPS / n, "sgd"))))
        spread.append(float(np.sqrt(np.mean(np.sum((thetas - mean) ** 2, axis=1)))))
        run = runs[f"euler-n{n}"]
        if sampling == "random_reshuffling":
            order = _engine_order(run.config)
            mine = ps.flat(ps.epochs(np.repeat([order], n, axis=1), EULER_EPS / n)[0])
            engine_gap = max(engine_gap, float(np.max(np.abs(mine - _flat(run.params)))))
    slope = _slope(EULER_N, to_flow)
    spread_ratio = max(spread) / min(spread)
    remainder = max(b / f for b, f in zip(to_bare, to_flow))
    ok = -1.1 <= slope <= -0.9 and spread_ratio < 1.1 and engine_gap <= 1e-13
    g3 = lambda x: float(f"{x:.3g}")
    claim = Claim(
        "euler-separates",
        f"n Euler steps of ε/n on each batch (ε = {EULER_EPS}): the mean iterate's distance to the plain flow (the "
        "implicit term, set by the discretization) falls as 1/n, while the spread over batch orders (the "
        "stochasticity) does not change with n", SOURCE,
        {"sampling": sampling, "n": EULER_N, "slope_in_n": g3(slope),
         "mean_to_plain_flow": [g3(v) for v in to_flow], "mean_to_bare_step_modified_flow": [g3(v) for v in to_bare],
         "spread_over_orders": [g3(v) for v in spread], "spread_max_over_min": g3(spread_ratio),
         "engine_epoch_vs_rule": engine_gap},
        "slope in [−1.1, −0.9], spread max/min < 1.1, engine = rule (≤ 1e-13)", ok)
    return [claim], {"to_flow": to_flow, "to_bare": to_bare, "spread": spread, "slope": slope,
                     "remainder": remainder}




def _mean_sgd(config: dict, replicates: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and standard error over ``replicates`` sampling keys of the final parameters of the engine's
    own compiled steps (``train_chunk`` vmapped over keys), and the replicate with the run's own key."""
    from implicit_bias.engine import StepSpec
    from implicit_bias.engine import RUNNING, Carry, initial_opt_state, train_chunk
    from implicit_bias.engine import hyperparameters

    cfg = resolve(config)
    experiment = Experiment.build(cfg)
    trainer = section_settings("trainer", cfg["trainer"])
    dtype = jax.tree_util.tree_leaves(experiment.params0)[0].dtype
    spec = StepSpec.from_settings(trainer)
    hyper = hyperparameters(trainer, dtype)
    steps = int(trainer.steps)
    carry = Carry(params=experiment.params0, opt_state=initial_opt_state(trainer, experiment.params0),
                  step=jnp.asarray(0, jnp.int64), status=jnp.asarray(RUNNING, jnp.int32),
                  status_step=jnp.asarray(-1, jnp.int64))

    def final(key):
        out = train_chunk(experiment.objective, spec, hyper, carry, key, jnp.asarray(steps, jnp.int64),
                          jnp.asarray(0.0, dtype), jnp.asarray(jnp.inf, dtype), steps)
        return jnp.concatenate([jnp.ravel(out.params[k]) for k in sorted(out.params)])

    keys = jax.random.split(named_key(cfg["seed"], "replicates"), replicates)
    thetas = np.asarray(jax.vmap(final)(keys))
    own = np.asarray(final(named_key(cfg["seed"], "sampling")))
    return thetas.mean(axis=0), thetas.std(axis=0, ddof=1) / np.sqrt(replicates), own


def _analyze_lr_b(runs: dict, quick: bool) -> tuple[list[Claim], dict]:
    replicates = LB_REPLICATES if quick else 4 * LB_REPLICATES
    points, engine_gap = [], 0.0
    for eps in LB_EPS:
        gd = _flat(runs[f"lb-gd-eps{eps}"].params)
        for B in LB_BATCHES:
            run = runs[f"lb-sgd-eps{eps}-B{B}"]
            mean, se, own = _mean_sgd(run.config, replicates)
            engine_gap = max(engine_gap, float(np.max(np.abs(own - _flat(run.params)))))
            diff = mean - gd
            D = float(np.linalg.norm(diff))
            # standard error of ‖mean − gd‖ (delta method: the s.e. of the projection on its direction)
            se_D = float(np.sqrt(np.sum((diff / D) ** 2 * se ** 2)))
            x = eps / B * (LB_N - B) / (LB_N - 1)
            points.append({"eps": eps, "B": B, "x": x, "D": D, "se": se_D})
    xs = np.array([p["x"] for p in points])
    Ds = np.array([p["D"] for p in points])
    slope = _slope(xs, Ds)
    collapse = float(np.max(Ds / xs) / np.min(Ds / xs))
    eps_arr = np.array([p["eps"] for p in points])
    spread_eps = float(np.max(Ds / eps_arr) / np.min(Ds / eps_arr))
    rel_se = float(max(p["se"] / p["D"] for p in points))
    ok = 0.85 <= slope <= 1.15 and collapse <= 1.5 and spread_eps >= 2 and rel_se <= 0.1 and engine_gap <= 1e-12
    g3 = lambda v: float(f"{v:.3g}")
    claim = Claim(
        "implicit-term-lr-over-b",
        f"the displacement D = ‖E[θ_SGD] − θ_GD‖ of random-reshuffling SGD from GD (same ε, flow time {LB_T}, N = "
        f"{LB_N}) is proportional to (ε/B)(N − B)/(N − 1): the implicit term scales with lr/B", SOURCE,
        {"slope_in_x": g3(slope), "max_over_min_D_over_x": g3(collapse), "max_over_min_D_over_eps": g3(spread_eps),
         "max_relative_standard_error": g3(rel_se), "replicates": replicates, "engine_run_reproduced": engine_gap,
         "points": [{k: g3(v) if isinstance(v, float) else v for k, v in p.items()} for p in points]},
        "slope in [0.85, 1.15], D/x max/min ≤ 1.5 while D/ε max/min ≥ 2, s.e. ≤ 10 % of D", ok)
    return [claim], {"points": points, "slope": slope, "collapse": collapse}


def analyze(runs: dict, quick: bool) -> tuple[list[Claim], list[Figure]]:
    claims, figures = _analyze_gd(runs)
    rr_claims, _, rr = _analyze_rr(runs)
    eu_claims, eu = _analyze_euler(runs)
    lb_claims, lb = _analyze_lr_b(runs, quick)
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(16, 4.6))
    eps = np.asarray(RR_EPS)
    a.loglog(eps, rr["gap_sgd"], "o-", label=f"vs flow of C + ε/(4m)Σ‖∇Ĉ_k‖² (slope {rr['s_sgd']:.2f})")
    a.loglog(eps, rr["gap_gd"], "s-", label=f"vs flow of C + (ε/4)‖∇C‖² (slope {rr['s_gd']:.2f})")
    a.loglog(eps, rr["gap_plain"], "^-", label=f"vs gradient flow (slope {rr['s_plain']:.2f})")
    a.loglog(eps, rr["gap_sgd"][-1] * (eps / eps[-1]) ** 3, ":", color="grey", label="∝ ε³")
    a.set(xlabel="learning rate ε", ylabel=f"‖E_order[θ after one epoch] − flow(mε)‖, m = {RR_M}",
          title="random reshuffling: the extra term")
    a.legend(fontsize=7)
    n = np.asarray(EULER_N)
    b.loglog(n, eu["to_flow"], "o-", label=f"mean vs gradient flow (slope {eu['slope']:.2f})")
    b.loglog(n, eu["to_bare"], "s-", label="mean vs modified flow with bare step ε/n")
    b.loglog(n, eu["spread"], "^-", label="RMS spread over orders (stochasticity)")
    b.loglog(n, eu["to_flow"][0] / n, ":", color="grey", label="∝ 1/n")
    b.set(xlabel="Euler steps n per batch (step ε/n)", ylabel="distance in parameter space after one epoch",
          title=f"n Euler steps on the same batch (ε = {EULER_EPS})")
    b.legend(fontsize=7)
    for B, marker in zip(LB_BATCHES, "osd"):
        pts = [p for p in lb["points"] if p["B"] == B]
        c.errorbar([p["x"] for p in pts], [p["D"] for p in pts], yerr=[p["se"] for p in pts], marker=marker,
                   ls="none", capsize=3, label=f"B = {B} (ε ∈ {LB_EPS})")
    xs = np.array(sorted(p["x"] for p in lb["points"]))
    fit = np.exp(np.mean([np.log(p["D"] / p["x"]) for p in lb["points"]]))
    c.loglog(xs, fit * xs, ":", color="grey", label="∝ x")
    c.set(xscale="log", yscale="log", xlabel="x = (ε/B)(N − B)/(N − 1)",
          ylabel="‖E[θ_SGD] − θ_GD‖ at equal flow time (± s.e.)",
          title=f"the implicit term scales with ε/B (slope {lb['slope']:.2f})")
    c.legend(fontsize=7)
    for ax in (a, c):
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    fig.tight_layout()
    caption = (f"Left: the mean over all orders of a random-reshuffling epoch is O(ε³) from the flow of C + "
               f"ε/(4m)Σ‖∇Ĉ_k‖² (slope {rr['s_sgd']:.2f}) but O(ε²) from the GD modified flow (slope {rr['s_gd']:.2f}). "
               f"Middle: with n Euler steps of ε/n per batch the bias from the gradient flow falls as 1/n (slope "
               f"{eu['slope']:.2f}) while the spread over orders stays — discretization, not stochasticity, makes the "
               f"implicit term. Right: SGD's mean moves away from GD in proportion to (ε/B)(N−B)/(N−1) (slope "
               f"{lb['slope']:.2f}, D/x within a factor {lb['collapse']:.2f}).")
    figures.append(Figure("sgd_modified_loss_stochastic", fig, caption))
    return claims + rr_claims + eu_claims + lb_claims, figures


def _analyze_gd(runs: dict) -> tuple[list[Claim], list[Figure]]:
    flow = _flat(runs["flow"].params)
    gd = {lr: _flat(runs[f"gd-lr{lr}"].params) for lr in LRS}
    plain = [float(np.linalg.norm(gd[lr] - flow)) for lr in LRS]
    modified = [float(np.linalg.norm(gd[lr] - _flat(runs[f"modified-flow-lr{lr}"].params))) for lr in LRS]
    s_plain, s_mod = _slope(LRS, plain), _slope(LRS, modified)
    ratio = plain[-1] / modified[-1]
    claims = [
        Claim("gd-vs-flow-first-order", "‖θ_GD(T/η) − θ_flow(T)‖ = O(η): fitted log-log slope ≈ 1", SOURCE,
              {"slope": s_plain, "gaps": dict(zip(map(str, LRS), plain))}, "slope in [0.9, 1.1]",
              0.9 <= s_plain <= 1.1),
        Claim("gd-vs-modified-flow-second-order",
              "‖θ_GD(T/η) − θ_modified(T)‖ = O(η²): slope ≈ 2, and far closer than the plain flow", SOURCE,
              {"slope": s_mod, "gaps": dict(zip(map(str, LRS), modified)), "plain_over_modified_at_min_lr": ratio},
              "slope in [1.85, 2.15] and ratio > 10", 1.85 <= s_mod <= 2.15 and ratio > 10),
    ]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
    lrs = np.asarray(LRS)
    left.loglog(lrs, plain, "o-", label=f"GD vs gradient flow (slope {s_plain:.2f})")
    left.loglog(lrs, modified, "s-", label=f"GD vs modified flow (slope {s_mod:.2f})")
    left.loglog(lrs, plain[-1] * lrs / lrs[-1], ":", color="grey", label="∝ η")
    left.loglog(lrs, modified[-1] * (lrs / lrs[-1]) ** 2, "--", color="grey", label="∝ η²")
    left.set(xlabel="learning rate η", ylabel=f"‖θ_GD − θ_flow‖ at flow time T = {T:g} (parameters)",
             title="backward error analysis: orders of GD's tracking error")
    left.legend(fontsize=8)
    for name, label, style in (("flow", "gradient flow", "-"), (f"modified-flow-lr{LRS[0]}", f"modified flow η={LRS[0]}", "--"),
                               (f"gd-lr{LRS[0]}", f"GD η={LRS[0]}", ":")):
        traj = runs[name].trajectory
        right.semilogy(traj["t"], traj["loss"], style, marker="o" if name.startswith("gd") else None, ms=3, label=label)
    right.set(xlabel="time t = η × step (flow time)", ylabel="training loss (mean of ½ residual²)",
              title=f"the dynamics are nonlinear (loss falls {traj['loss'].iloc[0] / traj['loss'].iloc[-1]:.0f}×)")
    right.legend(fontsize=8)
    fig.tight_layout()
    caption = (f"GD with step η reaches flow time T={T:g} within O(η) of the gradient flow (slope {s_plain:.2f}) but "
               f"within O(η²) of the modified flow of C + (η/4)‖∇C‖² (slope {s_mod:.2f}); at η={LRS[-1]} the modified "
               f"flow is {ratio:.0f}× closer.")
    return claims, [Figure("sgd_modified_loss", fig, caption)]
