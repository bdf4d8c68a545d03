"""analyze.py --html: one self-contained page, checked in real headless Chromium (docs/analysis.md)."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analyze as analyze_cli
from biasbench.analysis.aggregates import AGGREGATES
from biasbench.analysis.tables import read_results
from biasbench.zoo.paper_models import PAPER_MODELS

REPO = Path(__file__).resolve().parents[1]
N_FIGURES = 9  # six scatters, band-pass curves, two correlation maps
MINE = "mine<i>&amp;</i>"  # a highlighted model whose name must come out as text, not markup


def _chromium() -> str:
    exe = shutil.which("chromium")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (.ci/run installs the Debian package 'chromium')")
        pytest.skip("chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    return exe


def _run_chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=5000", *args, page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def _console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """The report of the shipped paper table plus one synthetic highlighted model."""
    tmp = tmp_path_factory.mktemp("html")
    shipped = read_results(REPO / "raw-data" / "paper" / "benchmark.csv")
    row = shipped.loc[[PAPER_MODELS[0]]].copy()
    acc = [c for c in row.columns if c.startswith("top1_acc/")]
    row[acc] = row[acc] + 1.5  # a slightly better model, biases unchanged
    row.index = pd.Index([MINE], name=shipped.index.name)
    row.reset_index().to_csv(tmp / "mine.csv", index=False)
    page = tmp / "report.html"
    rc = analyze_cli.main(["--results", str(tmp / "mine.csv"), "--paper-results", "--offline", "--no-figures",
                           "--highlight", MINE, "--out", str(tmp / "out"), "--html", str(page)])
    assert rc == 0
    return page


def test_page_is_self_contained_and_escapes_text(report):
    text = report.read_text()
    assert len(re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', text)) == N_FIGURES
    # no external resource of any kind
    assert not re.search(r'(src|href)="(?!data:)', text) and "url(" not in text
    assert "<i>" not in text and "Highlighted model: mine&lt;i&gt;&amp;amp;&lt;/i&gt;" in text


def test_page_loads_without_console_errors_and_shows_every_figure(report, tmp_path):
    proc = _run_chromium(tmp_path, report, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(rf'<div id="figures-ok" data-n="{N_FIGURES}"', proc.stdout), proc.stdout[-2000:]
    assert _console_lines(proc.stderr) == []
    # the browser-parsed page carries the highlight's ID rank, recomputed here from the shipped table
    shipped = read_results(REPO / "raw-data" / "paper" / "benchmark.csv")
    idv = shipped.loc[PAPER_MODELS, list(AGGREGATES["ID"])].mean(axis=1)
    mine = idv[PAPER_MODELS[0]] + 1.5
    rank = int((idv > mine).sum()) + 1
    assert re.search(rf"<tr><td>ID</td><td>% top-1</td><td>{mine:.3f}</td><td>{rank} of 49</td>", proc.stdout)


def test_the_check_fails_on_a_figure_that_does_not_decode(report, tmp_path):
    """The in-page check is real: one corrupted image leaves the marker out and logs a console error."""
    broken = tmp_path / "broken.html"
    broken.write_text(re.sub(r'src="data:image/png;base64,[^"]+"', 'src="data:image/png;base64,AAAA"',
                             report.read_text(), count=1))
    proc = _run_chromium(tmp_path, broken, "--dump-dom")
    assert 'id="figures-ok"' not in proc.stdout
    assert re.search(rf'<div id="figures-failed" data-n="{N_FIGURES - 1}"', proc.stdout)
    assert any("figures not shown" in line for line in _console_lines(proc.stderr))


def test_screenshot_is_not_blank(report, tmp_path):
    from PIL import Image
    shot = tmp_path / "shot.png"
    proc = _run_chromium(tmp_path, report, f"--screenshot={shot}", "--window-size=1200,2000")
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("L"), dtype=float)
    assert pixels.shape == (2000, 1200)
    assert pixels.std() > 20  # text and figures on white; a blank or failed page is near 0
