"""The closing line of ``implicit-bias run`` names the loss convention of built-in problems (mean of
½(prediction − target)², without the ½ for ``problem.loss = "mse"``), so a number read off the
terminal is never ambiguous; a plug-in problem's own loss is not misnamed (tests/extensions)."""

from __future__ import annotations

import pytest

from implicit_bias import cli


@pytest.mark.parametrize("extra, formula", [([], "½(prediction − target)²"),
                                            (["--set", "problem.loss=mse"], "(prediction − target)²)")])
def test_the_summary_line_names_the_squared_loss(tmp_path, tiny_toml, capsys, extra, formula):
    toml = tiny_toml(tmp_path, "completion")
    assert cli.main(["run", str(toml), "--out", str(tmp_path / "out"), "--quiet", *extra]) == 0
    line = [l for l in capsys.readouterr().err.splitlines() if " after " in l][-1]
    assert line.endswith(f"(loss = mean of {formula}") or line.endswith(f"(loss = mean of {formula})"), line
    assert ("½" in line) == (not extra), line
