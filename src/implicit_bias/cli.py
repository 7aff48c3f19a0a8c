"""The ``implicit-bias`` command line (docs/cli.md).

    implicit-bias run [CONFIG.toml] [--set KEY=VALUE ...] [--out DIR] [--force] [--quiet]
    implicit-bias explain RUN_DIR | sweep CONFIG --grid ... | ls DIR | report DIR | reproduce NAME

Exit statuses (docs/reliability.md): 0 finished (converged, max_steps, early_stopped, max_time,
max_solver_steps, underflow), 1 a run of a sweep failed / a reproduction's claim failed / damaged runs remain
(``ls``), 2 bad input, 3 diverged, 130 interrupted. The last line printed on stdout is the run directory.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Sequence

from implicit_bias.settings import ConfigError

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit status 2 (its default)."""

    def error(self, message: str):  # noqa: D102
        self.exit(EXIT_BAD_INPUT, f"implicit-bias: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="implicit-bias", description="A JAX laboratory for implicit regularization.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="train one experiment and write its run directory")
    run.add_argument("config", nargs="?", help="experiment TOML (default: the embedded Arora et al. completion)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config key, e.g. --set model.depth=3 (repeatable; values are TOML)")
    run.add_argument("--out", default="runs", help="parent directory of run directories (default: runs/)")
    run.add_argument("--force", action="store_true", help="rerun even if a finished run with this config exists")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--print-config", action="store_true", help="print the resolved config as JSON and exit")
    sweep = sub.add_parser("sweep", help="run a grid of configs on every core (or a Dask cluster)")
    sweep.add_argument("config", help="base experiment TOML (may hold a [sweep] table with grid/zip)")
    sweep.add_argument("--grid", action="append", default=[], metavar="KEY=VALUES",
                       help="an axis of the product: 1,2,3 or START:STOP (integers); repeatable")
    sweep.add_argument("--zip", dest="zipped", action="append", default=[], metavar="KEY=VALUES",
                       help="axes of equal length that vary together; repeatable")
    sweep.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a key of the base config")
    sweep.add_argument("--jobs", type=int, default=None, help="local worker processes (default: the core count)")
    sweep.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://127.0.0.1:8786")
    sweep.add_argument("--batch", choices=("auto", "on", "off"), default=None,
                       help="vmap-batch runs that differ only in seed/lr/init scale/α/penalty weight: auto (small "
                            "problems; default, or [sweep] batch), on, off")
    sweep.add_argument("--out", default="runs", help="output directory (default: runs/)")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    reproduce = sub.add_parser("reproduce", help="reproduce a claim of the cited papers and notes, with figures and a verdict")
    reproduce.add_argument("name", nargs="?", help="a reproduction's name, or all")
    reproduce.add_argument("--list", action="store_true", help="list the reproductions")
    reproduce.add_argument("--quick", action="store_true", help="small sizes: minutes on 2 cores")
    reproduce.add_argument("--out", default="reproductions", help="output directory (default: reproductions/)")
    reproduce.add_argument("--jobs", type=int, default=1, help="worker processes for its runs (default 1)")
    ls = sub.add_parser("ls", help="list the runs indexed under a directory")
    ls.add_argument("out", help="an output directory of runs")
    ls.add_argument("--where", default=None, help='filter, e.g. "model.depth >= 2 and status == converged"')
    ls.add_argument("--columns", default=None, help="comma-separated columns (default: the varying ones)")
    ls.add_argument("--repair", action="store_true", help="rerun the damaged runs (truncated, edited or foreign "
                    "files; docs/reliability.md) from their config")
    report = sub.add_parser("report", help="write DIR/report.html: parameters, sortable runs table, figures")
    report.add_argument("out", metavar="DIR", help="an output directory of runs (e.g. of a sweep)")
    report.add_argument("--x", default=None, metavar="KEY", help="swept config key on the x axis (default: the first)")
    report.add_argument("--y", default=None, metavar="METRIC", help="metric (default: test_error, else loss)")
    report.add_argument("--hue", default=None, metavar="KEY", help="config key of the panels (default: the second "
                        "swept key; none: no panels)")
    report.add_argument("--out", dest="path", default=None, metavar="FILE", help="where (default: DIR/report.html)")
    explain = sub.add_parser("explain", help="rank the explicit criteria a finished run is closest to minimizing")
    explain.add_argument("run_dir", help="a finished run directory")
    explain.add_argument("--json", action="store_true", help="print explain.json instead of the table")
    return parser


