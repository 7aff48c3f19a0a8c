"""Run every benchmark and write benchmarks/results/latest.json and benchmarks/RESULTS.md.

    python benchmarks/run_all.py [--quick] [--only NAME ...] [--update-readme]   (``make bench`` runs it)
    python benchmarks/run_all.py --readme [--update-readme]   (README block from results/latest.json)

Each benchmark module in :data:`BENCHMARKS` runs in a fresh interpreter (so it
can pin its threads before jax or numpy is imported) and hands back its result
dict as JSON. Every result carries ``ratios``: a name → {values, min, median,
max} table of side-by-side ratios measured in that one process; absolute
steps/s depend on the machine and its load, the ratios much less.

Both output files are written atomically (temporary file in the same
directory, then ``os.replace``), so a reader never sees half a file.

At the end it prints the ratio table as the Markdown block of README.md's "Performance" section
(between the ``performance`` markers); ``--update-readme`` writes it there (atomically).

Exit status: 0 when every benchmark ran, passed its correctness check and
kept its rule (e.g. "ours must not be slower than numpy"); 1 otherwise (the
files are written either way, with the failure recorded in them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import package_version

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
LATEST_JSON = RESULTS_DIR / "latest.json"
RESULTS_MD = HERE / "RESULTS.md"

#: benchmark module (file name without .py) -> command-line arguments for a full run and for --quick.
BENCHMARKS: dict[str, dict[str, list[str]]] = {
    "gd_steps": {"full": ["--repeats", "9", "--chunk", "1000", "--profile"],
                 "quick": ["--repeats", "3", "--chunk", "1000"]},
    "nuclear_norm": {"full": ["--repeats", "5"], "quick": ["--repeats", "1"]},
    "sweeps": {"full": ["--repeats", "5", "--scaling", "--sizes"],
               "quick": ["--runs", "16", "--repeats", "1", "--separate-runs", "4", "--torch-runs", "1"]},
    "scaling": {"full": ["--repeats", "3"],
                "quick": ["--repeats", "2", "--sizes", "50", "100", "200", "--depths", "1", "3", "5",
                          "--gather-n-obs", "1000", "4000", "16000"]},
    "flow": {"full": ["--repeats", "5"], "quick": ["--repeats", "1"]},
    "q_alpha": {"full": ["--repeats", "7"], "quick": ["--repeats", "2"]},
    "compile_cost": {"full": [], "quick": []},
    "sharpness_cost": {"full": ["--repeats", "7"], "quick": ["--repeats", "2"]},
    "startup": {"full": ["--repeats", "7"], "quick": ["--repeats", "2"]},
    "factored_completion": {"full": ["--repeats", "5"], "quick": ["--sizes", "100:2000", "--repeats", "1"]},
}
#: benchmarks against the papers' own code, run when ``--reference-code PATH`` gives a checkout of
#: roosephu/deep_matrix_factorization (their arguments follow ``--reference-code``/``--reference-pythonpath``)
REFERENCE_BENCHMARKS: dict[str, dict[str, list[str]]] = {
    "reference_code": {"full": ["--repeats", "3"], "quick": ["--repeats", "1"]},
    "reference_figure": {"full": ["--reference-seeds", "1"],
                         "quick": ["--reference-seeds", "1", "--depths", "3", "--n-obs", "2000", "--seeds", "1"]},
}

#: against HaoChen, Wei, Lee & Ma's code, run when ``--label-noise-code PATH`` gives a checkout of
#: jhaochenz96/noise-implicit-bias (full: its README's 300,000-iteration recipe, ~30-45 min for the reference)
LABEL_NOISE_BENCHMARKS: dict[str, dict[str, list[str]]] = {
    "label_noise_reference": {"full": [], "quick": ["--iters", "20000"]},
}


def normalized(result: dict) -> dict:
    """The result with ``name`` set and numeric ``targets`` (a module's own form: name → minimum
    ratio) as the report's {target, median, met} records."""
    result.setdefault("name", result.get("benchmark"))
    for ratio_name, target in list(result.get("targets", {}).items()):
        if isinstance(target, (int, float)):
            median = result.get("ratios", {}).get(ratio_name, {}).get("median")
            result["targets"][ratio_name] = {"target": target, "median": median,
                                             "met": median is not None and median >= target}
    return result


# --------------------------------------------------------------------------- machine

def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _blas() -> str:
    code = ("import numpy, json; c = numpy.show_config(mode='dicts')['Build Dependencies']['blas'];"
            "print(c.get('openblas configuration') or c.get('name'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    return out.stdout.strip() or "unknown"


def machine_info() -> dict:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "cores_available_to_process": affinity,
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {p: package_version(p) for p in ("implicit-bias", "jax", "jaxlib", "optax", "equinox", "diffrax",
                                              "numpy", "scipy", "torch", "cvxpy")},
        "numpy_blas": _blas(),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
    }


