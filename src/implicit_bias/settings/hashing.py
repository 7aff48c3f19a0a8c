"""The identity of a resolved config: its hash, its run-directory name, and the list of keys."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

from implicit_bias.settings.schema import KINDED_SECTIONS, PLAIN_SECTIONS, TOP_LEVEL, Key


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
