"""Resolution: a user's partial document becomes the resolved config.

:func:`resolve` fills in every default, type- and range-checks every value
(:mod:`~implicit_bias.settings.values`) and verifies every cross-field constraint
(:mod:`~implicit_bias.settings.checks`). Anything wrong raises one :class:`ConfigError`
naming the key path, which the CLI turns into a one-line message and exit status 2.
"""

from __future__ import annotations

from typing import Any, Mapping

from implicit_bias.errors import ConfigError
from implicit_bias.settings.checks import _check_consistency
from implicit_bias.settings.schema import KINDED_SECTIONS, OPTIONAL_SECTIONS, PLAIN_SECTIONS, TOP_LEVEL, Key
from implicit_bias.settings.typed import SectionSettings, section_settings
from implicit_bias.settings.values import _check_value, _show


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
    if section == "trainer" and "lr_relative" in kinds[kind]:
        return _resolve_relative_lr(kinds[kind], raw, kind)
    return {"kind": kind, **_resolve_table(section, kinds[kind], raw, skip=("kind",))}


def _resolve_relative_lr(keys: Mapping[str, Key], raw: Mapping[str, Any], kind: str) -> dict:
    """A discrete [trainer]: ``lr_relative`` and ``lr`` exclude each other *as written* (a key the
    document sets, i.e. present and not null, before defaults are filled in). With ``lr_relative``,
    the resolved ``lr`` is null: the run resolves it at start (trainers/relative_lr.py), so that
    resolving a resolved config again gives the same config."""
    relative = raw.get("lr_relative")
    if relative is None:
        return {"kind": kind, **_resolve_table("trainer", keys, raw, skip=("kind",))}
    if raw.get("lr") is not None:
        raise ConfigError("trainer.lr", "a document sets either trainer.lr or trainer.lr_relative, not both")
    table = {k: v for k, v in raw.items() if k != "lr"}
    return {"kind": kind, **_resolve_table("trainer", keys, table, skip=("kind",)), "lr": None}


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


def resolve_section(section: str, table: Mapping[str, Any]) -> SectionSettings:
    """The typed settings of one table written by hand, its defaults filled in and each value
    checked (not the cross-field constraints, which need the whole config), e.g.
    ``resolve_section("model", {"kind": "deep_matrix", "depth": 3})``."""
    if section in KINDED_SECTIONS:
        return section_settings(section, _resolve_kinded(section, table))
    return section_settings(section, _resolve_table(section, PLAIN_SECTIONS[section], table))
