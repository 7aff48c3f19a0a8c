"""Repair: rerun every damaged run directory from a config that provably belongs to it.

A config is never guessed: the candidates are the run's own ``config.json``, the last config the
index held for it while it was sound, and the configs of ``DIR/sweep.json``; only one whose
resolved form hashes to the directory name is used (docs/reliability.md).
"""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path

from implicit_bias.catalog.index import damaged, index_runs, open_index
from implicit_bias.execution.single import as_config, run
from implicit_bias.rundir import files as store
from implicit_bias.rundir.integrity import _short
from implicit_bias import settings as config_mod
from implicit_bias.settings import ConfigError
from implicit_bias.sweeps.sweep import expand


def recover_config(out: str | Path, run_dir: str | Path) -> dict | None:
    """The config that the damaged ``run_dir`` was run with, if it can be known for sure, else None.

    Candidates, in order: its ``config.json``, the last config the index held for it while it was
    sound, and the configs of ``DIR/sweep.json``; the first whose resolved config hashes to the
    8 hex digits of the directory name is returned (so a config is never guessed: an edited
    ``config.json`` whose original appears nowhere is unrecoverable)."""
    out, run_dir = Path(out), Path(run_dir)
    suffix = run_dir.name.rsplit("-", 1)[-1]

    def candidates():
        try:
            yield store.read_json(run_dir / store.CONFIG)
        except (OSError, ValueError):
            pass
        with closing(open_index(out)) as connection:
            row = connection.execute("SELECT known_config FROM damaged WHERE run_dir = ?", (run_dir.name,)).fetchone()
        if row and row[0]:
            yield json.loads(row[0])
        try:
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


