"""User-facing text cites its sources by title and authors, never by the project's internal
note numbers ("seed 002", "seeds 000/001/003", "the seed notes"), which users cannot look up.
The notes and slides behind the claims are listed under "Sources" in docs/reproductions.md."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATTERN = re.compile(r"seeds? 00[0-9]|seed notes?\b", re.IGNORECASE)
SUFFIXES = {".py", ".md", ".toml"}


def _user_facing_files() -> list[Path]:
    files = [ROOT / "README.md"]
    for folder in ("docs", "examples", "src/implicit_bias"):
        files += sorted(p for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix in SUFFIXES)
    return [p for p in files if p.is_file()]


def test_the_scan_covers_the_user_facing_text():
    names = {p.relative_to(ROOT).as_posix() for p in _user_facing_files()}
    assert {"README.md", "docs/reproductions.md", "src/implicit_bias/cli.py"} <= names


def test_no_internal_seed_note_citations():
    hits = []
    for path in _user_facing_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if PATTERN.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not hits, ("cite the paper or the note's title and authors (docs/reproductions.md, "
                      "Sources) instead of internal seed numbers:\n" + "\n".join(hits))


def test_the_pattern_catches_what_it_should():
    for text in ("(seed 002)", "Seed 004's theorem", "seeds 000/001/003", "the seed notes' claims"):
        assert PATTERN.search(text), text
    for text in ("seed 2, n = d = 6", "one seed's log-log slopes", "seed = 0"):
        assert not PATTERN.search(text), text
