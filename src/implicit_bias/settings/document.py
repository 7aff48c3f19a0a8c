"""The experiment document: TOML files, ``--set KEY=VALUE`` overrides, and loading a config."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any, Mapping

from implicit_bias.errors import ConfigError
from implicit_bias.settings.resolution import resolve
from implicit_bias.settings.values import _show


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
    return Path(__file__).parent.parent / "configs" / "default.toml"


def load(path: str | Path | None = None, overrides: list[str] | None = None) -> dict:
    """Load a TOML file (or the embedded default), apply ``--set`` overrides, resolve."""
    raw = load_toml(path if path is not None else default_config_path())
    return resolve(apply_overrides(raw, overrides or []))


def as_config(config: Mapping[str, Any] | str | Path | None, overrides: list[str] | None = None) -> dict:
    """Resolve a config given as a dict, a TOML path or None (the embedded default); the
    ``versions`` and ``config_hash`` of a config.json are dropped first."""
    if config is None or isinstance(config, (str, Path)):
        return load(config, overrides)
    raw = {k: v for k, v in config.items() if k not in ("versions", "config_hash")}
    return resolve(apply_overrides(raw, overrides or []))
