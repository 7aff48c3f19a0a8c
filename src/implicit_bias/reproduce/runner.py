"""Run a reproduction: its configs through the sweep machinery, then its analysis and report."""

from __future__ import annotations

import base64
import html
import io
import json
import shlex
from pathlib import Path

from implicit_bias import settings as config_mod
from implicit_bias.engine import files as store
from implicit_bias.engine import load_run
from implicit_bias.engine import Sweep, execute
from implicit_bias.reproduce import Claim, Figure, load


def run_reproduction(name: str, *, quick: bool = False, out: str | Path = "reproductions", jobs: int | None = 1,
                     broken: bool = False) -> dict:
    """Run reproduction ``name``; returns {claims, passed, dir}. ``broken`` passes every config
    through the module's ``BROKEN`` (used by the tests to show that the claims can fail)."""
    module = load(name)
    configs = module.configs(quick)
    if broken:
        configs = [module.BROKEN(json.loads(json.dumps(c))) for c in configs]
    resolved = [config_mod.resolve(c) for c in configs]
    names = [c["name"] for c in resolved]
    if len(set(names)) != len(names):
        raise AssertionError(f"{name}: config names must be unique")
    folder = Path(out) / (name + ("-broken" if broken else ""))
    runs_dir = folder / "runs"
    outcome = execute(Sweep(base={}, configs=resolved), runs_dir, jobs=jobs)
    if outcome.failures:
        raise RuntimeError(f"{name}: {len(outcome.failures)} runs failed: {outcome.failures[0]['error']}")
    by_name = {}
    for cfg in resolved:
        by_name[cfg["name"]] = load_run(runs_dir / config_mod.run_dir_name(cfg))
    claims, figures = module.analyze(by_name, quick)
    folder.mkdir(parents=True, exist_ok=True)
    for figure in figures:
        for suffix in ("png", "svg"):
            buffer = io.BytesIO()
            figure.figure.savefig(buffer, format=suffix, dpi=110, bbox_inches="tight")
            store.write_bytes_atomic(folder / f"{figure.name}.{suffix}", buffer.getvalue())
    store.write_json(folder / "claims.json", [c.to_json() for c in claims])
    command = f"implicit-bias reproduce {name}{' --quick' if quick else ''} --out {shlex.quote(str(out))}"
    store.write_bytes_atomic(folder / "report.html", _html(module, claims, figures, resolved, command, quick).encode())
    import matplotlib.pyplot as plt

    for figure in figures:
        plt.close(figure.figure)
    return {"name": name, "dir": str(folder), "claims": claims, "passed": all(c.passed for c in claims)}


def _png_base64(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _html(module, claims: list[Claim], figures: list[Figure], configs: list[dict], command: str,
          quick: bool) -> str:
    e = html.escape
    rows = "\n".join(
        f"<tr class='{'pass' if c.passed else 'fail'}'><td>{e(c.id)}</td><td>{e(c.statement)}</td>"
        f"<td>{e(json.dumps(c.measured, default=str))}</td><td>{e(c.expected)}</td>"
        f"<td>{'PASS' if c.passed else 'FAIL'}</td><td>{e(c.source)}</td></tr>" for c in claims)
    images = "\n".join(
        f"<figure><img alt='{e(f.name)}' src='data:image/png;base64,{_png_base64(f)}'>"
        f"<figcaption>{e(f.caption)}</figcaption></figure>" for f in figures)
    config_text = e(json.dumps(configs, indent=1))
    verdict = "every claim passed" if all(c.passed for c in claims) else "SOME CLAIMS FAILED"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{e(module.NAME)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}
tr.pass td:nth-child(5){{color:#060}}tr.fail td:nth-child(5){{color:#b00;font-weight:bold}}
figure{{margin:1.5em 0}}img{{max-width:100%}}figcaption{{color:#333}}code{{background:#f4f4f4}}</style></head>
<body><h1>{e(module.NAME)}</h1><p><b>Claim:</b> {e(module.CLAIM)}<br><b>Source:</b> {e(module.SOURCE)}<br>
<b>Mode:</b> {'quick' if quick else 'full'} — <b>{verdict}</b></p>
<p>Rerun: <code>{e(command)}</code>. Loss convention: mean over observations of ½(prediction − target)².</p>
<h2>Claims</h2><table><tr><th>id</th><th>statement</th><th>measured</th><th>expected</th><th>verdict</th>
<th>source</th></tr>{rows}</table><h2>Figures</h2>{images}
<h2>Configs</h2><details><summary>{len(configs)} runs</summary><pre>{config_text}</pre></details></body></html>
"""
