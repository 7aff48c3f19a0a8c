"""The experiment config: schema, defaults, validation, overrides and hashing.

A config is plain data (TOML in, JSON out). :func:`resolve` turns a user's
partial document into the *resolved* config: every default filled in, every
value type-checked and range-checked, every cross-field constraint verified.
Anything wrong raises one :class:`ConfigError` naming the key path, which the
CLI turns into a one-line message and exit status 2.

The schema below is the single source of truth for the keys: docs/config.md
documents each of them and ``tests/test_config.py`` checks that it does.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import reprlib
import tomllib
from pathlib import Path
from typing import Any, Mapping


class ConfigError(ValueError):
    """A bad config value. ``key`` is the dotted path of the offending key."""

    def __init__(self, key: str, message: str):
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}" if key else message)


from .schema import (  # noqa: F401 - re-exported: the schema is part of this module's API
    Key, TOP_LEVEL, PROBLEMS, MODELS, TRAINERS, PENALTIES, BASELINES, METRICS, KINDED_SECTIONS, OPTIONAL_SECTIONS, PLAIN_SECTIONS,
)


# --------------------------------------------------------------------------- values

_REPR = reprlib.Repr()
_REPR.maxstring, _REPR.maxother, _REPR.maxlong, _REPR.maxlevel = 220, 80, 60, 3


def _show(value: Any) -> str:
    """A bounded repr for error messages: huge lists, deep tables and 5000-digit ints stay readable."""
    try:
        return _REPR.repr(value)
    except (ValueError, RecursionError):  # e.g. an int beyond sys.get_int_max_str_digits()
        return f"<{type(value).__name__} too large to show>"


def _finite(value: Any) -> bool:
    """math.isfinite, but False (not OverflowError) for an int beyond the float range."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _check_value(path: str, spec: Key, value: Any) -> Any:
    """Type- and range-check one value and return it normalized (tuples for lists)."""
    if value is None and spec.nullable:
        return None

    def fail(got: Any = value) -> ConfigError:
        return ConfigError(path, f"must be {spec.describe()}, got {_show(got)}")

    if spec.kind == "str":
        if not isinstance(value, str):
            raise fail()
        if spec.choices and value not in spec.choices:
            raise fail()
        if not spec.choices and not (0 < len(value) <= 200):
            raise ConfigError(path, f"must be a non-empty string of at most 200 characters, got {_show(value)}")
        return value
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise fail()
        return value
    if spec.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail()
        _check_range(path, spec, value)
        return value
    if spec.kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
            raise fail()
        value = float(value)
        _check_range(path, spec, value)
        return value
    if spec.kind == "int_list":
        if isinstance(value, int) and not isinstance(value, bool):
            _check_range(path, spec, value)
            return value
        if not isinstance(value, (list, tuple)) or not value:
            raise fail()
        for i, v in enumerate(value):
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(f"{path}[{i}]", f"must be an integer, got {_show(v)}")
            _check_range(f"{path}[{i}]", spec, v)
        return list(value)
    if spec.kind == "float_list":
        if not isinstance(value, (list, tuple)) or not value or len(value) > 10000:
            raise fail()
        for i, v in enumerate(value):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not _finite(v) or v < 0:
                raise ConfigError(f"{path}[{i}]", f"must be a finite number >= 0, got {_show(v)}")
        return [float(v) for v in value]
    if spec.kind == "str_list":
        if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) and v for v in value):
            raise fail()
        return list(value)
    if spec.kind == "shape":
        if value == "uniform":
            return value
        if not isinstance(value, (list, tuple)) or not value:
            raise fail()
        for i, v in enumerate(value):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not _finite(v) or v <= 0:
                raise ConfigError(f"{path}[{i}]", f"must be a positive finite number, got {_show(v)}")
        return [float(v) for v in value]
    raise AssertionError(spec.kind)


