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
DAMAGED_SCHEMA = """
CREATE TABLE IF NOT EXISTS damaged (
    run_dir TEXT PRIMARY KEY, file TEXT NOT NULL, problem TEXT NOT NULL, signature TEXT NOT NULL,
    known_config TEXT
)
"""
CHECKED_SCHEMA = "CREATE TABLE IF NOT EXISTS checked (run_dir TEXT PRIMARY KEY, signature TEXT NOT NULL)"
SUMMARY_COLUMNS = ("status", "steps", "time", "wall_seconds")
CHECKED_FILES = (store.CONFIG, store.SUMMARY, store.METRICS, store.FINAL, store.PROBLEM)


def _connect(out: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(out / INDEX, timeout=60.0, isolation_level=None)
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


def signature(run_dir: Path) -> str:
    """Size and mtime (ns) of each checked file of ``run_dir`` (``null`` when missing), as JSON."""
    sizes = {}
    for name in CHECKED_FILES:
        try:
            stat = (run_dir / name).stat()
            sizes[name] = [stat.st_size, stat.st_mtime_ns]
        except OSError:
            sizes[name] = None
    return json.dumps(sizes, sort_keys=True)


def _check_npz(path: Path, required: tuple[str, ...] = ()) -> str | None:
    """The problem with an ``.npz`` (None when sound): read without pickling, object arrays refused."""
    import zipfile

    import numpy as np

    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                with archive.open(member) as handle:
                    version = np.lib.format.read_magic(handle)
                    header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                              else np.lib.format.read_array_header_2_0)(handle)
                    if header[2].hasobject:
                        return f"holds pickled objects ({member}: dtype {header[2]}); refused, never unpickled"
        arrays = store.read_npz(path)  # allow_pickle=False; reads every array (zip CRCs checked)
    except FileNotFoundError:
        return "missing"
    except Exception as exc:  # noqa: BLE001 - any failure to read is the finding, never a crash
        return f"unreadable ({type(exc).__name__}: {_short(exc)})"
    absent = [k for k in required if k not in arrays]
    return f"lacks arrays {absent}" if absent else None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 120 else text[:117] + "..."


def _read_json(run_dir: Path, name: str) -> tuple[Any, tuple[str, str] | None]:
    """``(content, None)``, or ``(None, (name, problem))`` when the JSON file is missing or unreadable."""
    try:
        return store.read_json(run_dir / name), None
    except FileNotFoundError:
        return None, (name, "missing")
    except (OSError, ValueError) as exc:
        return None, (name, f"unreadable ({type(exc).__name__}: {_short(exc)})")


def check_run(run_dir: str | Path) -> tuple[str, str] | None:
    """``(file, problem)`` for the first damaged file of a finished run directory, None if sound.

    Checks, in order: ``config.json`` is a JSON object whose recomputed hash
    (:func:`implicit_bias.config.config_hash` of its content without ``config_hash`` and
    ``versions``) equals its recorded ``config_hash`` and the 8 hex digits of the directory
    name; ``summary.json`` is a JSON object with a ``status``; ``metrics.parquet`` reads in full;
    ``final.npz`` (with ``end_to_end`` and ``end_to_end_init``) and ``problem.npz`` read in full
    with ``allow_pickle=False`` and hold no object arrays. Nothing is unpickled or executed.
    """
    from .config import config_hash

    run_dir = Path(run_dir)
    config, finding = _read_json(run_dir, store.CONFIG)
    if finding:
        return finding
    if not isinstance(config, dict) or not isinstance(config.get("config_hash"), str):
        return store.CONFIG, "not a run config (no config_hash)"
    recorded = config["config_hash"]
    try:
        actual = config_hash({k: v for k, v in config.items() if k not in ("config_hash", "versions")})
    except (TypeError, ValueError) as exc:
        return store.CONFIG, f"cannot be hashed ({_short(exc)})"
    if actual != recorded:
        return store.CONFIG, (f"edited: its content hashes to {actual[:8]}, but it records config_hash "
                              f"{recorded[:8]}")
    suffix = run_dir.name.rsplit("-", 1)[-1]
    if suffix != recorded[:8]:
        return store.CONFIG, f"config_hash {recorded[:8]} does not match the directory name (…-{suffix})"
    summary, finding = _read_json(run_dir, store.SUMMARY)
    if finding:
        return finding
    if not isinstance(summary, dict) or not isinstance(summary.get("status"), str):
        return store.SUMMARY, "not a run summary (no status)"
    try:
        store.read_parquet(run_dir / store.METRICS)
    except FileNotFoundError:
        return store.METRICS, "missing"
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types; all are findings
        return store.METRICS, f"truncated or not Parquet ({type(exc).__name__}: {_short(exc)})"
    problem = _check_npz(run_dir / store.FINAL, ("end_to_end", "end_to_end_init"))
    if problem:
        return store.FINAL, problem
    problem = _check_npz(run_dir / store.PROBLEM)
    if problem:
        return store.PROBLEM, problem
    return None


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


