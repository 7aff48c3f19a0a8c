"""woodworth-kernel-rich in quick mode: every claim passes, and the broken setting makes a claim fail."""

import json
import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

from implicit_bias import reproduce  # noqa: E402
from implicit_bias.cli import main  # noqa: E402
from implicit_bias.reproduce.runner import run_reproduction  # noqa: E402

reproduce.MODULES.setdefault("woodworth-kernel-rich", "woodworth_kernel_rich")


def test_quick_mode_passes_and_writes_its_report(tmp_path, capsys):
    assert main(["reproduce", "woodworth-kernel-rich", "--quick", "--out", str(tmp_path)]) == 0
    folder = tmp_path / "woodworth-kernel-rich"
    claims = json.loads((folder / "claims.json").read_text())
    assert {c["id"] for c in claims} == {"interpolates", "matches-q-alpha", "rich-is-l1", "kernel-is-l2", "sparse-recovery"}
    assert all(set(c) == {"id", "statement", "source", "measured", "expected", "passed"} for c in claims)
    for name in ("woodworth_kernel_rich.png", "woodworth_kernel_rich.svg", "report.html"):
        assert (folder / name).stat().st_size > 0
    assert capsys.readouterr().out.strip().endswith("report.html")


def test_broken_setting_fails_a_claim(tmp_path):
    outcome = run_reproduction("woodworth-kernel-rich", quick=True, out=tmp_path, broken=True)
    failed = {c.id for c in outcome["claims"] if not c.passed}
    assert "rich-is-l1" in failed and not outcome["passed"]
