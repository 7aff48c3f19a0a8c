"""Binary classification problems: labels y ∈ {−1, +1} scored by a classification loss of the margins.

:class:`BinaryClassification` is a :class:`~implicit_bias.core.problems.LeastSquares` (inputs X,
𝒜(β) = Xβ, the same adjoint and minibatches) whose loss is ``loss_kind`` of
:mod:`~implicit_bias.core.losses` — the mean over samples of log(1 + e^{−y f(x)}) (logistic),
e^{−y f(x)} (exponential) or ½(f(x) − y)² (half_mse). Conventions of its held-out numbers:

- ``test_loss`` = the same loss on the held-out split (X_test, y_test), NaN without one;
- ``test_error`` = the held-out misclassification rate (1/n_test) Σ 1[sign⟨x, β⟩ ≠ y], a
  prediction of exactly 0 counting as an error; NaN without a held-out split (there is no ground
  truth β*: the teacher of ``separable_classification`` fixes only a direction).

``separable_classification`` (:func:`separable_classification_problem`) draws x ~ N(0, I_d), a
unit teacher w* uniform on the sphere, y = sign⟨x, w*⟩, every sample with |⟨x, w*⟩| < ``margin``
redrawn (so the clean data is separable by w* with margin ``margin`` in ℓ2), then flips the labels
of exactly round(``flip``·n_samples) training samples. Rejection touches only the coordinate
along w*: x = z w* + (I − w* w*ᵀ) g with g ~ N(0, I_d) and z ~ N(0, 1) conditioned on |z| ≥ margin,
which is exactly the law of x ~ N(0, I_d) conditioned on |⟨x, w*⟩| ≥ margin; |z| is drawn by
inversion of the Gaussian tail, so any margin costs one draw per sample.

``design = "nonseparable"`` (:func:`nonseparable_samples`) builds the structure of Ji & Telgarsky
2018, "Risk and parameter convergence of logistic regression": S is a uniformly random
k-dimensional subspace orthogonal to w* (k = ``nonseparable_dim``); the first n − m rows of X are
drawn as above (separable by w* ⊥ S with margin ``margin``, with Gaussian components in S), the
last m = ``n_nonseparable`` rows are x = B c with B an orthonormal basis of S, c ~ N(0, I_k), and
labels ±1 uniform and independent of x (pure noise), the m points redrawn together until the
z_i = y_i x_i positively span S (rank k, and no u ≠ 0 in S with ⟨z_i, u⟩ ≥ 0 for all i, an LP).
Then the logistic risk of those m points has a unique minimizer on S, every u with ⟨z_i, u⟩ ≥ 0
for all n samples is orthogonal to S, and the separable rows are exactly the maximal separable
subset of Ji & Telgarsky's decomposition. m ≥ 2k makes each draw succeed with probability ≥ 1/2
(Wendel 1962: m symmetric points in general position lie in a half-space of ℝ^k with
probability 2^{1−m} Σ_{i<k} C(m−1, i)). The draws of w* and of the separable rows come first, so
they do not depend on m or k (m = k = 0 is the separable rows alone).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias.core import losses
from implicit_bias.core.problems import DATASET_TASKS, LeastSquares, register_problem
from implicit_bias.errors import ConfigError
from implicit_bias.settings import problem_kinds  # noqa: F401 - the record of separable_classification
from implicit_bias.settings.typed import SectionSettings


class BinaryClassification(LeastSquares):
    """Labels ±1 in ``targets`` (and ``y_test``), the loss ``loss_kind`` of the margins y·Xβ.

    ``teacher`` is the teacher direction w* of generated data (None for real data); ``separable``
    records whether the training split is linearly separable through the origin (an LP,
    :func:`is_linearly_separable`; None when not computed)."""

    teacher: jax.Array | None = None
    loss_kind: str = eqx.field(static=True, default="logistic")
    separable: jax.Array | None = None  # a 0-d bool array (a leaf, so that batched seeds may differ)

    def residual_loss(self, predictions):
        """L = (1/n) Σ_i ℓ(y_i f_i): the mean logistic or exponential loss of the margins (half_mse: ½(f − y)²)."""
        return losses.classification_loss(self.loss_kind, predictions, self.targets)

    def log_residual_loss(self, predictions):
        """ln L through log-sum-exp (:func:`~implicit_bias.core.losses.log_classification_loss`):
        finite where L underflows, and its gradient is ∇L/L."""
        return losses.log_classification_loss(self.loss_kind, predictions, self.targets)

    def test_loss(self, predict):
        if self.X_test is None:
            return jnp.asarray(jnp.nan, self.targets.dtype)
        return losses.classification_loss(self.loss_kind, predict(self.X_test), self.y_test)

    def test_error(self, W):
        """The held-out misclassification rate of sign(X_test β) (0 counts as wrong); NaN without a test set."""
        if self.X_test is None:
            return jnp.asarray(jnp.nan, W.dtype)
        return jnp.mean((self.y_test * (self.X_test @ W) <= 0).astype(W.dtype))

    def take(self, idx):
        return BinaryClassification(targets=self.targets[idx], ground_truth=None, X=self.X[idx],
                                    X_test=self.X_test, y_test=self.y_test, teacher=self.teacher,
                                    loss_kind=self.loss_kind, separable=self.separable)

    def arrays(self):
        out = {"X": np.asarray(self.X), "y": np.asarray(self.targets)}
        if self.X_test is not None:
            out.update(X_test=np.asarray(self.X_test), y_test=np.asarray(self.y_test))
        if self.teacher is not None:
            out["teacher"] = np.asarray(self.teacher)
        if self.separable is not None and self.teacher is None:
            out["separable"] = np.asarray(self.separable)
        return out


def is_linearly_separable(X: np.ndarray, y: np.ndarray) -> bool:
    """True if some w has y_i⟨x_i, w⟩ > 0 for every i (homogeneous: no bias, like the models here).

    By scaling, that is the feasibility of y_i⟨x_i, w⟩ ≥ 1, an LP solved with HiGHS (zero objective)."""
    from scipy import optimize

    X, y = np.asarray(X, float), np.asarray(y, float)
    result = optimize.linprog(np.zeros(X.shape[1]), A_ub=-(y[:, None] * X), b_ub=-np.ones(X.shape[0]),
                              bounds=(None, None), method="highs")
    if result.status not in (0, 2):
        raise RuntimeError(f"separability LP failed: {result.message}")
    return result.status == 0


def _numpy_rng(key: jax.Array) -> np.random.Generator:
    """A NumPy generator seeded from the problem key (as for the real-data splits)."""
    return np.random.default_rng(int(jax.random.randint(key, (), 0, 2**31 - 1)))


def _margin_samples(rng: np.random.Generator, n: int, teacher: np.ndarray, margin: float) -> np.ndarray:
    """n samples of x ~ N(0, I_d) conditioned on |⟨x, w*⟩| ≥ margin (w* a unit vector)."""
    from scipy import special

    g = rng.standard_normal((n, teacher.size))
    g -= np.outer(g @ teacher, teacher)
    # |z| = Φ⁻¹ of a uniform point of the upper tail P(Z ≥ t) = Φ(−t), t ≥ margin: |z| = −Φ⁻¹(u Φ(−margin))
    u = 1.0 - rng.random(n)  # in (0, 1]
    z = -special.ndtri(u * special.ndtr(-margin)) * rng.choice([-1.0, 1.0], n)
    return g + np.outer(z, teacher)


def fourier_teacher(d: int, frequency: int, rng: np.random.Generator) -> np.ndarray:
    """The unit teacher w*_j ∝ cos(2π k j/d + φ), j = 0 … d−1, φ uniform on [0, 2π) (one draw of ``rng``):
    a single real Fourier mode, so its unitary DFT is supported on the frequencies {k, d − k}.
    At k = 0 (and k = d/2 for even d) the mode is real, cos φ only sets its sign: φ is then 0."""
    if not 0 <= frequency <= d // 2:
        raise ConfigError("problem.teacher_frequency", f"must be in 0 … n_features/2 = {d // 2}, got {frequency}")
    phase = rng.uniform(0.0, 2 * np.pi)
    if 2 * frequency % d == 0:
        phase = 0.0
    w = np.cos(2 * np.pi * frequency * np.arange(d) / d + phase)
    return w / np.linalg.norm(w)


def positively_spans(Z: np.ndarray) -> bool:
    """True if the rows of Z ∈ ℝ^{m×k} positively span ℝ^k: rank k and no u ≠ 0 with Zu ≥ 0, i.e. the LP
    Zu ≥ 0, 1ᵀZu = 1 is infeasible (HiGHS). Then Σ_i ℓ(⟨z_i, u⟩) is coercive (Stiemke's lemma)."""
    from scipy import optimize

    Z = np.asarray(Z, float)
    if Z.shape[1] == 0:
        return True
    if np.linalg.matrix_rank(Z) < Z.shape[1]:
        return False
    result = optimize.linprog(np.zeros(Z.shape[1]), A_ub=-Z, b_ub=np.zeros(Z.shape[0]), A_eq=Z.sum(0)[None],
                              b_eq=[1.0], bounds=(None, None), method="highs")
    if result.status not in (0, 2):
        raise RuntimeError(f"positive-spanning LP failed: {result.message}")
    return result.status == 2


def nonseparable_samples(rng: np.random.Generator, basis: np.ndarray, m: int,
                         attempts: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """m points x = B c (B = ``basis``, d×k orthonormal; c ~ N(0, I_k)) with uniform labels ±1, redrawn together
    until the y_i c_i positively span ℝ^k (module docstring; each attempt succeeds with probability ≥ 1/2)."""
    k = basis.shape[1]
    for _ in range(attempts):
        c = rng.standard_normal((m, k))
        y = rng.choice([-1.0, 1.0], m)
        if positively_spans(y[:, None] * c):
            return c @ basis.T, y
    raise RuntimeError(f"no positively spanning draw of {m} points in {k} dimensions in {attempts} attempts")


def separable_classification_problem(problem: SectionSettings, key: jax.Array) -> BinaryClassification:
    """The ``separable_classification`` data (module docstring), deterministic in the problem key."""
    rng = _numpy_rng(key)
    d = problem.n_features
    if problem.teacher == "fourier":
        teacher = fourier_teacher(d, problem.teacher_frequency, rng)
    else:
        teacher = rng.standard_normal(d)
        teacher /= np.linalg.norm(teacher)
    if problem.design == "nonseparable":
        m, k = problem.n_nonseparable, problem.nonseparable_dim
        X = _margin_samples(rng, problem.n_samples - m, teacher, problem.margin)
        y = np.sign(X @ teacher)
        g = rng.standard_normal((d, k))
        basis = np.linalg.qr(g - np.outer(teacher, teacher @ g))[0]  # a uniform k-subspace of w*⊥
        X_in_s, y_in_s = nonseparable_samples(rng, basis, m)
        X, y = np.concatenate([X, X_in_s]), np.concatenate([y, y_in_s])
    else:
        X = _margin_samples(rng, problem.n_samples, teacher, problem.margin)
        y = np.sign(X @ teacher)
    flipped = rng.permutation(problem.n_samples)[: int(round(problem.flip * problem.n_samples))]
    y[flipped] *= -1
    held_out = {}
    if problem.n_test > 0:
        X_test = _margin_samples(rng, problem.n_test, teacher, problem.margin)
        held_out = dict(X_test=jnp.asarray(X_test), y_test=jnp.asarray(np.sign(X_test @ teacher)))
    return BinaryClassification(targets=jnp.asarray(y), ground_truth=None, X=jnp.asarray(X),
                                teacher=jnp.asarray(teacher), loss_kind=problem.loss, **held_out)


def classification_split(X: np.ndarray, y: np.ndarray, X_test: np.ndarray | None, y_test: np.ndarray | None,
                         loss: str) -> BinaryClassification:
    """A real-data classification problem from a train/test split with labels ±1 (``dataset``)."""
    held_out = {} if X_test is None else dict(X_test=jnp.asarray(X_test), y_test=jnp.asarray(y_test))
    return BinaryClassification(targets=jnp.asarray(y), ground_truth=None, X=jnp.asarray(X), loss_kind=loss,
                                separable=jnp.asarray(is_linearly_separable(X, y)), **held_out)


register_problem("separable_classification", separable_classification_problem)
DATASET_TASKS["classification"] = classification_split