# --------------------------------------------------------------------------- running

def run_benchmark(name: str, args: list[str]) -> dict:
    """Run ``benchmarks/<name>.py`` in a fresh interpreter and return its result dict."""
    fd, json_path = tempfile.mkstemp(prefix=f".{name}.", suffix=".json.tmp", dir=RESULTS_DIR)
    os.close(fd)
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *args, "--json-out", json_path],
                              capture_output=True, text=True)
        sys.stderr.write(proc.stderr)
        sys.stdout.write(proc.stdout)
        try:
            result = json.loads(Path(json_path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            result = {"name": name, "error": f"exit status {proc.returncode}, no result", "stderr_tail":
                      proc.stderr[-2000:]}
    finally:
        Path(json_path).unlink(missing_ok=True)
    result = normalized(result)
    result["exit_status"] = proc.returncode
    result["seconds"] = time.perf_counter() - started
    result["ok"] = bool(proc.returncode == 0 and "error" not in result
                        and result.get("check", {}).get("passed", True) and result.get("rule_passed", True))
    return result


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- report

def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{report['command']}` on {report['date_utc']} "
        f"({'quick' if report['quick'] else 'full'} run, {report['seconds']:.0f} s). "
        "Do not edit by hand; `make bench` rewrites it.",
        "",
        "Every number below is a ratio of two loops timed side by side in ONE process, one thread each, "
        "alternating which goes first; each repeat gives one ratio, and the table shows min / median / max "
        "over the repeats. Other processes on the machine shift absolute speeds, much less the ratios.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu_model']}, {m['logical_cores']} logical cores "
        f"({m['cores_available_to_process']} available to the process)",
        f"- load average at start: {', '.join(f'{x:.2f}' for x in m['load_average_at_start'] or [])}",
        f"- {m['platform']}, Python {m['python']}",
        "- " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        f"- NumPy BLAS: {m['numpy_blas']}",
        f"- git commit: {m['git_commit']}{' (with uncommitted changes)' if m['git_dirty'] else ''}",
        "",
        "## Ratios",
        "",
        "| benchmark | ratio | min | median | max | repeats | check | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for res in report["benchmarks"]:
        if "error" in res:
            lines.append(f"| {res['name']} | ERROR: {res['error']} | | | | | | |")
            continue
        check = res.get("check", {})
        check_text = (f"{'ok' if check.get('passed') else 'FAILED'} ({check.get('max_rel_diff', float('nan')):.1e})"
                      if check else "")
        for ratio_name, r in res["ratios"].items():
            lines.append(f"| {res['name']} | {ratio_name} | {r['min']:.3f} | **{r['median']:.3f}** | {r['max']:.3f} "
                         f"| {len(r['values'])} | {check_text} | {_target_text(res, ratio_name)} |")
    missed = [(res["name"], name, t) for res in report["benchmarks"] for name, t in res.get("targets", {}).items()
              if not t["met"]]
    missed += [(res["name"], "rule", {"why": res["rule"]}) for res in report["benchmarks"]
               if "error" not in res and not res.get("rule_passed", True) and not res.get("targets")]
    lines += ["", "## Targets missed", ""]
    lines += [f"- {bench}: {name}" + (f" — median {t['median']:.3f} < {t['target']:g}" if t.get("median") is not None
                                      else f" — {t.get('why', '')}") for bench, name, t in missed] or ["- none"]
    for res in report["benchmarks"]:
        if "error" in res:
            continue
        lines += ["", f"## {res['name']}", "", res.get("description", ""), ""]
        if "details_md" in res:
            lines.append(res["details_md"])
            continue
        if "rule" in res:
            lines.append(f"Rule: {res['rule']} — {'kept' if res['rule_passed'] else '**VIOLATED**'}.")
            lines.append("")
        for side in ("ours", "numpy"):
            if side in res:
                s = res[side]["steps_per_s"]
                c = res[side].get("steps_per_cpu_s")
                lines.append(f"- {side}: median {s['median']:.0f} steps/s (min {s['min']:.0f}, max {s['max']:.0f})"
                             + (f", {c['median']:.0f} steps per CPU second" if c else "")
                             + f", cpu/wall {res[side]['cpu_over_wall']:.2f}")
        if "check" in res and "chunk_len" in res:
            c = res["check"]
            lines.append(f"- same iterates after {c['steps']} steps: max relative difference {c['max_rel_diff']:.1e} "
                         f"(tolerance {c['tol']:.0e}); after one chunk of {res['chunk_len']} steps: "
                         f"{c['max_rel_diff_after_chunk']:.1e}")
        for n_obs, case in res.get("cases", {}).items():
            seconds = case["seconds"]
            lines.append(f"- {n_obs} observations: " + ", ".join(
                f"{solver} median {t['median']:.3f} s" for solver, t in seconds.items())
                + "; relative error vs a tol-1e-12 reference: " + ", ".join(
                f"{solver} {err:.1e}" for solver, err in case["relative_error_vs_reference"].items())
                + ("" if case["equal_accuracy"] else " (ours LESS accurate: ratio not comparable)"))
        if "compile_seconds" in res:
            lines.append(f"- compilation + first chunk: {res['compile_seconds']:.2f} s (not in the ratio)")
        if "profile" in res:
            prof = res["profile"]
            numpy_us = prof["us_per_step"]["numpy"]
            lines += ["", f"Where the time goes (`--profile`): µs of CPU time per step, median of {prof['repeats']}, "
                      "timed in turn within each repeat:", "", "| loop | µs/step | speed vs numpy |", "|---|---|---|"]
            lines += [f"| {name} | {us:.0f} | {numpy_us / us:.2f} |" for name, us in prof["us_per_step"].items()]
            lines += ["", "Single 100×100 float64 products, µs of CPU time each:", "", "| product | XLA | NumPy |",
                      "|---|---|---|"]
            lines += [f"| {name} | {d['xla']:.1f} | {d['numpy']:.1f} |" for name, d in prof["dot_us"].items()]
            lines += ["", f"The profile's loops give the same iterates as NumPy after {prof['check_steps']} steps "
                      "(max relative difference " + ", ".join(f"{k}: {v:.1e}" for k, v in prof["check_rel_diff"].items())
                      + ")."]
    return "\n".join(lines) + "\n"


def _target_text(res: dict, ratio_name: str) -> str:
    target = res.get("targets", {}).get(ratio_name)
    if target is None:
        return ""
    return f"≥ {target['target']:g}: {'met' if target['met'] else '**MISSED**'}"


README_START = "<!-- performance:start (written by python benchmarks/run_all.py --readme) -->"
README_END = "<!-- performance:end -->"


def readme_block(report: dict) -> str:
    """The README's performance section body: date, machine, command and every median ratio."""
    m = report["machine"]
    lines = [
        README_START,
        f"Measured on {report['date_utc']} with `{report['command']}` ({report['seconds'] / 60:.1f} min, "
        f"{'quick' if report['quick'] else 'full'} run) on {m['cpu_model']}, {m['logical_cores']} logical cores, "
        f"load average {', '.join(f'{x:.1f}' for x in m['load_average_at_start'] or [])} at the start, "
        f"jax {m['versions']['jax']}, torch {m['versions']['torch']}, git {str(m['git_commit'])[:10]}"
        f"{' (uncommitted changes)' if m['git_dirty'] else ''}. One thread per loop; each ratio is measured side by "
        "side in one process (median [min–max] over repeats). Details: "
        "[benchmarks/RESULTS.md](benchmarks/RESULTS.md).",
        "",
        "| benchmark | ratio | median [min–max] | target |",
        "|---|---|---|---|",
    ]
    for res in report["benchmarks"]:
        if "error" in res:
            lines.append(f"| {res['name']} | ERROR: {res['error']} | | |")
            continue
        for name, r in res["ratios"].items():
            lines.append(f"| {res['name']} | {name} | **{r['median']:.2f}** [{r['min']:.2f}–{r['max']:.2f}] "
                         f"| {_target_text(res, name)} |")
    missed = [f"- {res['name']}, {name}: median {t['median']:.2f} < {t['target']:g}"
              + (f" — {res['missed_note']}" if res.get("missed_note") else "")
              for res in report["benchmarks"] for name, t in res.get("targets", {}).items()
              if not t["met"] and t.get("median") is not None]
    missed += [f"- {res['name']}, {name}: not measured — {t.get('why', '')}" for res in report["benchmarks"]
               for name, t in res.get("targets", {}).items() if t.get("median") is None]
    lines += ["", "Targets missed:", ""] + (missed or ["- none"])
    for res in report["benchmarks"]:
        if "flops" in res and "flops_per_step" in res:
            f = res["flops"]
            lines += ["", f"{res['name']}: {res['flops_per_step']:.3g} matmul FLOPs per step (3(L−1)·2n³); achieved "
                      f"{f['achieved_per_cpu_s']['median'] / 1e9:.1f} GFLOP/s vs a measured 100×100×100 product peak of "
                      f"{f['peak_per_cpu_s']['median'] / 1e9:.1f} GFLOP/s (per CPU second); torch.compile: "
                      + ("compiled and ran" if res.get("peers", {}).get("torch.compile", {}).get("available")
                         else "not run — " + res.get("peers", {}).get("torch.compile", {}).get("why", "?")) + "."]
        if res.get("readme_note"):
            lines += ["", f"{res['name']}: {res['readme_note']}"]
    lines.append(README_END)
    return "\n".join(lines)


def update_readme(report: dict, readme: Path = HERE.parent / "README.md") -> bool:
    """Replace the block between the performance markers of README.md (atomically); False if no markers."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return False
    write_atomic(readme, text[:start] + readme_block(report) + text[end + len(README_END):])
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every benchmark; write results/latest.json and RESULTS.md.")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these benchmarks")
    parser.add_argument("--readme", action="store_true",
                        help="run nothing: print the README performance block of results/latest.json")
    parser.add_argument("--update-readme", action="store_true",
                        help="after the run (or with --readme, from results/latest.json) rewrite README.md's "
                             "performance block")
    parser.add_argument("--reference-code", default=None, metavar="PATH",
                        help="a checkout of roosephu/deep_matrix_factorization: also run reference_code and "
                             "reference_figure (benchmarks/README.md)")
    parser.add_argument("--reference-pythonpath", default=None, metavar="DIR",
                        help="the reference's own dependencies (toml, wrapt, fasteners, coloredlogs, tensorboardX)")
    parser.add_argument("--label-noise-code", default=None, metavar="PATH",
                        help="a checkout of jhaochenz96/noise-implicit-bias: also run label_noise_reference")
    args = parser.parse_args(argv)
    if args.readme:
        report = json.loads(LATEST_JSON.read_text(encoding="utf-8"))
        print(readme_block(report))
        if args.update_readme and not update_readme(report):
            print("README.md has no performance markers", file=sys.stderr)
            return 2
        return 0
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    machine = machine_info()
    results = []
    mode = "quick" if args.quick else "full"
    for name in args.only or BENCHMARKS:
        print(f"== {name}", file=sys.stderr, flush=True)
        results.append(run_benchmark(name, BENCHMARKS[name][mode]))
    if args.reference_code and not args.only:
        given = ["--reference-code", args.reference_code]
        given += ["--reference-pythonpath", args.reference_pythonpath] if args.reference_pythonpath else []
        for name, modes in REFERENCE_BENCHMARKS.items():
            print(f"== {name}", file=sys.stderr, flush=True)
            results.append(run_benchmark(name, given + modes[mode]))
    elif not args.only:
        print("reference_code, reference_figure: skipped (no --reference-code PATH; make bench "
              "REFERENCE_CODE=PATH [REFERENCE_PYTHONPATH=DIR])", file=sys.stderr)
    if args.label_noise_code and not args.only:
        for name, modes in LABEL_NOISE_BENCHMARKS.items():
            print(f"== {name}", file=sys.stderr, flush=True)
            results.append(run_benchmark(name, ["--reference-code", args.label_noise_code] + modes[mode]))
    elif not args.only:
        print("label_noise_reference: skipped (no --label-noise-code PATH; make bench LABEL_NOISE_CODE=PATH)",
              file=sys.stderr)
    if args.only and LATEST_JSON.exists():  # keep the other benchmarks' last results beside the new ones
        previous = json.loads(LATEST_JSON.read_text(encoding="utf-8"))
        if previous.get("quick") == args.quick:
            fresh = {r.get("name") for r in results}
            results = [r for r in previous.get("benchmarks", []) if r.get("name") not in fresh] + results
            order = list(BENCHMARKS)
            results.sort(key=lambda r: order.index(r["name"]) if r.get("name") in order else len(order))
    report = {
        "command": "python benchmarks/run_all.py" + (" --quick" if args.quick else "")
                   + (f" --only {' '.join(args.only)}" if args.only else ""),
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "quick": args.quick,
        "seconds": time.perf_counter() - started,
        "machine": machine,
        "benchmarks": results,
    }
    write_atomic(LATEST_JSON, json.dumps(report, indent=2, default=str) + "\n")
    write_atomic(RESULTS_MD, markdown(report))
    print(f"wrote {LATEST_JSON.relative_to(HERE.parent)} and {RESULTS_MD.relative_to(HERE.parent)}", file=sys.stderr)
    print(readme_block(report))
    if args.update_readme:
        print("updated README.md" if update_readme(report) else "README.md has no performance markers",
              file=sys.stderr)
    failed = [r["name"] for r in results if not r["ok"]]
    if failed:
        print(f"benchmarks that failed their check or rule: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
