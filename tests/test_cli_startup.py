"""``implicit-bias --help``, ``run --print-config`` and a config error answer without starting the
engine: no JAX, NumPy or pandas is imported (they cost seconds of CPU; the time itself is measured
in benchmarks, never asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import subprocess_env

HEAVY = ("jax", "numpy", "pandas", "pyarrow", "scipy", "matplotlib", "cvxpy")
PROBE = """
import sys
from implicit_bias import cli
try:
    status = cli.main({argv!r})
except SystemExit as exc:
    status = exc.code
print("MODULES", [m for m in {heavy!r} if m in sys.modules], status)
"""


@pytest.mark.parametrize("argv, status", [
    (["--help"], 0),
    (["run", "--print-config"], 0),
    (["run", "--set", "trainer.lr=-1"], 2),
    (["sweep", "--help"], 0),
])
def test_no_engine_import(argv, status):
    done = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)], capture_output=True,
                          text=True, env=subprocess_env(), timeout=120)
    line = [l for l in done.stdout.splitlines() if l.startswith("MODULES")][-1]
    assert line == f"MODULES [] {status}", (line, done.stderr[-2000:])


def test_print_config_is_the_resolved_config(capsys):
    from implicit_bias import cli
    from implicit_bias.settings import load

    assert cli.main(["run", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out) == load(None)