def _index(connection: sqlite3.Connection, paths: Iterable[Path]) -> int:
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
    sound runs were written (damaged ones go to the ``damaged`` table)."""
    with closing(_connect(Path(out))) as connection:
        return _index(connection, list(paths))


def refresh(out: str | Path) -> int:
    """Bring the index up to date with the run directories under ``out``: (re)check every
    finished directory whose signature changed, drop the rows of directories that are gone or
    no longer finished (a rerun in progress)."""
    out = Path(out)
    if not out.is_dir():
        raise ConfigError("DIR", f"not a directory: {out}")
    with closing(_connect(out)) as connection:
        known = dict(connection.execute("SELECT run_dir, signature FROM checked").fetchall())
        known.update(connection.execute("SELECT run_dir, signature FROM damaged").fetchall())
        indexed = {name for (name,) in connection.execute("SELECT run_dir FROM runs").fetchall()}
        present = {p.name: p for p in run_dirs(out)}
        finished = {name for name, path in present.items() if (path / store.SUMMARY).is_file()}
        stale = [name for name in sorted(finished) if known.get(name) != signature(present[name])]
        written = _index(connection, [present[n] for n in stale])
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
    with closing(_connect(out)) as connection:
        rows = connection.execute("SELECT run_dir, file, problem FROM damaged ORDER BY run_dir").fetchall()
    return pd.DataFrame([(str(out / r), f, p) for r, f, p in rows], columns=["run_dir", "file", "problem"])


def recover_config(out: str | Path, run_dir: str | Path) -> dict | None:
    """The config that the damaged ``run_dir`` was run with, if it can be known for sure, else None.

    Candidates, in order: its ``config.json``, the last config the index held for it while it was
    sound, and the configs of ``DIR/sweep.json``; the first whose resolved config hashes to the
    8 hex digits of the directory name is returned (so a config is never guessed: an edited
    ``config.json`` whose original appears nowhere is unrecoverable)."""
    from . import config as config_mod
    from .run import as_config

    out, run_dir = Path(out), Path(run_dir)
    suffix = run_dir.name.rsplit("-", 1)[-1]

    def candidates():
        try:
            yield store.read_json(run_dir / store.CONFIG)
        except (OSError, ValueError):
            pass
        with closing(_connect(out)) as connection:
            row = connection.execute("SELECT known_config FROM damaged WHERE run_dir = ?", (run_dir.name,)).fetchone()
        if row and row[0]:
            yield json.loads(row[0])
        try:
            from .sweep import expand

            spec = store.read_json(out / "sweep.json")
            yield from expand(spec["base"], spec.get("grid") or {}, spec.get("zip") or {}).configs
        except Exception:  # noqa: BLE001 - no sweep.json, or one from an older version: no candidates
            return

    for candidate in candidates():
        if not isinstance(candidate, dict):
            continue
        try:
            cfg = as_config(candidate)
        except (ConfigError, TypeError, ValueError, KeyError):
            continue
        if config_mod.run_dir_name(cfg) == run_dir.name and config_mod.config_hash(cfg)[:8] == suffix:
            return cfg
    return None


def repair(out: str | Path, on_result=None) -> list[dict]:
    """Rerun every damaged run directory under ``out`` from its recovered config.

    Returns one dict per damaged run: ``run_dir``, ``file``, ``problem`` and either ``status``
    (the rerun's) or ``error`` (``unrecoverable: ...`` when :func:`recover_config` finds no config
    hashing to the directory name, or the rerun's exception). Sound runs are not touched. Each
    rerun is an ordinary :func:`implicit_bias.run` with ``force=True`` (every file rewritten,
    atomically, ``summary.json`` last), indexed as it finishes; ``on_result(dict)`` is called
    after each one."""
    from .run import run

    out = Path(out)
    outcomes = []
    for record in damaged(out).to_dict("records"):
        cfg = recover_config(out, record["run_dir"])
        if cfg is None:
            outcome = {**record, "error": "unrecoverable: no config hashing to the directory name is known "
                                          "(config.json edited, and no copy in the index or sweep.json)"}
        else:
            try:
                result = run(cfg, out=out, force=True)
                outcome = {**record, "status": result.status}
            except Exception as exc:  # noqa: BLE001 - one failed rerun must not stop the repair
                outcome = {**record, "error": f"rerun failed: {type(exc).__name__}: {_short(exc)}"}
            index_runs(out, [Path(record["run_dir"])])
        outcomes.append(outcome)
        if on_result is not None:
            on_result(outcome)
    return outcomes


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
