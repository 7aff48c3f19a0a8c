"""The ONE loop shared by every discrete trainer: a compiled ``lax.scan`` chunk and one host loop.

A trainer is an optax transformation (``optimizers.OPTIMIZERS``) plus a
gradient oracle (``gradients.oracle``: minibatch, noise, SAM). The loop runs
``log_every`` steps per compiled call (:func:`train_chunk`). Each step
samples the step objective C_k, evaluates it and its gradient at θ_k, and

- stops with status ``converged`` if the step is deterministic (full batch,
  no noise) and the training loss L(θ_k) ≤ ``stop_loss`` — stochastic
  trainers check the full training loss at the end of each chunk instead;
- stops with status ``underflow`` if ``stop_loss`` = 0 and the training loss or the whole gradient
  is exactly 0 (deterministic steps; stochastic trainers: the full training loss of a logged row);
- stops with status ``diverged`` if C_k(θ_k) or the gradient is not finite,
  or C_k(θ_k) exceeds ``blowup`` (10^20·(C(θ_0) + 1));
- otherwise applies ``n_inner`` optimizer updates on C_k (1 except for
  ``euler_same_batch``).

Hyper-parameters (lr, noise levels, ρ, ...) are traced arrays and the
randomness is ``fold_in(key, step)``: a new lr, init or seed never recompiles.

Between chunks, :func:`host_loop` logs a row per member and applies the host-side rules
(checkpoints, stochastic convergence, patience, wall-clock limit, interruption). It drives
*members*: a single run (:class:`SingleRun`, what :func:`train_discrete` trains) or a batch of
runs stacked along a leading axis and stepped under ``jax.vmap`` (:class:`VmappedMembers`,
what :func:`train_members` — and the sweep executor's ``execution.batched`` — trains), each
member with its own status. Every rule therefore exists once.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias.core.models import Params
from implicit_bias.core.objective import Objective
from implicit_bias.trainers.geometry import elapsed_time
from implicit_bias.trainers.gradients import StepSpec
from implicit_bias.trainers.info import modified_loss_lr
from implicit_bias.trainers.optimizers import hyperparameters
from implicit_bias.trainers.relative_lr import resolve_relative_lr

from implicit_bias.trainers.members import SingleRun, VmappedMembers, _host_ints, _stack  # noqa: E402
from implicit_bias.trainers.records import (  # noqa: E402,F401 - re-exported: the loop's vocabulary
    Checkpoint, EarlyStopping, Logger, Trajectory, external_stop, host_metrics, initial_opt_state)
from implicit_bias.trainers.step import (  # noqa: E402,F401
    CONVERGED, DIVERGED, HOST_STOPPED, RUNNING, STATUS_NAMES, Carry, train_chunk, train_chunk_batched)

# --------------------------------------------------------------------------- the host loop

def host_loop(members, trainers: Sequence[Any], carry: Carry, *,
              start_rows: Sequence[list[dict[str, Any]]] | None = None,
              on_log: Sequence[Callable[[dict[str, Any]], None] | None] | None = None,
              should_stop: Callable[[], bool] | None = None,
              on_checkpoint: Sequence[Callable[[Checkpoint], None] | None] | None = None) -> list[Trajectory]:
    """THE host loop of every discrete run: chunks of ``log_every`` compiled steps, a logged row per
    member after each, and the stopping rules, for ``members`` (a :class:`SingleRun` or
    :class:`VmappedMembers`) trained with the typed ``trainers[i]`` settings.

    Each member has its own status. On the device (``train_chunk``): ``converged`` at the step the
    training loss reaches ``stop_loss`` (deterministic steps), ``diverged`` when the step objective
    or its gradient is not finite or exceeds the blow-up threshold 10^20·(C(θ_0) + 1). On the host,
    at the end of a chunk: a checkpoint to ``on_checkpoint[i]`` when the step crosses a multiple of
    ``checkpoint_every``; ``converged`` when a stochastic trainer's full training loss is below
    ``stop_loss``; ``early_stopped`` after ``patience`` rows without a better ``test_loss``; then, for
    every member still running, ``max_time`` / ``interrupted`` (``should_stop()``; a checkpoint
    is written so the run resumes from exactly there). A member stopped on the host is frozen in
    the carry (it neither moves nor counts steps) while the others go on.
    """
    n, spec = members.n, members.spec
    first = trainers[0]  # steps, log_every, checkpoint_every, max_time: static, common to the members
    max_steps, log_every = int(first.steps), int(first.log_every)
    checkpoint_every, max_time = int(first.checkpoint_every), float(first.max_time)
    stop_values = [float(t.stop_loss) for t in trainers]
    on_log = on_log or [None] * n
    started = time.perf_counter()

    def notify(i: int, row: dict[str, Any]) -> None:
        if on_log[i] is not None:
            on_log[i](row)

    def checkpoint_of(i: int, step: int) -> Checkpoint:
        return Checkpoint(params=members.member(carry.params, i), opt_state=members.member(carry.opt_state, i),
                          step=step, rows=list(rows[i]))

    rows: list[list[dict[str, Any]]] = []
    initial = None
    for i in range(n):
        if start_rows is not None and start_rows[i]:
            rows.append(list(start_rows[i]))
        else:
            initial = initial or members.measure(carry.params)
            rows.append([{"step": 0, "t": 0.0, **initial[i]}])
        notify(i, rows[i][-1])
    blowup = members.per_member([1e20 * (abs(r[0]["objective"]) + 1.0) if np.isfinite(r[0]["objective"]) else np.inf
                                 for r in rows])
    stop_loss = members.per_member(stop_values)
    patience = [EarlyStopping(t.patience) for t in trainers]
    for i in range(n):
        for row in rows[i][1:]:
            patience[i].exhausted(row)
    status: list[str | None] = [None] * n
    status_step: list[int | None] = [None] * n
    steps = _host_ints(carry.step)
    while True:
        active = [i for i in range(n) if status[i] is None]
        if not active or int(steps[active[0]]) >= max_steps:
            break
        n_active = jnp.asarray(min(log_every, max_steps - int(steps[active[0]])), jnp.int64)
        carry = members.advance(carry, n_active, stop_loss, blowup, log_every)
        previous = steps
        steps, codes, code_steps = (_host_ints(x) for x in (carry.step, carry.status, carry.status_step))
        values = (members.measure(carry.params) if any(int(steps[i]) != rows[i][-1]["step"] for i in active)
                  else None)
        host_stopped = []
        for i in active:
            step = int(steps[i])
            if step != rows[i][-1]["step"]:
                last = rows[i][-1]
                t = elapsed_time(trainers[i], step, from_step=last["step"], from_time=last["t"])
                rows[i].append({"step": step, "t": t, **values[i]})
                notify(i, rows[i][-1])
            row = rows[i][-1]
            if codes[i] != RUNNING:
                status[i], status_step[i] = STATUS_NAMES[int(codes[i])], int(code_steps[i])
                continue
            if (on_checkpoint is not None and on_checkpoint[i] is not None and checkpoint_every
                    and step // checkpoint_every > int(previous[i]) // checkpoint_every):
                on_checkpoint[i](checkpoint_of(i, step))
            if not spec.deterministic and stop_values[i] == 0 and row["loss"] == 0:
                status[i], status_step[i] = "underflow", step
            elif not spec.deterministic and row["loss"] <= stop_values[i]:
                status[i], status_step[i] = "converged", step
            elif patience[i].exhausted(row):
                status[i], status_step[i] = "early_stopped", step
            if status[i] is not None:
                host_stopped.append(i)
        running = [i for i in active if status[i] is None]
        stop = external_stop(started, max_time, should_stop) if running else None
        if stop is not None:
            for i in running:
                status[i] = stop
                if stop == "interrupted" and on_checkpoint is not None and on_checkpoint[i] is not None:
                    on_checkpoint[i](checkpoint_of(i, int(steps[i])))  # resumable from exactly here
            break
        if host_stopped:
            carry = members.freeze(carry, host_stopped)
    wall = (time.perf_counter() - started) / n
    out = []
    for i in range(n):
        name = status[i] or "max_steps"
        if name == "max_steps" and not np.isfinite(rows[i][-1]["loss"]):
            name = "diverged"
        steps_i = int(steps[i])
        last = rows[i][-1]
        out.append(Trajectory(rows=rows[i], params=members.member(carry.params, i), status=name, steps=steps_i,
                              time=elapsed_time(trainers[i], steps_i, from_step=last["step"], from_time=last["t"]),
                              status_step=status_step[i], wall_seconds=wall))
    return out


def train_discrete(objective: Objective, params0: Params, trainer, *, key: jax.Array,
                   top_k: int = 10, on_log: Callable[[dict[str, Any]], None] | None = None,
                   should_stop: Callable[[], bool] | None = None, resume: Checkpoint | None = None,
                   on_checkpoint: Callable[[Checkpoint], None] | None = None, curvature=None) -> Trajectory:
    """Train with a discrete trainer (typed ``[trainer]`` settings), logging metrics every ``log_every`` steps.

    ``curvature``: the run's curvature metric family (``metrics.curvature_metric``) or None; with
    ``trainer.lr_relative``, the step is resolved first (``relative_lr.resolve_relative_lr``) and
    recorded in ``trajectory.extra`` (``resolved_lr``, ``initial_sharpness``).

    ``resume`` continues from a checkpoint; ``on_checkpoint`` receives one every
    ``checkpoint_every`` steps (at the end of the chunk that crosses the multiple). The rules are
    those of :func:`host_loop` with one member.
    """
    dtype = jax.tree_util.tree_leaves(params0)[0].dtype
    trainer, resolved = resolve_relative_lr(objective, params0, trainer, curvature)
    start = resume or Checkpoint(params=params0, opt_state=initial_opt_state(trainer, params0), step=0, rows=[])
    carry = Carry(params=start.params, opt_state=start.opt_state,
                  step=jnp.asarray(start.step, jnp.int64), status=jnp.asarray(RUNNING, jnp.int32),
                  status_step=jnp.asarray(-1, jnp.int64))
    run = SingleRun(objective, StepSpec.from_settings(trainer), hyperparameters(trainer, dtype), key, top_k,
                    modified_loss_lr(trainer), dtype, curvature)
    (trajectory,) = host_loop(run, [trainer], carry, start_rows=[start.rows], on_log=[on_log],
                              should_stop=should_stop, on_checkpoint=[on_checkpoint])
    trajectory.extra.update(resolved)
    return trajectory


def train_members(objectives: Sequence[Objective], params0: Sequence[Params], trainers: Sequence[Any],
                  keys: Sequence[jax.Array], *, top_k: int = 10,
                  on_checkpoint: Sequence[Callable[[Checkpoint], None] | None] | None = None,
                  curvatures: Sequence[Any] | None = None) -> list[Trajectory]:
    """Train members that share their static structure (tree structures, shapes, ``StepSpec``, steps,
    log_every) as one vmapped :func:`host_loop`; member i is trained as ``train_discrete`` would
    train it (to rounding: XLA may vectorize across the member axis differently). ``curvatures[i]``:
    member i's curvature metric family (all None or none None); each ``lr_relative`` member gets its
    own resolved step."""
    dtype = jax.tree_util.tree_leaves(params0[0])[0].dtype
    n = len(objectives)
    curvatures = list(curvatures) if curvatures is not None else [None] * n
    resolved = [resolve_relative_lr(o, p, t, c) for o, p, t, c in zip(objectives, params0, trainers, curvatures)]
    trainers = [t for t, _ in resolved]
    spec = StepSpec.from_settings(trainers[0])
    metric_lrs = [modified_loss_lr(t) for t in trainers]
    members = VmappedMembers(objectives, spec, [hyperparameters(t, dtype) for t in trainers], keys, top_k,
                             None if metric_lrs[0] is None else metric_lrs, dtype, curvatures)
    opt_states = [initial_opt_state(t, p) for t, p in zip(trainers, params0)]
    carry = Carry(params=_stack(params0), opt_state=_stack(opt_states),
                  step=jnp.zeros(n, jnp.int64), status=jnp.full(n, RUNNING, jnp.int32),
                  status_step=jnp.full(n, -1, jnp.int64))
    trajectories = host_loop(members, trainers, carry, on_checkpoint=on_checkpoint)
    for trajectory, (_, info) in zip(trajectories, resolved):
        trajectory.extra.update(info)
    return trajectories
