"""The key of one cell of the results, built here and only here.

A cell is one model on one benchmark condition, on one dataset (its fingerprint), under one setup
(``Setup.of_run``: the run's precision, subset size, seed where the benchmark draws random numbers,
and preprocessing). Every question "is this measured already?" asks the store with these keys:
the runner (what to run, and its summaries), model-vs-human's response tables, the sweep's done
cells and ``biasbench.evaluate``'s table. See docs/results.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from .record import ResultKey
from .setup import Setup

SUMMARY = "summary"  # the condition name of a benchmark's summary record


def cell_key(model: str, benchmark: str, condition: str, fingerprint: str, setup: Setup) -> ResultKey:
    """The key of ``model``'s result on ``benchmark``'s ``condition`` over the images of ``fingerprint``,
    measured under ``setup`` (a run's ``Setup.of_run(opts, seeded)``)."""
    return ResultKey(model, benchmark, condition, fingerprint, setup)


def summary_key(model: str, benchmark: str, fingerprints: Iterable[str], setup: Setup) -> ResultKey:
    """The key of a benchmark's summary of ``model``: its fingerprint combines those of the conditions'
    image lists (as a set: conditions over the same images count once)."""
    combined = hashlib.sha256("".join(sorted(set(fingerprints))).encode()).hexdigest()[:16]
    return cell_key(model, benchmark, SUMMARY, combined, setup)
