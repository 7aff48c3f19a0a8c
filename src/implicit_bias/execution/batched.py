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
traced ``[trainer]`` hyper-parameters (keys declared ``traced``) except ``n_inner`` (a
loop bound), ``trainer.stop_loss``, ``model.init_scale``, ``model.alpha`` and
``penalty.weight``. Configs equal once these keys are removed (and with the same
``StepSpec``: e.g. ``label_noise = 0`` and ``> 0`` compile different steps) form a
*group*. When the members are built, the group is split further by the structure of the
built objective and parameters (shapes, dtypes and static fields): for an ``mlp``,
``init_scale`` is σ_w, a static field of the model, so MLPs with different σ_w are never
batched together. Nothing is assumed: what is stacked is exactly what the code traces.

The loop is the one of a single run (``trainers.loop.host_loop`` with a member axis,
through ``trainers.train_members``), so the stopping rules, blow-up threshold, patience and
checkpoint cadence exist once. Each member keeps its own stopping: ``train_chunk`` already freezes a member whose status
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping, Sequence

import jax
import numpy as np

from implicit_bias.rundir import checkpoint
from implicit_bias.rundir import integrity
from implicit_bias import settings as config_mod
from implicit_bias.keys import named_key
from implicit_bias.settings.schema import KINDED_SECTIONS, TOP_LEVEL
from implicit_bias.execution.single import (
    Experiment,
    RunResult,
    _start_run_dir,
    end_to_end_of,
    run_curvature,
    finish_run,
    load_run,
)
from implicit_bias.settings.typed import section_settings
from implicit_bias.trainers import StepSpec, Trajectory, train_members, trainer_info

BATCH_MODES = ("auto", "on", "off")
def batchable_keys() -> tuple[str, ...]:
    """The config keys that may differ inside a batch (each an array in the compiled step), read from
    the ``batchable`` flags of the declarations now, so that kinds registered later (plug-ins,
    docs/extending.md) count too."""
    return tuple(sorted(
        {name for name, key in TOP_LEVEL.items() if key.batchable}
        | {f"{section}.{name}" for section in ("model", "trainer", "penalty")
           for keys in KINDED_SECTIONS[section][0].values() for name, key in keys.items() if key.batchable}))


#: the batchable keys of the built-in kinds (:func:`batchable_keys` at import).
BATCHABLE_KEYS = batchable_keys()


#: ``batch = "auto"``: batch a group when one member has at most this many array entries
#: (problem data + parameters). Measured with ``benchmarks/sweeps.py --sizes`` (docs/sweeps.md).
AUTO_MAX_SIZE = 100_000
#: most members in one batch (bounds memory; a larger group is split).
MAX_BATCH = 512
#: threads writing run directories of a finished batch (distinct directories; fsync releases the GIL).
WRITERS = 8


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
    return ("baseline" not in cfg and trainer is not None and trainer_info(trainer["kind"]).batchable
            and not trainer.get("max_time", 0.0) > 0)


def group_key(cfg: Mapping[str, Any]) -> str:
    """The config with the batchable keys removed, plus its static step shape (``StepSpec``)."""
    static = copy.deepcopy(dict(cfg))
    for key in batchable_keys():
        _drop(static, key)
    spec = StepSpec.from_settings(section_settings("trainer", cfg["trainer"]))
    return json.dumps(static, sort_keys=True, default=str) + repr(spec)


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
                or integrity.finished_summary(run_dir, config_mod.config_hash(cfg)) is not None
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

def train_batched(experiments: Sequence[Experiment], *, on_checkpoint: Sequence[Any] | None = None) -> list[Trajectory]:
    """Train experiments that share their static structure (see :func:`_signature`) as one vmapped loop.

    The loop is ``trainers.loop.host_loop``, the one of ``train_discrete``, with a member axis:
    same chunks, same logged rows, same stopping rules per member; ``on_checkpoint[i]``
    receives member i's checkpoints.
    """
    cfgs = [e.config for e in experiments]
    trainers = [section_settings("trainer", c["trainer"]) for c in cfgs]
    return train_members([e.objective for e in experiments], [e.params0 for e in experiments], trainers,
                         [named_key(c["seed"], "sampling") for c in cfgs], top_k=cfgs[0]["metrics"]["top_k"],
                         on_checkpoint=on_checkpoint,
                         curvatures=[run_curvature(c, t) for c, t in zip(cfgs, trainers)])


# --------------------------------------------------------------------------- running a batch

def run_batch(configs: Sequence[Mapping[str, Any]], *, out: str | Path | None = None,
              mode: str = "on") -> list[RunResult]:
    """Run configs that :func:`plan` put in one batch; returns one :class:`RunResult` per config, in order.

    Members are built, split by :func:`_signature`, and each part of more than one member (and,
    with ``mode = "auto"``, of at most :data:`AUTO_MAX_SIZE` entries) is trained by
    :func:`train_batched`; everything else goes through ``run()``. Each member's run directory is
    written as ``run()`` writes it.
    """
    from implicit_bias.execution.compile_cache import enable_compilation_cache
    from implicit_bias.execution.single import as_config, run

    enable_compilation_cache()
    cfgs = [as_config(c) for c in configs]
    results: list[RunResult | None] = [None] * len(cfgs)
    run_dirs = [None if out is None else Path(out) / config_mod.run_dir_name(c) for c in cfgs]
    todo = []
    for i, (cfg, run_dir) in enumerate(zip(cfgs, run_dirs)):
        digest = config_mod.config_hash(cfg)
        if run_dir is not None and integrity.finished_summary(run_dir, digest) is not None:
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


