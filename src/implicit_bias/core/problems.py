"""Problems: the data, the measurement operator and the loss.

Every problem measures an *end-to-end* object ``W`` (a vector β for regression,
a matrix for completion and sensing) through a linear operator ``measure`` and
scores the predictions with the loss

    L(W) = (1/m) Σ_i ½ (measure(W)_i − y_i)²,

the mean of ½(prediction − target)² over the m observations. This is the
project-wide convention (the seeds and peer code disagree: Arora et al.'s
reference code uses the mean of (·)², twice ours). The generated matrix
problems take ``loss = "mse"`` for theirs, L_mse(W) = (1/m) Σ_i (measure(W)_i − y_i)²
= 2 L(W): twice the loss and the gradient (:data:`LOSS_WEIGHTS`).

The data depends only on the seed and the ``[problem]`` table: the random key
is derived from the seed and the name "problem", so changing the model,
trainer or penalty never changes X, y, the observed entries or W*.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias.errors import ConfigError
from implicit_bias.keys import named_key
from implicit_bias.settings.registry import problem_record
from implicit_bias.settings.typed import SectionSettings

#: c in L(W) = c · (1/m) Σ_i (measure(W)_i − y_i)², by the ``problem.loss`` option (docs/conventions.md).
LOSS_WEIGHTS = {"half_mse": 0.5, "mse": 1.0}


class Problem(eqx.Module):
    """Base class: a linear measurement operator, targets and (maybe) a ground truth."""

    targets: jax.Array
    ground_truth: jax.Array | None

    @property
    def shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def measure(self, W: jax.Array) -> jax.Array:
        """The predictions 𝒜(W) ∈ ℝ^m."""
        raise NotImplementedError

    def adjoint(self, r: jax.Array) -> jax.Array:
        """The adjoint 𝒜*(r), so that ⟨𝒜(W), r⟩ = ⟨W, 𝒜*(r)⟩."""
        raise NotImplementedError

    @property
    def n_observations(self) -> int:
        return self.targets.shape[0]

    def take(self, idx: jax.Array) -> "Problem":
        """The same problem restricted to the observations ``idx`` (a minibatch)."""
        raise NotImplementedError

    def loss_weight(self) -> float:
        """c in L = c · mean of (prediction − target)²: ½ here, ``LOSS_WEIGHTS[loss]`` for the
        problems with a ``loss`` option."""
        return LOSS_WEIGHTS["half_mse"]

    def residual_loss(self, predictions: jax.Array) -> jax.Array:
        """Mean of ½(prediction − target)² over the observations (of (·)² with ``loss = "mse"``)."""
        return self.loss_weight() * jnp.mean((predictions - self.targets) ** 2)

    def log_residual_loss(self, predictions: jax.Array) -> jax.Array:
        """ln L of the predictions, whose gradient is the normalized gradient ∇L/L (Nacson et al.
        2019). The classification problems override it with a log-sum-exp that never underflows."""
        return jnp.log(self.residual_loss(predictions))

    def loss(self, W: jax.Array) -> jax.Array:
        """L(W) = mean of ½(𝒜(W)_i − y_i)² (no ½ with ``loss = "mse"``)."""
        return self.residual_loss(self.measure(W))

    def test_loss(self, predict) -> jax.Array:
        """Held-out mean of ½(prediction − target)², ``predict(X)`` giving predictions; NaN without a test set."""
        return jnp.asarray(jnp.nan, self.targets.dtype)

    def test_error(self, W: jax.Array) -> jax.Array:
        """‖W − W*‖_F / ‖W*‖_F (the ℓ2 analogue for vectors); NaN without a ground truth."""
        if self.ground_truth is None:
            return jnp.asarray(jnp.nan, dtype=W.dtype)
        return jnp.linalg.norm((W - self.ground_truth).ravel()) / jnp.linalg.norm(self.ground_truth.ravel())

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays written to problem.npz."""
        raise NotImplementedError


