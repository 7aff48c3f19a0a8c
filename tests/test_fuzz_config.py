"""Config fuzzing: hypothesis generates TOML documents and ``--set`` overrides (wrong types, unknown
keys, missing sections, huge/negative/NaN numbers, unicode names, deeply nested tables) and checks
the bad-input contract:

* Python API: :func:`implicit_bias.settings.resolve` (and ``apply_overrides``/``load``) either returns
  a config or raises :class:`~implicit_bias.settings.ConfigError` whose ``.key`` is a non-empty dotted
  path the document has or the schema expects -- never any other exception type.
* CLI: ``implicit-bias run`` exits 0 or 2; on 2 it prints exactly ONE stderr line
  ``implicit-bias: error: <key>: <message>`` (the same ConfigError the Python API raises), no
  traceback, and creates no run directory.

``--print-config`` resolves without training, so most CLI examples are fast; only a few examples
make the real (failing) run. Every example is in-process (``cli.main``).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from conftest import BASES
from implicit_bias import cli
from implicit_bias import settings as config
from implicit_bias.settings import ConfigError

PREFIX = "implicit-bias: error: "

# --------------------------------------------------------------------------- valid starting points

VALID_BASES: dict[str, dict[str, Any]] = {
    **copy.deepcopy(BASES),
    "teacher_student": {
        "name": "tiny-ts", "seed": 1,
        "problem": {"kind": "teacher_student", "n_samples": 8, "n_features": 3, "n_test": 8,
                    "teacher_widths": [4]},
        "model": {"kind": "mlp", "widths": [8], "activation": "tanh"},
        "trainer": {"kind": "sgd", "batch_size": 4, "lr": 0.1, "steps": 20, "log_every": 10, "patience": 2},
        "penalty": {"kind": "l2", "weight": 0.01, "on": "params"},
    },
    "flow": {
        "name": "tiny-flow", "dtype": "float32",
        "problem": {"kind": "least_squares", "n_samples": 5, "n_features": 8, "target": "sparse", "sparsity": 2},
        "model": {"kind": "diagonal", "form": "difference", "power": 2, "alpha": 0.1},
        "trainer": {"kind": "flow", "t_max": 1.0, "log_dt": 0.25},
        "metrics": {"top_k": 3},
    },
    "baseline": {
        "name": "tiny-ridge",
        "problem": {"kind": "least_squares", "n_samples": 5, "n_features": 8},
        "baseline": {"kind": "ridge", "lambda": 0.1, "path": [0.0, 0.5, 1.0]},
    },
    "adam_symmetric": {
        "name": "tiny-adam",
        "problem": {"kind": "matrix_sensing", "n_rows": 4, "n_cols": 4, "rank": 1, "n_measurements": 12,
                    "measurements": "symmetric_gaussian"},
        "model": {"kind": "symmetric", "width": 4, "init": "identity", "init_scale": 0.01},
        "trainer": {"kind": "adam", "lr": 0.01, "steps": 20, "log_every": 10, "b1": 0.5},
        "penalty": {"kind": "schatten", "p": 0.5, "weight": 0.01},
    },
}

SECTIONS = set(config.KINDED_SECTIONS) | set(config.PLAIN_SECTIONS)
SCHEMA_ROOTS = set(config.TOP_LEVEL) | SECTIONS


def test_bases_are_valid():
    for name, doc in VALID_BASES.items():
        assert isinstance(config.resolve(doc), dict), name


# --------------------------------------------------------------------------- values and mutations

HUGE_INTS = [2**31, 2**32, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**18, 10**30, 10**308, 10**309,
             -(10**400), 10**1000]
SPECIAL_FLOATS = [float("nan"), float("inf"), float("-inf"), -0.0, 5e-324, 1e308, -1e308, 1e-300, 1e300]
NASTY_TEXT = ["", " ", "🙂", "日本語", "ß", "e\u0301", "\u202e", "a\nb", "\x00", "\x7f", "a\\b", 'q"uote', "x" * 201,
              "gaussian ", "GAUSSIAN", "1e3", "true", "nan", "inf", "[1, 2]", "../..", "/etc/passwd", "con"]

key_text = st.one_of(
    st.sampled_from(["kind", "name", "seed", "foo", "n_rows", "depth", "lr", "steps", "width", "x", "", " ", "a.b",
                     "kind ", "Kind", "🙂", "名前", "a b", "-", "_", "0"]),
    st.text(min_size=0, max_size=8),
)

scalar = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(HUGE_INTS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(SPECIAL_FLOATS),
    st.sampled_from(NASTY_TEXT),
    st.text(max_size=12),
    st.dates(),
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 1, 1)),
)


def _nested(depth: int, leaf: Any, key: str = "a") -> Any:
    for _ in range(depth):
        leaf = {key: leaf}
    return leaf


weird_value = st.recursive(
    scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(key_text, inner, max_size=3)),
    max_leaves=8,
) | st.builds(_nested, st.one_of(st.integers(1, 40), st.sampled_from([100, 300])), scalar, key_text) | st.builds(
    lambda n: [1] * n, st.sampled_from([0, 10001, 20000])  # empty / too-long lists
)


def _tables(doc: dict, prefix: tuple = ()) -> list[tuple]:
    """Paths of every table in ``doc`` (the root is ``()``)."""
    out = [prefix]
    for k, v in doc.items():
        if isinstance(v, dict) and len(prefix) < 4:
            out += _tables(v, prefix + (k,))
    return out


def _leaves(doc: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for k, v in doc.items():
        out.append(prefix + (k,))
        if isinstance(v, dict) and len(prefix) < 4:
            out += _leaves(v, prefix + (k,))
    return out


def _get(doc: dict, path: tuple) -> Any:
    for p in path:
        doc = doc[p]
    return doc


@st.composite
def mutation(draw, doc: dict) -> None:
    """Apply ONE random mutation to ``doc`` in place."""
    op = draw(st.sampled_from(["replace", "replace", "replace", "unknown", "delete", "nest", "kind", "section",
                               "schema_key"]))
    leaves = _leaves(doc)
    if op == "replace" and leaves:
        path = draw(st.sampled_from(leaves))
        _get(doc, path[:-1])[path[-1]] = draw(weird_value)
    elif op == "unknown":
        table = _get(doc, draw(st.sampled_from(_tables(doc))))
        table[draw(key_text)] = draw(weird_value)
    elif op == "delete" and leaves:
        path = draw(st.sampled_from(leaves))
        _get(doc, path[:-1]).pop(path[-1], None)
    elif op == "nest":
        table = _get(doc, draw(st.sampled_from(_tables(doc))))
        depth = draw(st.one_of(st.integers(1, 30), st.sampled_from([33, 100, 300])))
        table[draw(key_text)] = _nested(depth, draw(scalar), draw(key_text))
    elif op == "kind":  # a different (valid or not) kind, keeping the other keys of the section
        section = draw(st.sampled_from(sorted(config.KINDED_SECTIONS)))
        kinds = sorted(config.KINDED_SECTIONS[section][0])
        table = doc.get(section)
        if not isinstance(table, dict):
            table = doc[section] = {}
        table["kind"] = draw(st.one_of(st.sampled_from(kinds), weird_value))
    elif op == "section":  # a section replaced by a scalar / list, or dropped entirely
        section = draw(st.sampled_from(sorted(SECTIONS)))
        if draw(st.booleans()):
            doc.pop(section, None)
        else:
            doc[section] = draw(weird_value)
    elif op == "schema_key":  # a real key of some kind, possibly in the wrong section, with a weird value
        dotted = draw(st.sampled_from(config.all_keys())).split(".")
        section = dotted[0] if len(dotted) > 1 else None
        table = doc if section is None else doc.setdefault(section, {})
        if isinstance(table, dict):
            table[dotted[-1]] = draw(st.one_of(weird_value, st.integers(-5, 5), st.floats(-2, 2)))


@st.composite
def documents(draw, max_mutations: int = 4) -> dict:
    doc = copy.deepcopy(VALID_BASES[draw(st.sampled_from(sorted(VALID_BASES)))])
    for _ in range(draw(st.integers(0, max_mutations))):
        draw(mutation(doc))
    return doc


def _root(key: str) -> str:
    return re.split(r"[.\[]", key, maxsplit=1)[0]


def _assert_names_a_key(exc: ConfigError, doc: Any = None, extra: tuple = ()) -> None:
    """``exc.key`` is a non-empty key path that the document has or the schema expects."""
    assert type(exc) is ConfigError
    assert isinstance(exc.key, str) and exc.key, f"ConfigError without a key: {exc!r}"
    root = _root(exc.key)
    known = SCHEMA_ROOTS | set(extra) | {str(k) or '""' for k in (doc if isinstance(doc, dict) else ())}
    assert root in known or any(exc.key == k or exc.key.startswith((f"{k}.", f"{k}[")) for k in known), \
        f"{exc.key!r} names neither a key of the document nor of the schema"


def _cli_line(exc: ConfigError) -> str:
    """The one stderr line the CLI prints for ``exc``."""
    return PREFIX + " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


# --------------------------------------------------------------------------- 1. the Python API

@settings(max_examples=300, deadline=None)
@given(doc=documents())
@example(doc={**BASES["completion"], "trainer": {"kind": "gd", "lr": 10**309}})  # int beyond float range
@example(doc={**BASES["completion"], "trainer": {"kind": "gd", "lr": -(10**400)}})
@example(doc={**BASES["completion"], "seed": 10**5000})  # an int too long for repr()
@example(doc={"problem": {"kind": "least_squares"}, "baseline": {"kind": "ridge", "path": [10**400]}})
@example(doc={**BASES["least_squares"], "model": {"kind": "diagonal", "shape": [1.0] * 19 + [10**400]}})
@example(doc={**BASES["completion"], 1: 2, None: 3})  # non-string keys (Python API only)
def test_resolve_raises_only_config_error(doc):
    _check_resolve(doc)


def _check_resolve(doc):
    for attempt in (lambda: config.resolve(doc), lambda: config.resolve(config.apply_overrides(doc, []))):
        try:
            resolved = attempt()
        except ConfigError as exc:
            _assert_names_a_key(exc, doc)
            assert "\n" not in _cli_line(exc)
            assert len(_cli_line(exc)) < 2000, "error message unreadably long"
        else:
            assert isinstance(resolved, dict)
            json.dumps(resolved, allow_nan=False)  # finite, plain data


DEEP_DOCS = {  # deeper than the recursion limit: plain tests, since hypothesis cannot even repr these
    "unknown_deep_table": {**BASES["completion"], "deep": _nested(1500, 1)},  # apply_overrides deep-copies
    "deep_section": {**BASES["completion"], "problem": _nested(1500, 1)},
    "deep_list": {**BASES["completion"], "name": _nested(1500, [1], key="x")},
    "deep_list_in_list": {**BASES["completion"], "model": {"kind": "deep_matrix", "width": [[[[[[[[1]]]]]]]]}},
}


def _deep_list(n: int) -> list:
    value: list = []
    for _ in range(n):
        value = [value]
    return value


DEEP_DOCS["deep_plain_list"] = {**BASES["completion"], "seed": _deep_list(3000)}


def test_resolve_of_deeply_nested_documents():
    for name, doc in DEEP_DOCS.items():
        _check_resolve(doc)


@given(doc=st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2)))
def test_resolve_of_a_non_table(doc):
    try:
        config.resolve(doc)
    except ConfigError as exc:
        assert type(exc) is ConfigError
    else:
        raise AssertionError("a non-table resolved")


# --------------------------------------------------------------------------- a tiny TOML writer

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _toml_str(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


def _toml_key(k: Any) -> str:
    k = str(k)
    return k if _BARE.fullmatch(k) else _toml_str(k)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v in (float("inf"), float("-inf")):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v if x is not None) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items() if x is not None) + "}"
    raise TypeError(repr(v))


def to_toml(doc: dict) -> str:
    """Scalars (and inline values) first, then ``[a."b c"]`` sub-tables; None is left out. Iterative,
    so that tables nested thousands deep do not exhaust the test's own recursion."""
    lines: list[str] = []
    todo = [((), doc)]
    while todo:
        path, table = todo.pop(0)
        if path:
            lines += ["", "[" + ".".join(_toml_key(p) for p in path) + "]"]
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()
                  if v is not None and not isinstance(v, dict)]
        todo += [(path + (k,), v) for k, v in table.items() if isinstance(v, dict)]
    return "\n".join(lines) + "\n"