def _check_range(path: str, spec: Key, value: float) -> None:
    if spec.minimum is not None:
        bad = value <= spec.minimum if spec.exclusive_minimum else value < spec.minimum
        if bad:
            raise ConfigError(path, f"must be {spec.describe()}, got {_show(value)}")
    if spec.maximum is not None and value > spec.maximum:
        raise ConfigError(path, f"must be {spec.describe()}, got {_show(value)}")


def _resolve_table(path: str, keys: Mapping[str, Key], table: Any, skip: tuple[str, ...] = ()) -> dict:
    if not isinstance(table, Mapping):
        raise ConfigError(path, f"must be a table, got {_show(table)}")
    unknown = sorted(set(table) - set(keys) - set(skip), key=str)
    if unknown:
        allowed = ", ".join(sorted(keys)) or "(none)"
        name = str(unknown[0]) or '""'  # TOML allows an empty (quoted) key; the message must still name it
        raise ConfigError(f"{path}.{name}" if path else name,
                          f"unknown key; allowed keys here: {allowed}")
    resolved = {}
    for name, spec in keys.items():
        key_path = f"{path}.{name}" if path else name
        value = table.get(name, spec.default)
        resolved[name] = _check_value(key_path, spec, value)
    return resolved


def _resolve_kinded(section: str, raw: Any) -> dict:
    kinds, default_kind = KINDED_SECTIONS[section]
    if raw is None:
        if default_kind is None:
            raise ConfigError(section, f"missing section [{section}] (kind is one of {', '.join(kinds)})")
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(section, f"must be a table, got {_show(raw)}")
    kind = raw.get("kind", default_kind)
    if kind is None:
        raise ConfigError(f"{section}.kind", f"missing; must be one of {', '.join(repr(k) for k in kinds)}")
    if not isinstance(kind, str) or kind not in kinds:
        raise ConfigError(f"{section}.kind",
                          f"must be one of {', '.join(repr(k) for k in kinds)}, got {_show(kind)}")
    return {"kind": kind, **_resolve_table(section, kinds[kind], raw, skip=("kind",))}


