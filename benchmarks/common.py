"""Pieces every benchmark script shares (standard library only: safe to import before jax/numpy)."""

from __future__ import annotations

import json


def write_json_out(path: str | None, result: dict) -> None:
    """Write a benchmark's result dict to ``--json-out`` (run_all.py reads it after the process exits)."""
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2, default=str)
