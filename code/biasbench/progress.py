"""One progress display for a whole run (docs/running.md, "Progress").

A run is many passes (one per image list and models chunk; each ImageNet-C or C-bar cell is a
pass), so one bar per pass scrolls hundreds of bars by. ``RunProgress`` counts the run's work
(image x (condition, model) evaluations, an attack weighted by its forward-pass equivalents)
and shows it once: on a terminal as one tqdm bar (work done, images/s, ETA, the pass running
now); otherwise (a log file, a pipe, a Slurm job's output) as plain one-line reports
``progress: ...`` at most every ``every_s`` seconds, and one when the run ends.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm

LINE_EVERY_S = 30.0  # plain progress lines: at most one per this many seconds


def _clock_text(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class RunProgress:
    """The progress of one run: ``begin_pass(name)`` as each pass starts, ``update(work, images)`` as it
    goes, ``restart_pass()`` when a pass starts over (out of memory: smaller batches), ``close()`` at the end.
    ``enabled`` False shows nothing (``--no-progress``)."""

    def __init__(self, total: float, *, enabled: bool = True, stream: TextIO | None = None,
                 every_s: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.total = float(total)
        self.done = 0.0
        self.images = 0.0  # images fed, counted in step with the work (a share of a batch as it goes)
        self.current = ""
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and self.total > 0
        self.tty = self.enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_s = LINE_EVERY_S if every_s is None else every_s
        self._clock = clock
        self._start = self._last_line = clock()
        self._pass_from = (0.0, 0)
        self._bar = (tqdm(total=round(self.total), unit="eval", desc="run", file=self.stream, dynamic_ncols=True)
                     if self.tty else None)

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close(finished=exc[0] is None)

    # ------------------------------------------------------------------ counting
    def begin_pass(self, name: str) -> None:
        self.current = name
        self._pass_from = (self.done, self.images)
        self._show(force_bar=True)

    def restart_pass(self) -> None:
        """Forget what the current pass counted: it runs again from its first image."""
        self.done, self.images = self._pass_from
        self._show(force_bar=True)

    def update(self, work: float, images: float = 0.0) -> None:
        self.done += work
        self.images += images
        self._show()

    # ------------------------------------------------------------------ showing
    def rate(self) -> float:
        """Images per second since the run started."""
        return self.images / max(self._clock() - self._start, 1e-9)

    def eta_s(self) -> float | None:
        elapsed = self._clock() - self._start
        if self.done <= 0:
            return None
        return max(self.total - self.done, 0.0) * elapsed / self.done

    def line(self) -> str:
        """The plain report: ``progress: 42% (1,260/3,000 evals), 38.1 images/s, ETA 0:01:05, pass <name>``."""
        eta = self.eta_s()
        return (f"progress: {100 * min(self.done / self.total, 1.0):.0f}% ({round(self.done):,}/{round(self.total):,} "
                f"evals), {self.rate():.1f} images/s, ETA {'?' if eta is None else _clock_text(eta)}, "
                f"pass {self.current}")

    def _show(self, force_bar: bool = False) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(f"{self.rate():.1f} img/s, pass {self.current}", refresh=False)
            delta = min(round(self.done), self._bar.total) - self._bar.n
            if delta > 0:
                self._bar.update(delta)
            elif delta < 0 or force_bar:  # a pass started over (the bar goes back), or a new pass is named
                self._bar.n += delta
                self._bar.refresh()
            return
        now = self._clock()
        if now - self._last_line >= self.every_s:
            self._last_line = now
            print(self.line(), file=self.stream, flush=True)

    def close(self, finished: bool = True) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif finished:
            elapsed = self._clock() - self._start
            print(f"progress: done, {round(self.done):,} evals of {round(self.images):,} images in {_clock_text(elapsed)} "
                  f"({self.rate():.1f} images/s)", file=self.stream, flush=True)
        self.enabled = False
