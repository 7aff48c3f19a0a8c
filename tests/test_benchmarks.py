"""The arithmetic the benchmarks report, checked without timing anything (benchmarks/ is not a package).

- ``gd_steps.matmul_flops_per_step`` (3(L−1)·2n³) against XLA's own FLOP count of one compiled GD step;
- ``scaling.fit_exponent`` recovers a power law's exponent;
- ``run_all.update_readme`` rewrites only the block between the performance markers.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import jax
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def bench_modules():
    sys.path.insert(0, str(BENCH))
    try:
        yield {name: importlib.import_module(name) for name in ("gd_steps", "scaling", "run_all", "startup")}
    finally:
        sys.path.remove(str(BENCH))


def _xla_flops_of_gd_step(gd_steps, n: int, depth: int) -> float:
    from implicit_bias.execution.single import Experiment, as_config

    cfg = {**gd_steps.CONFIG, "problem": {**gd_steps.CONFIG["problem"], "n_rows": n, "n_cols": n,
                                          "n_obs": min(2000, n * n // 2)},
           "model": {**gd_steps.CONFIG["model"], "depth": depth}}
    experiment = Experiment.build(as_config(cfg))

    def step(params):
        grads = jax.grad(experiment.objective)(params)
        return jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, params, grads)

    analysis = jax.jit(step).lower(experiment.params0).compile().cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    return float(analysis["flops"])


@pytest.mark.parametrize("n, depth", [(40, 3), (40, 5), (64, 2)])
def test_matmul_flop_count_matches_xla(bench_modules, n, depth):
    """The documented count is within 5% of XLA's count of the compiled step (the rest is O(m + L n²)
    elementwise work); a count one product off per layer, 3(L−1)·2n³ ± 2n³, is not."""
    gd_steps = bench_modules["gd_steps"]
    xla = _xla_flops_of_gd_step(gd_steps, n, depth)
    ours = gd_steps.matmul_flops_per_step(n, depth)
    assert ours <= xla <= 1.05 * ours
    wrong = ours + 2 * n**3
    assert not (wrong <= xla <= 1.05 * wrong)


def test_fit_exponent_recovers_power_law(bench_modules):
    fit = bench_modules["scaling"].fit_exponent
    xs = [50, 100, 200, 400]
    assert fit(xs, [3e-9 * x**3 for x in xs]) == pytest.approx(3.0, abs=1e-12)
    assert fit(xs, [1e-6 * x for x in xs]) == pytest.approx(1.0, abs=1e-12)
    assert fit(xs, [2e-5 + 0 * x for x in xs]) == pytest.approx(0.0, abs=1e-12)


def _report() -> dict:
    spread = {"values": [2.0, 3.0], "min": 2.0, "median": 2.5, "max": 3.0}
    return {"command": "python benchmarks/run_all.py", "date_utc": "2026-01-01 00:00:00 UTC", "quick": False,
            "seconds": 60.0, "machine": {"cpu_model": "CPU", "logical_cores": 2, "load_average_at_start": [0.1],
                                         "versions": {"jax": "x", "torch": "y"}, "git_commit": "abc",
                                         "git_dirty": False},
            "benchmarks": [{"name": "b", "ratios": {"r": spread},
                            "targets": {"r": {"target": 3.0, "median": 2.5, "met": False}},
                            "missed_note": "because"}]}


def test_update_readme_replaces_only_the_marked_block(bench_modules, tmp_path):
    run_all = bench_modules["run_all"]
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{run_all.README_START}\nold numbers\n{run_all.README_END}\nafter\n", encoding="utf-8")
    assert run_all.update_readme(_report(), readme)
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("before\n") and text.endswith("\nafter\n")
    assert "old numbers" not in text and "**2.50** [2.00–3.00]" in text and "**MISSED**" in text
    assert "- b, r: median 2.50 < 3 — because" in text
    again = readme.read_text(encoding="utf-8")
    run_all.update_readme(_report(), readme)
    assert readme.read_text(encoding="utf-8") == again  # idempotent
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers\n", encoding="utf-8")
    assert not run_all.update_readme(_report(), plain)
    assert plain.read_text(encoding="utf-8") == "no markers\n"
    json.dumps(_report())  # the report the block is written from is plain JSON


def test_startup_timing_checks_exit_status_and_parses_importtime(bench_modules):
    """benchmarks/startup.py: a command that exits other than expected is an error, not a time; the
    profile line parses ``python -X importtime`` (its largest self times, a module that was imported)."""
    startup = bench_modules["startup"]
    exit_two = [sys.executable, "-c", "import sys; sys.exit(2)"]
    wall, cpu = startup.timed(exit_two, 2)
    assert wall > 0 and cpu >= 0
    with pytest.raises(RuntimeError, match="exited 2"):
        startup.timed(exit_two, 0)
    imports = startup.slowest_imports("json", count=3)
    assert 0 < len(imports) <= 3 and all(seconds >= 0 for _, seconds in imports)
    assert any(name.startswith("json") for name, _ in startup.slowest_imports("json", count=50))
