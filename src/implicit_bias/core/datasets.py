"""Data that is not a synthetic linear model: a teacher network, or a real data set.

Nothing is downloaded: ``dataset`` reads scikit-learn's bundled sets (diabetes, digits,
breast_cancer) or a user-given CSV/NPZ file, for regression or (``task = "classification"``, labels
±1) binary classification. Each problem gets a held-out split (``X_test``, ``y_test``) for the
``test_loss`` metric; the split is drawn from the problem key, so it depends only on the seed.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias.errors import ConfigError
from implicit_bias.settings.typed import SectionSettings


def _numpy_rng(key: jax.Array) -> np.random.Generator:
    """A NumPy generator seeded from the problem key (so splits depend only on seed + [problem])."""
    return np.random.default_rng(int(jax.random.randint(key, (), 0, 2**31 - 1)))


def teacher_student_problem(problem: SectionSettings, key: jax.Array, problem_cls):
    """x ~ N(0, I_d), y = f_teacher(x) + noise, with a random teacher MLP (NTK parameterization, σ_w = 1)."""
    from implicit_bias.core.models import MLP
    from implicit_bias.settings.resolution import resolve_section

    kx, kt, kn, ktest = jax.random.split(key, 4)
    d, n, n_test = problem.n_features, problem.n_samples, problem.n_test
    widths = problem.teacher_widths
    teacher = MLP(shape=(d,), widths=tuple([widths] if isinstance(widths, int) else widths),
                  activation=problem.activation, bias=False, parameterization="ntk")
    teacher_params = teacher.init(kt, resolve_section("model", {"kind": "mlp", "init_scale": 1.0}), jnp.float64)
    X = jax.random.normal(kx, (n, d))
    X_test = jax.random.normal(ktest, (n_test, d))
    y = teacher.apply(teacher_params, X) + problem.noise * jax.random.normal(kn, (n,))
    return problem_cls(targets=y, ground_truth=None, X=X, X_test=X_test, y_test=teacher.apply(teacher_params, X_test))


def _load_bundled(name: str) -> tuple[np.ndarray, np.ndarray]:
    import sklearn.datasets as skd

    if name == "diabetes":
        data = skd.load_diabetes()
    elif name == "digits":
        data = skd.load_digits()
    elif name == "breast_cancer":
        data = skd.load_breast_cancer()
    else:  # california: scikit-learn fetches it on first use; only a local cache is allowed here
        try:
            data = skd.fetch_california_housing(download_if_missing=False)
        except OSError:
            raise ConfigError("problem.name", "'california' is not shipped with scikit-learn and nothing is "
                              "downloaded at run time; give its file with `path` instead") from None
    return np.asarray(data.data, float), np.asarray(data.target, float)


def _load_file(problem: SectionSettings) -> tuple[np.ndarray, np.ndarray]:
    path = Path(problem.path)
    if not path.is_file():
        raise ConfigError("problem.path", f"file not found: {path}")
    target = problem.target
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                X, y = np.asarray(data["X"], float), np.asarray(data["y"], float)
        except (KeyError, ValueError, OSError) as exc:
            raise ConfigError("problem.path", f"an .npz needs numeric arrays X and y: {exc}") from None
        return X, y
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise ConfigError("problem.path", f"cannot read CSV {path}: {exc}") from None
    if target not in frame.columns:
        raise ConfigError("problem.target", f"column {target!r} not in {path} (columns: {list(frame.columns)})")
    features = list(problem.features or [c for c in frame.columns if c != target])
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise ConfigError("problem.features", f"columns {missing} not in {path}")
    try:
        return frame[features].to_numpy(float), frame[target].to_numpy(float)
    except ValueError as exc:
        raise ConfigError("problem.features", f"non-numeric data in {path}: {exc}") from None


def labels_to_pm1(y: np.ndarray, key: str = "problem.task") -> np.ndarray:
    """Map a target with exactly two values to −1 (the smaller) and +1 (the larger)."""
    values = np.unique(y)
    if values.size != 2:
        shown = ", ".join(f"{v:g}" for v in values[:5]) + (", …" if values.size > 5 else "")
        raise ConfigError(key, f"'classification' needs a target with exactly two values, got {values.size} "
                          f"({shown})")
    return np.where(y == values[1], 1.0, -1.0)


def _classification_rows(problem: SectionSettings, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``task = "classification"``: keep the rows of the two ``classes`` (if given), labels → ±1."""
    if problem.classes is not None:
        missing = [c for c in problem.classes if not np.any(y == c)]
        if missing:
            raise ConfigError("problem.classes", f"no rows of class {missing[0]} in the data")
        keep = np.isin(y, problem.classes)
        X, y = X[keep], y[keep]
    return X, labels_to_pm1(y)


