"""Integrity of a run directory: is a finished run whole, and is it the run its name says?

:func:`check_run` reads every file of a finished run directory without unpickling
(docs/reliability.md): ``config.json`` must hash to the ``config_hash`` it records and to the
hash in the directory name, ``summary.json`` must be a summary, ``metrics.parquet`` a whole
Parquet file, ``final.npz``/``problem.npz`` whole ``.npz`` files of plain arrays.
:func:`finished_summary` is what ``run`` and ``sweep`` ask before skipping a run: a damaged
finished run counts as unfinished and is rerun in place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from implicit_bias.rundir import files as store
from implicit_bias.rundir.files import CONFIG, FINISHED_STATUSES, SUMMARY, read_json
from implicit_bias.settings import config_hash as _config_hash

CHECKED_FILES = (store.CONFIG, store.SUMMARY, store.METRICS, store.FINAL, store.PROBLEM)


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


def _read_parquet_in_full(path: Path) -> None:
    """Decode every page of a Parquet file (pyarrow's table, no pandas frame: a third of the cost)."""
    import pyarrow.parquet as pq

    pq.read_table(path)


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
    (:func:`implicit_bias.settings.config_hash` of its content without ``config_hash`` and
    ``versions``) equals its recorded ``config_hash`` and the 8 hex digits of the directory
    name; ``summary.json`` is a JSON object with a ``status``; ``metrics.parquet`` reads in full;
    ``final.npz`` (with ``end_to_end`` and ``end_to_end_init``) and ``problem.npz`` read in full
    with ``allow_pickle=False`` and hold no object arrays. Nothing is unpickled or executed.
    """
    run_dir = Path(run_dir)
    config, finding = _read_json(run_dir, store.CONFIG)
    if finding:
        return finding
    if not isinstance(config, dict) or not isinstance(config.get("config_hash"), str):
        return store.CONFIG, "not a run config (no config_hash)"
    recorded = config["config_hash"]
    try:
        actual = _config_hash({k: v for k, v in config.items() if k not in ("config_hash", "versions")})
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
        _read_parquet_in_full(run_dir / store.METRICS)
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



def finished_summary(run_dir: Path, config_hash: str) -> dict | None:
    """The summary of a finished, undamaged run in ``run_dir`` with this config hash, else None.

    A finished run whose files fail :func:`check_run` (truncated parquet,
    config.json edited after the run, pickled or foreign npz) counts as not finished, so
    re-running the same config or sweep reruns it — the same repair as ``ls --repair``."""
    try:
        summary = read_json(run_dir / SUMMARY)
        config = read_json(run_dir / CONFIG)
    except (OSError, ValueError):
        return None
    if summary.get("status") in FINISHED_STATUSES and config.get("config_hash") == config_hash:
        if check_run(run_dir) is None:
            return summary
    return None
