"""dropout-ridge in quick mode: every claim passes, and the broken setting makes a claim fail."""

import json

from implicit_bias import reproduce
from implicit_bias.reproduce.runner import run_reproduction

reproduce.MODULES.setdefault("dropout-ridge", "dropout_ridge")


def test_quick_mode_passes_and_writes_its_report(tmp_path):
    outcome = run_reproduction("dropout-ridge", quick=True, out=tmp_path)
    assert outcome["passed"], [c for c in outcome["claims"] if not c.passed]
    folder = tmp_path / "dropout-ridge"
    claims = json.loads((folder / "claims.json").read_text())
    assert {c["id"] for c in claims} == {"dropout-is-the-closed-form", "alternatives-rejected"}
    for name in ("dropout_ridge.png", "dropout_ridge.svg", "report.html"):
        assert (folder / name).stat().st_size > 0


def test_broken_setting_fails_a_claim(tmp_path):
    outcome = run_reproduction("dropout-ridge", quick=True, out=tmp_path, broken=True)
    failed = {c.id for c in outcome["claims"] if not c.passed}
    assert "dropout-is-the-closed-form" in failed and not outcome["passed"]
