"""gd-min-norm in quick mode: every claim passes, and the broken setting makes a claim fail."""

import json

from implicit_bias.cli import main
from implicit_bias.reproduce.runner import run_reproduction


def test_quick_mode_passes_and_writes_its_report(tmp_path, capsys):
    assert main(["reproduce", "gd-min-norm", "--quick", "--out", str(tmp_path)]) == 0
    folder = tmp_path / "gd-min-norm"
    claims = json.loads((folder / "claims.json").read_text())
    assert {c["id"] for c in claims} == {"from-x0", "from-zero", "null-space-matters"}
    assert all(set(c) == {"id", "statement", "source", "measured", "expected", "passed"} for c in claims)
    for name in ("gd_min_norm.png", "gd_min_norm.svg", "report.html"):
        assert (folder / name).stat().st_size > 0
    assert capsys.readouterr().out.strip().endswith("report.html")


def test_broken_setting_fails_a_claim(tmp_path):
    outcome = run_reproduction("gd-min-norm", quick=True, out=tmp_path, broken=True)
    failed = {c.id for c in outcome["claims"] if not c.passed}
    assert "from-x0" in failed and not outcome["passed"]
