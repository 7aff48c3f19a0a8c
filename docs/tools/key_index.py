"""Regenerate the "All key paths" block of docs/config.md from the schema (``settings.all_keys``).

    python docs/tools/key_index.py          # rewrite the block in place
    python docs/tools/key_index.py --check  # exit 1 if the block is stale (tests/test_key_index.py)
"""

from __future__ import annotations

import sys
from pathlib import Path

from implicit_bias.settings.schema import KINDED_SECTIONS, PLAIN_SECTIONS, TOP_LEVEL

DOC = Path(__file__).resolve().parents[1] / "config.md"
START = "<!-- key-index:start (generated from config.all_keys()) -->\n"
END = "<!-- key-index:end"


def index_lines() -> list[str]:
    """One line per section kind with keys, in schema order (kinds without keys are left out)."""
    lines = ["- top level: " + ", ".join(f"`{k}`" for k in TOP_LEVEL)]
    for section, (kinds, _) in KINDED_SECTIONS.items():
        lines.append(f"- {section}: `{section}.kind`")
        lines += [f"- {section}.{kind}: " + ", ".join(f"`{section}.{kind}.{k}`" for k in table)
                  for kind, table in kinds.items() if table]
    lines += [f"- {section}: " + ", ".join(f"`{section}.{k}`" for k in table) for section, table in PLAIN_SECTIONS.items()]
    return lines


def render(text: str) -> str:
    start = text.index(START) + len(START)
    end = text.index(END, start)
    return text[:start] + "\n".join(index_lines()) + "\n" + text[end:]


def main(argv: list[str]) -> int:
    text = DOC.read_text(encoding="utf-8")
    fresh = render(text)
    if "--check" in argv:
        return 0 if fresh == text else 1
    if fresh != text:
        DOC.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