class LeastSquares(Problem):
    """y = X β* + noise (or any regression data); the end-to-end object is β ∈ ℝ^d and 𝒜(β) = Xβ.

    ``X_test``/``y_test`` hold a held-out split where the problem has one (teacher_student, dataset).
    """

    X: jax.Array
    X_test: jax.Array | None = None
    y_test: jax.Array | None = None

    def test_loss(self, predict):
        if self.X_test is None:
            return jnp.asarray(jnp.nan, self.targets.dtype)
        return 0.5 * jnp.mean((predict(self.X_test) - self.y_test) ** 2)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.X.shape[1],)

    def measure(self, W):
        return self.X @ W

    def take(self, idx):
        return LeastSquares(targets=self.targets[idx], ground_truth=self.ground_truth, X=self.X[idx],
                            X_test=self.X_test, y_test=self.y_test)

    def adjoint(self, r):
        return self.X.T @ r

    def arrays(self):
        out = {"X": np.asarray(self.X), "y": np.asarray(self.targets)}
        if self.X_test is not None:
            out.update(X_test=np.asarray(self.X_test), y_test=np.asarray(self.y_test))
        if self.ground_truth is not None:
            out["ground_truth"] = np.asarray(self.ground_truth)
        return out


class CircleRegression(LeastSquares):
    """``function_regression`` on ``domain = "circle"``: rows of X are x_i = (cos θ_i, sin θ_i),
    θ_i = 2πi/n (core/functions.py). The same data and loss as :class:`LeastSquares`; the class
    marks the equispaced circle grid statically, so that metrics defined on it (the residual's DFT,
    ``metrics/residual_spectrum.py``) can decide whether they apply from the objective's structure.
    A minibatch (``take``) is no longer the grid and is a plain :class:`LeastSquares`."""


class MatrixCompletion(Problem):
    """Observed entries W*[rows_i, cols_i] (+ noise); stores indices, never a dense mask."""

    rows: jax.Array
    cols: jax.Array
    matrix_shape: tuple[int, int] = eqx.field(static=True)
    test_rows: jax.Array | None = None
    test_cols: jax.Array | None = None
    test_values: jax.Array | None = None
    loss_kind: str = eqx.field(static=True, default="half_mse")

    @property
    def shape(self):
        return self.matrix_shape

    def loss_weight(self) -> float:
        return LOSS_WEIGHTS[self.loss_kind]

    def held_out_loss(self, W: jax.Array) -> jax.Array:
        """Mean of ½(W_ij − value)² over the held-out entries (``ratings``); NaN without them."""
        if self.test_rows is None:
            return jnp.asarray(jnp.nan, W.dtype)
        return 0.5 * jnp.mean((W[self.test_rows, self.test_cols] - self.test_values) ** 2)

    def measure(self, W):
        return W[self.rows, self.cols]

    def take(self, idx):
        return MatrixCompletion(targets=self.targets[idx], ground_truth=self.ground_truth, rows=self.rows[idx],
                                cols=self.cols[idx], matrix_shape=self.matrix_shape, test_rows=self.test_rows,
                                test_cols=self.test_cols, test_values=self.test_values, loss_kind=self.loss_kind)

    def adjoint(self, r):
        return jnp.zeros(self.matrix_shape, r.dtype).at[self.rows, self.cols].add(r)

    def arrays(self):
        out = {"rows": np.asarray(self.rows), "cols": np.asarray(self.cols), "values": np.asarray(self.targets)}
        if self.test_rows is not None:
            out.update(test_rows=np.asarray(self.test_rows), test_cols=np.asarray(self.test_cols),
                       test_values=np.asarray(self.test_values))
        if self.ground_truth is not None:
            out["ground_truth"] = np.asarray(self.ground_truth)
        return out


