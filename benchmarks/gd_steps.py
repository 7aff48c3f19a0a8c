"""GD steps per second: our engine against NumPy, PyTorch eager and torch.compile, side by side.

The problem is the embedded default experiment (Arora, Cohen, Hu & Luo 2019): a
100x100 rank-5 matrix with Frobenius norm 100, 2,000 observed entries, fitted by
a depth-3 linear network W = W3 W2 W1 (width 100, Gaussian init of std 1e-3),
full-batch GD with lr = 5 on the loss (1/m) Σ ½(W[i,j] − y_ij)² (mean of ½(·)²
over the m = 2,000 observations), float64.

- **ours**: ``implicit_bias.trainers.train_chunk``, the compiled ``lax.scan``
  chunk that ``implicit-bias run`` uses, called with ``chunk_len`` steps (the
  ``log_every`` of a run) after it has been compiled once; the timing covers
  the call up to ``block_until_ready`` and nothing else (no metrics, no
  logging, no disk).
- **numpy**: the same GD written by hand: forward product P = W2 W1, W = W3 P;
  residual r = (W[obs] − y)/m on the observed entries; gradient through the
  adjoint G = 𝒜*(r) (a dense 100x100 matrix, zero off the observed entries):
  ∇W3 = G Pᵀ, ∇W2 = W3ᵀ G W1ᵀ, ∇W1 = (W3 W2)ᵀ G, six 100x100 matmuls per step,
  plus the training loss and the stop test, which the engine also does.

Both start from the same parameters (the engine's own initialization) on the
same problem arrays. Before timing, both run ``check_steps`` steps and their
iterates must agree to 1e-10 relative (Frobenius) error, so the two loops do
the same arithmetic. Each repeat times one chunk of each, alternating which
goes first, and records the ratio ours/numpy of steps per second; noise from
other processes on the machine hits both sides of one repeat alike.

- **torch eager** (:class:`TorchEagerGD`): the step of Arora et al.'s reference code, and
  **torch.compile** (:class:`TorchCompiledGD`): the same step compiled; both in float64 on
  one thread, timed in the same repeats and checked against NumPy's iterates like ours.
- **FLOP/s**: :func:`matmul_flops_per_step` counts 3(L−1)·2n³ = 1.2·10⁷ matmul FLOPs per
  step (n = 100, L = 3); the achieved rate is compared with the faster of XLA's and NumPy's
  100x100x100 product, timed in the same repeats (the practical limit on one core).
- Targets (issue 8, :data:`TARGETS`): medians of the steps-per-CPU-second ratios ≥ 1 (NumPy),
  ≥ 2 (torch eager), ≥ 1 (torch.compile), and ≥ 40% of the peak FLOP/s. Without torch the
  torch targets are reported as not measured (missed).

Both sides run on ONE thread: the environment variables below are set before
jax or numpy is imported (run this file as a script, or through run_all.py,
which starts a fresh interpreter per benchmark).

    python benchmarks/gd_steps.py [--repeats 9] [--chunk 1000] [--profile] [--no-torch] [--json-out FILE]
"""

from __future__ import annotations

import os
import sys

