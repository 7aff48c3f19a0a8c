"""The config contract: defaults, validation (one ConfigError naming the key), --set overrides,
hashing, and docs/config.md documenting every key of the schema."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import pytest

from conftest import tiny_config, tiny_toml
from implicit_bias import settings as config
from implicit_bias.settings import resolution
from implicit_bias.settings.values import _check_value
from implicit_bias.settings import ConfigError, config_hash, resolve

DOCS = Path(__file__).resolve().parents[1] / "docs" / "config.md"

MINIMAL = {"problem": {"kind": "matrix_completion"}, "model": {"kind": "deep_matrix"}}


def _normalized_default(spec: config.Key):
    """What resolve() stores for a key left out: its default, floats as floats, lists as lists."""
    value = spec.default
    if value is None:
        return None
    if spec.kind == "float":
        return float(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _error(raw) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        resolve(raw)
    return info.value


def _set(raw: dict, dotted: str, value) -> dict:
    doc = copy.deepcopy(raw)
    parts = dotted.split(".")
    table = doc
    for part in parts[:-1]:
        table = table.setdefault(part, {})
    table[parts[-1]] = value
    return doc


# --------------------------------------------------------------------------- defaults

def test_resolve_fills_every_default_of_a_minimal_config():
    cfg = resolve(MINIMAL)
    optional = set(getattr(config, "OPTIONAL_SECTIONS", ()))  # sections that exist only when given
    sections = (set(config.KINDED_SECTIONS) | set(config.PLAIN_SECTIONS)) - optional
    assert set(cfg) == set(config.TOP_LEVEL) | sections
    for name, spec in config.TOP_LEVEL.items():
        assert cfg[name] == _normalized_default(spec), name
    chosen = {"problem": "matrix_completion", "model": "deep_matrix"}
    for section, (kinds, default_kind) in config.KINDED_SECTIONS.items():
        if section in optional:
            continue
        kind = chosen.get(section, default_kind)
        assert cfg[section]["kind"] == kind
        assert set(cfg[section]) == {"kind"} | set(kinds[kind]), section
        for name, spec in kinds[kind].items():
            assert cfg[section][name] == _normalized_default(spec), f"{section}.{name}"
    for section, keys in config.PLAIN_SECTIONS.items():
        assert cfg[section] == {name: _normalized_default(spec) for name, spec in keys.items()}
    assert cfg["trainer"]["kind"] == "gd" and cfg["penalty"]["kind"] == "none"


@pytest.mark.parametrize("section,kind", [(s, k) for s, (kinds, _) in config.KINDED_SECTIONS.items()
                                          for k in kinds])
def test_resolve_fills_every_default_of_every_kind(monkeypatch, section, kind):
    # Cross-field checks (e.g. a ratings problem needs a path) are tested elsewhere; here only the
    # per-table filling of defaults is under test, for every kind of every section.
    monkeypatch.setattr(resolution, "_check_consistency", lambda resolved: None)
    raw = {"problem": {"kind": "matrix_completion"}, "model": {"kind": "linear"}, section: {"kind": kind}}
    table = resolve(raw)[section]
    keys = config.KINDED_SECTIONS[section][0][kind]
    assert set(table) == {"kind"} | set(keys)
    for name, spec in keys.items():
        assert table[name] == _normalized_default(spec), f"{section}.{name}"
        if spec.kind == "float" and not (spec.nullable and table[name] is None):  # trainer.lr_relative: absent
            assert isinstance(table[name], float), f"{section}.{name}"


def test_every_default_passes_its_own_validation():
    for path, spec in _all_specs():
        if spec.default is None:
            assert spec.nullable, path
        _check_value(path, spec, spec.default)


def _all_specs():
    for name, spec in config.TOP_LEVEL.items():
        yield name, spec
    for section, (kinds, _) in config.KINDED_SECTIONS.items():
        for kind, table in kinds.items():
            for name, spec in table.items():
                yield f"{section}.{kind}.{name}", spec
    for section, table in config.PLAIN_SECTIONS.items():
        for name, spec in table.items():
            yield f"{section}.{name}", spec


def test_resolve_keeps_given_values_and_does_not_mutate_its_input():
    raw = tiny_config("completion", seed=7, model__depth=3, trainer__lr=1)
    before = copy.deepcopy(raw)
    cfg = resolve(raw)
    assert raw == before
    assert cfg["seed"] == 7 and cfg["model"]["depth"] == 3 and cfg["name"] == "tiny-completion"
    assert cfg["trainer"]["lr"] == 1.0 and isinstance(cfg["trainer"]["lr"], float)  # an int is a valid float
    assert cfg["problem"]["n_rows"] == 10 and cfg["problem"]["noise"] == 0.0


def test_resolve_is_idempotent():
    for base in ("completion", "least_squares", "sensing"):
        once = resolve(tiny_config(base))
        assert resolve(copy.deepcopy(once)) == once


def test_missing_problem_section_is_named():
    err = _error({"model": {"kind": "linear"}})
    assert err.key == "problem"
    err = _error({"problem": {"n_rows": 3}, "model": {"kind": "linear"}})
    assert err.key == "problem.kind"


# --------------------------------------------------------------------------- rejections

@pytest.mark.parametrize("dotted,key", [
    ("bogus", "bogus"),                                # unknown top-level key
    ("bogus.x", "bogus"),                              # unknown section
    ("problem.bogus", "problem.bogus"),
    ("model.bogus", "model.bogus"),
    ("trainer.bogus", "trainer.bogus"),
    ("penalty.bogus", "penalty.bogus"),
    ("metrics.bogus", "metrics.bogus"),
    ("model.widths", "model.widths"),                  # a key of another model kind (mlp)
    ("trainer.momentum", "trainer.momentum"),          # a key of another trainer kind
    ("problem.n_features", "problem.n_features"),      # a key of another problem kind
])
def test_unknown_keys_and_sections_are_rejected_by_name(dotted, key):
    err = _error(_set(tiny_config("completion"), dotted, 1))
    assert err.key == key
    assert key in str(err) and "unknown" in str(err)


@pytest.mark.parametrize("dotted,value,key", [
    ("seed", True, "seed"),
    ("seed", False, "seed"),
    ("model.depth", True, "model.depth"),
    ("trainer.steps", True, "trainer.steps"),
    ("trainer.log_every", False, "trainer.log_every"),
    ("metrics.top_k", True, "metrics.top_k"),
    ("problem.n_obs", True, "problem.n_obs"),
    ("model.width", True, "model.width"),
    ("model.width", [True], "model.width[0]"),
    ("trainer.lr", True, "trainer.lr"),  # nor as a float
])
def test_bool_is_not_an_int(dotted, value, key):
    err = _error(_set(tiny_config("completion"), dotted, value))
    assert err.key == key and key in str(err)


@pytest.mark.parametrize("dotted,value", [
    ("seed", 1.0), ("seed", "1"), ("model.depth", 2.5), ("model.depth", 2.0), ("trainer.steps", 1e3),
    ("trainer.lr", "0.1"), ("trainer.lr", [0.1]), ("name", 3), ("dtype", "float16"), ("model.init", "zeros"),
    ("problem", 3), ("problem", [1, 2]), ("model.init_scale", None), ("trainer.kind", "newton"),
])
def test_wrong_types_and_values_are_rejected_by_name(dotted, value):
    err = _error(_set(tiny_config("completion"), dotted, value))
    assert err.key == dotted and dotted in str(err)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("dotted", ["trainer.lr", "trainer.stop_loss", "problem.noise", "problem.target_norm",
                                    "model.init_scale", "penalty.weight"])
def test_nan_and_inf_are_rejected(dotted, value):
    err = _error(_set(tiny_config("completion"), dotted, value))
    assert err.key == dotted


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_nan_and_inf_are_rejected_in_lists(value):
    raw = tiny_config("least_squares", model={"kind": "diagonal", "shape": [1.0] * 19 + [value]})
    assert _error(raw).key == "model.shape[19]"


@pytest.mark.parametrize("dotted,value", [
    ("trainer.lr", -0.1), ("trainer.lr", 0.0), ("trainer.steps", -1), ("trainer.log_every", 0), ("seed", -1),
    ("seed", 2**32), ("model.depth", 0), ("model.init_scale", 0.0), ("problem.noise", -1.0),
    ("problem.n_rows", 0), ("metrics.top_k", 0), ("name", ""), ("name", "x" * 201),
])
def test_out_of_range_values_are_rejected_by_name(dotted, value):
    err = _error(_set(tiny_config("completion"), dotted, value))
    assert err.key == dotted


@pytest.mark.parametrize("base,overrides,key", [
    ("completion", {"problem.rank": 11}, "problem.rank"),
    ("completion", {"problem.n_cols": 4, "problem.rank": 5}, "problem.rank"),
    ("completion", {"problem.n_obs": 101}, "problem.n_obs"),
    ("completion", {"model.width": [4, 4]}, "model.width"),          # depth 2 needs 1 hidden width
    ("completion", {"penalty": {"kind": "nuclear", "on": "params"}}, "penalty.on"),
    ("completion", {"trainer": {"kind": "sgd", "batch_size": 41}}, "trainer.batch_size"),
    ("completion", {"model": {"kind": "mlp"}}, "model.kind"),
    ("least_squares", {"problem.design": "orthogonal"}, "problem.design"),
    ("least_squares", {"problem.target": "sparse", "problem.sparsity": 21}, "problem.sparsity"),
    ("sensing", {"problem.n_cols": 5, "problem.measurements": "symmetric_gaussian"}, "problem.measurements"),
    ("sensing", {"model": {"kind": "symmetric"}, "problem.n_cols": 5}, "model.kind"),
])
def test_cross_field_constraints_name_the_key(base, overrides, key):
    raw = tiny_config(base, **overrides)
    assert _error(raw).key == key


def test_error_message_names_the_key_and_the_allowed_values():
    err = _error(_set(tiny_config("completion"), "model.init", "zeros"))
    text = str(err)
    assert text.startswith("model.init:") and "'identity'" in text and "'zeros'" in text
    err = _error(_set(tiny_config("completion"), "model.bogus", 1))
    assert "depth" in str(err)  # lists the keys allowed there


# --------------------------------------------------------------------------- hashing

def _reversed_order(value):
    if isinstance(value, dict):
        return {k: _reversed_order(value[k]) for k in reversed(list(value))}
    return value


def _leaves(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, path + (k,))
    else:
        yield path, value


def _perturbed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 2 + 1
    if isinstance(value, str):
        return value + "_x"
    if value is None:
        return 1
    if isinstance(value, list):
        return value + [value[-1]] if value else [1]
    raise AssertionError(value)


def test_config_hash_is_stable_under_key_order():
    raw = tiny_config("completion", penalty={"kind": "l2", "weight": 0.1})
    cfg = resolve(raw)
    assert config_hash(_reversed_order(cfg)) == config_hash(cfg)
    assert config_hash(resolve(_reversed_order(raw))) == config_hash(cfg)
    assert config.run_dir_name(resolve(_reversed_order(raw))) == config.run_dir_name(cfg)


def test_config_hash_changes_with_any_value():
    for base in ("completion", "least_squares"):
        cfg = resolve(tiny_config(base))
        digest = config_hash(cfg)
        seen = {digest}
        for path, value in _leaves(cfg):
            changed = copy.deepcopy(cfg)
            table = changed
            for part in path[:-1]:
                table = table[part]
            table[path[-1]] = _perturbed(value)
            new = config_hash(changed)
            assert new != digest, ".".join(path)
            seen.add(new)
        assert len(seen) == 1 + len(list(_leaves(cfg)))


def test_config_hash_sees_resolved_values_not_spelling():
    base = resolve(tiny_config("completion", trainer__lr=1.0))
    # an int for a float, explicit defaults and the implicit default trainer/penalty: the same config
    same = resolve(tiny_config("completion", trainer__lr=1, trainer__kind="gd", trainer__stop_loss=0,
                               dtype="float64", penalty={"kind": "none"}, metrics={"top_k": 10}))
    assert config_hash(same) == config_hash(base)
    assert config_hash({**base, "versions": {"jax": "0.0"}}) == config_hash(base)
    assert config_hash(resolve(tiny_config("completion", trainer__lr=0.25))) != config_hash(base)


def test_run_dir_name_is_name_and_8_hex_of_the_hash():
    cfg = resolve(tiny_config("completion"))
    assert config.run_dir_name(cfg) == f"tiny-completion-{config_hash(cfg)[:8]}"
    assert re.fullmatch(r"[0-9a-f]{64}", config_hash(cfg))
    odd = resolve(tiny_config("completion", name="../a b/c"))
    name = config.run_dir_name(odd)
    assert "/" not in name and not name.startswith(".") and re.search(r"-[0-9a-f]{8}$", name)


# --------------------------------------------------------------------------- --set overrides

@pytest.mark.parametrize("text,parts,value", [
    ("model.depth=3", ["model", "depth"], 3),
    ("seed=1", ["seed"], 1),
    ("trainer.lr=0.25", ["trainer", "lr"], 0.25),
    ("trainer.lr=1e-3", ["trainer", "lr"], 1e-3),
    ("model.init=identity", ["model", "init"], "identity"),      # a bare string
    ('model.init="balanced"', ["model", "init"], "balanced"),    # a TOML string
    ("name=hello world", ["name"], "hello world"),
    ("name=a=b", ["name"], "a=b"),                              # only the first = splits
    ("model.width=[4, 5]", ["model", "width"], [4, 5]),
    ("model.bias=true", ["model", "bias"], True),
    (" trainer . steps = 7", ["trainer", "steps"], 7),
    ("model={kind='linear'}", ["model"], {"kind": "linear"}),
])
def test_parse_override(text, parts, value):
    assert config.parse_override(text) == (parts, value)


@pytest.mark.parametrize("text", ["noequals", "=3", " =3", "a..b=1", ".a=1", "a.=1"])
def test_parse_override_rejects_bad_keys(text):
    with pytest.raises(ConfigError) as info:
        config.parse_override(text)
    assert info.value.key == "--set"


def test_apply_overrides_sets_nested_keys_without_mutating():
    raw = tiny_config("least_squares")
    before = copy.deepcopy(raw)
    doc = config.apply_overrides(raw, ["problem.noise=0.5", "penalty.kind=l2", "penalty.weight=0.1",
                                       "seed=1", "seed=2"])
    assert raw == before
    assert doc["problem"]["noise"] == 0.5 and doc["penalty"] == {"kind": "l2", "weight": 0.1}
    assert doc["seed"] == 2  # the last --set wins
    with pytest.raises(ConfigError) as info:
        config.apply_overrides(raw, ["name.x=1"])
    assert info.value.key == "name"


def test_load_applies_overrides_to_a_toml_file(tmp_path):
    path = tiny_toml(tmp_path, "completion")
    cfg = config.load(path, ["model.depth=3", "seed=1", "model.init=identity", "trainer.lr=0.2"])
    assert cfg["model"]["depth"] == 3 and cfg["seed"] == 1 and cfg["model"]["init"] == "identity"
    assert cfg["trainer"]["lr"] == 0.2
    assert cfg == resolve(tiny_config("completion", model__depth=3, seed=1, model__init="identity",
                                      trainer__lr=0.2))
    with pytest.raises(ConfigError) as info:
        config.load(path, ["model.depth=0"])
    assert info.value.key == "model.depth"


def test_load_reports_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        config.load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n[problem")
    with pytest.raises(ConfigError, match="malformed TOML"):
        config.load(bad)


def test_embedded_default_config_resolves():
    cfg = config.load(None)
    assert cfg["problem"]["kind"] == "matrix_completion" and cfg["model"]["kind"] == "deep_matrix"


# --------------------------------------------------------------------------- documentation

def test_all_keys_lists_every_schema_key_once():
    keys = config.all_keys()
    assert len(keys) == len(set(keys))
    assert {"name", "seed", "dtype", "problem.kind", "model.kind", "trainer.kind", "penalty.kind",
            "model.deep_matrix.depth", "trainer.gd.lr", "problem.matrix_completion.n_obs",
            "metrics.top_k"} <= set(keys)
    assert len(keys) == len(list(_all_specs())) + len(config.KINDED_SECTIONS)


def _doc_text() -> str:
    assert DOCS.is_file(), f"{DOCS} is missing: it must document every config key"
    return DOCS.read_text(encoding="utf-8")


def _sections(text: str) -> list[tuple[str, int, int]]:
    """(heading, first line, end line) of every markdown section (its sub-sections included),
    ignoring ``#`` lines inside code fences."""
    lines, headings, fenced = text.splitlines(), [], False
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        match = None if fenced else re.match(r"^(#{1,6})\s+(.*)$", line)
        if match:
            headings.append((i, len(match.group(1)), match.group(2)))
    out = []
    for j, (i, level, title) in enumerate(headings):
        end = next((k for k, lv, _ in headings[j + 1:] if lv <= level), len(lines))
        out.append((title, i, end))
    return out