class MatrixSensing(Problem):
    """y_i = ⟨A_i, W*⟩ (+ noise) with sensing matrices A ∈ ℝ^{m×n_rows×n_cols}."""

    A: jax.Array
    loss_kind: str = eqx.field(static=True, default="half_mse")

    @property
    def shape(self):
        return self.A.shape[1:]

    def loss_weight(self) -> float:
        return LOSS_WEIGHTS[self.loss_kind]

    def measure(self, W):
        return jnp.einsum("mij,ij->m", self.A, W)

    def take(self, idx):
        return MatrixSensing(targets=self.targets[idx], ground_truth=self.ground_truth, A=self.A[idx],
                             loss_kind=self.loss_kind)

    def adjoint(self, r):
        return jnp.einsum("mij,m->ij", self.A, r)

    def arrays(self):
        out = {"A": np.asarray(self.A), "y": np.asarray(self.targets)}
        if self.ground_truth is not None:
            out["ground_truth"] = np.asarray(self.ground_truth)
        return out


# --------------------------------------------------------------------------- generators

def _low_rank(key, n: int, m: int, rank: int, norm: float, symmetric: bool) -> jax.Array:
    """U Vᵀ with Gaussian factors (V = U for a PSD target), scaled to Frobenius norm ``norm``."""
    ku, kv = jax.random.split(key)
    U = jax.random.normal(ku, (n, rank))
    V = U if symmetric else jax.random.normal(kv, (m, rank))
    W = U @ V.T
    return W * (norm / jnp.linalg.norm(W))


def _least_squares(problem: SectionSettings, key) -> LeastSquares:
    n, d = problem.n_samples, problem.n_features
    kx, kb, ks, kn = jax.random.split(key, 4)
    G = jax.random.normal(kx, (n, d))
    if problem.design == "orthogonal":
        Q, R = jnp.linalg.qr(G)  # n >= d is validated: Q has orthonormal columns
        X = Q * jnp.sign(jnp.diag(R)) * jnp.sqrt(n)
    elif problem.design == "normalized_gaussian":  # ‖X_:j‖ = √n: diag(XᵀX/n) = 1, unweighted ℓ1 limits
        X = G * (jnp.sqrt(n) / jnp.linalg.norm(G, axis=0))
    else:
        X = G
    beta = jax.random.normal(kb, (d,))
    if problem.target == "sparse":
        support = jax.random.permutation(ks, d)[: problem.sparsity]
        beta = jnp.zeros(d).at[support].set(beta[: problem.sparsity])
    y = X @ beta + problem.noise * jax.random.normal(kn, (n,))
    return LeastSquares(targets=y, ground_truth=beta, X=X)


def _matrix_completion(problem: SectionSettings, key) -> MatrixCompletion:
    n, m = problem.n_rows, problem.n_cols
    kw, ko, kn = jax.random.split(key, 3)
    W_star = _low_rank(kw, n, m, problem.rank, problem.target_norm, symmetric=False)
    flat = jnp.sort(jax.random.choice(ko, n * m, (problem.n_obs,), replace=False))
    rows, cols = flat // m, flat % m
    values = W_star[rows, cols] + problem.noise * jax.random.normal(kn, (problem.n_obs,))
    return MatrixCompletion(targets=values, ground_truth=W_star, rows=rows.astype(jnp.int32),
                            cols=cols.astype(jnp.int32), matrix_shape=(n, m), loss_kind=problem.loss)


def _matrix_sensing(problem: SectionSettings, key) -> MatrixSensing:
    n, m, k = problem.n_rows, problem.n_cols, problem.n_measurements
    kw, ka, kq, kn = jax.random.split(key, 4)
    kind = problem.measurements
    W_star = _low_rank(kw, n, m, problem.rank, problem.target_norm, symmetric=kind != "gaussian")
    if kind == "gaussian":
        A = jax.random.normal(ka, (k, n, m))
    elif kind == "symmetric_gaussian":
        G = jax.random.normal(ka, (k, n, n))
        A = (G + jnp.swapaxes(G, 1, 2)) / jnp.sqrt(2.0)
    else:  # commuting: A_i = Q diag(a_i) Qᵀ with one orthogonal Q (Gunasekar et al. 2017, Thm 1)
        Q, _ = jnp.linalg.qr(jax.random.normal(kq, (n, n)))
        a = jax.random.normal(ka, (k, n))
        A = jnp.einsum("ij,kj,lj->kil", Q, a, Q)
    y = jnp.einsum("kij,ij->k", A, W_star) + problem.noise * jax.random.normal(kn, (k,))
    return MatrixSensing(targets=y, ground_truth=W_star, A=A, loss_kind=problem.loss)


