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

Integrity (docs/reliability.md): before a run directory is indexed, :func:`check_run` reads
every file of it without pickling: ``config.json`` must hash to the ``config_hash`` it records
and to the hash in the directory name, ``summary.json`` must be a summary, ``metrics.parquet``
a whole Parquet file, ``final.npz``/``problem.npz`` whole ``.npz`` files of plain (not object,
i.e. never pickled) arrays. A damaged run is kept out of ``runs`` and listed in the
``damaged`` table (one file and problem per run) until :func:`repair` reruns it. Each check is
cached under the directory's *signature* (size and mtime of each file), so an unchanged
directory is read once, and any later change to any of its files (a truncation, an edit) is
seen by the next refresh.

Concurrency: every write is one SQLite transaction (``BEGIN IMMEDIATE``: one writer at a time,
readers see the last committed state, WAL journal); rows are pure functions of the run
directory's files, so two processes refreshing at once write the same rows.

Queries: ``load(out, where=...)`` filters with the ``--where`` language of
:mod:`implicit_bias.catalog.query` (parsed into SQL with bound parameters, never evaluated).
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from implicit_bias.catalog.query import SUMMARY_COLUMNS, where_sql
from implicit_bias.rundir import files as store
from implicit_bias.rundir.integrity import check_run, signature
from implicit_bias.settings import ConfigError

