"""docs/config.md's "All key paths" block is what docs/tools/key_index.py generates from the schema."""

import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "docs" / "tools" / "key_index.py"


def _tool():
    spec = importlib.util.spec_from_file_location("key_index", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_key_index_is_current():
    tool = _tool()
    text = tool.DOC.read_text(encoding="utf-8")
    assert tool.render(text) == text, "stale: run `python docs/tools/key_index.py`"


def test_a_stale_index_is_detected():
    tool = _tool()
    text = tool.DOC.read_text(encoding="utf-8")
    stale = text.replace("`trainer.gd.lr`, ", "", 1)
    assert stale != text and tool.render(stale) != stale
