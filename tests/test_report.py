"""`implicit-bias report DIR`: defaults, groups and bands, the self-contained HTML, the CLI, and
the page itself in headless Chromium (images load, the table sorts, run names are escaped).

The runs are a real small sweep (10x10 completion, depth 1..3 x 3 seeds, 200 steps), made once
for the module. The browser tests need Debian's chromium at /usr/bin/chromium (`make test`
installs it when missing) and are skipped, saying why, without it.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import json
import math
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import implicit_bias as ib
from conftest import tiny_config
from implicit_bias import cli
from implicit_bias.rundir import files as store
from implicit_bias.settings import ConfigError
from implicit_bias.analysis.report import REPORT, band, choose, make_groups, render, write_report

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: run `make test` "
                                    "(it installs Debian's chromium) to run the browser tests of the report")
XSS = "<script>document.title='pwned'</script>"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    """9 finished runs: model.depth in 1..3 x seed in 0..2, with a sweep.json."""
    out = tmp_path_factory.mktemp("sweep")
    base = tiny_config("completion", **{"trainer.steps": 200, "trainer.log_every": 20})
    for depth in (1, 2, 3):
        for seed in (0, 1, 2):
            ib.run(tiny_config("completion", **{"model.depth": depth, "seed": seed, "trainer.steps": 200,
                                                "trainer.log_every": 20}), out=out)
    store.write_json(out / "sweep.json", {"grid": {"model.depth": [1, 2, 3], "seed": [0, 1, 2]}, "zip": {},
                                          "n_runs": 9, "base": base,
                                          "command": "implicit-bias sweep base.toml --grid model.depth=1,2,3"})
    write_report(out)
    return out


@pytest.fixture(scope="module")
def xss_dir(tmp_path_factory) -> Path:
    """Two runs named with a script tag, and a sweep.json whose command and base smuggle markup."""
    out = tmp_path_factory.mktemp("xss")
    for seed in (0, 1):
        ib.run(tiny_config("completion", name=XSS, seed=seed, **{"trainer.log_every": 20}), out=out)
    store.write_json(out / "sweep.json", {
        "grid": {"seed": [0, 1]}, "zip": {}, "n_runs": 2,
        "base": {"name": XSS, "note": "<img src=x onerror=\"document.title='pwned'\">"},
        "command": "</pre><script>document.title='pwned'</script><pre>"})
    write_report(out)
    return out


def _runs_frame(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    frame = {"run_dir": [f"/r/run-{i}" for i in range(n)], "status": ["max_steps"] * n, "steps": [10] * n,
             "time": [1.0] * n, "wall_seconds": [0.1] * n, "name": ["x"] * n, "config_hash": [str(i) for i in range(n)]}
    frame.update(columns)
    return pd.DataFrame(frame)


def _grid_frame() -> pd.DataFrame:
    depth, lr, seed = zip(*[(d, lr, s) for d in (1, 2) for lr in (0.1, 0.01) for s in (0, 1)])
    n = len(depth)
    return _runs_frame(seed=list(seed), **{"model.depth": list(depth), "model.kind": ["deep_matrix"] * n,
                                           "trainer.lr": list(lr), "final.loss": np.linspace(1, 2, n).tolist(),
                                           "final.test_error": np.linspace(0.1, 0.9, n).tolist(),
                                           "final.singular_values": [[3.0, 1.0]] * n})


# --------------------------------------------------------------------------- defaults and groups


def test_defaults_from_the_runs():
    choice = choose(_grid_frame())
    assert (choice.x, choice.y, choice.hue) == ("model.depth", "test_error", "trainer.lr")
    assert choice.parameters == ["model.depth", "trainer.lr"]  # seed is the replicate axis, never a parameter


def test_default_metric_is_loss_without_a_finite_test_error():
    runs = _grid_frame()
    runs["final.test_error"] = [None] * len(runs)  # NaN is written as null (no ground truth)
    assert choose(runs).y == "loss"
    assert choose(runs.drop(columns="final.test_error")).y == "loss"


def test_sweep_json_grid_order_wins_and_a_zipped_partner_is_not_the_hue():
    runs = _grid_frame()
    runs["trainer.steps"] = [100 if lr == 0.1 else 1000 for lr in runs["trainer.lr"]]  # zipped with lr
    spec = {"grid": {"seed": [0, 1], "trainer.lr": [0.1, 0.01], "model.depth": [1, 2]},
            "zip": {}, "n_runs": 8, "base": {}}
    choice = choose(runs, spec)
    assert (choice.x, choice.hue) == ("trainer.lr", "model.depth")
    only_zip = choose(runs.drop(columns="model.depth"), {"grid": {}, "zip": {"trainer.lr": [0.1, 0.01],
                                                                               "trainer.steps": [100, 1000]}})
    assert (only_zip.x, only_zip.hue) == ("trainer.lr", None)
    assert any("trainer.steps varies together with trainer.lr" in n for n in only_zip.notes)


def test_explicit_choices_and_bad_ones():
    runs = _grid_frame()
    choice = choose(runs, x="trainer.lr", y="final.loss", hue="none")
    assert (choice.x, choice.y, choice.hue) == ("trainer.lr", "loss", None)
    assert choose(runs, hue="model.kind").hue == "model.kind"  # any config key, even a constant one
    for kwargs, flag in [({"x": "model.nope"}, "--x"), ({"hue": "nope"}, "--hue"), ({"y": "nope"}, "--y"),
                         ({"y": "singular_values"}, "--y"), ({"x": "model.depth", "hue": "model.depth"}, "--hue"),
                         ({"hue": "seed"}, "--hue")]:
        with pytest.raises(ConfigError, match=re.escape(flag)):
            choose(runs, **kwargs)


def test_groups_are_runs_that_differ_only_in_seed():
    runs = _grid_frame()
    groups = make_groups(runs, ["model.depth", "trainer.lr"])
    assert [g.label() for g in groups] == ["model.depth=1, trainer.lr=0.01", "model.depth=1, trainer.lr=0.1",
                                           "model.depth=2, trainer.lr=0.01", "model.depth=2, trainer.lr=0.1"]
    for group in groups:
        assert list(group.runs["seed"]) == [0, 1]
        for key, value in group.values.items():
            assert set(group.runs[key]) == {value}
    assert [g.label() for g in make_groups(runs, [])] == ["all runs"]


def test_band_is_median_and_min_max_over_seeds_where_runs_exist():
    x, mid, lo, hi = band([(np.array([0, 10, 20]), np.array([1.0, 0.5, 0.1])),
                           (np.array([0, 10, 20]), np.array([3.0, 1.5, np.inf])),  # diverged at step 20
                           (np.array([0, 10]), np.array([2.0, 1.0]))])  # converged (stopped) at step 10
    np.testing.assert_array_equal(x, [0, 10, 20])
    np.testing.assert_allclose(mid, [2.0, 1.0, 0.1])
    np.testing.assert_allclose(lo, [1.0, 0.5, 0.1])
    np.testing.assert_allclose(hi, [3.0, 1.5, 0.1])


# --------------------------------------------------------------------------- the HTML file


def _images(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)]


def test_report_is_self_contained_with_parameters_table_and_figures(sweep_dir):
    path = sweep_dir / REPORT
    text = path.read_text(encoding="utf-8")
    assert not list(sweep_dir.glob(f".{REPORT}.*.tmp"))  # written atomically, nothing left behind
    images = _images(text)
    assert len(images) >= 5 and len(images) == text.count("<img ")
    assert all(image.startswith(PNG_SIGNATURE) and len(image) > 5000 for image in images)
    # nothing is fetched: every src is a data: URL, no stylesheet, font or frame, and the CSP forbids the rest
    assert re.findall(r'\ssrc="(?!data:image/png;base64,)', text) == []
    for forbidden in ("http://", "https://", "<link", "<iframe", "@import", "url(", "<object", "<embed"):
        assert forbidden not in text, forbidden
    assert "default-src &#x27;none&#x27;" in text and text.count("<script>") == 1
    # parameters: the grid key marked as x, its values, the command of sweep.json
    assert re.search(r'model\.depth <span class="tag x">x</span></td><td>1, 2, 3</td>', text)
    assert "implicit-bias sweep base.toml --grid model.depth=1,2,3" in text
    # the table: one row per run, ordered by depth then seed, with sortable headers
    runs = ib.load(sweep_dir)
    rows = re.findall(r'<tr data-run="([^"]+)"', text)
    expected = runs.sort_values(["model.depth", "seed"])["run_dir"].map(lambda p: Path(p).name).tolist()
    assert rows == expected
    for key in ("run", "name", "status", "model.depth", "seed", "final.test_error", "final.loss"):
        assert f'<th data-key="{key}"' in text
    # figures: titles, and the loss convention wherever a loss is shown
    for title in ("test error against step", "loss against step", "final test error against model.depth",
                  "final singular-value spectrum", "singular values during training"):
        assert f'alt="{title}"' in text
    assert "Training loss (mean of ½(prediction − target)²) against step" in text


def test_table_cells_carry_full_precision_sort_keys(sweep_dir):
    text = (sweep_dir / REPORT).read_text(encoding="utf-8")
    runs = ib.load(sweep_dir)
    for value in runs["final.test_error"]:
        assert f'data-sort="{value!r}"' in text


def test_report_without_a_varying_parameter(xss_dir):
    text = (xss_dir / REPORT).read_text(encoding="utf-8")
    assert "No parameter varies among the runs" in text
    assert 'alt="test error against step"' in text and "against model.depth" not in text


def test_run_names_and_sweep_strings_are_escaped(xss_dir):
    text = (xss_dir / REPORT).read_text(encoding="utf-8")
    assert XSS not in text and "<img src=x" not in text and "</pre><script>" not in text
    assert html.escape(XSS, quote=True) in text
    assert text.count("<script") == 1  # ours, at the end of the body


def test_where_filters_and_bad_directories(sweep_dir, tmp_path):
    text = render(sweep_dir, where="model.depth >= 2")
    assert len(re.findall(r"<tr data-run=", text)) == 6
    with pytest.raises(ConfigError, match="DIR"):
        write_report(tmp_path / "missing")
    with pytest.raises(ConfigError, match="no finished runs"):
        write_report(tmp_path)


def _fake_run(out: Path, name: str, config: dict, rows: list[dict], status: str = "max_steps") -> None:
    """A run directory written by hand (no training), with the five files a real one has (a
    directory that fails ``index.check_run`` is listed as damaged, not reported)."""
    from implicit_bias.settings import config_hash

    digest = config_hash(config)
    run_dir = out / f"{name}-{digest[:8]}"
    run_dir.mkdir()
    store.write_json(run_dir / store.CONFIG, {**config, "config_hash": digest})
    store.write_parquet(run_dir / store.METRICS, pd.DataFrame(rows))
    store.write_npz(run_dir / store.FINAL, {"end_to_end": np.zeros(2), "end_to_end_init": np.zeros(2)})
    store.write_npz(run_dir / store.PROBLEM, {"targets": np.zeros(2)})
    store.write_json(run_dir / store.SUMMARY, {"status": status, "steps": rows[-1]["step"], "time": rows[-1]["t"],
                                               "wall_seconds": 0.1, "final": rows[-1]})


def test_mixed_sweep_with_a_diverged_run_lists_and_missing_columns(tmp_path):
    def completion(depth, width, balanced, seed):
        return {"name": "mix", "seed": seed, "problem": {"kind": "matrix_completion"},
                "model": {"kind": "deep_matrix", "depth": depth, "width": width, "balanced": balanced}}

    def rows(scale, diverge=False):
        out = [{"step": s, "t": 0.1 * s, "loss": scale / (1 + s), "test_error": 0.5 + scale / (1 + s),
                "singular_values": [3.0, 1.0 / (1 + s), 1e-4], "effective_rank": 2.0 - s / 100} for s in (0, 10, 20)]
        if diverge:
            out[-1].update(loss=math.inf, test_error=math.nan)
        return out

    _fake_run(tmp_path, "a", completion(2, [4, 4], True, 0), rows(1.0))
    _fake_run(tmp_path, "b", completion(2, [4, 4], True, 1), rows(2.0))
    _fake_run(tmp_path, "c", completion(3, [8, 8], False, 0), rows(1e3, diverge=True), status="diverged")
    least_squares = {"name": "ls", "seed": 0, "problem": {"kind": "least_squares"}, "model": {"kind": "linear"}}
    _fake_run(tmp_path, "d", least_squares,
              [{"step": s, "t": float(s), "loss": 1.0 / (1 + s), "test_error": 0.3} for s in (0, 10)])
    for x, y in ((None, None), ("model.width", "loss")):  # a string key by default, then a list-valued one
        text = render(tmp_path, x=x, y=y)
        assert 'class="status-diverged"' in text
        images = _images(text)
        assert len(images) >= 4 and all(image.startswith(PNG_SIGNATURE) for image in images)
    assert 'alt="final loss against model.width"' in text


# --------------------------------------------------------------------------- the command


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_cli_report_flags_and_out(sweep_dir, tmp_path):
    target = tmp_path / "by-seed.html"
    code, out, err = _cli("report", str(sweep_dir), "--x", "seed", "--y", "loss", "--hue", "model.depth",
                          "--out", str(target))
    assert code == 0, err
    assert out.strip().splitlines()[-1] == str(target)
    text = target.read_text(encoding="utf-8")
    assert 'alt="final loss against seed"' in text
    assert "<b>hue</b>model.depth" in text and "<b>y</b>loss" in text


@pytest.mark.parametrize("argv, key", [
    (["--x", "model.nope"], "--x"), (["--y", "accuracy"], "--y"), (["--hue", "model.depth", "--x", "model.depth"],
                                                                    "--hue"),
    (["--out", "/nonexistent-dir/report.html"], "--out")])
def test_cli_bad_input_exits_2_with_one_line(sweep_dir, argv, key):
    code, out, err = _cli("report", str(sweep_dir), *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"implicit-bias: error: {key}")


def test_cli_missing_directory_exits_2(tmp_path):
    code, _, err = _cli("report", str(tmp_path / "nope"))
    assert code == 2 and err.startswith("implicit-bias: error: DIR: not a directory")


# --------------------------------------------------------------------------- headless Chromium


def _chromium(profile: Path, *flags: str, url: str) -> subprocess.CompletedProcess:
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}", *flags, url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def _selftest(dom: str) -> dict:
    match = re.search(r'<pre id="selftest">(.*?)</pre>', dom, re.S)
    assert match, "the self-test did not run (no result in #selftest)"
    return json.loads(html.unescape(match.group(1)))


@needs_chromium
def test_report_in_headless_chromium_images_load_table_sorts_and_screenshot(sweep_dir, tmp_path):
    path = sweep_dir / REPORT
    url = path.resolve().as_uri()
    dom = _chromium(tmp_path / "profile", "--virtual-time-budget=5000", "--dump-dom",
                    url=f"{url}?selftest=1&sort=final.test_error").stdout
    result = _selftest(dom)
    assert "<title>selftest: ok</title>" in dom, result
    assert result["ok"] and result["unsorted"] == [] and result["broken"] == []
    n_images = path.read_text(encoding="utf-8").count("<img ")
    assert result["images"] == result["images_loaded"] == n_images >= 5
    assert result["resources"] == 0  # nothing fetched
    assert set(result["columns"]) >= {"run", "model.depth", "seed", "final.test_error", "final.loss"}
    # clicking the test_error header orders the rows as pandas does
    runs = ib.load(sweep_dir).sort_values("final.test_error", kind="stable")
    assert result["order"] == [Path(p).name for p in runs["run_dir"]]

    screenshot = tmp_path / "report.png"
    _chromium(tmp_path / "profile", "--window-size=1280,2000", f"--screenshot={screenshot}", url=url)
    data = screenshot.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 20_000
    width, height = (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"))
    assert (width, height) == (1280, 2000)


@needs_chromium
def test_script_in_a_run_name_does_not_execute(xss_dir, tmp_path):
    url = (xss_dir / REPORT).resolve().as_uri()
    dom = _chromium(tmp_path / "profile", "--virtual-time-budget=5000", "--dump-dom", url=url).stdout
    title = re.search(r"<title>(.*?)</title>", dom, re.S).group(1)
    assert title == f"Sweep report: {xss_dir.name}"  # not 'pwned'
    assert "pwned" not in title and dom.count("<script") == 1
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom  # shown as text in the table
    # and the page still works around the odd names
    result = _selftest(_chromium(tmp_path / "profile", "--virtual-time-budget=5000", "--dump-dom",
                                 url=f"{url}?selftest=1").stdout)
    assert result["ok"] and result["images"] >= 1, result
