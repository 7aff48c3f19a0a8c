"""early-stopping-ridge in quick mode: every claim passes, and the broken setting makes a claim fail."""

import json

from implicit_bias import reproduce
from implicit_bias.reproduce.runner import run_reproduction

reproduce.MODULES.setdefault("early-stopping-ridge", "early_stopping_ridge")


def test_quick_mode_passes_and_writes_its_report(tmp_path):
    outcome = run_reproduction("early-stopping-ridge", quick=True, out=tmp_path)
    assert outcome["passed"], [c for c in outcome["claims"] if not c.passed]
    folder = tmp_path / "early-stopping-ridge"
    claims = json.loads((folder / "claims.json").read_text())
    assert {c["id"] for c in claims} == {"gd-is-the-filter", "ridge-flow-gd-order", "filters-match", "paths-match"}
    for name in ("early_stopping_ridge.png", "early_stopping_ridge.svg", "report.html"):
        assert (folder / name).stat().st_size > 0


def test_broken_setting_fails_a_claim(tmp_path):
    outcome = run_reproduction("early-stopping-ridge", quick=True, out=tmp_path, broken=True)
    failed = {c.id for c in outcome["claims"] if not c.passed}
    assert "filters-match" in failed and not outcome["passed"]
