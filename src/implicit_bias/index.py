"""The results store: one SQLite index over every run directory under an output directory.

``DIR/index.sqlite`` holds one row per finished run directory (its config and summary as
JSON). Why SQLite rather than Parquet + DuckDB: it is in the standard library, and its
transactions and file locking keep the index consistent when two sweeps and a report touch
the same directory at once (a Parquet file would need a lock of ours and a rewrite per run);
queries go through ``json_extract`` on the stored JSON, so any config key or final metric is a
column without a fixed schema.

The index is a cache of the run directories, never the truth: :func:`refresh` adds or updates
every run directory whose ``summary.json`` changed since it was indexed, and drops rows whose
directory is gone, so a run written by any process (a Dask worker on another machine, a plain
``implicit-bias run``) appears on the next ``ls``/``load``/``report``.
"""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from . import store
from .config import ConfigError

INDEX = "index.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_dir TEXT PRIMARY KEY,
    name TEXT, config_hash TEXT, status TEXT, steps INTEGER, time REAL, wall_seconds REAL,
    config TEXT NOT NULL, summary TEXT NOT NULL, summary_mtime REAL NOT NULL
)
"""
SUMMARY_COLUMNS = ("status", "steps", "time", "wall_seconds")


def _connect(out: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(out / INDEX, timeout=60.0, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(SCHEMA)
    return connection


def run_dirs(out: Path) -> Iterable[Path]:
    """Directories directly under ``out`` that look like run directories."""
    if not out.is_dir():
        return []
    return sorted(p for p in out.iterdir() if p.is_dir() and (p / store.CONFIG).is_file())


def _row(run_dir: Path) -> tuple | None:
    try:
        summary_path = run_dir / store.SUMMARY
        mtime = summary_path.stat().st_mtime
        summary = store.read_json(summary_path)
        config = store.read_json(run_dir / store.CONFIG)
    except (OSError, ValueError):
        return None  # unfinished (no summary yet) or unreadable: not indexed
    if not isinstance(summary, dict) or not isinstance(config, dict):
        return None
    config.pop("versions", None)
    return (run_dir.name, config.get("name"), config.get("config_hash"), summary.get("status"), summary.get("steps"),
            summary.get("time"), summary.get("wall_seconds"), json.dumps(config), json.dumps(summary), mtime)


def index_runs(out: Path, paths: Iterable[Path]) -> int:
    """Add or update the given run directories (one transaction); returns how many were written."""
    rows = [r for r in (_row(Path(p)) for p in paths) if r is not None]
    if not rows:
        return 0
    with closing(_connect(out)) as connection:
        with connection:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    return len(rows)


def refresh(out: str | Path) -> int:
    """Bring the index up to date with the run directories under ``out``."""
    out = Path(out)
    if not out.is_dir():
        raise ConfigError("DIR", f"not a directory: {out}")
    with closing(_connect(out)) as connection:
        known = dict(connection.execute("SELECT run_dir, summary_mtime FROM runs").fetchall())
    present = {p.name: p for p in run_dirs(out)}
    stale = []
    for name, path in present.items():
        try:
            mtime = (path / store.SUMMARY).stat().st_mtime
        except OSError:
            if name in known:
                stale.append(name)  # rerun in progress: its old summary is gone
            continue
        if known.get(name) != mtime:
            stale.append(name)
    gone = [name for name in known if name not in present]
    written = index_runs(out, [present[n] for n in stale if n in present])
    missing = gone + [n for n in stale if n in present and not (present[n] / store.SUMMARY).is_file()]
    if missing:
        with closing(_connect(out)) as connection:
            with connection:
                connection.executemany("DELETE FROM runs WHERE run_dir = ?", [(n,) for n in missing])
    return written


# --------------------------------------------------------------------------- queries

_CLAUSE = re.compile(r"^\s*([A-Za-z_][\w.\[\]]*)\s*(==|=|!=|<=|>=|<|>)\s*(.+?)\s*$")


def _column_sql(key: str) -> str:
    """SQL for a column name: a summary column, ``final.<metric>`` or a config key path."""
    if key in SUMMARY_COLUMNS or key in ("name", "config_hash", "run_dir"):
        return key
    if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", key):
        raise ConfigError("--where", f"bad column name {key!r}")
    if key.startswith("final."):
        return f"json_extract(summary, '$.{key}')"
    return f"json_extract(config, '$.{key}')"


def _literal(text: str) -> Any:
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
        sql.append(f"{_column_sql(key)} {'=' if op == '==' else op} ?")
        params.append(_literal(value))
    return "WHERE " + " ".join(sql), params


def _flatten(prefix: str, value: Any, out: dict) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, sub, out)
    else:
        out[prefix] = value


def load(out: str | Path, where: str | None = None, *, sync: bool = True) -> pd.DataFrame:
    """A DataFrame of runs: ``run_dir``, the summary columns, every config key flattened
    (``model.depth``) and every final metric (``final.loss``; lists such as singular values
    stay lists). ``where`` filters as in :func:`where_sql`. ``sync=False`` reads the index as it
    is, without :func:`refresh` (faster for a large directory that is not changing)."""
    out = Path(out)
    if sync:
        refresh(out)
    clause, params = where_sql(where)
    with closing(_connect(out)) as connection:
        try:
            rows = connection.execute(f"SELECT run_dir, config, summary FROM runs {clause} ORDER BY run_dir",
                                      params).fetchall()
        except sqlite3.OperationalError as exc:
            raise ConfigError("--where", str(exc)) from None
    records = []
    for run_dir, config_text, summary_text in rows:
        record = {"run_dir": str(out / run_dir)}
        summary = json.loads(summary_text)
        for column in SUMMARY_COLUMNS:
            record[column] = summary.get(column)
        _flatten("", json.loads(config_text), record)
        for metric, value in (summary.get("final") or {}).items():
            record[f"final.{metric}"] = value
        records.append(record)
    return pd.DataFrame.from_records(records)


def load_metrics(out: str | Path, where: str | None = None) -> pd.DataFrame:
    """The trajectories of the selected runs in long format: one row per (run, logged step),
    with ``run_dir`` first and every metric column of ``metrics.parquet``."""
    runs = load(out, where)
    frames = []
    for run_dir in runs.get("run_dir", []):
        try:
            frame = store.read_parquet(Path(run_dir) / store.METRICS)
        except (OSError, ValueError):
            continue
        frame.insert(0, "run_dir", run_dir)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run_dir", "step", "t"])