def dataset_problem(problem: SectionSettings, key: jax.Array, problem_cls, tasks=None):
    """A bundled scikit-learn set or a CSV/NPZ file, split into train/test, optionally standardized.

    With ``task = "classification"`` the target is mapped to labels ±1 (the smaller of its two values
    to −1), only the features are standardized, and ``tasks["classification"]`` builds the problem."""
    X, y = _load_file(problem) if problem.path else _load_bundled(problem.name)
    classification = getattr(problem, "task", "regression") == "classification"
    if classification:
        X, y = _classification_rows(problem, X, y)
    if X.ndim != 2 or y.shape != (X.shape[0],) or not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise ConfigError("problem", f"the data must be finite, X of shape (n, d) and y of shape (n,); got "
                          f"{X.shape} and {y.shape}")
    rng = _numpy_rng(key)
    order = rng.permutation(X.shape[0])
    n_test = int(round(problem.test_fraction * X.shape[0]))
    if X.shape[0] - n_test < 1:
        raise ConfigError("problem.test_fraction", "leaves no training sample")
    test, train = order[:n_test], order[n_test:]
    if problem.standardize:
        mean, std = X[train].mean(0), X[train].std(0)
        std[std == 0] = 1.0
        X = (X - mean) / std
        if not classification:
            y = (y - y[train].mean()) / (y[train].std() or 1.0)
    if classification:
        return tasks["classification"](X[train], y[train], X[test] if n_test else None,
                                       y[test] if n_test else None, problem.loss or "logistic")
    as_jnp = jnp.asarray
    return problem_cls(targets=as_jnp(y[train]), ground_truth=None, X=as_jnp(X[train]),
                       X_test=as_jnp(X[test]) if n_test else None, y_test=as_jnp(y[test]) if n_test else None)


def read_ratings(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A MovieLens-style ratings file: whitespace-separated ``user item rating [timestamp]`` lines.

    Users and items are re-indexed densely from 0 in order of first appearance after sorting
    their ids, so rows/cols are the ranks of the ids (ids may be any integers).
    """
    if not path.is_file():
        raise ConfigError("problem.path", f"file not found: {path}")
    try:
        table = np.loadtxt(path, ndmin=2, usecols=(0, 1, 2))
    except (ValueError, OSError) as exc:
        raise ConfigError("problem.path", f"expected lines 'user item rating' in {path}: {exc}") from None
    if table.shape[0] == 0:
        raise ConfigError("problem.path", f"no ratings in {path}")
    if not np.all(np.isfinite(table)):
        raise ConfigError("problem.path", f"non-finite values in {path}")
    _, users = np.unique(table[:, 0], return_inverse=True)
    _, items = np.unique(table[:, 1], return_inverse=True)
    pairs = users.astype(np.int64) * (items.max() + 1) + items
    if np.unique(pairs).size != pairs.size:
        raise ConfigError("problem.path", f"duplicate (user, item) pairs in {path}")
    return users.astype(np.int32), items.astype(np.int32), table[:, 2].astype(float)


def ratings_problem(problem: SectionSettings, key: jax.Array, problem_cls):
    """Matrix completion on a ratings file, a random ``test_fraction`` of the ratings held out."""
    users, items, values = read_ratings(Path(problem.path))
    rng = _numpy_rng(key)
    order = rng.permutation(values.size)
    n_test = int(round(problem.test_fraction * values.size))
    if values.size - n_test < 1:
        raise ConfigError("problem.test_fraction", "leaves no training rating")
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    offset = values[train].mean() if problem.center else 0.0
    shape = (int(users.max()) + 1, int(items.max()) + 1)
    held_out = {} if n_test == 0 else dict(test_rows=jnp.asarray(users[test]), test_cols=jnp.asarray(items[test]),
                                           test_values=jnp.asarray(values[test] - offset))
    return problem_cls(targets=jnp.asarray(values[train] - offset), ground_truth=None,
                       rows=jnp.asarray(users[train]), cols=jnp.asarray(items[train]), matrix_shape=shape, **held_out)
