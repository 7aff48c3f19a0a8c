"""arora-deep-completion in quick mode: every claim passes, and the broken setting makes a claim fail."""

import json

from implicit_bias import reproduce
from implicit_bias.cli import main
from implicit_bias.reproduce.runner import run_reproduction

reproduce.MODULES.setdefault("arora-deep-completion", "arora_deep_completion")


def test_quick_mode_passes_and_writes_its_report(tmp_path, capsys):
    assert main(["reproduce", "arora-deep-completion", "--quick", "--out", str(tmp_path)]) == 0
    folder = tmp_path / "arora-deep-completion"
    claims = json.loads((folder / "claims.json").read_text())
    assert {c["id"] for c in claims} == {"depth3-few", "shallow-fail-few", "all-succeed-many", "spectrum-sharper",
                                         "singular-value-ode"}
    assert all(c["passed"] for c in claims)
    for name in ("arora_deep_completion.png", "arora_deep_completion.svg", "report.html"):
        assert (folder / name).stat().st_size > 0
    assert capsys.readouterr().out.strip().endswith("report.html")


def test_broken_setting_fails_a_claim(tmp_path):
    """Depth 1 in place of depth 3: no recovery from few observations, no sharpened spectrum."""
    outcome = run_reproduction("arora-deep-completion", quick=True, out=tmp_path, broken=True)
    failed = {c.id for c in outcome["claims"] if not c.passed}
    assert {"depth3-few", "spectrum-sharper"} <= failed and not outcome["passed"]
