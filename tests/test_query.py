"""The ``--where`` language (implicit_bias.catalog.query): numeric comparisons need a number.

``model.alpha > 0; DROP TABLE runs`` used to be a bound string compared with a number by SQLite
(a JSON number is never greater than a text value), so the query silently matched "no runs".
It is now a ConfigError naming the key, before the index is read. The error tests below fail if
the check in ``where_sql`` is removed: the Python API would then return an empty frame instead of
raising, and ``ls`` would exit 0 with "no runs" on stderr (no ``model.alpha`` in it).
"""

from __future__ import annotations

import pytest
from conftest import tiny_config

import implicit_bias as ib
from implicit_bias.catalog.query import where_sql
from implicit_bias.cli import main
from implicit_bias.settings import ConfigError

INJECTION = "model.alpha > 0; DROP TABLE runs"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two finished diagonal-network runs, alpha 0.1 and 0.5 (well under a second each)."""
    out = tmp_path_factory.mktemp("runs")
    for alpha in (0.1, 0.5):
        ib.run(tiny_config("least_squares", model={"kind": "diagonal", "alpha": alpha}), out=out)
    return out


# --------------------------------------------------------------------------- parsing (no runs)

@pytest.mark.parametrize("expression, key", [
    (INJECTION, "model.alpha"),
    ("model.alpha > 'x'", "model.alpha"),       # a quoted string, even a short one
    ("model.alpha >= \"0.1\"", "model.alpha"),  # quoted: a string, not a number
    ("seed < true", "seed"),                    # a boolean is not a number
    ("final.loss <= nan", "final.loss"),        # NaN would be bound as NULL: matches nothing
    ("model.depth == 2 and status > converged", "status"),
])
def test_ordering_a_non_number_is_an_error_naming_the_key(expression, key):
    with pytest.raises(ConfigError) as info:
        where_sql(expression)
    assert info.value.key == "--where"
    assert info.value.message.startswith(f"{key}: ") and "non-number" in info.value.message
    assert "\n" not in str(info.value)


def test_numbers_and_equality_with_strings_still_parse():
    assert where_sql("model.alpha > 0") == ("WHERE json_extract(config, '$.model.alpha') > ?", [0])
    assert where_sql("final.loss <= 1e-3 or steps >= -inf")[1] == [1e-3, float("-inf")]
    clause, params = where_sql(f"{INJECTION.replace('>', '==')} and status != 'a > b'")
    assert params == ["0; DROP TABLE runs", "a > b"]  # bound, never in the SQL text
    assert "DROP" not in clause and clause.count("?") == 2


# --------------------------------------------------------------------------- against real runs

def test_python_api_raises_instead_of_returning_no_runs(runs):
    with pytest.raises(ConfigError, match=r"model\.alpha"):
        ib.load(runs, where=INJECTION)
    assert len(ib.load(runs)) == 2  # nothing dropped, nothing changed


def test_valid_numeric_and_string_queries_still_select_runs(runs):
    assert list(ib.load(runs, where="model.alpha > 0.2")["model.alpha"]) == [0.5]
    assert len(ib.load(runs, where="model.alpha > 0")) == 2
    assert len(ib.load(runs, where="model.alpha >= 0.1 and model.alpha < 0.5")) == 1
    assert len(ib.load(runs, where="name == tiny-ls and model.kind == 'diagonal'")) == 2
    assert ib.load(runs, where="model.kind != diagonal").empty


def test_cli_ls_exits_2_with_one_line_naming_the_key(runs, capsys):
    assert main(["ls", str(runs), "--where", INJECTION]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "model.alpha" in lines[0] and "non-number" in lines[0], captured.err
    assert "no runs" not in captured.err and captured.out == ""


def test_cli_ls_valid_queries(runs, capsys):
    assert main(["ls", str(runs), "--where", "model.alpha > 0.2", "--columns", "model.alpha"]) == 0
    assert capsys.readouterr().out.split() == ["model.alpha", "0.5"]
    assert main(["ls", str(runs), "--where", "model.kind == diagonal", "--columns", "model.alpha"]) == 0
    assert capsys.readouterr().out.split() == ["model.alpha", "0.1", "0.5"]
