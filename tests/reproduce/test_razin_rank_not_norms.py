"""razin-rank-not-norms in quick mode: every claim passes, and the broken setting makes a claim fail."""

import json

from implicit_bias import reproduce
from implicit_bias.cli import main
from implicit_bias.reproduce.runner import run_reproduction

reproduce.MODULES.setdefault("razin-rank-not-norms", "razin_rank_not_norms")


def test_quick_mode_passes_and_writes_its_report(tmp_path, capsys):
    assert main(["reproduce", "razin-rank-not-norms", "--quick", "--out", str(tmp_path)]) == 0
    folder = tmp_path / "razin-rank-not-norms"
    claims = json.loads((folder / "claims.json").read_text())
    assert {c["id"] for c in claims} == {"w-diverges", "bound-tight", "det-positive", "norms-diverge", "rank-to-one"}
    assert all(c["passed"] for c in claims)
    for name in ("razin_rank_not_norms.png", "razin_rank_not_norms.svg", "report.html"):
        assert (folder / name).stat().st_size > 0
    assert capsys.readouterr().out.strip().endswith("report.html")


def test_broken_setting_fails_a_claim(tmp_path):
    """Depth 1: the unobserved entry never moves, GD converges to a det = −1 solution."""
    outcome = run_reproduction("razin-rank-not-norms", quick=True, out=tmp_path, broken=True)
    failed = {c.id for c in outcome["claims"] if not c.passed}
    assert {"w-diverges", "det-positive", "rank-to-one"} <= failed and not outcome["passed"]
