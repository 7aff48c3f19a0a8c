"""Plug-ins: extensions (a trainer, a problem, a metric) loaded from outside the package.

``IMPLICIT_BIAS_PLUGINS`` is a comma-separated list of module names (``mypkg.my_trainer``) or paths
of ``.py`` files; :func:`load_plugins` imports each once per process. An extension registers what
it adds when it is imported (``implicit_bias.engine.register_trainer`` / ``register_problem`` /
``register_kind`` / ``register_metric``; docs/extending.md). The entry points call it: the CLI
(not for ``--help``), ``execution.single.run`` and the sweep workers (``execution.tasks``), which are
separate processes that inherit the environment.

Bottom layer: it imports nothing of the package but :mod:`implicit_bias.errors`.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path

from implicit_bias.errors import ConfigError

VARIABLE = "IMPLICIT_BIAS_PLUGINS"
_loaded: set[str] = set()


def _module_name(path: Path) -> str:
    """A stable module name for a plug-in file: its stem and a digest of its absolute path."""
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
    stem = "".join(c if c.isalnum() or c == "_" else "_" for c in path.stem)
    return f"implicit_bias_plugin_{stem}_{digest}"


def _load(entry: str) -> None:
    looks_like_path = entry.endswith(".py") or os.sep in entry or "/" in entry
    if looks_like_path:
        path = Path(entry).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(VARIABLE, f"no such plug-in file: {entry}")
        name = _module_name(path)
        if name in sys.modules:
            return
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(VARIABLE, f"cannot import {entry} (not a Python file)")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except ConfigError:
            sys.modules.pop(name, None)
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of a plug-in is bad input, one line
            sys.modules.pop(name, None)
            raise ConfigError(VARIABLE, f"importing {entry} failed: {type(exc).__name__}: {exc}") from exc
        return
    try:
        importlib.import_module(entry)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(VARIABLE, f"importing module {entry!r} failed: {type(exc).__name__}: {exc}") from exc


def load_plugins(value: str | None = None) -> list[str]:
    """Import every entry of ``IMPLICIT_BIAS_PLUGINS`` (or of ``value``) not imported yet in this
    process; returns the entries. A bad entry raises :class:`ConfigError` naming the variable."""
    raw = os.environ.get(VARIABLE, "") if value is None else value
    entries = [part.strip() for part in raw.split(",") if part.strip()]
    for entry in entries:
        if entry in _loaded:
            continue
        _load(entry)
        _loaded.add(entry)
    return entries