def test_writer_round_trips():
    import tomllib

    for doc in VALID_BASES.values():
        assert tomllib.loads(to_toml(doc)) == doc


@st.composite
def corrupted(draw, text: str) -> str:
    """``text`` with a few random character / line edits (often making it malformed TOML)."""
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "dup_line", "drop_line", "truncate"]))
        pos = draw(st.integers(0, len(text)))
        if op == "insert":
            text = text[:pos] + draw(st.sampled_from(list("[]{}=\"'.,#\n\\ ") + ["🙂", "\x00", "\ufeff"])
                                     | st.text(max_size=3)) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + 1:]
        elif op == "replace":
            text = text[:pos] + draw(st.characters()) + text[pos + 1:]
        elif op == "truncate":
            text = text[:pos]
        else:
            lines = text.splitlines(keepends=True)
            if lines:
                i = draw(st.integers(0, len(lines) - 1))
                lines[i:i + 1] = [lines[i]] * 2 if op == "dup_line" else []
            text = "".join(lines)
    return text


PATHOLOGICAL_TOML = [
    "seed = " + "9" * 5000 + "\n",  # beyond Python's int-from-string limit
    "v = " + "[" * 5000 + "]" * 5000 + "\n",  # deeper than tomllib's recursion
    "v = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n",
    "a" + ".a" * 3000 + " = 1\n",  # a table nested 3000 deep
    "[" + ".".join(["t"] * 2000) + "]\nx = 1\n",
    "[trainer]\nlr = 1" + "0" * 400 + "\n[problem]\nkind = \"least_squares\"\n[model]\nkind = \"linear\"\n",
    "\ufeffname = \"x\"\n",
    "name = \"x\"\nname = \"y\"\n",
    "",
    "[problem\n",
    '"" = 1\n[problem]\nkind = "least_squares"\n[model]\nkind = "linear"\n',  # an empty key must be named
]