def _names(title: str, word: str, *, plural: bool = False) -> bool:
    suffix = "s?" if plural else ""
    flags = re.IGNORECASE if plural else 0
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}{suffix}(?![A-Za-z0-9_])", title, flags) is not None


def _ticked(name: str, text: str) -> bool:
    return f"`{name}`" in text


def test_every_config_key_is_documented_in_backticks():
    text = _doc_text()
    missing = [key for key in config.all_keys() if not _ticked(key.rsplit(".", 1)[-1], text)]
    assert not missing, f"docs/config.md does not mention these keys as `key`: {missing}"


def test_every_kind_is_documented():
    text = _doc_text()
    titles = [title for title, _, _ in _sections(text)]
    missing = [f"{section}.kind = {kind}" for section, (kinds, _) in config.KINDED_SECTIONS.items()
               for kind in kinds if not (_ticked(kind, text) or any(_names(t, kind) for t in titles))]
    assert not missing, f"docs/config.md does not document these kinds: {missing}"


def _owned_text(text: str, table: str, kind: str | None, seen: frozenset = frozenset()) -> str:
    """What documents the keys of ``[table] kind = kind``: the sections whose heading names the
    kind, and the sections whose heading names the table minus their sub-sections about OTHER kinds
    (keys shared by several kinds are usually documented once, at the table level). A kind's section
    may refer to another's ("Plus every key of `flow`"): that kind's text counts too."""
    lines, sections = text.splitlines(), _sections(text)
    others = [k for k in config.KINDED_SECTIONS.get(table, ({}, None))[0] if k != kind]
    own: set[int] = set()
    for title, start, end in sections:
        if kind is not None and _names(title, kind):
            own.update(range(start, end))
    keep = set(own)
    for title, start, end in sections:
        if _names(title, table, plural=True):
            drop = {i for t, s, e in sections if start < s < end and any(_names(t, o) for o in others)
                    and not (kind is not None and _names(t, kind)) for i in range(s, e)}
            keep.update(set(range(start, end)) - drop)
    owned = "\n".join(lines[i] for i in sorted(keep))
    own_text = "\n".join(lines[i] for i in sorted(own))
    for ref in re.findall(r"keys? of `(\w+)`", own_text):
        if ref in others and ref not in seen:
            owned += "\n" + _owned_text(text, table, ref, seen | {kind, ref})
    return owned


def test_every_config_key_is_documented_in_the_section_for_its_kind():
    """``model.deep_matrix.depth`` must appear as `depth` under a heading naming `deep_matrix`, or
    in the [model] section outside the sub-sections about the other model kinds."""
    text = _doc_text()
    missing = []
    for key in config.all_keys():
        parts = key.split(".")
        if len(parts) == 1:
            continue  # top-level keys: covered by the backtick test
        table, kind, name = parts[0], (parts[1] if len(parts) == 3 else None), parts[-1]
        if not _ticked(name, _owned_text(text, table, kind)):
            missing.append(key)
    assert not missing, f"docs/config.md does not document these keys in their section: {missing}"
