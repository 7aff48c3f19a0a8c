"""saxe-deep-linear in quick mode: every claim passes, and the broken setting makes a claim fail."""

import json

from implicit_bias import reproduce
from implicit_bias.cli import main
from implicit_bias.reproduce.runner import run_reproduction

reproduce.MODULES.setdefault("saxe-deep-linear", "saxe_deep_linear")


def test_quick_mode_passes_and_writes_its_report(tmp_path, capsys):
    assert main(["reproduce", "saxe-deep-linear", "--quick", "--out", str(tmp_path)]) == 0
    folder = tmp_path / "saxe-deep-linear"
    claims = json.loads((folder / "claims.json").read_text())
    assert {c["id"] for c in claims} == {"saxe-sigmoid", "time-inverse-s", "depth3-ode", "depth-sharpens"}
    assert all(c["passed"] for c in claims)
    for name in ("saxe_deep_linear.png", "saxe_deep_linear.svg", "report.html"):
        assert (folder / name).stat().st_size > 0
    assert capsys.readouterr().out.strip().endswith("report.html")


def test_broken_setting_fails_a_claim(tmp_path):
    """Depth 1 in place of depth 2: no plateau, every mode learned in the same time."""
    outcome = run_reproduction("saxe-deep-linear", quick=True, out=tmp_path, broken=True)
    failed = {c.id for c in outcome["claims"] if not c.passed}
    assert {"saxe-sigmoid", "time-inverse-s"} <= failed and not outcome["passed"]
