"""Confidence intervals over images, from the per-image decisions stored beside the log.

Percentile bootstrap (Efron & Tibshirani 1993): draw the images with replacement
``n_resamples`` times, recompute the statistic on each draw, report the
``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles. Every condition of a
benchmark reads the same images, so one draw is applied to all of them at once (a paired
bootstrap): a derived metric (LPP/HPP, the critical-band fit, shape bias) is recomputed
from the resampled grid by the benchmark's own ``columns`` and ``summarize``. Draws come
from ``numpy.random.default_rng(seed)`` in the order ``scipy.stats.bootstrap`` draws them,
so a seed gives the same interval every time and the same as scipy's percentile interval
for a plain accuracy (tested). docs/results.md "Confidence intervals over images".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ResultsError
from ..metrics.shape_bias import _check_frame, texture_category
from ..results.setup import Setup

N_RESAMPLES = 1000
CONFIDENCE = 0.95
_CHUNK_ELEMENTS = 20_000_000  # indices drawn at once (160 MB of int64)


@dataclass(frozen=True)
class Interval:
    value: float  # the statistic on all images
    low: float
    high: float
    n_resamples: int  # draws on which the statistic was defined
    degenerate: float = 0.0  # share of those draws on which it was degenerate (e.g. a critical-band fit without a band)
    confidence: float = CONFIDENCE

    @property
    def reliable(self) -> bool:
        """False when more than (1 - confidence) / 2 of the draws were degenerate: then degenerate values
        (such as the bw ~ 11295 of a flat fit) can be the percentiles themselves, and [low, high] is no
        interval of the measurement (docs/analysis.md)."""
        return self.degenerate <= (1 - self.confidence) / 2

    def text(self, digits: int = 3) -> str:
        """``[low, high]``, or the share of degenerate resamples where the interval is not reliable."""
        if not self.reliable:
            return (f"unreliable: {100 * self.degenerate:.0f}% of {self.n_resamples} resamples give a degenerate "
                    "value")
        return f"[{self.low:.{digits}f}, {self.high:.{digits}f}]"


def _draws(n: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Index arrays [chunk, n] of the resamples, the stream ``scipy.stats.bootstrap`` draws."""
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_ELEMENTS // max(n, 1))
    for start in range(0, n_resamples, chunk):
        yield rng.integers(0, n, (min(chunk, n_resamples - start), n))


def paired_bootstrap(per_image: np.ndarray, statistic: Callable[[np.ndarray], dict[str, float]], *,
                     n_resamples: int = N_RESAMPLES, seed: int = 0, confidence: float = CONFIDENCE,
                     degenerate: Callable[[np.ndarray], set[str]] | None = None) -> dict[str, Interval]:
    """Intervals of every value ``statistic`` returns. ``per_image`` is [k, n]: k per-image
    quantities (e.g. correct or not per condition) over the same n images; ``statistic`` maps
    their k means to {name: value}. Each draw resamples the n images for all k at once.
    ``degenerate`` maps the same means to the names whose value is degenerate on that draw; each
    interval reports their share (``Interval.degenerate``, ``Interval.reliable``)."""
    per_image = np.asarray(per_image, dtype=float)
    if per_image.ndim != 2 or per_image.shape[1] == 0:
        raise ResultsError(f"bootstrap over images needs a [quantities, images] array; got {per_image.shape}")
    if not 0 < confidence < 1:
        raise ResultsError(f"confidence {confidence!r}: expected a number between 0 and 1")
    n = per_image.shape[1]
    point = statistic(per_image.mean(axis=1))
    samples: dict[str, list[float]] = {name: [] for name in point}
    n_degenerate = dict.fromkeys(point, 0)
    for idx in _draws(n, n_resamples, seed):
        means = per_image[:, idx].mean(axis=-1)  # [k, chunk]
        for b in range(means.shape[1]):
            values = statistic(means[:, b])
            bad = degenerate(means[:, b]) if degenerate is not None else set()
            for name in samples:
                if name in values and np.isfinite(values[name]):
                    samples[name].append(values[name])
                    n_degenerate[name] += name in bad
    alpha = (1 - confidence) / 2
    out = {}
    for name, value in point.items():
        draws = np.asarray(samples[name])
        low, high = np.percentile(draws, [100 * alpha, 100 * (1 - alpha)]) if len(draws) else (np.nan, np.nan)
        share = n_degenerate[name] / len(draws) if len(draws) else 0.0
        out[name] = Interval(float(value), float(low), float(high), len(draws), share, confidence)
    return out


def accuracy_interval(correct, **kw) -> Interval:
    """Top-1 accuracy (percent) of per-image correctness, with its interval."""
    return paired_bootstrap(np.asarray(correct, dtype=float)[None], lambda m: {"acc": 100.0 * m[0]}, **kw)["acc"]


def benchmark_intervals(benchmark, by_condition: dict, **kw) -> dict[str, Interval]:
    """Intervals of every column of a benchmark (its conditions' accuracies and its summary:
    LPP/HPP, the critical-band parameters, ...) from ``by_condition`` = {condition name:
    Decisions} of one model, every condition over the same images."""
    conditions = benchmark.conditions()
    missing = [c.name for c in conditions if c.name not in by_condition]
    if missing:
        raise ResultsError(f"{benchmark.name}: no stored decisions for condition(s) {missing[:5]}; "
                           "expected every condition of the benchmark")
    decided = [by_condition[c.name] for c in conditions]
    index = decided[0].index
    if any(not np.array_equal(d.index, index) for d in decided):
        raise ResultsError(f"{benchmark.name}: its conditions decided different images (unreadable files?); "
                           "a paired bootstrap needs the same images in every condition")
    correct = np.stack([d.correct for d in decided])

    def columns(means: np.ndarray) -> dict[str, dict[str, float]]:
        return {c.name: benchmark.columns(c, {"top1": 100.0 * m, "top5": float("nan"), "n": len(index)})
                for c, m in zip(conditions, means)}

    def statistic(means: np.ndarray) -> dict[str, float]:
        values = columns(means)
        return {k: v for cols in values.values() for k, v in cols.items()} | benchmark.summarize(values)

    return paired_bootstrap(correct, statistic, degenerate=lambda means: benchmark.degenerate(columns(means)), **kw)


