"""Runs that differ only in traced values, trained together under ``jax.vmap`` in one process.

A sweep over seeds (or learning rates, init scales, α, penalty weights) of a small problem
spends most of its time outside arithmetic: one compiled call per chunk and one metrics call
per logged row *per run*, plus a process start and compilation per run. The runs of such a
group share every static choice (problem and model structure, trainer kind, steps,
log_every), so their compiled step is the same function of different arrays: stacking the
arrays along a leading axis and mapping the step with ``jax.vmap`` trains all of them with
one call per chunk.

What is batched (:data:`BATCHABLE_KEYS`): ``seed`` (problem data, init and sampling keys
are derived from it; the data of one problem table has the same shapes for every seed), the
traced ``[trainer]`` hyper-parameters of ``optimizers.TRACED_KEYS`` except ``n_inner`` (a
loop bound), ``trainer.stop_loss``, ``model.init_scale``, ``model.alpha`` and
``penalty.weight``. Configs equal once these keys are removed (and with the same
``StepSpec``: e.g. ``label_noise = 0`` and ``> 0`` compile different steps) form a
*group*. When the members are built, the group is split further by the structure of the
built objective and parameters (shapes, dtypes and static fields): for an ``mlp``,
``init_scale`` is σ_w, a static field of the model, so MLPs with different σ_w are never
batched together. Nothing is assumed: what is stacked is exactly what the code traces.

Each member keeps its own stopping: ``train_chunk`` already freezes a member whose status
is ``converged``/``diverged`` (it neither moves nor counts steps), so under vmap a finished
or diverged member stays at its own stop step with its own status while the others go on,
and NaNs in one member's lane never reach another's. Host-side stops (early stopping,
the end-of-chunk convergence test of stochastic trainers) set the member's status in the
carry so that it is frozen too. Every member's run directory is written by the same code
as an unbatched run (``run.finish_run``): same files, same summary keys, same rows.
``wall_seconds`` of a member is the batch's training time divided by its size.

Not batched (run one by one, as ``run()`` would): flows (adaptive diffrax steps differ per
member), baselines, ``max_time > 0`` (a per-run wall-clock limit), runs with a checkpoint
to resume from, and groups of one. ``batch = "auto"`` batches a group only when the problem
is small: the number of array entries of one member's objective (data) plus parameters is
at most :data:`AUTO_MAX_SIZE`, a threshold measured with ``benchmarks/sweeps.py --sizes``
(docs/sweeps.md).

Numbers: the batched step is the same XLA computation with a batch dimension; XLA may
vectorize a reduction or a product across it differently, so results agree with separate
runs to rounding (≈1e-16 relative per step, checked to 1e-12 by tests/test_batched.py)
rather than bit for bit (a logged ℓ1 sum has been seen to differ by one rounding).
"""

from __future__ import annotations

import copy
import json
import math
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import checkpoint, store
from . import config as config_mod
from .keys import named_key
from .metrics import column_rank, compute_metrics
from .run import (
    Experiment,
    RunResult,
    _start_run_dir,
    end_to_end_of,
    finish_run,
    load_run,
)
from .trainers import FLOW_KINDS, StepSpec, train_chunk
from .trainers.loop import (
    MODIFIED_LOSS_KINDS,
    RUNNING,
    STATUS_NAMES,
    Carry,
    Checkpoint,
    EarlyStopping,
    Trajectory,
    initial_opt_state,
)
from .trainers.optimizers import STATIC_KEYS, TRACED_KEYS, hyperparameters

BATCH_MODES = ("auto", "on", "off")
#: config keys that may differ inside a batch (every one is an array in the compiled step).
BATCHABLE_KEYS = ("seed", "model.init_scale", "model.alpha", "penalty.weight", "trainer.stop_loss",
                  *(f"trainer.{k}" for k in TRACED_KEYS if k != "n_inner"))
#: ``batch = "auto"``: batch a group when one member has at most this many array entries
#: (problem data + parameters). Measured with ``benchmarks/sweeps.py --sizes`` (docs/sweeps.md).
AUTO_MAX_SIZE = 100_000
#: most members in one batch (bounds memory; a larger group is split).
MAX_BATCH = 512
#: threads writing run directories of a finished batch (distinct directories; fsync releases the GIL).
WRITERS = 8
#: a host-side stop (early stopping, stochastic convergence) freezes the member in the carry.
HOST_STOPPED = 3


# --------------------------------------------------------------------------- grouping

def _drop(cfg: Mapping[str, Any], dotted: str) -> None:
    *path, last = dotted.split(".")
    table = cfg
    for part in path:
        table = table.get(part)
        if not isinstance(table, dict):
            return
    table.pop(last, None)


