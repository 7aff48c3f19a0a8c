"""The declared engine API: what reproductions and benchmarks build on.

Internals may move between modules; the names here stay (docs/architecture.md). Each is the object
of the module named beside it:

- settings: :func:`resolve`, :func:`resolve_section`, :func:`section_settings`, :class:`RunSettings`,
  :func:`config_hash`, :func:`run_dir_name`, :class:`ConfigError`;
- randomness: :func:`named_key` (one seed split by name: problem / init / sampling);
- core: :func:`make_problem`, :func:`make_model`, :func:`make_penalty`, :class:`Objective`, and the
  modules ``theory`` (closed forms), ``spectral``, ``curvature`` (Hessian eigenvalues and trace);
- metrics: :func:`compute_metrics`, :func:`balancedness`;
- trainers: :func:`train`, the compiled chunk :func:`train_chunk` with its :class:`Carry`,
  :class:`StepSpec`, :func:`hyperparameters`, :func:`initial_opt_state`, :func:`oracle`,
  :func:`batch_indices`, ``RUNNING``;
- baselines: the module ``estimators`` (min-norm, ridge, basis pursuit, Q_α, min nuclear norm);
- runs: :class:`Experiment` (the built pieces of one config), :func:`as_config`, :func:`run`,
  :func:`load_run`, :class:`RunResult`; sweeps: :class:`Sweep`, :func:`expand`, :func:`execute`;
  run-directory files: ``files``;
- extensions (docs/extending.md): :func:`register_kind` (the keys of a new kind, with :class:`Key` and
  its helpers ``int_key``/``float_key``/``choice_key``/``traced``/``batchable``, and the tables
  ``DISCRETE_TRAINER_KEYS``/``MINIBATCH_KEYS``), :func:`register_problem` (with :class:`Problem`,
  :class:`LeastSquares`), :func:`register_trainer` (with :class:`TrainerInfo`),
  :func:`register_metric` (with :class:`Metric`, :class:`At`), :func:`register_loss` (with
  :class:`ClassificationLoss`), :func:`load_plugins`.
"""

from implicit_bias.baselines import estimators  # noqa: F401
from implicit_bias.core import curvature, spectral, theory  # noqa: F401
from implicit_bias.core.losses import ClassificationLoss, register_loss  # noqa: F401
from implicit_bias.core.models import make_model  # noqa: F401
from implicit_bias.core.objective import Objective  # noqa: F401
from implicit_bias.core.penalties import make_penalty  # noqa: F401
from implicit_bias.core.problems import LeastSquares, Problem, make_problem, register_problem  # noqa: F401
from implicit_bias.errors import ConfigError  # noqa: F401
from implicit_bias.execution.single import Experiment, RunResult, as_config, load_run, run  # noqa: F401
from implicit_bias.keys import named_key  # noqa: F401
from implicit_bias.metrics import At, Metric, balancedness, compute_metrics, register_metric  # noqa: F401
from implicit_bias.plugins import load_plugins  # noqa: F401
from implicit_bias.rundir import files  # noqa: F401
from implicit_bias.settings import (  # noqa: F401
    RunSettings,
    config_hash,
    resolve,
    resolve_section,
    run_dir_name,
    section_settings,
)
from implicit_bias.settings.registry import register_kind  # noqa: F401
from implicit_bias.settings.schema import (  # noqa: F401
    DISCRETE_TRAINER_KEYS,
    MINIBATCH_KEYS,
    Key,
    batchable,
    choice_key,
    float_key,
    int_key,
    traced,
)
from implicit_bias.sweeps.sweep import Sweep, execute, expand  # noqa: F401
from implicit_bias.trainers import TrainerInfo, register_trainer, train  # noqa: F401
from implicit_bias.trainers.gradients import StepSpec, batch_indices, oracle  # noqa: F401
from implicit_bias.trainers.loop import RUNNING, Carry, initial_opt_state, train_chunk  # noqa: F401
from implicit_bias.trainers.optimizers import hyperparameters  # noqa: F401

__all__ = [
    "At", "ClassificationLoss", "DISCRETE_TRAINER_KEYS", "Key", "LeastSquares", "MINIBATCH_KEYS", "Metric", "Problem", "TrainerInfo",
    "batchable", "choice_key", "float_key", "int_key", "load_plugins", "register_kind", "register_metric",
    "register_loss", "register_problem", "register_trainer", "traced",
    "Carry", "ConfigError", "Experiment", "Objective", "RUNNING", "RunResult", "RunSettings", "StepSpec",
    "Sweep", "as_config", "balancedness", "batch_indices", "compute_metrics", "config_hash", "curvature",
    "estimators", "execute", "expand", "files", "hyperparameters", "initial_opt_state", "load_run",
    "make_model", "make_penalty", "make_problem", "named_key", "oracle", "resolve", "resolve_section", "run",
    "run_dir_name", "section_settings", "spectral", "theory", "train", "train_chunk",
]
