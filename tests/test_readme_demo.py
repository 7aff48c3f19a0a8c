"""README.md's ``make demo`` block is generated (benchmarks/readme_demo.py), and names the run
directory the embedded default config hashes to. Nothing is trained here: after a change of the
default config (or of its hashing) this fails until ``python benchmarks/readme_demo.py`` is rerun."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import benchmark_module

from implicit_bias.settings import load, run_dir_name

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def readme_demo():
    with benchmark_module("readme_demo") as module:
        yield module


def _demo_block(readme_demo) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = text.find(readme_demo.DEMO_START), text.find(readme_demo.DEMO_END)
    assert 0 <= start < end, "README.md has no demo markers: run python benchmarks/readme_demo.py"
    assert text.count(readme_demo.DEMO_START) == 1 and text.count(readme_demo.DEMO_END) == 1
    return text[start:end]


def test_readme_demo_block_names_the_default_run_directory(readme_demo):
    block = _demo_block(readme_demo)
    expected = run_dir_name(load(None))
    assert f"runs/{expected}\n" in block, (
        f"README's demo block does not show the run directory {expected} of the default config: "
        "rerun python benchmarks/readme_demo.py")
    assert "converged after" in block


def test_splice_replaces_only_the_block(readme_demo):
    text = f"before\n{readme_demo.DEMO_START}\nold\n{readme_demo.DEMO_END}\nafter\n"
    block = f"{readme_demo.DEMO_START}\nnew\n{readme_demo.DEMO_END}"
    assert readme_demo.splice(text, block) == f"before\n{block}\nafter\n"
    assert readme_demo.splice("no markers\n", block) is None


def test_demo_block_shows_the_captured_lines(readme_demo):
    result = {"stdout_line": "runs/x-0123abcd", "stderr_line": "converged after 3 steps in 0.1s: loss 1e-09",
              "run_dir_name": "x-0123abcd", "summary": {"steps": 3, "status": "converged", "wall_seconds": 0.1,
                                                        "final": {"test_error": 1e-3, "effective_rank": 5.0}},
              "wall_seconds": 2.0, "cpu_seconds": 1.5, "load_average": [1.0, 1.0, 1.0], "cores": 2,
              "date_utc": "2026-01-01", "python": "3.11"}
    block = readme_demo.demo_block(result)
    assert block.startswith(readme_demo.DEMO_START) and block.endswith(readme_demo.DEMO_END)
    assert "```\nconverged after 3 steps in 0.1s: loss 1e-09\nruns/x-0123abcd\n```" in block
    assert "`x-0123abcd`" in block and "3 steps" in block
