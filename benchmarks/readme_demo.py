"""Regenerate README.md's ``make demo`` output block from a real run of the embedded default.

    .venv/bin/python benchmarks/readme_demo.py            # run the demo, rewrite README's demo block
    .venv/bin/python benchmarks/readme_demo.py --print    # run it, print the block, write nothing

Runs exactly what ``make demo`` runs — ``.venv/bin/implicit-bias run --out runs`` with the
Makefile's one-thread BLAS settings — in a fresh temporary directory (so no cached run
directory is reused), captures the last line of its stdout (the run directory) and of its
stderr (the "converged after … steps" line), reads the run's ``summary.json``, and writes
the block between the ``demo`` markers of README.md atomically (same marker approach as
``run_all.py --update-readme`` for the Performance block). Exit 1 if the run fails, if the
run directory it printed is not the one the default config hashes to, or if README.md has
no markers. Takes about half a minute (8,982 GD steps of the 100×100 depth-3 completion).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = ROOT / "README.md"
DEMO_START = "<!-- demo:begin (written by python benchmarks/readme_demo.py) -->"
DEMO_END = "<!-- demo:end -->"
#: The Makefile exports these for ``make demo``.
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def cli_path() -> str:
    """The venv's ``implicit-bias`` (what ``make demo`` calls), else the one on PATH."""
    venv = ROOT / ".venv" / "bin" / "implicit-bias"
    if venv.is_file():
        return str(venv)
    found = shutil.which("implicit-bias")
    if found is None:
        raise SystemExit("implicit-bias is not installed: run `make install` first")
    return found


def expected_run_dir_name() -> str:
    """The run directory the embedded default config hashes to."""
    from implicit_bias.settings import load, run_dir_name

    return run_dir_name(load(None))


def _last_line(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run_demo() -> dict:
    """Run the demo in a fresh directory; return its output lines, run directory and summary."""
    with tempfile.TemporaryDirectory(prefix="readme_demo_") as tmp:
        command = [cli_path(), "run", "--out", "runs"]
        load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=tmp, env={**os.environ, **THREAD_ENV},
                              capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"`{' '.join(command)}` exited {proc.returncode}:\n{proc.stderr[-2000:]}")
        run_dir = _last_line(proc.stdout)
        summary = json.loads((Path(tmp) / run_dir / "summary.json").read_text(encoding="utf-8"))
    return {
        "stdout_line": run_dir,
        "stderr_line": _last_line(proc.stderr),
        "run_dir_name": Path(run_dir).name,
        "summary": summary,
        "wall_seconds": wall,
        "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "load_average": load,
        "cores": os.cpu_count(),
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
        "python": platform.python_version(),
    }


def demo_block(result: dict) -> str:
    """The README block (markers included) for one demo run."""
    final = result["summary"].get("final", {})
    load = result["load_average"]
    load_text = f", load average {load[0]:.1f} at the start" if load else ""
    facts = [f"{result['summary'].get('steps', '?'):,} steps (status `{result['summary'].get('status', '?')}`)"]
    if "test_error" in final:
        facts.append(f"`test_error` {final['test_error']:.3e} (relative Frobenius error)")
    if "effective_rank" in final:
        facts.append(f"effective rank {final['effective_rank']:.2f}")
    if "nuclear_norm" in final:
        facts.append(f"nuclear norm {final['nuclear_norm']:.1f}")
    wall = result["summary"].get("wall_seconds")

    def wrap(text: str) -> str:
        return textwrap.fill(text, width=95, break_long_words=False, break_on_hyphens=False)

    lines = [
        DEMO_START,
        wrap(f"Generated on {result['date_utc']} by `python benchmarks/readme_demo.py`, which runs "
             f"`implicit-bias run --out runs` (what `make demo` runs) in a fresh directory, on "
             f"{result['cores']} logical cores{load_text}:"),
        "",
        "```",
        result["stderr_line"],
        result["stdout_line"],
        "```",
        "",
        wrap(f"Run directory `{result['run_dir_name']}` (`summary.json`): " + ", ".join(facts) + ". "
             + (f"Training took {wall:.1f} s (compilation included), " if wall is not None else "")
             + f"the whole command {result['wall_seconds']:.1f} s of wall-clock time and "
             f"{result['cpu_seconds']:.1f} s of CPU time."),
        DEMO_END,
    ]
    return "\n".join(lines)


def splice(text: str, block: str) -> str | None:
    """``text`` with the block between the demo markers replaced by ``block``; None without markers."""
    start, end = text.find(DEMO_START), text.find(DEMO_END)
    if start < 0 or end < start:
        return None
    return text[:start] + block + text[end + len(DEMO_END):]


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and ``os.replace``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run `make demo`'s command and rewrite README.md's demo block.")
    parser.add_argument("--print", dest="print_only", action="store_true",
                        help="print the block instead of writing README.md")
    parser.add_argument("--readme", type=Path, default=README, help="the README to rewrite (default: README.md)")
    args = parser.parse_args(argv)

    result = run_demo()
    expected = expected_run_dir_name()
    if result["run_dir_name"] != expected:
        print(f"the demo wrote {result['run_dir_name']}, but the default config hashes to {expected}",
              file=sys.stderr)
        return 1
    block = demo_block(result)
    if args.print_only:
        print(block)
        return 0
    new = splice(args.readme.read_text(encoding="utf-8"), block)
    if new is None:
        print(f"{args.readme} has no demo markers ({DEMO_START} … {DEMO_END})", file=sys.stderr)
        return 1
    write_atomic(args.readme, new)
    print(f"updated {args.readme}: {result['run_dir_name']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
