"""Checks of single values: type, range, finiteness, and the bounded repr the messages show."""

from __future__ import annotations

import math
import reprlib
from typing import Any

from implicit_bias.errors import ConfigError
from implicit_bias.settings.schema import Key


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
        if not isinstance(value, (list, tuple)) or not (value or spec.empty_list):
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