def shape_bias_interval(responses: pd.DataFrame, **kw) -> Interval:
    """Shape bias S / (S + T) of a cue-conflict response table, resampling its cue-conflict trials
    (those whose shape and texture differ; metrics.shape_bias)."""
    df = _check_frame(responses)
    texture = df["imagename"].map(texture_category)
    conflict = (df["category"] != texture).to_numpy()
    shape_hit = (df["object_response"] == df["category"]).to_numpy()[conflict]
    texture_hit = (df["object_response"] == texture).to_numpy()[conflict]

    def statistic(m):
        return {"shape-bias": m[0] / (m[0] + m[1])} if m[0] + m[1] else {}

    return paired_bootstrap(np.stack([shape_hit, texture_hit]), statistic, **kw)["shape-bias"]


def frequency_bias_interval(decisions, lf, hf, **kw) -> dict[str, Interval]:
    """Low-frequency bias L / (L + H) and the cue accuracy (percent) of 16-class decisions on frequency
    cue-conflict stimuli (metrics.frequency_bias), resampling the trials whose two categories differ."""
    from ..metrics.frequency_bias import hits

    low, high, kept = hits(decisions, lf, hf)
    if not kept.any():
        raise ResultsError("frequency cue-conflict: no decided trial whose two categories differ")

    def statistic(m):
        out = {"top1_acc/freq-cue-conflict": 100.0 * (m[0] + m[1])}
        return out | ({"frequency-bias": m[0] / (m[0] + m[1])} if m[0] + m[1] else {})

    return paired_bootstrap(np.stack([low[kept], high[kept]]), statistic, **kw)


def model_intervals(store, model: str, *, precision: str = "fp32", **kw) -> pd.DataFrame:
    """Intervals of one model's results from its stored decisions: each condition's top-1
    accuracy (every benchmark but ReaL, whose accuracy counts other labels), the low-frequency bias
    and cue accuracy of frequency cue-conflict, and the spectral
    (LPP/HPP, ratios) and critical-band (bw, cf, pns) summaries when every condition is there.
    Columns: column, value, low, high, n_resamples, degenerate (the share of resamples where the value was
    degenerate), reliable (False: [low, high] is no interval, ``Interval.reliable``)."""
    from ..benchmarks.criticalband import CriticalBand
    from ..benchmarks.spectral import Spectral
    from ..results import decisions

    latest = {k: d for k, d in decisions.latest(store, Setup(precision=precision)).items() if k[0] == model}
    if not latest:
        raise ResultsError(f"no per-image decisions of model {model!r} at {precision} in {store.log_dir}")
    rows: dict[str, Interval] = {}
    for (_, benchmark, _condition, _), d in sorted(latest.items()):
        columns = [c for c in d.record.values if c.startswith("top1_acc/")]
        if benchmark == "freq-cue-conflict":  # its accuracy counts either cue: from the record's categories
            result = d.record.extra.get("result", {})
            if {"decisions", "lf", "hf"} <= set(result):
                rows |= frequency_bias_interval(result["decisions"], result["lf"], result["hf"], **kw)
        elif benchmark != "imagenet-real" and len(columns) == 1:
            rows[columns[0]] = accuracy_interval(d.correct, **kw)
    for bench in (Spectral(None), CriticalBand(None)):
        by_condition = {c: d for (_, b, c, _), d in latest.items() if b == bench.name}
        if {c.name for c in bench.conditions()} <= set(by_condition):
            rows |= {k: v for k, v in benchmark_intervals(bench, by_condition, **kw).items() if k.startswith("metric/")}
    return pd.DataFrame([{"column": k, "value": v.value, "low": v.low, "high": v.high,
                          "n_resamples": v.n_resamples, "degenerate": v.degenerate, "reliable": v.reliable}
                         for k, v in rows.items()])


def main(argv: list[str] | None = None, prog: str = "biasbench intervals") -> int:
    """``python -m biasbench.analysis.image_bootstrap --results CSV --model M --out ci.csv``"""
    import argparse

    from ..errors import UserError, exit_status
    from ..results import ResultsStore

    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", required=True, help="results CSV whose log holds per-image decisions")
    parser.add_argument("--model", required=True)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--n-resamples", type=int, default=N_RESAMPLES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--confidence", type=float, default=CONFIDENCE)
    parser.add_argument("--out", required=True,
                        help="CSV to write (column,value,low,high,n_resamples,degenerate,reliable)")
    args = parser.parse_args(argv)
    try:
        table = model_intervals(ResultsStore(args.results), args.model, precision=args.precision,
                                n_resamples=args.n_resamples, seed=args.seed, confidence=args.confidence)
        table.to_csv(args.out, index=False)
    except (UserError, OSError) as err:
        return exit_status(err)
    print(f"wrote {args.out}: {len(table)} intervals of {args.model}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
