"""One run: config → problem, model, penalty → trainer → trajectory → run directory.

The run directory ``<out>/<name>-<8 hex of the config hash>/`` holds
(docs/run-directory.md is the contract):

- ``config.json``: the resolved config, its ``config_hash`` and a ``versions`` table,
- ``problem.npz``: the problem's arrays as generated from the seed,
- ``metrics.parquet``: one row per logged step,
- ``final.npz``: the final parameters, ``end_to_end`` and ``end_to_end_init``,
- ``summary.json``: status, steps, time, wall_seconds and the final metrics,
  written last: a directory without it is unfinished.
"""

from __future__ import annotations

import functools
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import jax
import numpy as np
import pandas as pd

from implicit_bias.execution.compile_cache import enable_compilation_cache
from implicit_bias.rundir import checkpoint
from implicit_bias.rundir import files as store
from implicit_bias.rundir import integrity
from implicit_bias import settings as config_mod
from implicit_bias.baselines.runs import run_baseline
from implicit_bias.plugins import load_plugins
from implicit_bias.settings import ConfigError, as_config  # noqa: F401 - as_config re-exported (engine API)
from implicit_bias.keys import named_key
from implicit_bias.core.models import make_model
from implicit_bias.core.objective import Objective
from implicit_bias.core.penalties import make_penalty
from implicit_bias.core.problems import Problem, make_problem
from implicit_bias.settings.typed import RunSettings, section_settings
from implicit_bias.metrics import curvature_metric
from implicit_bias.trainers import Trajectory, resolve_relative_lr, train, trainer_info


@dataclass
class RunResult:
    """A finished run: its config, trajectory (one row per logged step) and final state."""

    config: dict
    trajectory: pd.DataFrame
    params: dict[str, np.ndarray]
    end_to_end: np.ndarray
    end_to_end_init: np.ndarray
    summary: dict
    path: Path | None = None
    skipped: bool = False

    @property
    def status(self) -> str:
        return self.summary["status"]


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for package in ("implicit-bias", "jax", "jaxlib", "optax", "numpy"):
        try:
            out[package.replace("-", "_")] = md.version(package)
        except md.PackageNotFoundError:
            out[package.replace("-", "_")] = "unknown"
    return tuple(out.items())


def versions() -> dict[str, str]:
    """Python and package versions recorded in config.json (read once per process)."""
    return dict(_versions())


@dataclass
class Experiment:
    """The built pieces of a run, before training."""

    config: dict
    objective: Objective
    params0: dict

    @classmethod
    def build(cls, cfg: dict) -> "Experiment":
        settings = RunSettings.from_resolved(cfg)
        dtype = settings.dtype
        problem = make_problem(settings.problem, settings.seed, dtype)
        model = make_model(settings.model, problem.shape)
        params0 = model.init(named_key(settings.seed, "init"), settings.model, dtype)
        objective = Objective(problem=problem, model=model, penalty=make_penalty(settings.penalty, dtype))
        return cls(config=cfg, objective=objective, params0=params0)


def summarize(trajectory: Trajectory, final_metrics: Mapping[str, Any]) -> dict:
    summary = {
        "status": trajectory.status,
        "steps": trajectory.steps,
        "time": trajectory.time,
        "wall_seconds": trajectory.wall_seconds,
        "final": dict(final_metrics),
    }
    if trajectory.status_step is not None:
        summary[f"{trajectory.status}_step"] = trajectory.status_step
    extra = dict(trajectory.extra)
    if "resumed_from_step" in extra:
        summary["resumed_from_step"] = extra.pop("resumed_from_step")
    for name in ("resolved_lr", "initial_sharpness"):  # trainer.lr_relative (trainers/relative_lr.py)
        if name in extra:
            summary[name] = extra.pop(name)
    if extra:
        summary["solver"] = extra
    return summary


def run(config: Mapping[str, Any] | str | Path | None = None, *, out: str | Path | None = None,
        overrides: list[str] | None = None, force: bool = False,
        on_log: Callable[[dict], None] | None = None,
        should_stop: Callable[[], bool] | None = None) -> RunResult:
    """Run one experiment.

    ``config`` is a config dict, a TOML path, or None for the embedded default.
    With ``out``, the run directory is written under it (and a finished run with
    the same config hash is loaded instead of rerun unless ``force``); without,
    nothing touches the disk. Bad input raises :class:`ConfigError` before any
    file is created.
    """
    load_plugins()  # the extensions of IMPLICIT_BIAS_PLUGINS, before the config names their kinds
    cfg = as_config(config, overrides)
    run_dir = Path(out) / config_mod.run_dir_name(cfg) if out is not None else None
    digest = config_mod.config_hash(cfg)
    if run_dir is not None and not force and integrity.finished_summary(run_dir, digest) is not None:
        return load_run(run_dir, skipped=True)
    enable_compilation_cache()  # a second run of the same shapes does not compile again (compile_cache.py)
    if "baseline" in cfg:
        trajectory, end_to_end, end_to_end_init, problem, _ = run_baseline(RunSettings.from_resolved(cfg))
        params = {"W": np.asarray(end_to_end)}
        if run_dir is not None:
            _start_run_dir(run_dir, cfg, digest, problem)
    else:
        trajectory, params, end_to_end, end_to_end_init = _train(cfg, run_dir, digest, force, on_log, should_stop)
    return finish_run(cfg, run_dir, trajectory, params, end_to_end, end_to_end_init)