class _Interrupt:
    """SIGINT sets a flag; the trainer finishes its current chunk and the run is saved as interrupted."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        def handler(signum, frame):
            if self.requested:  # a second Ctrl-C: give up at once
                raise KeyboardInterrupt
            self.requested = True
            print("\ninterrupt: finishing the current chunk and saving (Ctrl-C again to abort)", file=sys.stderr)

        self._previous = signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._previous)
        return False


def _progress(cfg: dict, quiet: bool):
    """A tqdm bar over steps showing loss, steps/s and ETA; None when quiet or not a TTY."""
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    trainer = cfg.get("trainer")
    if trainer is None:  # baselines are solved in one go
        return None
    from implicit_bias.trainers.info import trainer_info

    if trainer_info(trainer["kind"]).progress_in == "t":  # flows: the bar counts flow time
        return tqdm(total=trainer["t_max"], unit="t", dynamic_ncols=True, file=sys.stderr, desc=cfg["name"],
                    bar_format="{l_bar}{bar}| t={n:.4g}/{total:.4g} [{elapsed}<{remaining}]{postfix}")
    return tqdm(total=trainer["steps"], unit="step", dynamic_ncols=True, file=sys.stderr,
                desc=cfg["name"], smoothing=0.1)


def _check_out(out: str) -> None:
    """``--out`` must be a directory or creatable as one (bad input, not a traceback, otherwise)."""
    from implicit_bias.settings import ConfigError

    path = Path(out)
    for existing in (path, *path.parents):
        if existing.exists():
            if not existing.is_dir():
                raise ConfigError("--out", f"not a directory: {existing}")
            if not os.access(existing, os.W_OK | os.X_OK):
                raise ConfigError("--out", f"not writable: {existing}")
            return


def _cmd_run(args) -> int:
    import json

    from implicit_bias.settings import as_config

    cfg = as_config(args.config, args.overrides)
    if args.print_config:  # a resolved config is plain, finite JSON data: no engine needed
        print(json.dumps(cfg, indent=2, allow_nan=False))
        return EXIT_OK
    from implicit_bias.execution.single import run
    _check_out(args.out)
    bar = _progress(cfg, args.quiet)

    from implicit_bias.trainers.info import trainer_info

    trainer = cfg.get("trainer")
    progress_key = "step" if trainer is None else trainer_info(trainer["kind"]).progress_in

    def on_log(row):
        if bar is not None:
            bar.update(row[progress_key] - bar.n)
            bar.set_postfix(loss=f"{row['loss']:.3e}", refresh=False)

    with _Interrupt() as interrupt:
        try:
            result = run(cfg, out=args.out, force=args.force, on_log=on_log, should_stop=lambda: interrupt.requested)
        finally:
            if bar is not None:
                bar.close()
    summary = result.summary
    if result.skipped:
        print(f"already finished ({summary['status']}, {summary['steps']} steps): not rerun; --force reruns",
              file=sys.stderr)
    else:
        from implicit_bias.settings.registry import problem_record

        final = summary["final"]
        # a plug-in problem defines its own loss (docs/extending.md): the formula is named only for squared losses
        record = problem_record(cfg["problem"]["kind"])
        note = "" if not record.squared_loss or record.is_classification(cfg["problem"]) else (
            f" (loss = mean of {'' if cfg['problem'].get('loss') == 'mse' else '½'}(prediction − target)²)")
        print(f"{summary['status']} after {summary['steps']} steps in {summary['wall_seconds']:.1f}s: "
              f"loss {final.get('loss', float('nan')):.3e}, test_error {final.get('test_error', float('nan')):.3e}"
              f"{note}", file=sys.stderr)
    print(result.path)
    return {"diverged": EXIT_DIVERGED, "interrupted": EXIT_INTERRUPTED}.get(summary["status"], EXIT_OK)


def _cmd_sweep(args) -> int:
    from implicit_bias import settings as config_mod
    from implicit_bias.sweeps.sweep import execute, expand, parse_axes

    if args.jobs is not None and args.jobs < 1:
        raise ConfigError("--jobs", f"must be >= 1, got {args.jobs}")
    sweep = expand(config_mod.load_toml(args.config), parse_axes(args.grid, "--grid"),
                   parse_axes(args.zipped, "--zip"), args.overrides, batch=args.batch)
    _check_out(args.out)
    bar = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(sweep.configs), unit="run", file=sys.stderr, dynamic_ncols=True, desc="sweep")
    failures = 0
    started = time.perf_counter()

    def on_result(result, done, total):
        nonlocal failures
        failures += "error" in result
        if bar is not None:
            rate = result.get("steps", 0) / max(result.get("wall_seconds") or 0.0, 1e-9)
            bar.set_postfix(failures=failures, last=f"{rate:.0f} steps/s", refresh=False)
            bar.update(1)
        elif "error" in result:
            print(f"run failed: {result.get('name')}: {result['error']}", file=sys.stderr)

    try:
        outcome = execute(sweep, args.out, jobs=args.jobs, scheduler=args.scheduler, on_result=on_result)
    finally:
        if bar is not None:
            bar.close()
    statuses = {}
    for result in outcome.results:
        key = result.get("status", "failed")
        statuses[key] = statuses.get(key, 0) + 1
    print(f"{len(outcome.results)} runs in {time.perf_counter() - started:.1f}s: "
          + ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())), file=sys.stderr)
    for failure in outcome.failures:
        print(f"failed: {failure.get('name')}: {failure['error']}", file=sys.stderr)
    print(outcome.out)
    return EXIT_RUN_FAILED if outcome.failures else EXIT_OK


def _cmd_ls(args) -> int:
    """The runs table on stdout; one ``damaged: RUN: FILE: PROBLEM`` line per damaged run on
    stderr (``--repair``: one ``repaired``/``unrepaired`` line each); exit 1 while damaged runs remain."""
    from implicit_bias.catalog.index import damaged, load
    from implicit_bias.maintenance.repair import repair

    if args.repair:
        for outcome in repair(args.out):
            name = Path(outcome["run_dir"]).name
            if "error" in outcome:
                print(f"unrepaired: {name}: {outcome['file']}: {outcome['problem']}: {outcome['error']}",
                      file=sys.stderr)
            else:
                print(f"repaired: {name}: {outcome['file']}: {outcome['problem']}: rerun, {outcome['status']}",
                      file=sys.stderr)
    frame = load(args.out, args.where)
    broken = damaged(args.out, sync=False)
    for record in broken.to_dict("records"):
        print(f"damaged: {Path(record['run_dir']).name}: {record['file']}: {record['problem']}", file=sys.stderr)
    if not broken.empty and not args.repair:
        print(f"{len(broken)} damaged run(s) not listed: `implicit-bias ls {args.out} --repair` reruns them",
              file=sys.stderr)
    status = EXIT_RUN_FAILED if not broken.empty else EXIT_OK
    if frame.empty:
        print("no runs", file=sys.stderr)
        return status
    if args.columns:
        columns = [c.strip() for c in args.columns.split(",") if c.strip()]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ConfigError("--columns", f"unknown columns {missing}; e.g. {list(frame.columns)[:12]}")
    else:
        fixed = ("run_dir", "status", "steps", "time", "wall_seconds", "config_hash", "name")
        varying = [c for c in frame.columns if c not in fixed and not c.startswith("final.")
                   and frame[c].astype(str).nunique() > 1]
        columns = ["run_dir", *varying, "status", "steps"] + [c for c in ("final.loss", "final.test_error")
                                                              if c in frame.columns]
    shown = frame[columns].copy()
    if "run_dir" in shown:
        shown["run_dir"] = shown["run_dir"].map(lambda p: Path(p).name)
    print(shown.to_string(index=False))
    return status


def _cmd_reproduce(args) -> int:
    from implicit_bias.reproduce import MODULES, load
    from implicit_bias.reproduce.runner import run_reproduction

    if args.list or not args.name:
        for name in MODULES:
            module = load(name)
            quick, full = module.MINUTES
            print(f"{name}: {module.CLAIM} [{module.SOURCE}] (quick ~{quick:g} min, full ~{full:g} min)")
        return EXIT_OK
    if args.jobs < 1:
        raise ConfigError("--jobs", f"must be >= 1, got {args.jobs}")
    names = list(MODULES) if args.name == "all" else [args.name]
    for name in names:
        load(name)  # unknown names are bad input before anything runs
    all_passed = True
    for name in names:
        outcome = run_reproduction(name, quick=args.quick, out=args.out, jobs=args.jobs)
        for claim in outcome["claims"]:
            print(f"{name}: {'PASS' if claim.passed else 'FAIL'} {claim.id}: {claim.statement} "
                  f"(measured {claim.measured!r}; expected {claim.expected})", file=sys.stderr)
        all_passed &= outcome["passed"]
        print(Path(outcome["dir"]) / "report.html")
    return EXIT_OK if all_passed else EXIT_RUN_FAILED


def _cmd_report(args) -> int:
    from implicit_bias.analysis.report import write_report

    print(write_report(args.out, x=args.x, y=args.y, hue=args.hue, path=args.path))
    return EXIT_OK


def _cmd_explain(args) -> int:
    from implicit_bias.analysis.explain import explain, format_table
    from implicit_bias.rundir.files import to_json

    report = explain(args.run_dir)
    print(to_json(report) if args.json else format_table(report))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from implicit_bias.settings import ConfigError

    try:
        # after parsing (--help stays JAX-free), before any config is read: a plug-in adds kinds
        from implicit_bias.plugins import load_plugins

        load_plugins()
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "explain":
            return _cmd_explain(args)
        if args.command == "sweep":
            return _cmd_sweep(args)
        if args.command == "ls":
            return _cmd_ls(args)
        if args.command == "reproduce":
            return _cmd_reproduce(args)
        if args.command == "report":
            return _cmd_report(args)
    except ConfigError as exc:
        # ONE line, whatever the message embeds (e.g. a multi-line parser error from pandas)
        message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"implicit-bias: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("implicit-bias: aborted", file=sys.stderr)
        return EXIT_INTERRUPTED
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
