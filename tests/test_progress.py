"""One progress display per run (docs/running.md "Progress"): one bar on a terminal, plain one-line reports at
a modest rate elsewhere, the pass running now named, and a pass that starts over counted once."""

import io
import sys
from dataclasses import replace

import pytest

from biasbench import progress as progress_module
from biasbench.benchmarks.base import Condition
from biasbench.progress import RunProgress
from biasbench.results import ResultsStore
from biasbench.runner import RunOptions, run

from helpers import ImagesBenchmark, Loader, TinyNet


class _Tty(io.StringIO):
    def isatty(self):
        return True


class _Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_plain_lines_at_most_every_interval_with_rate_eta_and_pass():
    out, clock = io.StringIO(), _Clock()
    p = RunProgress(1000, stream=out, every_s=30, clock=clock)
    p.begin_pass("imagenet-val (clean x 2 model(s))")
    clock.t += 10
    p.update(100, images=50)  # 10 s in: too early for a line
    assert out.getvalue() == ""
    clock.t += 20
    p.update(150, images=75)  # 30 s in: 250 of 1000 evals, 125 images
    clock.t += 5
    p.begin_pass("imagenet-c-fog-3 (fog/3 x 2 model(s))")
    p.update(250, images=125)  # 35 s: only 5 s after the last line
    clock.t += 35
    p.update(500, images=250)  # 70 s: 1000 of 1000
    p.close()
    # by hand: at 30 s, 25 % done, 125 images / 30 s = 4.2 images/s, ETA 30 s x 750 / 250 = 90 s;
    # at 70 s, 100 %, 500 / 70 = 7.1 images/s, ETA 0
    assert out.getvalue().splitlines() == [
        "progress: 25% (250/1,000 evals), 4.2 images/s, ETA 0:01:30, pass imagenet-val (clean x 2 model(s))",
        "progress: 100% (1,000/1,000 evals), 7.1 images/s, ETA 0:00:00, pass imagenet-c-fog-3 (fog/3 x 2 model(s))",
        "progress: done, 1,000 evals of 500 images in 0:01:10 (7.1 images/s)",
    ]


def test_a_pass_that_starts_over_is_counted_once():
    out, clock = io.StringIO(), _Clock()
    p = RunProgress(200, stream=out, every_s=0, clock=clock)
    p.begin_pass("a")
    p.update(100, images=10)
    p.begin_pass("b")
    p.update(60, images=6)
    p.restart_pass()  # out of memory: pass b runs again at half the batch size
    assert (p.done, p.images) == (100, 10)
    p.update(100, images=10)
    assert (p.done, p.images) == (200, 20)


def test_disabled_shows_nothing():
    out = _Tty()
    with RunProgress(10, enabled=False, stream=out) as p:
        p.begin_pass("a")
        p.update(10, images=1)
    assert out.getvalue() == ""


class _Parts(ImagesBenchmark):
    """Three conditions over three different image lists: three passes."""

    name = "parts"

    def conditions(self):
        return [Condition(f"part{k}", replace(self.images, name=f"part{k}")) for k in range(3)]


def _run(tmp_path, val, name):
    nets = {"a": TinyNet(0), "b": TinyNet(1)}
    return run([_Parts(val)], list(nets), ResultsStore(tmp_path / f"{name}.csv"),
               RunOptions(device="cpu", num_workers=0, batch_size=4, progress=True), load=Loader(**nets))


def test_a_run_of_several_passes_writes_plain_lines_when_not_a_terminal(tmp_path, val, monkeypatch, capsys):
    monkeypatch.setattr(progress_module, "LINE_EVERY_S", 0.0)  # a line at every update, to see each pass
    _run(tmp_path, val, "plain")
    err = capsys.readouterr().err
    assert "\r" not in err and "it/s" not in err  # no bar drawn into a log file
    lines = [line for line in err.splitlines() if line.startswith("progress:")]
    assert lines[-1].startswith(f"progress: done, {3 * 2 * len(val):,} evals of {3 * len(val):,} images in ")
    named = [line.rsplit(", pass ", 1)[1] for line in lines[:-1]]
    assert [n for i, n in enumerate(named) if i == 0 or n != named[i - 1]] == [
        f"part{k} (part{k} x 2 model(s))" for k in range(3)]
    assert lines[-2].startswith(f"progress: 100% ({3 * 2 * len(val):,}/{3 * 2 * len(val):,} evals)")


def test_a_run_of_several_passes_draws_one_bar_on_a_terminal(tmp_path, val, monkeypatch):
    tty = _Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    _run(tmp_path, val, "tty")
    bar = tty.getvalue()
    assert bar.count("\n") == 1  # one bar, closed once (a bar per pass would end each with a newline)
    frames = [f for f in bar.split("\r") if f.strip()]
    assert frames and all(f.lstrip().startswith("run:") for f in frames)
    assert f"{3 * 2 * len(val)}/{3 * 2 * len(val)}" in frames[-1] and "pass part2" in frames[-1]


@pytest.mark.parametrize("seconds, text", [(0, "0:00:00"), (59.6, "0:01:00"), (3725, "1:02:05")])
def test_clock_text(seconds, text):
    assert progress_module._clock_text(seconds) == text