toml_text = st.one_of(
    documents().map(to_toml),
    documents(max_mutations=1).map(to_toml).flatmap(corrupted),
    st.sampled_from(PATHOLOGICAL_TOML),
    st.text(max_size=60),
)


@contextlib.contextmanager
def _captured():
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield out, err


def _main(args: list[str]) -> tuple[int, str, str]:
    """``cli.main(args)`` in-process: (status, stdout, stderr); argparse's SystemExit is a status."""
    with _captured() as (out, err):
        try:
            code = cli.main(args)
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def _expected_error(path: str | None, overrides: list[str]) -> ConfigError | None:
    """What the Python API says about the same input (None: it is valid)."""
    try:
        config.load(path, overrides)
    except ConfigError as exc:
        return exc
    return None


def _check_cli(code: int, stdout: str, stderr: str, expected: ConfigError | None) -> None:
    assert "Traceback" not in stderr and "Traceback" not in stdout
    if expected is None:
        assert code == 0, stderr
        json.loads(stdout)  # --print-config prints the resolved config as JSON
        return
    assert code == 2, (code, stderr)
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1 and stderr.endswith("\n"), stderr
    assert lines[0].startswith(PREFIX)
    assert lines[0] == _cli_line(expected)  # the message names expected.key, which is checked below


