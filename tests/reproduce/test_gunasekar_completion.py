"""gunasekar-completion in quick mode: every claim passes, and the broken setting makes a claim fail."""

import json
import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

from implicit_bias import reproduce  # noqa: E402
from implicit_bias.cli import main  # noqa: E402
from implicit_bias.reproduce.runner import run_reproduction  # noqa: E402

reproduce.MODULES.setdefault("gunasekar-completion", "gunasekar_completion")


def test_quick_mode_passes_and_writes_its_report(tmp_path, capsys):
    assert main(["reproduce", "gunasekar-completion", "--quick", "--out", str(tmp_path)]) == 0
    folder = tmp_path / "gunasekar-completion"
    claims = json.loads((folder / "claims.json").read_text())
    assert {c["id"] for c in claims} == {"commuting-limit", "commuting-power-law", "commuting-trace", "generic-min-trace"}
    assert all(set(c) == {"id", "statement", "source", "measured", "expected", "passed"} for c in claims)
    for name in ("gunasekar_completion.png", "gunasekar_completion.svg", "report.html"):
        assert (folder / name).stat().st_size > 0
    assert capsys.readouterr().out.strip().endswith("report.html")


def test_broken_setting_fails_a_claim(tmp_path):
    outcome = run_reproduction("gunasekar-completion", quick=True, out=tmp_path, broken=True)
    failed = {c.id for c in outcome["claims"] if not c.passed}
    assert "commuting-limit" in failed and not outcome["passed"]
