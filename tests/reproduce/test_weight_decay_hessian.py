"""weight-decay-hessian in quick mode: every claim passes, and the broken setting makes a claim fail."""

import json

from implicit_bias import reproduce
from implicit_bias.reproduce.runner import run_reproduction

reproduce.MODULES.setdefault("weight-decay-hessian", "weight_decay_hessian")


def test_quick_mode_passes_and_writes_its_report(tmp_path):
    outcome = run_reproduction("weight-decay-hessian", quick=True, out=tmp_path)
    assert outcome["passed"], [c for c in outcome["claims"] if not c.passed]
    folder = tmp_path / "weight-decay-hessian"
    claims = json.loads((folder / "claims.json").read_text())
    assert {c["id"] for c in claims} == {"l2-eigen-rescaling", "input-noise-is-ridge", "mapping-is-sigma-squared"}
    for name in ("weight_decay_hessian.png", "weight_decay_hessian.svg", "report.html"):
        assert (folder / name).stat().st_size > 0


def test_broken_setting_fails_a_claim(tmp_path):
    outcome = run_reproduction("weight-decay-hessian", quick=True, out=tmp_path, broken=True)
    failed = {c.id for c in outcome["claims"] if not c.passed}
    assert "input-noise-is-ridge" in failed and not outcome["passed"]