def resolve(raw: Mapping[str, Any]) -> dict:
    """Validate a config document and fill in every default.

    Returns a new nested dict with the same nesting as the TOML. Raises
    :class:`ConfigError` naming the first offending key.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError("", f"a config must be a table, got {type(raw).__name__}")
    sections = set(KINDED_SECTIONS) | set(PLAIN_SECTIONS)
    resolved = _resolve_table("", TOP_LEVEL, raw, skip=tuple(sections))
    baseline_mode = raw.get("baseline") is not None
    if baseline_mode and raw.get("trainer") is not None:
        raise ConfigError("trainer", "a config has either [trainer] (a training run) or [baseline] (a direct "
                          "estimator), not both")
    for section in KINDED_SECTIONS:
        if section in OPTIONAL_SECTIONS and raw.get(section) is None:
            continue
        if baseline_mode and section == "trainer":
            continue
        if baseline_mode and section == "model" and raw.get("model") is None:
            continue
        resolved[section] = _resolve_kinded(section, raw.get(section))
    for section, keys in PLAIN_SECTIONS.items():
        resolved[section] = _resolve_table(section, keys, raw.get(section, {}))
    _check_consistency(resolved)
    return resolved


def end_to_end_shape(problem: Mapping[str, Any]) -> tuple[int, ...] | None:
    """Shape of the end-to-end object the problem measures: (d,) or (n_rows, n_cols); None when it is
    only known once the data is read (``dataset``)."""
    kind = problem["kind"]
    if kind in ("least_squares", "teacher_student"):
        return (problem["n_features"],)
    if kind in ("dataset", "ratings"):
        return None
    if kind == "razin_2x2":
        return (2, 2)
    return (problem["n_rows"], problem["n_cols"])


def _check_consistency(cfg: dict) -> None:
    """Cross-field constraints that a single key cannot express."""
    problem = cfg["problem"]
    kind = problem["kind"]
    if kind == "least_squares":
        if problem["design"] == "orthogonal" and problem["n_samples"] < problem["n_features"]:
            raise ConfigError("problem.design", "'orthogonal' (XᵀX = n_samples·I) needs n_samples >= n_features, "
                              f"got n_samples={problem['n_samples']} < n_features={problem['n_features']}")
        if problem["target"] == "sparse" and problem["sparsity"] > problem["n_features"]:
            raise ConfigError("problem.sparsity", f"must be <= n_features={problem['n_features']}, "
                              f"got {problem['sparsity']}")
    if kind in ("matrix_completion", "matrix_sensing"):
        n, m = problem["n_rows"], problem["n_cols"]
        if problem["rank"] > min(n, m):
            raise ConfigError("problem.rank", f"must be <= min(n_rows, n_cols) = {min(n, m)}, got {problem['rank']}")
    if kind == "ratings" and problem["path"] is None:
        raise ConfigError("problem.path", "a ratings problem needs the path of its ratings file")
    if kind == "matrix_completion" and problem["n_obs"] > problem["n_rows"] * problem["n_cols"]:
        raise ConfigError("problem.n_obs", f"must be <= n_rows*n_cols = {problem['n_rows'] * problem['n_cols']}, "
                          f"got {problem['n_obs']}")
    if kind == "matrix_sensing" and problem["measurements"] != "gaussian" and problem["n_rows"] != problem["n_cols"]:
        raise ConfigError("problem.measurements", f"{problem['measurements']!r} needs a square matrix, got "
                          f"{problem['n_rows']}x{problem['n_cols']}")
    _check_data_size(problem)
    penalty = cfg["penalty"]
    if penalty["on"] == "params" and penalty["kind"] not in ("none", "l2", "l1"):
        raise ConfigError("penalty.on", f"'params' is supported for l2 and l1 only, not {penalty['kind']!r}")
    if "model" in cfg and penalty["kind"] in SINGULAR_AT_ZERO and _starts_at_zero(cfg["model"]):
        if not (penalty["kind"] == "schatten" and (penalty["p"] >= 1 or penalty["eps"] > 0)):
            raise ConfigError("penalty.kind", f"{penalty['kind']!r} has no gradient at W = 0, where this "
                              "model starts (give the model an init_scale > 0 or use another form)")
    spectral = ("nuclear", "schatten", "normalized_nuclear", "effective_rank")
    if cfg.get("trainer", {}).get("kind") == "modified_flow" and penalty["kind"] in spectral:
        raise ConfigError("penalty.kind", f"modified_flow needs second derivatives, which {penalty['kind']!r} "
                          "lacks where singular values coincide (not implemented); use l1/l2 or flow")
    if "baseline" in cfg:
        _check_baseline(cfg)
    if "model" in cfg:
        _check_model_fits(cfg, end_to_end_shape(problem))
    if "trainer" in cfg:
        _check_trainer(cfg)


MAX_DATA_ENTRIES = 10**8


def _check_data_size(problem: Mapping[str, Any]) -> None:
    """Refuse data that could not be held in memory (each array at most 1e8 entries)."""
    kind = problem["kind"]
    sizes = {
        "least_squares": lambda p: ("n_samples", p["n_samples"] * p["n_features"]),
        "teacher_student": lambda p: ("n_test" if p["n_test"] > p["n_samples"] else "n_samples",
                                      (p["n_samples"] + p["n_test"]) * p["n_features"]),
        "matrix_sensing": lambda p: ("n_measurements", p["n_measurements"] * p["n_rows"] * p["n_cols"]),
        "matrix_completion": lambda p: ("n_rows", p["n_rows"] * p["n_cols"]),
    }
    if kind in sizes:
        key, entries = sizes[kind](problem)
        if entries > MAX_DATA_ENTRIES:
            raise ConfigError(f"problem.{key}", f"the data would have {entries:.3g} entries; at most "
                              f"{MAX_DATA_ENTRIES:.0e} are supported")


SINGULAR_AT_ZERO = ("normalized_nuclear", "effective_rank", "schatten")


def _starts_at_zero(model: Mapping[str, Any]) -> bool:
    """Models whose end-to-end object is exactly 0 at init (linear from 0; u^N − v^N from u = v)."""
    return (model["kind"] == "linear" and model["init_scale"] == 0) or (
        model["kind"] == "diagonal" and model["form"] == "difference")


VECTOR_PROBLEMS = ("least_squares", "teacher_student", "dataset")
MATRIX_PROBLEMS = ("matrix_completion", "matrix_sensing", "razin_2x2", "ratings")


def _check_baseline(cfg: dict) -> None:
    baseline, problem, model = cfg["baseline"], cfg["problem"], cfg.get("model")
    kind = baseline["kind"]
    needs = {"ridge": VECTOR_PROBLEMS, "basis_pursuit": VECTOR_PROBLEMS, "q_alpha": VECTOR_PROBLEMS,
             "ntk_regression": VECTOR_PROBLEMS, "min_nuclear_norm": MATRIX_PROBLEMS,
             "min_norm": VECTOR_PROBLEMS + MATRIX_PROBLEMS}[kind]
    if problem["kind"] not in needs:
        raise ConfigError("baseline.kind", f"{kind!r} applies to {', '.join(needs)} problems, "
                          f"not {problem['kind']!r}")
    if kind == "ntk_regression" and baseline["kernel"] == "empirical" and (model is None or model["kind"] != "mlp"):
        raise ConfigError("model", "ntk_regression with the empirical kernel needs a [model] of kind 'mlp'")
    if kind == "min_nuclear_norm" and baseline["psd"]:
        shape = end_to_end_shape(problem)
        if shape is not None and shape[0] != shape[1]:
            raise ConfigError("baseline.psd", f"needs a square matrix, got {shape}")
    if model is not None and kind not in ("min_norm", "ntk_regression"):
        raise ConfigError("model", f"baseline {kind!r} takes no [model] (only min_norm, for its x0, and "
                          "ntk_regression)")


def _check_model_fits(cfg: dict, shape: tuple[int, ...] | None) -> None:
    problem, model, penalty = cfg["problem"], cfg["model"], cfg["penalty"]
    vector_problem = problem["kind"] in ("least_squares", "teacher_student", "dataset")
    if model["kind"] == "mlp" and not vector_problem:
        raise ConfigError("model.kind", f"'mlp' needs a regression problem with inputs, not {problem['kind']!r}")
    if model["kind"] == "mlp" and penalty["kind"] != "none" and penalty["on"] != "params":
        raise ConfigError("penalty.on", "an mlp has no end-to-end matrix: use on = \"params\"")
    if problem["kind"] in ("teacher_student", "dataset", "ratings") and model["kind"] == "symmetric":
        raise ConfigError("model.kind", "'symmetric' needs a square matrix problem")
    if shape is None:
        if model["kind"] == "diagonal" and isinstance(model["shape"], list):
            raise ConfigError("model.shape", "a list needs a known dimension; not available for `dataset`")
        return
    if math.prod(shape) > 10**8:
        raise ConfigError("problem", f"the end-to-end object has {math.prod(shape)} entries; at most 1e8 supported")
    if model["kind"] == "deep_matrix" and isinstance(model["width"], list):
        if len(model["width"]) != model["depth"] - 1:
            raise ConfigError("model.width", f"a list must have depth-1 = {model['depth'] - 1} entries, "
                              f"got {len(model['width'])}")
    if model["kind"] == "deep_matrix":
        widths = model["width"] if isinstance(model["width"], list) else [model["width"] or max(shape)]
        if max(widths) * max(shape) > 10**8:
            raise ConfigError("model.width", "the factors would have more than 1e8 entries")
    if model["kind"] == "symmetric" and (len(shape) != 2 or shape[0] != shape[1]):
        raise ConfigError("model.kind", f"'symmetric' (W = U Uᵀ) needs a square problem, got shape {shape}")
    if model["kind"] == "diagonal" and isinstance(model["shape"], list) and len(model["shape"]) != math.prod(shape):
        raise ConfigError("model.shape", f"needs {math.prod(shape)} entries (one per coordinate), "
                          f"got {len(model['shape'])}")



def n_observations(problem: Mapping[str, Any]) -> int:
    """Number of observations m of a resolved problem table (the loss is a mean over them)."""
    return {"least_squares": lambda p: p["n_samples"], "matrix_completion": lambda p: p["n_obs"],
            "matrix_sensing": lambda p: p["n_measurements"], "razin_2x2": lambda p: 3,
            "teacher_student": lambda p: p["n_samples"], "dataset": lambda p: None,
            "ratings": lambda p: None}[problem["kind"]](problem)


MAX_LOGGED_ROWS = 10**7


def _check_trainer(cfg: dict) -> None:
    trainer, problem = cfg["trainer"], cfg["problem"]
    if "t_max" in trainer:
        log_dt = trainer["log_dt"] or trainer["t_max"] / 100
        if log_dt > 0 and trainer["t_max"] / log_dt > MAX_LOGGED_ROWS:
            raise ConfigError("trainer.log_dt", f"would log more than {MAX_LOGGED_ROWS:.0e} rows "
                              f"(t_max / log_dt = {trainer['t_max'] / log_dt:.3g})")
    elif trainer["steps"] / trainer["log_every"] > MAX_LOGGED_ROWS:
        raise ConfigError("trainer.log_every", f"would log more than {MAX_LOGGED_ROWS:.0e} rows "
                          f"(steps / log_every = {trainer['steps'] / trainer['log_every']:.3g})")
    m = n_observations(problem)
    if m is not None and trainer.get("batch_size", 0) > m:
        raise ConfigError("trainer.batch_size", f"must be <= the number of observations {m}, "
                          f"got {trainer['batch_size']}")
    held_out = (problem["kind"] == "teacher_student" and problem["n_test"] > 0) or (
        problem["kind"] in ("dataset", "ratings") and problem["test_fraction"] > 0)
    if trainer.get("patience", 0) > 0 and not held_out:
        raise ConfigError("trainer.patience", "needs a problem with a held-out split (teacher_student with "
                          "n_test > 0, or dataset with test_fraction > 0)")
    if problem["kind"] not in ("least_squares", "teacher_student", "dataset"):
        for key, off in (("input_noise", 0.0), ("dropout", 1.0)):
            if trainer.get(key, off) != off:
                raise ConfigError(f"trainer.{key}", f"needs a problem with inputs (least_squares), "
                                  f"not {problem['kind']!r}")


# --------------------------------------------------------------------------- files and overrides

def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``a.b.c=value``; the value is read as a TOML value, or as a bare string."""
    if "=" not in text:
        raise ConfigError("--set", f"expected KEY=VALUE, got {_show(text)}")
    key, value_text = text.split("=", 1)
    key = key.strip()
    parts = key.split(".")
    if not key or any(not p.strip() for p in parts):
        raise ConfigError("--set", f"bad key in {_show(text)}")
    try:
        value = tomllib.loads(f"v = {value_text}")["v"]
    except tomllib.TOMLDecodeError:
        value = value_text.strip()
    except (ValueError, RecursionError) as exc:  # e.g. a 5000-digit integer, arrays nested 5000 deep
        raise ConfigError(key, f"cannot read the value: {_error_text(exc)}") from None
    _check_depth(key, value)
    return [p.strip() for p in parts], value


