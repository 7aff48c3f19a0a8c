"""Pieces every benchmark script shares (standard library only: safe to import before jax/numpy)."""

from __future__ import annotations

import json
import statistics
import subprocess
from pathlib import Path


def write_json_out(path: str | None, result: dict) -> None:
    """Write a benchmark's result dict to ``--json-out`` (run_all.py reads it after the process exits)."""
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2, default=str)


def ratio_stats(values: list[float]) -> dict:
    """Every repeat's value with their min, median and max: the form of a ratio in a benchmark's result."""
    return {"values": values, "min": min(values), "median": statistics.median(values), "max": max(values)}


def package_version(package: str) -> str:
    """The installed version of ``package``, or "not installed"."""
    import importlib.metadata as md

    try:
        return md.version(package)
    except md.PackageNotFoundError:
        return "not installed"


def git_head(path: Path) -> str | None:
    """The short commit of the git checkout at ``path`` (a reference code's), or None when it is not one."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=path, capture_output=True, text=True)
    except OSError:
        return None
    return out.stdout.strip() or None
