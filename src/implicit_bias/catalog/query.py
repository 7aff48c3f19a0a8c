"""The ``--where`` language of ``implicit-bias ls`` and :func:`implicit_bias.load`: parsed, never evaluated.

``KEY OP VALUE [and|or KEY OP VALUE ...]`` becomes a SQL ``WHERE`` clause over the ``runs`` table
of the catalog (:mod:`implicit_bias.catalog.index`) plus a list of bound parameters: KEY is
checked against a strict pattern and becomes a column or a ``json_extract`` path, OP one of a
fixed set, and VALUE is never put into the SQL text. Pure Python (no SQLite, no JAX): the
catalog imports this module, never the other way.
"""

from __future__ import annotations

import math
import re
from typing import Any

from implicit_bias.settings import ConfigError

#: Columns of the ``runs`` table copied from ``summary.json`` (the catalog's schema uses them too).
SUMMARY_COLUMNS = ("status", "steps", "time", "wall_seconds")
#: Every plain column of the ``runs`` table a KEY may name directly.
PLAIN_COLUMNS = (*SUMMARY_COLUMNS, "name", "config_hash", "run_dir")
#: Operators that order values: their VALUE must be a number.
NUMERIC_OPS = ("<", "<=", ">", ">=")

_CLAUSE = re.compile(r"^\s*([A-Za-z_][\w.\[\]]*)\s*(==|=|!=|<=|>=|<|>)\s*(.+?)\s*$")


def _column_sql(key: str) -> str:
    """SQL for a column name: a summary column, ``final.<metric>`` or a config key path."""
    if key in PLAIN_COLUMNS:
        return key
    if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", key):
        raise ConfigError("--where", f"bad column name {key!r}")
    if key.startswith("final."):
        return f"json_extract(summary, '$.{key}')"
    return f"json_extract(config, '$.{key}')"


def _literal(text: str) -> Any:
    """A VALUE: a quoted string (quotes dropped), an int, a float, ``true``/``false``, else the bare string."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text in ("true", "false"):
        return text == "true"
    return text


def _is_number(value: Any) -> bool:
    """An int or a float other than NaN (a bool is ``true``/``false``, not a number; SQLite binds NaN as NULL)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


_CONNECTIVE = re.compile(r"\s+(and|or)\s+", re.IGNORECASE)


def _split_connectives(text: str) -> list[str]:
    """Split on `and`/`or` outside quoted strings: [clause, connective, clause, ...]."""
    parts, start, quote, i = [], 0, None, 0
    while i < len(text):
        char = text[i]
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        else:
            match = _CONNECTIVE.match(text, i)
            if match:
                parts += [text[start:i], match.group(1).lower()]
                start = i = match.end()
                continue
        i += 1
    parts.append(text[start:])
    return parts


def where_sql(expression: str | None) -> tuple[str, list]:
    """Translate ``KEY OP VALUE [and|or KEY OP VALUE ...]`` into SQL with bound parameters.

    KEY is a config path (``model.depth``), a summary column (``status``, ``steps``, ``time``,
    ``wall_seconds``) or ``final.<metric>``; OP is one of == = != < <= > >=; VALUE a number,
    ``true``/``false`` or a (quoted) string. Nothing is evaluated: values are bound parameters.
    ``< <= > >=`` need a number: any other VALUE (``model.alpha > 0; DROP TABLE runs``) is a
    :class:`ConfigError` naming the key, not a query that silently matches nothing.
    """
    if not expression or not expression.strip():
        return "", []
    parts = _split_connectives(expression.strip())
    sql, params = [], []
    for i, part in enumerate(parts):
        if i % 2 == 1:
            sql.append(part.upper())
            continue
        match = _CLAUSE.match(part)
        if not match:
            raise ConfigError("--where", f"expected KEY OP VALUE, got {part!r}")
        key, op, value = match.groups()
        if value[:1] in "<>=!":
            raise ConfigError("--where", f"bad operator in {part!r} (use == != < <= > >=)")
        column = _column_sql(key)
        literal = _literal(value)
        if op in NUMERIC_OPS and not _is_number(literal):
            raise ConfigError("--where", f"{key}: {op} compares with a non-number {value!r} "
                                         f"(< <= > >= need a number; == and != also take strings)")
        sql.append(f"{column} {'=' if op == '==' else op} ?")
        params.append(literal)
    return "WHERE " + " ".join(sql), params