def apply_overrides(raw: Mapping[str, Any], overrides: list[str]) -> dict:
    """Return a copy of ``raw`` with each ``KEY=VALUE`` override set."""
    _check_depth("", raw)
    doc = copy.deepcopy(dict(raw))
    for text in overrides:
        parts, value = parse_override(text)
        table = doc
        for i, part in enumerate(parts[:-1]):
            node = table.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(".".join(parts[: i + 1]), f"is not a table; cannot set {'.'.join(parts)}")
            table = node
        table[parts[-1]] = value
    return doc


def load_toml(path: str | Path) -> dict:
    """Read a TOML file; a missing or malformed file is a :class:`ConfigError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config", f"file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("config", f"cannot read {path}: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", f"malformed TOML in {path}: {exc}") from None
    except (ValueError, RecursionError) as exc:  # a 5000-digit integer, arrays nested deeper than tomllib recurses
        raise ConfigError("config", f"unreadable TOML in {path}: {_error_text(exc)}") from None


MAX_DEPTH = 32


def _error_text(exc: BaseException) -> str:
    return "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]


def _check_depth(path: str, value: Any) -> None:
    """Tables/arrays nested deeper than MAX_DEPTH (no config needs more than 3) are bad input; checked
    iteratively, before anything recurses into them (deepcopy, repr, JSON)."""
    level: list[tuple[tuple[str, ...], Any]] = [((), value)]
    for _ in range(MAX_DEPTH + 1):
        level = ([(p + (str(k) or '""',), v) for p, x in level if isinstance(x, Mapping) for k, v in x.items()]
                 + [(p + (f"[{i}]",), v) for p, x in level if isinstance(x, (list, tuple)) for i, v in enumerate(x)])
        if not level:
            return
    parts = level[0][0]
    where = ".".join((path, *parts) if path else parts).replace(".[", "[")
    raise ConfigError(path or parts[0], f"nested more than {MAX_DEPTH} levels deep (at {_show(where)})")


def default_config_path() -> Path:
    """The embedded default experiment (Arora et al. 2019 style completion)."""
    return Path(__file__).parent / "configs" / "default.toml"


def load(path: str | Path | None = None, overrides: list[str] | None = None) -> dict:
    """Load a TOML file (or the embedded default), apply ``--set`` overrides, resolve."""
    raw = load_toml(path if path is not None else default_config_path())
    return resolve(apply_overrides(raw, overrides or []))


def _without_hash_neutral_defaults(table: Mapping[str, Any], keys: Mapping[str, Key]) -> dict:
    return {name: value for name, value in table.items()
            if not (name in keys and keys[name].hash_neutral_default and value == keys[name].default)}


def _hash_body(resolved: Mapping[str, Any]) -> dict:
    """The hashed part of a resolved config: without ``versions``, and without the keys marked
    ``hash_neutral_default`` (added after run directories existed) where they hold their default —
    so adding such a key never renames an existing run directory."""
    body = _without_hash_neutral_defaults({k: v for k, v in resolved.items() if k != "versions"}, TOP_LEVEL)
    for section, (kinds, _) in KINDED_SECTIONS.items():
        table = body.get(section)
        if isinstance(table, Mapping) and isinstance(table.get("kind"), str) and table["kind"] in kinds:
            body[section] = _without_hash_neutral_defaults(table, kinds[table["kind"]])
    for section, keys in PLAIN_SECTIONS.items():
        if isinstance(body.get(section), Mapping):
            body[section] = _without_hash_neutral_defaults(body[section], keys)
    return body


def config_hash(resolved: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a resolved config (without ``versions``, and without keys
    marked ``hash_neutral_default`` that hold their default: see :func:`_hash_body`)."""
    body = _hash_body(resolved)
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def run_dir_name(resolved: Mapping[str, Any]) -> str:
    """``<name>-<8 hex of the config hash>``, with the name made filesystem-safe."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in resolved["name"]).strip(".") or "run"
    return f"{safe[:80]}-{config_hash(resolved)[:8]}"


def all_keys() -> list[str]:
    """Every documented key path, e.g. ``model.deep_matrix.depth``."""
    keys = list(TOP_LEVEL)
    for section, (kinds, _) in KINDED_SECTIONS.items():
        keys.append(f"{section}.kind")
        for kind, table in kinds.items():
            keys += [f"{section}.{kind}.{name}" for name in table]
    for section, table in PLAIN_SECTIONS.items():
        keys += [f"{section}.{name}" for name in table]
    return keys