def can_batch(cfg: Mapping[str, Any]) -> bool:
    """Whether a resolved config can ever be vmap-batched (discrete trainer, no baseline, no max_time)."""
    trainer = cfg.get("trainer")
    return ("baseline" not in cfg and trainer is not None and trainer["kind"] not in FLOW_KINDS
            and not trainer.get("max_time", 0.0) > 0)


def group_key(cfg: Mapping[str, Any]) -> str:
    """The config with the batchable keys removed, plus its static step shape (``StepSpec``)."""
    static = copy.deepcopy(dict(cfg))
    for key in BATCHABLE_KEYS:
        _drop(static, key)
    return json.dumps(static, sort_keys=True, default=str) + repr(StepSpec.from_config(cfg["trainer"]))


def plan(configs: Sequence[Mapping[str, Any]], out: str | Path, mode: str = "auto",
         jobs: int = 1) -> list[list[int]]:
    """Split the indices of ``configs`` into tasks: ``[i]`` runs alone, ``[i, j, ...]`` as one batch.

    Finished runs (skipped quickly by ``run``), runs with a checkpoint to resume from and
    unbatchable configs are tasks of one. A group is cut into at least ``jobs`` batches (so that
    every worker gets one) of at most :data:`MAX_BATCH` members.
    """
    if mode not in BATCH_MODES:
        raise config_mod.ConfigError("sweep.batch", f"must be one of {', '.join(BATCH_MODES)}, got {mode!r}")
    out = Path(out)
    tasks: list[list[int]] = []
    groups: dict[str, list[int]] = {}
    for i, cfg in enumerate(configs):
        run_dir = out / config_mod.run_dir_name(cfg)
        if (mode == "off" or not can_batch(cfg)
                or store.finished_summary(run_dir, config_mod.config_hash(cfg)) is not None
                or (run_dir / checkpoint.CHECKPOINT).is_file()):
            tasks.append([i])
        else:
            groups.setdefault(group_key(cfg), []).append(i)
    for members in groups.values():
        n_batches = max(min(jobs, len(members)), math.ceil(len(members) / MAX_BATCH))
        size = math.ceil(len(members) / n_batches)
        tasks.extend(members[k:k + size] for k in range(0, len(members), size))
    return sorted(tasks, key=lambda t: t[0])


def _signature(experiment: Experiment) -> tuple:
    """Everything static about a built member: tree structures (with static fields) and leaf shapes."""
    trees = (experiment.objective, experiment.params0)
    leaves = jax.tree_util.tree_leaves(trees)
    return (jax.tree_util.tree_structure(trees), tuple((x.shape, str(x.dtype)) for x in leaves))


def problem_size(experiment: Experiment) -> int:
    """Array entries of one member: the objective's arrays (data, targets, weights) plus the parameters."""
    return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves((experiment.objective, experiment.params0)))


# --------------------------------------------------------------------------- the batched loop

def _stack(trees: Sequence[Any]) -> Any:
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


def _member(tree: Any, i: int) -> Any:
    return jax.tree_util.tree_map(lambda x: x[i], tree)


@eqx.filter_jit
def train_chunk_batched(objective, spec: StepSpec, hyper, static_hyper: Mapping[str, Any], carry: Carry,
                        key: jax.Array, n_active: jax.Array, stop_loss: jax.Array, blowup: jax.Array,
                        chunk_len: int) -> Carry:
    """``train_chunk`` mapped over a leading member axis of every array argument but ``n_active``."""
    def one(objective, hyper, carry, key, stop_loss, blowup):
        return train_chunk(objective, spec, {**hyper, **static_hyper}, carry, key, n_active, stop_loss, blowup,
                           chunk_len)
    return jax.vmap(one)(objective, hyper, carry, key, stop_loss, blowup)


@eqx.filter_jit
def metrics_batched(objective, params, top_k: int, lr: jax.Array | None, batch_size: int) -> dict:
    """``compute_metrics`` of every member in one call."""
    return jax.vmap(lambda o, p, lr: compute_metrics(o, p, top_k, lr, batch_size))(objective, params, lr)


def _rows(values: Mapping[str, np.ndarray], n: int) -> list[dict[str, Any]]:
    """Per-member metric dicts, converted as ``loop.host_metrics`` converts one run's."""
    names = sorted(values, key=column_rank)
    out = []
    for i in range(n):
        row = {}
        for name in names:
            value = np.asarray(values[name][i])
            row[name] = value.tolist() if value.ndim else float(value)
        out.append(row)
    return out