INDEX = "index.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_dir TEXT PRIMARY KEY,
    name TEXT, config_hash TEXT, status TEXT, steps INTEGER, time REAL, wall_seconds REAL,
    config TEXT NOT NULL, summary TEXT NOT NULL, summary_mtime REAL NOT NULL
)
"""
DAMAGED_SCHEMA = """
CREATE TABLE IF NOT EXISTS damaged (
    run_dir TEXT PRIMARY KEY, file TEXT NOT NULL, problem TEXT NOT NULL, signature TEXT NOT NULL,
    known_config TEXT
)
"""
CHECKED_SCHEMA = "CREATE TABLE IF NOT EXISTS checked (run_dir TEXT PRIMARY KEY, signature TEXT NOT NULL)"


def open_index(out: Path) -> sqlite3.Connection:
    """The index of ``out`` (created if absent); the caller closes it. Opening and closing a WAL
    database costs more than indexing one run, so a sweep opens it once."""
    connection = sqlite3.connect(Path(out) / INDEX, timeout=60.0, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    # WAL + synchronous=NORMAL: commits are atomic and consistent but not fsynced; a power cut may
    # lose the last commits, which the next refresh re-derives from the run directories (a cache).
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(SCHEMA)
    connection.execute(DAMAGED_SCHEMA)
    connection.execute(CHECKED_SCHEMA)
    return connection


def run_dirs(out: Path) -> Iterable[Path]:
    """Directories directly under ``out`` that look like run directories (with a ``config.json``, or
    a ``summary.json``: a finished run whose ``config.json`` is gone is damaged, not absent)."""
    if not out.is_dir():
        return []
    return sorted(p for p in out.iterdir()
                  if p.is_dir() and ((p / store.CONFIG).is_file() or (p / store.SUMMARY).is_file()))


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


def index_into(connection: sqlite3.Connection, paths: Iterable[Path]) -> int:
    """Check each finished directory; index the sound ones, record the damaged ones (one transaction).

    The signature is taken *before* the files are read, so a file replaced during the check
    changes the signature and is checked again by the next refresh."""
    sound, damaged, checked = [], [], []
    for path in paths:
        path = Path(path)
        if not (path / store.SUMMARY).is_file():
            continue  # unfinished: neither indexed nor checked
        sig = signature(path)
        finding = check_run(path)
        if finding is None:
            row = _row(path)
            if row is not None:
                sound.append(row)
                checked.append((path.name, sig))
        else:
            damaged.append((path.name, finding[0], finding[1], sig))
    if not sound and not damaged:
        return 0
    with connection:
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?)", sound)
        connection.executemany("INSERT OR REPLACE INTO checked VALUES (?,?)", checked)
        connection.executemany("DELETE FROM damaged WHERE run_dir = ?", [(r[0],) for r in sound])
        for name, file, problem, sig in damaged:
            # keep the last config this directory had while sound: repair may rerun from it
            known = connection.execute("SELECT config FROM runs WHERE run_dir = ?", (name,)).fetchone()
            connection.execute(
                "INSERT INTO damaged VALUES (?,?,?,?,?) ON CONFLICT(run_dir) DO UPDATE SET file = excluded.file, "
                "problem = excluded.problem, signature = excluded.signature, "
                "known_config = COALESCE(excluded.known_config, damaged.known_config)",
                (name, file, problem, sig, known[0] if known else None))
            connection.execute("DELETE FROM runs WHERE run_dir = ?", (name,))
            connection.execute("DELETE FROM checked WHERE run_dir = ?", (name,))
    return len(sound)


def index_runs(out: Path, paths: Iterable[Path]) -> int:
    """Check and add or update the given run directories (one transaction); returns how many
    sound runs were written (damaged ones go to the ``damaged`` table). A sweep, which indexes
    each run as it finishes, keeps one :func:`open_index` connection and calls :func:`index_into`."""
    with closing(open_index(Path(out))) as connection:
        return index_into(connection, list(paths))


def refresh(out: str | Path) -> int:
    """Bring the index up to date with the run directories under ``out``: (re)check every
    finished directory whose signature changed, drop the rows of directories that are gone or
    no longer finished (a rerun in progress)."""
    out = Path(out)
    if not out.is_dir():
        raise ConfigError("DIR", f"not a directory: {out}")
    with closing(open_index(out)) as connection:
        known = dict(connection.execute("SELECT run_dir, signature FROM checked").fetchall())
        known.update(connection.execute("SELECT run_dir, signature FROM damaged").fetchall())
        indexed = {name for (name,) in connection.execute("SELECT run_dir FROM runs").fetchall()}
        present = {p.name: p for p in run_dirs(out)}
        finished = {name for name, path in present.items() if (path / store.SUMMARY).is_file()}
        stale = [name for name in sorted(finished) if known.get(name) != signature(present[name])]
        written = index_into(connection, [present[n] for n in stale])
        dropped = [(n,) for n in (indexed | set(known)) if n not in finished]
        if dropped:
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                for table in ("runs", "checked", "damaged"):
                    connection.executemany(f"DELETE FROM {table} WHERE run_dir = ?", dropped)
    return written


def damaged(out: str | Path, *, sync: bool = True) -> pd.DataFrame:
    """The damaged run directories under ``out``: columns ``run_dir``, ``file``, ``problem``."""
    out = Path(out)
    if sync:
        refresh(out)
    with closing(open_index(out)) as connection:
        rows = connection.execute("SELECT run_dir, file, problem FROM damaged ORDER BY run_dir").fetchall()
    return pd.DataFrame([(str(out / r), f, p) for r, f, p in rows], columns=["run_dir", "file", "problem"])


def _flatten(prefix: str, value: Any, out: dict) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, sub, out)
    else:
        out[prefix] = value


def load(out: str | Path, where: str | None = None, *, sync: bool = True) -> pd.DataFrame:
    """A DataFrame of runs: ``run_dir``, the summary columns, every config key flattened
    (``model.depth``) and every final metric (``final.loss``; lists such as singular values
    stay lists). ``where`` filters as in :func:`implicit_bias.catalog.query.where_sql` (a bad
    expression is a :class:`ConfigError` before the index is touched). ``sync=False`` reads the
    index as it is, without :func:`refresh` (faster for a large directory that is not changing)."""
    out = Path(out)
    clause, params = where_sql(where)
    if sync:
        refresh(out)
    with closing(open_index(out)) as connection:
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