def _write(tmp: Path, text: str) -> Path:
    path = tmp / "experiment.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- 2. TOML files via the CLI

@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=toml_text)
@example(text=PATHOLOGICAL_TOML[0])
@example(text=PATHOLOGICAL_TOML[1])
@example(text=PATHOLOGICAL_TOML[2])
@example(text=PATHOLOGICAL_TOML[3])
@example(text=PATHOLOGICAL_TOML[5])
@example(text=PATHOLOGICAL_TOML[-1])
def test_cli_toml_print_config(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), text)
        out = Path(tmp) / "runs"
        code, stdout, stderr = _main(["run", str(path), "--out", str(out), "--print-config"])
        expected = _expected_error(str(path), [])
        if expected is not None:
            _assert_names_a_key(expected, extra=("config",) + tuple(_top_keys(text)))
        _check_cli(code, stdout, stderr, expected)
        assert not out.exists()


def _top_keys(text: str) -> list[str]:
    import tomllib

    try:
        return [str(k) or '""' for k in tomllib.loads(text)]
    except Exception:  # noqa: BLE001 - malformed text has no keys
        return []


@st.composite
def invalid_documents(draw) -> dict:
    import tomllib

    doc = draw(documents(max_mutations=3))
    try:
        config.resolve(tomllib.loads(to_toml(doc)))  # as the file will read: None values are left out
    except ConfigError:
        return doc
    except Exception:  # noqa: BLE001 - a document the TOML round trip breaks is not what this test is about
        pass
    assume(False)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(doc=invalid_documents())