def _razin_2x2(problem: SectionSettings, key) -> MatrixCompletion:
    """Razin & Cohen (2020): W[0,1] = W[1,0] = 1, W[1,1] = 0 observed, W[0,0] free; no ground truth."""
    return MatrixCompletion(targets=jnp.array([1.0, 1.0, 0.0]), ground_truth=None,
                            rows=jnp.array([0, 1, 1], jnp.int32), cols=jnp.array([1, 0, 1], jnp.int32),
                            matrix_shape=(2, 2))


from implicit_bias.core.datasets import dataset_problem, ratings_problem, teacher_student_problem  # noqa: E402
from implicit_bias.core.functions import function_regression_problem  # noqa: E402

#: How ``dataset`` builds a problem of each ``task`` other than regression: ``classification``,
#: ``(X, y, X_test, y_test, loss) -> Problem``, added by :mod:`implicit_bias.core.classification`
#: (imported with the package, core/__init__.py), which subclasses LeastSquares and so cannot be imported here.
DATASET_TASKS: dict = {}

_GENERATORS = {
    "teacher_student": lambda problem, key: teacher_student_problem(problem, key, LeastSquares),
    "dataset": lambda problem, key: dataset_problem(problem, key, LeastSquares, DATASET_TASKS),
    "ratings": lambda problem, key: ratings_problem(problem, key, MatrixCompletion),
    "least_squares": _least_squares,
    "matrix_completion": _matrix_completion,
    "matrix_sensing": _matrix_sensing,
    "razin_2x2": _razin_2x2,
    "function_regression": lambda problem, key: function_regression_problem(
        problem, key, CircleRegression if problem.domain == "circle" else LeastSquares),
}


def register_problem(kind: str, build) -> None:
    """Add a generator: ``build(problem_settings, key) -> Problem`` for ``[problem] kind = "<kind>"``.

    The kind's keys are declared first with ``settings.registry.register_kind("problem", kind, ...)``
    (docs/extending.md); ``key`` is the seed's "problem" key, so the data depends on the seed and
    ``[problem]`` only. A kind that exists is refused."""
    if kind in _GENERATORS:
        raise ValueError(f"problem kind {kind!r} has a generator already")
    if problem_record(kind) is None:
        raise ValueError(f"declare the keys of problem kind {kind!r} first (register_kind(\"problem\", ...))")
    _GENERATORS[kind] = build


def expected_shape(problem: SectionSettings) -> tuple[int, ...] | None:
    """The end-to-end shape the settings of ``[problem]`` determine: (d,) or (n_rows, n_cols); None
    when it is only known once the data is read (``dataset``, ``ratings``)."""
    record = problem_record(problem.kind)
    if record is not None:  # a registered kind: the shape it declared, if any
        return tuple(record.shape(problem.to_table())) if record.shape is not None else None
    if problem.kind in ("least_squares", "teacher_student"):
        return (problem.n_features,)
    if problem.kind == "function_regression":
        return (2,) if problem.domain == "circle" else (1,)
    if problem.kind in ("dataset", "ratings"):
        return None
    if problem.kind == "razin_2x2":
        return (2, 2)
    return (problem.n_rows, problem.n_cols)


def make_problem(problem: SectionSettings, seed: int, dtype: str = "float64") -> Problem:
    """Generate a problem from the settings of ``[problem]`` and the seed."""
    generated = _GENERATORS[problem.kind](problem, named_key(seed, "problem"))
    generated = jax.tree_util.tree_map(
        lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, generated)
    if expected_shape(problem) not in (None, generated.shape):
        raise AssertionError("problem shape mismatch")
    if not bool(jnp.all(jnp.isfinite(generated.targets))):
        raise ConfigError("problem", "generated targets are not finite")
    return generated
