"""Metrics logged along a trajectory, computed from the parameters in one jitted call.

One :class:`~implicit_bias.metrics.base.Metric` per family of columns (``families.py``), folded by a
:class:`~implicit_bias.metrics.base.MetricSet` (``base.py``) into one function of (objective, params);
:func:`compute_metrics` is that function for the default families, jitted (vmapped by batched runs).

Columns (documented in docs/run-directory.md):

- ``loss``: the training loss L (mean of ½(prediction − target)², without penalty),
- ``modified_loss``: for discrete trainers and modified_flow, the Smith et al. (2021) modified
  loss C + (ε/4)‖∇C‖² (full batch) or C + ε/(4m) Σ_k ‖∇Ĉ_k‖² (minibatches),
- ``test_loss``: the held-out mean of ½(prediction − target)² (teacher_student, dataset, ratings),
- ``objective``: L + weight·R, what the trainer minimizes, and ``penalty`` = R,
- ``test_error``: ‖W − W*‖_F / ‖W*‖_F (NaN without a ground truth),
- ``test_mse_all_entries``: (1/(n·m)) Σ_ij (W − W*)_ij², the "test error" of Arora et al.'s code
  (only with a ground truth; :func:`mse_all_entries`),
- ``param_norm``: √(Σ over all parameter entries of θ²),
- ``end_to_end_norm``: ‖W‖_F (ℓ2 norm for vectors), ``end_to_end_l1``: Σ|W_ij|,
- matrix problems: ``singular_values`` (top-k of W), ``effective_rank`` (Roy & Vetterli
  2007), ``nuclear_norm``, ``nuclear_fro_ratio`` = ‖W‖_*/‖W‖_F (Zhao 2022), ``stable_rank`` =
  ‖W‖_F²/‖W‖_2²,
- mlp models: ``function_spectrum`` (top-k singular values of the input-output Jacobian stacked
  over the training inputs, :func:`implicit_bias.core.spectral.function_spectrum`), its
  ``function_effective_rank`` and ``function_nuclear_fro_ratio``,
- with the curvature keys of ``[metrics]`` (:mod:`implicit_bias.metrics.curvature`): ``sharpness``
  (λ_max of the Hessian of C), ``hessian_eigenvalues``, ``hessian_trace`` and
  ``hessian_trace_stderr`` (Hutchinson), ``batch_sharpness``,
- deep_matrix models: ``balancedness`` = max_j ‖W_{j+1}ᵀ W_{j+1} − W_j W_jᵀ‖_F (Arora et al.
  2018: zero at a balanced init and conserved by gradient flow),
- classification problems (:mod:`~implicit_bias.metrics.classification`): ``accuracy``,
  ``test_accuracy``, ``margin_l1``, ``margin_l2``, ``margin_linf`` = min_i y_i⟨x_i, β⟩/‖β‖_p,
  ``margin_fourier`` (circular convolutional models) and ``norm_l2`` = ‖β‖₂,
- function_regression on the circle (:mod:`~implicit_bias.metrics.residual_spectrum`):
  ``residual_spectrum`` = |DFT(f(x_i) − y_i)_k|/√n for k = 0 … ⌊n/2⌋.
"""

from __future__ import annotations

import equinox as eqx
import jax

from implicit_bias.core.models import Params
from implicit_bias.core.objective import Objective
from implicit_bias.metrics.base import At, Metric  # noqa: F401
from implicit_bias.metrics.columns import COLUMN_ORDER, column_rank  # noqa: F401
from implicit_bias.metrics.sets import MetricSet  # noqa: F401
from implicit_bias.metrics.curvature import Curvature, CurvatureSpec, curvature_metric  # noqa: F401
from implicit_bias.metrics.families import (  # noqa: F401
    Balancedness,
    EndToEndNorms,
    FunctionSpectrum,
    GroundTruthError,
    HeldOutLoss,
    Loss,
    ModifiedLoss,
    MSEAllEntries,
    ParamNorm,
    Spectrum,
    balancedness,
    default_metrics,
    modified_loss,
    mse_all_entries,
    param_norm,
    register_metric,
)


@eqx.filter_jit
def compute_metrics(objective: Objective, params: Params, top_k: int, lr: jax.Array | None = None,
                    batch_size: int = 0, extra: tuple[Metric, ...] = ()) -> dict[str, jax.Array]:
    """Every logged metric at ``params`` (one compiled call per objective structure); with ``lr``,
    also ``modified_loss`` (see :func:`modified_loss`); ``extra``: the run's configured families
    (e.g. :class:`~implicit_bias.metrics.curvature.Curvature`). A thin wrapper:
    ``MetricSet.build(objective, top_k, lr, batch_size, extra)(objective, params)``, jitted."""
    return MetricSet.build(objective, top_k, lr, batch_size, extra)(objective, params)
