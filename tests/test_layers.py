"""The layers contract: every import inside the package (imports inside functions included) points
down the order of docs/architecture.md, and nothing inside the package imports the facade.

    errors, keys → settings → core → metrics → trainers → baselines → rundir →
    execution | catalog → sweeps → maintenance | analysis → engine → reproduce → cli → facades

Modules of one layer may import each other; the two halves of a split layer (execution and
catalog; maintenance and analysis) may not, so either can change without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "implicit_bias"

#: (layer rank, group) of each top-level part of the package
LAYERS: dict[str, tuple[int, str]] = {
    "errors": (0, "base"), "keys": (0, "base"), "version": (0, "base"), "diagnostics": (0, "base"), "plugins": (0, "base"),
    "settings": (1, "settings"),
    "core": (2, "core"),
    "metrics": (3, "metrics"),
    "trainers": (4, "trainers"),
    "baselines": (5, "baselines"),
    "rundir": (6, "rundir"),
    "execution": (7, "execution"), "catalog": (7, "catalog"),
    "sweeps": (8, "sweeps"),
    "maintenance": (9, "maintenance"), "analysis": (9, "analysis"),
    "engine": (10, "engine"),
    "reproduce": (11, "reproduce"),
    "cli": (12, "cli"),
    "__main__": (13, "entry"),  # `python -m implicit_bias`: the command, above the cli
}
#: facades: re-export only, never imported from inside the package
FACADES = {"implicit_bias", "implicit_bias.report", "implicit_bias.index"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, text: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, at any depth; ``from X import a``
    yields ``X.a`` (a submodule, or a name of module X)."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    text = path.read_text(encoding="utf-8") if text is None else text
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join(anchor + ([base] if base else []))
            if base != "implicit_bias":  # `from implicit_bias import settings` imports the subpackage only
                found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name == "implicit_bias" or name.startswith("implicit_bias.")]


def layer(module: str) -> tuple[int, str] | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def existing(module: str) -> bool:
    relative = Path(*module.split("."))
    return (SRC / relative).with_suffix(".py").is_file() or (SRC / relative / "__init__.py").is_file()


def violations(extra: dict[Path, str] | None = None) -> list[str]:
    """Every import that breaks the contract; ``extra`` adds files (path → text) not on disk."""
    found = []
    sources = {path: None for path in sorted(PACKAGE.rglob("*.py"))} | dict(extra or {})
    for path, text in sources.items():
        source = module_name(path)
        if source in FACADES:
            continue
        here = layer(source)
        assert here is not None, f"{source}: not in the layer table of tests/test_layers.py"
        for line, target in imports(path, text):
            where = f"{path.relative_to(SRC)}:{line}: {source} imports {target}"
            if target == "implicit_bias" or target in FACADES and existing(target):
                found.append(f"{where} (a facade)")
                continue
            if target.count(".") == 1 and not existing(target):  # a name of the root: `from implicit_bias import run`
                found.append(f"{where} (a facade)")
                continue
            there = layer(target)
            if there is None or not existing(target):
                continue  # a name imported from a module, not a module
            if there[0] > here[0] or (there[0] == here[0] and there[1] != here[1]):
                found.append(f"{where} (layer {there[1]} is not below {here[1]})")
    return found


def test_every_import_points_down_the_layers():
    assert violations() == []


def test_every_module_is_in_a_layer():
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        assert name in FACADES or layer(name) is not None, name


def test_the_check_sees_an_upward_import():
    """The contract can fail: an import of the CLI (inside a function) or of the facade from core is
    reported, and so is an import between the two halves of a split layer."""
    probe = {PACKAGE / "core" / "_probe.py": "def f():\n    from implicit_bias.cli import main\n",
             PACKAGE / "metrics" / "_probe.py": "import implicit_bias\n",
             PACKAGE / "catalog" / "_probe.py": "from implicit_bias.execution import single\n"}
    found = violations(probe)
    assert any("core._probe imports implicit_bias.cli" in v for v in found)
    assert any("metrics._probe imports implicit_bias " in v + " " and "facade" in v for v in found)
    assert any("catalog._probe imports implicit_bias.execution" in v for v in found)


@pytest.mark.parametrize("limit", [400])
def test_no_module_outside_reproduce_is_over_the_line_limit(limit):
    long = [f"{p.relative_to(SRC)}: {n}" for p in PACKAGE.rglob("*.py")
            if "reproduce" not in p.parts and (n := len(p.read_text(encoding="utf-8").splitlines())) > limit]
    assert long == []