def train_batched(experiments: Sequence[Experiment], *, on_checkpoint: Sequence[Any] | None = None) -> list[Trajectory]:
    """Train experiments that share their static structure (see :func:`_signature`) as one vmapped loop.

    Follows ``loop.train_discrete`` step for step for each member (same chunks, same logged rows,
    same stopping rules); ``on_checkpoint[i]`` receives member i's checkpoints.
    """
    n = len(experiments)
    cfgs = [e.config for e in experiments]
    trainer0 = cfgs[0]["trainer"]
    spec = StepSpec.from_config(trainer0)
    dtype = jax.tree_util.tree_leaves(experiments[0].params0)[0].dtype
    hypers = [hyperparameters(c["trainer"], dtype) for c in cfgs]
    hyper = _stack([{k: h[k] for k in h if k not in STATIC_KEYS} for h in hypers])
    static_hyper = {k: hypers[0][k] for k in STATIC_KEYS if k in hypers[0]}
    objective = _stack([e.objective for e in experiments])
    params0 = _stack([e.params0 for e in experiments])
    lrs = [float(c["trainer"]["lr"]) for c in cfgs]
    modified = spec.kind in MODIFIED_LOSS_KINDS
    metric_lr = (jnp.asarray([lr / c["trainer"].get("n_inner", 1) for lr, c in zip(lrs, cfgs)], dtype)
                 if modified else None)
    batch_size, top_k = trainer0.get("batch_size", 0), cfgs[0]["metrics"]["top_k"]
    started = time.perf_counter()
    carry = Carry(params=params0, opt_state=_stack([initial_opt_state(c["trainer"], e.params0)
                                                     for c, e in zip(cfgs, experiments)]),
                  step=jnp.zeros(n, jnp.int64), status=jnp.full(n, RUNNING, jnp.int32),
                  status_step=jnp.full(n, -1, jnp.int64))
    keys = jnp.stack([named_key(c["seed"], "sampling") for c in cfgs])
    stop_values = [float(c["trainer"]["stop_loss"]) for c in cfgs]
    stop_loss = jnp.asarray(stop_values, dtype)
    rows = [[{"step": 0, "t": 0.0, **r}]
            for r in _rows(jax.device_get(metrics_batched(objective, params0, top_k, metric_lr, batch_size)), n)]
    blowup = jnp.asarray([1e20 * (abs(r[0]["objective"]) + 1.0) if np.isfinite(r[0]["objective"]) else np.inf
                          for r in rows], dtype)
    max_steps, log_every = int(trainer0["steps"]), int(trainer0["log_every"])
    checkpoint_every = int(trainer0.get("checkpoint_every", 0))
    patience = [EarlyStopping(c["trainer"].get("patience", 0)) for c in cfgs]
    status: list[str | None] = [None] * n
    status_step: list[int | None] = [None] * n
    while True:
        active = [i for i in range(n) if status[i] is None]
        step_now = int(carry.step[active[0]]) if active else max_steps
        if step_now >= max_steps:
            break
        n_active = jnp.asarray(min(log_every, max_steps - step_now), jnp.int64)
        carry = train_chunk_batched(objective, spec, hyper, static_hyper, carry, keys, n_active, stop_loss, blowup,
                                    log_every)
        steps, codes, code_steps = (np.asarray(x) for x in jax.device_get((carry.step, carry.status, carry.status_step)))
        values = _rows(jax.device_get(metrics_batched(objective, carry.params, top_k, metric_lr, batch_size)), n)
        host_stopped = []
        for i in active:
            step = int(steps[i])
            if step != rows[i][-1]["step"]:
                rows[i].append({"step": step, "t": lrs[i] * step, **values[i]})
            row = rows[i][-1]
            if codes[i] != RUNNING:
                status[i], status_step[i] = STATUS_NAMES[int(codes[i])], int(code_steps[i])
                continue
            if (on_checkpoint is not None and checkpoint_every
                    and step // checkpoint_every > step_now // checkpoint_every):
                on_checkpoint[i](Checkpoint(params=_member(carry.params, i), opt_state=_member(carry.opt_state, i),
                                            step=step, rows=list(rows[i])))
            if not spec.deterministic and row["loss"] <= stop_values[i]:
                status[i], status_step[i] = "converged", step
            elif patience[i].exhausted(row):
                status[i], status_step[i] = "early_stopped", step
            if status[i] is not None:
                host_stopped.append(i)
        if host_stopped:
            carry = carry._replace(status=carry.status.at[jnp.asarray(host_stopped)].set(HOST_STOPPED))
    wall = (time.perf_counter() - started) / n
    final_steps = np.asarray(jax.device_get(carry.step))
    out = []
    for i in range(n):
        name = status[i] or "max_steps"
        if name == "max_steps" and not np.isfinite(rows[i][-1]["loss"]):
            name = "diverged"
        steps_i = int(final_steps[i])
        out.append(Trajectory(rows=rows[i], params=_member(carry.params, i), status=name, steps=steps_i,
                              time=lrs[i] * steps_i, status_step=status_step[i], wall_seconds=wall))
    return out


# --------------------------------------------------------------------------- running a batch

def run_batch(configs: Sequence[Mapping[str, Any]], *, out: str | Path | None = None,
              mode: str = "on") -> list[RunResult]:
    """Run configs that :func:`plan` put in one batch; returns one :class:`RunResult` per config, in order.

    Members are built, split by :func:`_signature`, and each part of more than one member (and,
    with ``mode = "auto"``, of at most :data:`AUTO_MAX_SIZE` entries) is trained by
    :func:`train_batched`; everything else goes through ``run()``. Each member's run directory is
    written as ``run()`` writes it.
    """
    from .run import as_config, run

    cfgs = [as_config(c) for c in configs]
    results: list[RunResult | None] = [None] * len(cfgs)
    run_dirs = [None if out is None else Path(out) / config_mod.run_dir_name(c) for c in cfgs]
    todo = []
    for i, (cfg, run_dir) in enumerate(zip(cfgs, run_dirs)):
        digest = config_mod.config_hash(cfg)
        if run_dir is not None and store.finished_summary(run_dir, digest) is not None:
            results[i] = load_run(run_dir, skipped=True)
        elif (not can_batch(cfg) or mode == "off"
              or (run_dir is not None and (run_dir / checkpoint.CHECKPOINT).is_file())):
            results[i] = run(cfg, out=out)
        else:
            todo.append(i)
    experiments = {i: Experiment.build(cfgs[i]) for i in todo}
    parts: dict[Any, list[int]] = {}
    for i in todo:
        parts.setdefault(_signature(experiments[i]), []).append(i)
    for members in parts.values():
        small = problem_size(experiments[members[0]]) <= AUTO_MAX_SIZE
        if len(members) == 1 or (mode == "auto" and not small):
            for i in members:
                results[i] = run(cfgs[i], out=out)
            continue
        with ThreadPoolExecutor(WRITERS) as writers:  # each file is fsynced: overlap the waits
            list(writers.map(lambda i: _start_run_dir(run_dirs[i], cfgs[i], config_mod.config_hash(cfgs[i]),
                                                      experiments[i].objective.problem),
                             [i for i in members if run_dirs[i] is not None]))
        saves = [(lambda ck, d=run_dirs[i]: checkpoint.save(d, ck)) if run_dirs[i] is not None else (lambda ck: None)
                 for i in members]
        trajectories = train_batched([experiments[i] for i in members], on_checkpoint=saves)
        finals = []
        for i, trajectory in zip(members, trajectories):
            experiment = experiments[i]
            model, problem = experiment.objective.model, experiment.objective.problem
            params = {k: np.asarray(v) for k, v in jax.device_get(trajectory.params).items()}
            end_to_end = np.asarray(end_to_end_of(model, trajectory.params, problem))
            end_to_end_init = np.asarray(end_to_end_of(model, experiment.params0, problem))
            finals.append((i, (cfgs[i], run_dirs[i], trajectory, params, end_to_end, end_to_end_init)))
        with ThreadPoolExecutor(WRITERS) as writers:
            for i, result in zip([i for i, _ in finals], writers.map(lambda f: finish_run(*f[1]), finals)):
                results[i] = result
    return results  # type: ignore[return-value]


def run_task(configs: Sequence[Mapping[str, Any]], out: str, mode: str = "auto") -> list[dict]:
    """A sweep task in a worker: never raises; one result dict per config (as ``sweep.run_one``).

    If the batch itself fails, its members are rerun one by one so that one bad member cannot
    take the others with it."""
    from .sweep import run_one

    if len(configs) == 1:
        return [run_one(configs[0], out)]
    try:
        results = run_batch(configs, out=out, mode=mode)
    except BaseException:  # noqa: BLE001 - fall back to separate runs, each recording its own error
        traceback.print_exc()
        return [run_one(cfg, out) for cfg in configs]
    return [{"run_dir": str(r.path), "status": r.status, "skipped": r.skipped,
             "wall_seconds": r.summary.get("wall_seconds", 0.0), "steps": r.summary.get("steps", 0),
             "batch_size": len(configs)} for r in results]