@example(doc={**BASES["completion"], "trainer": {"kind": "gd", "lr": 10**309}})
def test_cli_real_run_of_a_bad_config_writes_nothing(doc):
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), to_toml(doc))
        out = Path(tmp) / "runs"
        code, stdout, stderr = _main(["run", str(path), "--out", str(out), "--quiet"])
        _check_cli(code, stdout, stderr, _expected_error(str(path), []))
        assert not out.exists() or not any(out.iterdir()), "a bad config created a run directory"


# --------------------------------------------------------------------------- 3. --set overrides

def _short(key: str) -> str:
    """``model.deep_matrix.depth`` -> ``model.depth`` (what ``--set`` takes)."""
    parts = key.split(".")
    return f"{parts[0]}.{parts[-1]}" if len(parts) == 3 else key


SET_KEYS = sorted({_short(k) for k in config.all_keys()})
BAD_KEYS = ["", ".", "..", "a..b", ".seed", "seed.", " ", "model..depth", "model.depth.x", "seed.x", "name.x",
            "problem.kind.x", "🙂", "名前.x", "unknown", "model.unknown", "trainer. lr", "a\nb", "x" * 300,
            ".".join(["a"] * 2000)]

override_value = st.one_of(
    (st.recursive(scalar, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                  st.dictionaries(key_text, inner, max_size=3)), max_leaves=8)
     | st.builds(_nested, st.integers(1, 40), scalar, key_text)).map(
        lambda v: _toml_value(v) if v is not None else ""),
    st.text(max_size=12),
    st.sampled_from(["", "=", "==", "[", "{", "\"", "1e400", "-1", "0", "nan", "inf", "1_000", "0x10", "true",
                     "[1,", "{a=1}", "1\n[x]", "9" * 5000, "[" * 3000 + "]" * 3000, "1979-05-27", "\"\\ud800\""]),
)
override = st.one_of(
    st.tuples(st.sampled_from(SET_KEYS), override_value).map("=".join),
    st.tuples(st.sampled_from(BAD_KEYS) | key_text, override_value).map("=".join),
    st.sampled_from(["", "=", "==1", "seed", "no-equals-sign", "🙂"]),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(overrides=st.lists(override, min_size=1, max_size=3))
@example(overrides=["seed=" + "9" * 5000])
@example(overrides=["name=" + "[" * 3000 + "]" * 3000])
@example(overrides=["trainer.lr=1" + "0" * 400])
@example(overrides=[".".join(["a"] * 2000) + "=1"])
@example(overrides=["seed.x=1"])
def test_cli_set_print_config(overrides):
    code, stdout, stderr = _main(["run", *[f"--set={o}" for o in overrides], "--print-config"])
    expected = _expected_error(None, overrides)
    if expected is not None:
        names = [o.split("=", 1)[0].strip().split(".")[0] for o in overrides]
        _assert_names_a_key(expected, extra=("--set", *names))
    _check_cli(code, stdout, stderr, expected)