def finish_run(cfg: dict, run_dir: Path | None, trajectory: Trajectory, params: dict[str, np.ndarray],
               end_to_end: np.ndarray, end_to_end_init: np.ndarray) -> RunResult:
    """Write metrics.parquet, final.npz and (last) summary.json of a trained run; drop its checkpoint.

    Shared by :func:`run` and the vmap-batched sweep executor (``batched.py``), so that a batched
    member's run directory is written exactly as an unbatched run's."""
    frame = pd.DataFrame(trajectory.rows)
    summary = summarize(trajectory, trajectory.rows[-1] if trajectory.rows else {})
    if run_dir is not None:
        store.write_parquet(run_dir / store.METRICS, frame)
        store.write_npz(run_dir / store.FINAL, {**params, "end_to_end": end_to_end,
                                                 "end_to_end_init": end_to_end_init})
        store.write_json(run_dir / store.SUMMARY, summary)
        if summary["status"] != "interrupted":
            checkpoint.remove(run_dir)
    return RunResult(config=cfg, trajectory=frame, params=params, end_to_end=end_to_end,
                     end_to_end_init=end_to_end_init, summary=summary, path=run_dir)


def _train(cfg: dict, run_dir: Path | None, digest: str, force: bool, on_log, should_stop):
    """Build and train; with a run directory, resume from its checkpoint and write new ones."""
    experiment = Experiment.build(cfg)
    problem, model = experiment.objective.problem, experiment.objective.model
    trainer = section_settings("trainer", cfg["trainer"])
    curvature = run_curvature(cfg, trainer)
    trainer, resolved_lr = resolve_relative_lr(experiment.objective, experiment.params0, trainer, curvature)
    resume = None
    if run_dir is not None:
        if force:
            checkpoint.remove(run_dir)
        elif _same_config(run_dir, digest) and trainer_info(trainer).resumable:
            resume = checkpoint.load(run_dir, trainer, experiment.params0)
        _start_run_dir(run_dir, cfg, digest, problem)
    started = time.perf_counter()
    trajectory = train(experiment.objective, experiment.params0, trainer,
                       key=named_key(cfg["seed"], "sampling"), top_k=cfg["metrics"]["top_k"],
                       on_log=on_log, should_stop=should_stop, resume=resume,
                       on_checkpoint=None if run_dir is None else lambda ck: checkpoint.save(run_dir, ck),
                       curvature=curvature)
    trajectory.wall_seconds = time.perf_counter() - started
    trajectory.extra.update(resolved_lr)
    if resume is not None:
        trajectory.extra["resumed_from_step"] = resume.step
    params = {k: np.asarray(v) for k, v in jax.device_get(trajectory.params).items()}
    end_to_end = np.asarray(end_to_end_of(model, trajectory.params, problem))
    end_to_end_init = np.asarray(end_to_end_of(model, experiment.params0, problem))
    return trajectory, params, end_to_end, end_to_end_init


def run_curvature(cfg: Mapping[str, Any], trainer):
    """The run's curvature metric family (issue 17; None when its columns are off): the ``[metrics]``
    curvature keys, the key ``named_key(seed, "curvature")`` and the trainer's minibatch size."""
    return curvature_metric(cfg["metrics"], named_key(cfg["seed"], "curvature"), getattr(trainer, "batch_size", 0))


def end_to_end_of(model, params, problem) -> jax.Array:
    """The end-to-end matrix/vector; for an MLP, its predictions on the training inputs."""
    return model.end_to_end(params) if model.has_end_to_end else model.predict(params, problem)


def _same_config(run_dir: Path, digest: str) -> bool:
    try:
        return store.read_json(run_dir / store.CONFIG).get("config_hash") == digest
    except (OSError, ValueError, AttributeError):
        return False


def _start_run_dir(run_dir: Path, cfg: dict, digest: str, problem: Problem) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / store.SUMMARY).unlink(missing_ok=True)
    store.write_json(run_dir / store.CONFIG, {**cfg, "config_hash": digest, "versions": versions()})
    store.write_npz(run_dir / store.PROBLEM, problem.arrays())


def load_run(run_dir: str | Path, *, skipped: bool = False) -> RunResult:
    """Load a finished run directory (no pickling anywhere)."""
    run_dir = Path(run_dir)
    try:
        cfg = store.read_json(run_dir / store.CONFIG)
        summary = store.read_json(run_dir / store.SUMMARY)
        final = store.read_npz(run_dir / store.FINAL)
        frame = store.read_parquet(run_dir / store.METRICS)
    except (OSError, ValueError) as exc:
        raise ConfigError("run_dir", f"cannot read run directory {run_dir}: {exc}") from None
    end_to_end = final.pop("end_to_end")
    end_to_end_init = final.pop("end_to_end_init")
    cfg = {k: v for k, v in cfg.items() if k not in ("versions", "config_hash")}
    return RunResult(config=cfg, trajectory=frame, params=final, end_to_end=end_to_end,
                     end_to_end_init=end_to_end_init, summary=summary, path=run_dir, skipped=skipped)