THREAD_ENV = {
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
# Must happen before jax / numpy are imported anywhere in this process.
_IMPORTED_TOO_EARLY = sorted(m for m in ("jax", "numpy") if m in sys.modules)
os.environ.update(THREAD_ENV)

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import implicit_bias  # noqa: E402,F401  (switches on float64)
from implicit_bias.keys import named_key  # noqa: E402
from implicit_bias.run import Experiment, as_config  # noqa: E402
from implicit_bias.trainers import OPTIMIZERS, Carry, StepSpec, hyperparameters, train_chunk  # noqa: E402
from implicit_bias.trainers.loop import RUNNING  # noqa: E402
from common import write_json_out  # noqa: E402

NAME = "gd_steps"
CHECK_TOL = 1e-10

#: The benchmarked experiment, spelled out so that a change of the embedded default does not move it.
CONFIG = {
    "name": "bench-gd-steps",
    "seed": 0,
    "dtype": "float64",
    "problem": {"kind": "matrix_completion", "n_rows": 100, "n_cols": 100, "rank": 5, "n_obs": 2000,
                "target_norm": 100.0, "noise": 0.0},
    "model": {"kind": "deep_matrix", "depth": 3, "init": "gaussian", "init_scale": 1e-3},
    "trainer": {"kind": "gd", "lr": 5.0, "steps": 10**6, "stop_loss": 0.0, "log_every": 1000},
}


# --------------------------------------------------------------------------- ours

class Engine:
    """One compiled ``train_chunk`` of ``chunk_len`` steps, always started from θ_0."""

    def __init__(self, experiment: Experiment, chunk_len: int):
        cfg = experiment.config
        self.objective = experiment.objective
        self.params0 = experiment.params0
        self.chunk_len = chunk_len
        dtype = jax.tree_util.tree_leaves(self.params0)[0].dtype
        self.spec = StepSpec.from_config(cfg["trainer"])
        self.hyper = hyperparameters(cfg["trainer"], dtype)
        self.carry0 = Carry(params=self.params0, opt_state=OPTIMIZERS[self.spec.kind](self.hyper).init(self.params0),
                            step=jnp.asarray(0, jnp.int64), status=jnp.asarray(RUNNING, jnp.int32),
                            status_step=jnp.asarray(-1, jnp.int64))
        self.key = named_key(cfg["seed"], "sampling")
        self.stop_loss = jnp.asarray(cfg["trainer"]["stop_loss"], dtype)
        self.blowup = jnp.asarray(np.inf, dtype)

    def run(self, n_steps: int) -> Carry:
        """``n_steps`` ≤ chunk_len updates from θ_0, through the same compiled chunk."""
        carry = train_chunk(self.objective, self.spec, self.hyper, self.carry0, self.key,
                            jnp.asarray(n_steps, jnp.int64), self.stop_loss, self.blowup, self.chunk_len)
        return jax.block_until_ready(carry)

    def params(self, carry: Carry) -> list[np.ndarray]:
        return [np.asarray(carry.params[f"W{j}"]) for j in (1, 2, 3)]


# --------------------------------------------------------------------------- numpy

class NumpyGD:
    """The same GD by hand: W = W3 W2 W1, loss (1/m) Σ ½ r², gradient through the adjoint."""

    def __init__(self, experiment: Experiment):
        problem = experiment.objective.problem
        self.lr = float(experiment.config["trainer"].get("lr", 0.0))
        self.stop_loss = float(experiment.config["trainer"]["stop_loss"])
        self.shape = tuple(problem.shape)
        rows, cols = np.asarray(problem.rows, np.int64), np.asarray(problem.cols, np.int64)
        self.flat = rows * self.shape[1] + cols
        # Observed entries are distinct (sampled without replacement), so writing r into the
        # zero matrix IS the adjoint 𝒜*(r) (a scatter-add would give the same matrix).
        if np.unique(self.flat).size != self.flat.size:
            raise AssertionError("observed entries must be distinct for the NumPy adjoint")
        self.values = np.asarray(problem.targets, np.float64)
        self.m = self.values.size
        self.params0 = [np.array(experiment.params0[f"W{j}"], np.float64) for j in (1, 2, 3)]
        self.G = np.zeros(self.shape)

    def run(self, n_steps: int) -> list[np.ndarray]:
        W1, W2, W3 = (W.copy() for W in self.params0)
        lr, flat, values, m, G = self.lr, self.flat, self.values, self.m, self.G
        Gflat = G.reshape(-1)
        for _ in range(n_steps):
            P = W2 @ W1
            W = W3 @ P
            r = W.reshape(-1)[flat] - values
            loss = 0.5 * float(r @ r) / m
            if not loss > self.stop_loss:  # stop rule of the engine (also catches NaN)
                break
            Gflat.fill(0.0)
            Gflat[flat] = r / m  # G = 𝒜*(r)/m = ∇_W L
            D = W3.T @ G  # ∂L/∂P
            grad1 = W2.T @ D
            grad2 = D @ W1.T
            grad3 = G @ P.T
            W1 = W1 - lr * grad1
            W2 = W2 - lr * grad2
            W3 = W3 - lr * grad3
        return [W1, W2, W3]


# --------------------------------------------------------------------------- pytorch

def _torch():
    """Import torch with one intra-op and one inter-op thread, or return None if it is missing."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass
    return torch


class TorchEagerGD:
    """The step of Arora et al.'s reference code (roosephu/deep_matrix_factorization, main.py), eager.

    As there: the factors are ``nn.Linear(n, n, bias=False)`` layers of an ``nn.Sequential``, the
    end-to-end matrix is ``get_e2e`` (``e2e = W1ᵀ``, then ``e2e = fc(e2e)`` = e2e W_jᵀ for each
    further layer, i.e. e2e = (W_L ⋯ W_1)ᵀ), the training loss gathers ``e2e[us, vs]``, each step
    also builds ``params_norm`` = Σ‖W_j‖² into the graph and the full-matrix test loss under
    ``no_grad``, reads ``loss.item()`` for the stop test, then ``zero_grad`` / ``backward`` /
    ``optimizer.step()`` with ``torch.optim.SGD``. Differences, so that it computes OUR step: float64
    (theirs float32), our loss ½·mean (theirs mean, i.e. half our lr), ``us, vs = cols, rows``
    (e2e is Wᵀ), and the every-1000-steps SVD logging branch is left out.
    """

    def __init__(self, experiment: Experiment, torch):
        self.torch = torch
        nn = torch.nn
        problem = experiment.objective.problem
        self.lr = float(experiment.config["trainer"]["lr"])
        self.stop_loss = float(experiment.config["trainer"]["stop_loss"])
        self.depth = int(experiment.config["model"]["depth"])
        n_rows, n_cols = problem.shape
        sizes = [n_cols] + [n_rows] * self.depth  # hidden_sizes of the reference (square here)
        self.model = nn.Sequential(*[nn.Linear(a, b, bias=False) for a, b in zip(sizes, sizes[1:])]).double()
        self.params0 = [torch.tensor(np.asarray(experiment.params0[f"W{j}"]), dtype=torch.float64)
                        for j in range(1, self.depth + 1)]
        self.us = torch.as_tensor(np.array(problem.cols, np.int64))
        self.vs = torch.as_tensor(np.array(problem.rows, np.int64))
        self.ys_ = torch.as_tensor(np.array(problem.targets, np.float64))
        self.w_gt = torch.as_tensor(np.array(problem.ground_truth, np.float64)).t().contiguous()
        self.optimizer = torch.optim.SGD(self.model.parameters(), self.lr)

    def reset(self) -> None:
        with self.torch.no_grad():
            for layer, W in zip(self.model.children(), self.params0):
                layer.weight.copy_(W)

    def get_e2e(self):
        weight = None
        for fc in self.model.children():
            weight = fc.weight.t() if weight is None else fc(weight)
        return weight

    def get_train_loss(self, e2e):
        return 0.5 * (e2e[self.us, self.vs] - self.ys_).pow(2).mean()

    def run(self, n_steps: int) -> list[np.ndarray]:
        torch = self.torch
        self.reset()
        for _ in range(n_steps):
            e2e = self.get_e2e()
            loss = self.get_train_loss(e2e)
            params_norm = 0
            for param in self.model.parameters():
                params_norm = params_norm + param.pow(2).sum()
            self.optimizer.zero_grad()
            loss.backward()
            with torch.no_grad():
                test_loss = (self.w_gt - e2e).view(-1).pow(2).mean()  # noqa: F841 (the reference logs it)
                if not loss.item() > self.stop_loss:
                    break
            self.optimizer.step()
        return [layer.weight.detach().numpy().copy() for layer in self.model.children()]


class TorchCompiledGD(TorchEagerGD):
    """The same step with ``torch.compile`` (inductor, C++ codegen on CPU).

    The training loss (forward pass; AOTAutograd compiles its backward too) and the SGD update
    (a ``torch.compile``d ``optimizer.step``, PyTorch's "compiled optimizer" recipe) are compiled;
    the reference's extra bookkeeping (``params_norm``, test loss) is left out, so this is the
    leanest form of the step PyTorch offers; ``loss.item()`` stays (the stop test).
    """

    def __init__(self, experiment: Experiment, torch):
        super().__init__(experiment, torch)
        self.loss_fn = torch.compile(lambda: self.get_train_loss(self.get_e2e()))
        self.opt_step = torch.compile(self.optimizer.step)

    def run(self, n_steps: int) -> list[np.ndarray]:
        self.reset()
        for _ in range(n_steps):
            loss = self.loss_fn()
            self.optimizer.zero_grad()
            loss.backward()
            if not loss.item() > self.stop_loss:
                break
            self.opt_step()
        return [layer.weight.detach().numpy().copy() for layer in self.model.children()]


# --------------------------------------------------------------------------- benchmark

def _rel_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.linalg.norm(x - y) / np.linalg.norm(y)) for x, y in zip(a, b))


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _spread(values: list[float]) -> dict:
    return {"values": values, "min": min(values), "median": statistics.median(values), "max": max(values)}


def matmul_flops_per_step(n: int, depth: int) -> int:
    """Matmul FLOPs of one GD step of the depth-L square n×n factorization: 3(L−1)·2n³.

    Forward: the end-to-end product W = W_L ⋯ W_1 is L−1 products (W2W1, W3(W2W1), …).
    Backward: reverse mode turns each forward product C = A B into two, ∂A = ∂C Bᵀ and
    ∂B = Aᵀ ∂C, so 2(L−1) more; each n×n×n product is 2n³ FLOPs (n³ multiply-adds).
    For n = 100, L = 3: 6 products, 1.2·10⁷ FLOPs per step. The gather of the m observed
    entries, the residual and the update are O(m + L n²) and are not counted.
    """
    return 3 * (depth - 1) * 2 * n**3


#: Targets of issue 8, on the median ratio of steps per CPU second (see the README for why CPU).
TARGETS = {
    "ours/numpy steps per CPU second": 1.0,
    "ours/torch eager steps per CPU second": 2.0,
    "ours/torch.compile steps per CPU second": 1.0,
    "ours FLOP/s / peak matmul FLOP/s": 0.4,
}


def _peak_loops(n: int, n_dots: int) -> dict:
    """Zero-argument callables doing ``n_dots`` n×n×n float64 products: XLA (in a scan) and NumPy."""
    rng = np.random.default_rng(0)
    A_np, B_np = rng.standard_normal((n, n)), rng.standard_normal((n, n)) / np.sqrt(n)
    A, B = jnp.asarray(A_np), jnp.asarray(B_np)
    xla_loop = jax.jit(lambda c: jax.lax.scan(lambda c, _: (c @ B, None), c, None, length=n_dots)[0])

    def numpy_loop():
        c = A_np
        for _ in range(n_dots):
            c = c @ B_np
        return c

    return {"xla matmul": lambda: xla_loop(A), "numpy matmul": numpy_loop}


def run(repeats: int = 9, chunk: int = 1000, check_steps: int = 10, verbose: bool = True,
        torch_peers: bool = True) -> dict:
    """Measure steps/s of every loop side by side; return the results as a plain dict."""
    cfg = as_config({**CONFIG, "trainer": {**CONFIG["trainer"], "log_every": chunk}})
    experiment = Experiment.build(cfg)
    engine = Engine(experiment, chunk)
    numpy_gd = NumpyGD(experiment)
    n, depth = CONFIG["problem"]["n_rows"], CONFIG["model"]["depth"]
    flops = matmul_flops_per_step(n, depth)

    compile_start = time.perf_counter()
    engine.run(chunk)  # compile (and one warm-up chunk)
    compile_seconds = time.perf_counter() - compile_start
    numpy_gd.run(check_steps)  # warm-up

    loops = {"ours": lambda k: engine.params(engine.run(k)), "numpy": numpy_gd.run}
    peers: dict = {}
    torch = _torch() if torch_peers else None
    if torch is None:
        peers["torch"] = {"available": False, "why": "torch is not installed (pip install -e '.[bench]')"
                          if torch_peers else "skipped (--no-torch)"}
    else:
        peers["torch"] = {"available": True, "version": torch.__version__, "threads": torch.get_num_threads()}
        loops["torch eager"] = TorchEagerGD(experiment, torch).run
        started = time.perf_counter()
        try:
            compiled = TorchCompiledGD(experiment, torch)
            compiled.run(check_steps)  # compiles the loss (+ backward) and the optimizer step
            loops["torch.compile"] = compiled.run
            peers["torch.compile"] = {"available": True, "compile_seconds": time.perf_counter() - started}
        except Exception as exc:  # noqa: BLE001 — recorded, not hidden
            peers["torch.compile"] = {"available": False, "why": f"{type(exc).__name__}: {str(exc)[:500]}"}

    # Same iterates: every loop after check_steps steps from θ_0 against NumPy, and after a whole chunk.
    reference_k, reference_chunk = numpy_gd.run(check_steps), numpy_gd.run(chunk)
    check_diff, chunk_diff = {}, {}
    for side, loop in loops.items():
        if side != "numpy":
            check_diff[side] = _rel_diff(loop(check_steps), reference_k)
            chunk_diff[side] = _rel_diff(loop(chunk), reference_chunk)
    ours_chunk = engine.run(chunk)
    if int(ours_chunk.step) != chunk or int(ours_chunk.status) != RUNNING:
        raise AssertionError(f"the engine stopped early: step {int(ours_chunk.step)}, status {int(ours_chunk.status)}")

    n_dots = 1000
    peak = _peak_loops(n, n_dots)
    for fn in peak.values():
        jax.block_until_ready(fn())
    timed = {**{side: (lambda k=chunk, loop=loop: loop(k)) for side, loop in loops.items()}, **peak}
    rates = {side: {"wall": [], "cpu": [], "cpu_over_wall": []} for side in timed}
    for i in range(repeats):
        order = list(timed.items())
        for side, fn in (order if i % 2 == 0 else order[::-1]):
            _, wall, cpu = _timed(lambda fn=fn: jax.block_until_ready(fn()))
            units = n_dots if side in peak else chunk
            rates[side]["wall"].append(units / wall)
            rates[side]["cpu"].append(units / cpu)
            rates[side]["cpu_over_wall"].append(cpu / wall)
        if verbose:
            print(f"  repeat {i + 1}/{repeats}: " + ", ".join(
                f"{side} {rates[side]['cpu'][-1]:.0f}/cpu-s" for side in timed), file=sys.stderr)

    def ratio(a: str, b: str, kind: str) -> dict:
        return _spread([x / y for x, y in zip(rates[a][kind], rates[b][kind])])

    ratios = {"ours/numpy steps per second": ratio("ours", "numpy", "wall"),
              "ours/numpy steps per CPU second": ratio("ours", "numpy", "cpu")}
    for peer in ("torch eager", "torch.compile"):
        if peer in rates:
            ratios[f"ours/{peer} steps per second"] = ratio("ours", peer, "wall")
            ratios[f"ours/{peer} steps per CPU second"] = ratio("ours", peer, "cpu")
    # Peak: the faster of XLA's and NumPy's n×n×n product in the same repeat, per CPU second.
    peak_flops = [2 * n**3 * max(x, y) for x, y in zip(rates["xla matmul"]["cpu"], rates["numpy matmul"]["cpu"])]
    achieved = [flops * s for s in rates["ours"]["cpu"]]
    ratios["ours FLOP/s / peak matmul FLOP/s"] = _spread([a / p for a, p in zip(achieved, peak_flops)])
    targets = {name: {"target": t, "median": ratios[name]["median"], "met": bool(ratios[name]["median"] >= t)}
               for name, t in TARGETS.items() if name in ratios}
    for name in TARGETS:
        if name not in ratios:
            targets[name] = {"target": TARGETS[name], "median": None, "met": False,
                             "why": "peer not available: " + (peers.get("torch.compile") or peers["torch"])
                             .get("why", "")}
    check_passed = all(d <= CHECK_TOL for d in check_diff.values())
    result = {
        "name": NAME,
        "description": "GD steps/s, 100x100 rank-5 completion, 2,000 observations, depth-3 deep_matrix, "
                       "float64, one thread: ours (train_chunk) vs a hand-written NumPy loop, the Arora et al. "
                       "reference step in PyTorch eager, and the same step under torch.compile",
        "config": cfg,
        "loss": "mean over observations of ½(prediction − target)²",
        "chunk_len": chunk,
        "repeats": repeats,
        "compile_seconds": compile_seconds,
        "peers": peers,
        "threads": {**THREAD_ENV, "imported_before_env_was_set": _IMPORTED_TOO_EARLY},
        "flops_per_step": flops,
        "flops": {"achieved_per_cpu_s": _spread(achieved), "peak_per_cpu_s": _spread(peak_flops),
                  "peak_from": "max of XLA (lax.scan) and NumPy 100x100x100 float64 products, same repeat"},
        "check": {"steps": check_steps, "max_rel_diff": max(check_diff.values()), "tol": CHECK_TOL,
                  "passed": bool(check_passed), "per_loop": check_diff,
                  "max_rel_diff_after_chunk": max(chunk_diff.values()), "per_loop_after_chunk": chunk_diff},
        "ratios": ratios,
        "targets": targets,
        "rule": "medians of the steps-per-CPU-second ratios: ours ≥ 1× numpy, ≥ 2× torch eager, "
                "≥ 1× torch.compile; ours FLOP/s ≥ 40% of the measured peak matmul FLOP/s",
        "rule_passed": all(t["met"] for t in targets.values()),
    }
    for side in timed:
        result.setdefault("loops", {})[side] = {
            "per_s": _spread(rates[side]["wall"]), "per_cpu_s": _spread(rates[side]["cpu"]),
            "unit": "products" if side in peak else "steps",
            "cpu_over_wall": statistics.median(rates[side]["cpu_over_wall"])}
    result["ours"] = {"steps_per_s": result["loops"]["ours"]["per_s"],
                      "steps_per_cpu_s": result["loops"]["ours"]["per_cpu_s"],
                      "cpu_over_wall": result["loops"]["ours"]["cpu_over_wall"]}
    result["numpy"] = {"steps_per_s": result["loops"]["numpy"]["per_s"],
                       "steps_per_cpu_s": result["loops"]["numpy"]["per_cpu_s"],
                       "cpu_over_wall": result["loops"]["numpy"]["cpu_over_wall"]}
    return result


# --------------------------------------------------------------------------- profile

def _scan_loop(step, chunk: int):
    """``chunk`` applications of ``step`` in one compiled lax.scan (no checks, no bookkeeping)."""
    run_chunk = jax.jit(lambda params: jax.lax.scan(lambda p, _: (step(p), None), params, None, length=chunk)[0])
    return run_chunk


def _repeat(fn, n: int) -> None:
    for _ in range(n):
        fn()


def _cpu_us_interleaved(fns: dict, n_steps: int, repeats: int) -> dict:
    """µs of CPU time per step of each zero-argument callable (median over ``repeats``), timing
    them in turn within each repeat so that a change of load hits all of them alike."""
    for fn in fns.values():
        jax.block_until_ready(fn())
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.process_time()
            jax.block_until_ready(fn())
            times[name].append((time.process_time() - start) / n_steps * 1e6)
    return {name: statistics.median(values) for name, values in times.items()}


def profile(repeats: int = 7, chunk: int = 1000, check_steps: int = 10) -> dict:
    """Where the engine's time goes: µs of CPU time per GD step (median over ``repeats``) of

    - ``engine``: ``train_chunk`` (stop/divergence checks, per-step keys, optax chain);
    - ``jax.grad``: the same GD as a bare ``lax.scan`` of θ − lr ∇C(θ) on the engine's own
      objective (no checks; its W3 W2 W1 uses ``models.matmul``, whose VJP materializes the
      transposes before the backward dots): engine − this = the loop's bookkeeping;
    - ``jax.grad, plain @``: the same with W3 @ (W2 @ W1), where autodiff's backward dots take a
      transposed operand: this − jax.grad = what materializing the transposes saves;
    - ``numpy``: the hand-written loop;

    and of single 100x100 float64 products, XLA (in a scan) against NumPy, for each operand layout.
    """
    cfg = as_config({**CONFIG, "trainer": {**CONFIG["trainer"], "log_every": chunk}})
    experiment = Experiment.build(cfg)
    engine = Engine(experiment, chunk)
    numpy_gd = NumpyGD(experiment)
    objective, problem = experiment.objective, experiment.objective.problem
    lr = float(cfg["trainer"]["lr"])

    def plain_step(params):
        grads = jax.grad(objective)(params)
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)

    def plain_matmul_loss(params):
        W = params["W3"] @ (params["W2"] @ params["W1"])
        return problem.residual_loss(problem.measure(W))

    def plain_matmul_step(params):
        grads = jax.grad(plain_matmul_loss)(params)
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)

    loops = {"jax.grad": plain_step, "jax.grad, plain @": plain_matmul_step}
    reference = numpy_gd.run(check_steps)
    checks = {}
    for name, step in loops.items():
        few = _scan_loop(step, check_steps)(experiment.params0)
        checks[name] = _rel_diff([np.asarray(few[f"W{j}"]) for j in (1, 2, 3)], reference)
    compiled = {name: _scan_loop(step, chunk) for name, step in loops.items()}

    loops_to_time = {"engine (train_chunk)": lambda: engine.run(chunk)}
    for name, run_chunk in compiled.items():
        loops_to_time[name] = lambda run_chunk=run_chunk: run_chunk(experiment.params0)
    loops_to_time["numpy"] = lambda: numpy_gd.run(chunk)
    per_step = _cpu_us_interleaved(loops_to_time, chunk, repeats)

    rng = np.random.default_rng(0)
    A_np, B_np = rng.standard_normal((100, 100)), rng.standard_normal((100, 100))
    A, B = jnp.asarray(A_np), jnp.asarray(B_np)
    layouts = {"A @ B": (lambda c: c @ B, lambda: A_np @ B_np),
               "Aᵀ @ B (lhs contracted on dim 0)": (lambda c: c.T @ B, lambda: A_np.T @ B_np),
               "A @ Bᵀ": (lambda c: c @ B.T, lambda: A_np @ B_np.T)}
    n_dots = 1000
    dot_fns = {}
    for name, (xla_body, numpy_fn) in layouts.items():
        xla_loop = _scan_loop(lambda c, body=xla_body: body(c) * 1e-2, n_dots)
        dot_fns[(name, "xla")] = lambda loop=xla_loop: loop(A)
        dot_fns[(name, "numpy")] = lambda fn=numpy_fn: _repeat(fn, n_dots)
    dot_us = _cpu_us_interleaved(dot_fns, n_dots, repeats)
    dots = {name: {"xla": dot_us[(name, "xla")], "numpy": dot_us[(name, "numpy")]} for name in layouts}
    return {"us_per_step": per_step, "check_rel_diff": checks, "check_steps": check_steps,
            "dot_us": dots, "repeats": repeats, "chunk_len": chunk}


def profile_table(prof: dict) -> str:
    steps, dots = prof["us_per_step"], prof["dot_us"]
    numpy_us = steps["numpy"]
    lines = [f"Where the time goes: µs of CPU time per GD step (median of {prof['repeats']}), one thread:", "",
             "| loop | µs/step | vs numpy |", "|---|---|---|"]
    for name, us in steps.items():
        lines.append(f"| {name} | {us:.0f} | {numpy_us / us:.2f}× the speed |")
    lines += ["", "Single 100x100 float64 products, µs each:", "", "| product | XLA | NumPy |", "|---|---|---|"]
    for name, d in dots.items():
        lines.append(f"| {name} | {d['xla']:.1f} | {d['numpy']:.1f} |")
    lines += ["", "Same iterates as NumPy after {} steps (max relative difference): {}".format(
        prof["check_steps"], ", ".join(f"{k} {v:.1e}" for k, v in prof["check_rel_diff"].items()))]
    return "\n".join(lines)


def table(result: dict) -> str:
    """The side-by-side table (Markdown)."""
    lines = [
        f"Steps (or 100x100x100 products) per CPU second, median over {result['repeats']} repeats of "
        f"{result['chunk_len']} steps (min–max in brackets), one thread:",
        "",
        "| loop | per CPU second | per second | cpu/wall |",
        "|---|---|---|---|",
    ]
    for side, d in result["loops"].items():
        c, w = d["per_cpu_s"], d["per_s"]
        lines.append(f"| {side} | {c['median']:.0f} [{c['min']:.0f}–{c['max']:.0f}] | {w['median']:.0f} "
                     f"| {d['cpu_over_wall']:.2f} |")
    lines += ["", "| ratio | median [min–max] | target |", "|---|---|---|"]
    for name, r in result["ratios"].items():
        t = result["targets"].get(name)
        mark = f"≥ {t['target']:g}: {'met' if t['met'] else '**MISSED**'}" if t else ""
        lines.append(f"| {name} | **{r['median']:.3f}** [{r['min']:.3f}–{r['max']:.3f}] | {mark} |")
    for name, t in result["targets"].items():
        if name not in result["ratios"]:
            lines.append(f"| {name} | not measured | ≥ {t['target']:g}: **MISSED** ({t['why']}) |")
    f = result["flops"]
    lines += [
        "",
        f"Matmul FLOPs per step: 3(L−1)·2n³ = {result['flops_per_step']:.3g} (n = 100, L = 3); achieved "
        f"{f['achieved_per_cpu_s']['median'] / 1e9:.1f} GFLOP/s per CPU second against a measured peak of "
        f"{f['peak_per_cpu_s']['median'] / 1e9:.1f} GFLOP/s ({f['peak_from']}).",
        "Same iterates as NumPy after {} steps (max relative difference, tolerance {:.0e}): {}; after {} steps: {}."
        .format(result["check"]["steps"], result["check"]["tol"],
                ", ".join(f"{k} {v:.1e}" for k, v in result["check"]["per_loop"].items()), result["chunk_len"],
                ", ".join(f"{k} {v:.1e}" for k, v in result["check"]["per_loop_after_chunk"].items())),
    ]
    for name, peer in result["peers"].items():
        if not peer.get("available"):
            lines.append(f"{name}: not run — {peer['why']}")
        elif "compile_seconds" in peer:
            lines.append(f"{name}: compilation + {result['check']['steps']} steps took {peer['compile_seconds']:.1f} s "
                         "(not in the ratio).")
    lines.append(f"Engine compilation + first chunk: {result['compile_seconds']:.2f} s (not in the ratio).")
    lines.append(f"Targets ({result['rule']}): {'all met' if result['rule_passed'] else '**NOT all met**'}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed repeats (default 9)")
    parser.add_argument("--chunk", type=int, default=1000, help="steps per timed call = log_every (default 1000)")
    parser.add_argument("--check-steps", type=int, default=10, help="steps compared for equal iterates (default 10)")
    parser.add_argument("--profile", action="store_true",
                        help="also break the engine's time down against simpler loops (adds ~30 s)")
    parser.add_argument("--no-torch", action="store_true", help="leave out the PyTorch peers")
    parser.add_argument("--json-out", help="also write the result dict to this JSON file")
    args = parser.parse_args(argv)
    result = run(repeats=args.repeats, chunk=args.chunk, check_steps=args.check_steps,
                 torch_peers=not args.no_torch)
    result["details_md"] = table(result)
    print(table(result))
    if args.profile:
        result["profile"] = profile(chunk=args.chunk, check_steps=args.check_steps)
        print()
        print(profile_table(result["profile"]))
        result["details_md"] += "\n\n" + profile_table(result["profile"])
    write_json_out(args.json_out, result)
    return 0 if result["check"]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
