"""Shared test helpers: tiny experiment configs (as dicts or TOML files) and a subprocess env.

    def test_something(tmp_path, tiny_toml):
        path = tiny_toml(tmp_path, "least_squares", trainer__lr=0.05, seed=3)

``tiny_config``/``tiny_toml`` take overrides as keyword arguments: ``a__b=v`` (or, through
``**{"a.b": v}``) sets the nested key ``a.b``; a value of ``None`` deletes the key. The bases
are small enough that a run takes well under a second once compiled.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import pytest

# One XLA/BLAS thread per process: the tests share a small machine with other jobs. Set before
# anything imports jax (conftest is imported first).
XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
os.environ.setdefault("XLA_FLAGS", XLA_FLAGS)
os.environ.setdefault("JAX_PLATFORMS", "cpu")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# No persistent compilation cache (execution/compile_cache.py) in tests: some count compilations.
os.environ["IMPLICIT_BIAS_COMPILATION_CACHE"] = "off"



@contextlib.contextmanager
def benchmark_module(name: str):
    """The module ``benchmarks/<name>.py``, imported with benchmarks/ on sys.path for the duration."""
    folder = str(Path(__file__).resolve().parents[1] / "benchmarks")
    sys.path.insert(0, folder)
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(folder)


@pytest.fixture(autouse=True)
def _stay_below_the_map_limit():
    """After each test, drop JAX's compiled code if the process holds more than half of
    vm.max_map_count memory mappings: the whole suite compiles ~20,000 executables in one process,
    which otherwise aborts XLA (execution/compiled_code.py)."""
    yield
    from implicit_bias.execution.compiled_code import release_compiled_code

    release_compiled_code()


BASES: dict[str, dict[str, Any]] = {
    # 10x10 rank-2 completion with 40 observed entries, depth-2 factorization: 5 logged rows.
    "completion": {
        "name": "tiny-completion",
        "seed": 0,
        "problem": {"kind": "matrix_completion", "n_rows": 10, "n_cols": 10, "rank": 2, "n_obs": 40,
                    "target_norm": 10.0},
        "model": {"kind": "deep_matrix", "depth": 2, "init_scale": 0.1},
        "trainer": {"kind": "gd", "lr": 0.5, "steps": 200, "log_every": 50},
    },
    # Over-parameterized least squares (10 samples, 20 features) from zero: 3 logged rows.
    "least_squares": {
        "name": "tiny-ls",
        "seed": 0,
        "problem": {"kind": "least_squares", "n_samples": 10, "n_features": 20},
        "model": {"kind": "linear"},
        "trainer": {"kind": "gd", "lr": 0.1, "steps": 100, "log_every": 50},
    },
    # 4x4 rank-1 Gaussian sensing with 12 measurements, linear (W itself) model.
    "sensing": {
        "name": "tiny-sensing",
        "seed": 0,
        "problem": {"kind": "matrix_sensing", "n_rows": 4, "n_cols": 4, "rank": 1, "n_measurements": 12},
        "model": {"kind": "linear"},
        "trainer": {"kind": "gd", "lr": 0.05, "steps": 40, "log_every": 20},
    },
}


def tiny_config(base: str = "completion", **overrides: Any) -> dict:
    """A deep copy of ``BASES[base]`` with ``overrides`` (``a__b=v`` or ``**{"a.b": v}``) applied."""
    cfg = copy.deepcopy(BASES[base])
    for dotted, value in overrides.items():
        parts = dotted.replace("__", ".").split(".")
        table = cfg
        for part in parts[:-1]:
            table = table.setdefault(part, {})
        if value is None:
            table.pop(parts[-1], None)
        else:
            table[parts[-1]] = value
    return cfg


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")


def to_toml(doc: dict, _prefix: str = "") -> str:
    """Minimal TOML writer for config documents (scalars and lists first, then sub-tables)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines += ["", f"[{_prefix}{k}]", to_toml(v, f"{_prefix}{k}.")]
    return "\n".join(lines).strip("\n") + "\n"


def tiny_toml(tmp_path: Path, base: str = "completion", filename: str = "experiment.toml",
              **overrides: Any) -> Path:
    """Write ``tiny_config(base, **overrides)`` as TOML to ``tmp_path / filename`` and return the path."""
    path = Path(tmp_path) / filename
    path.write_text(to_toml(tiny_config(base, **overrides)), encoding="utf-8")
    return path


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for ``[sys.executable, "-m", "implicit_bias.cli", ...]``: one XLA thread, CPU,
    the package importable even without an editable install."""
    env = dict(os.environ)
    env.update(XLA_FLAGS=XLA_FLAGS, JAX_PLATFORMS="cpu", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


@pytest.fixture(name="tiny_toml")
def _tiny_toml_fixture():
    """The :func:`tiny_toml` helper, as a fixture: ``tiny_toml(tmp_path, "least_squares", seed=1)``."""
    return tiny_toml


@pytest.fixture(name="tiny_config")
def _tiny_config_fixture():
    """The :func:`tiny_config` helper, as a fixture."""
    return tiny_config


@pytest.fixture(name="cli_env")
def _cli_env_fixture():
    """An environment for CLI subprocesses (see :func:`subprocess_env`)."""
    return subprocess_env()

