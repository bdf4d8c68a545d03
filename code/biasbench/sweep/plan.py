"""Splitting a sweep into jobs: (models chunk, benchmark, condition shard i/n).

A job runs one benchmark for a few models, on every n-th condition of it from i (the runner's
``shard``). Its length is estimated from the image counts of its conditions and the user's
``--images-per-second`` (one model's forward passes per second) and each condition's declared
cost (forward-pass equivalents per image: an attack counts as many as its steps take). For each benchmark the planner keeps as many models per job as it
can (they share every data pass) and uses the fewest shards that keep every job under the time
limit times ``headroom``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

from ..benchmarks.base import Benchmark, Condition
from ..data.imagelist import RESIZE_CROP, ImageList
from ..errors import ConfigError


def forward_equivalents(condition: Condition) -> float:
    """Forward passes per image and model that ``condition`` costs: what it declares
    (``Condition.cost``; attacks: ``benchmarks.adversarial.attack_cost``)."""
    return float(condition.cost)


@dataclass(frozen=True)
class Job:
    """One unit of work of a sweep."""

    key: str  # e.g. "imagenet-c.m00.s3of8": benchmark, models chunk, shard
    benchmark: str
    models: tuple[str, ...]
    shard: tuple[int, int]  # (i, n): conditions i, i+n, i+2n, ... of the benchmark
    cells: tuple[tuple[str, str], ...]  # (condition, dataset fingerprint) evaluated for every model
    seconds: float  # estimated run time
    decoded_lists: tuple[str, ...] = ()  # fingerprints of the Resize/Crop image lists it reads
    specs: tuple[str, ...] = ()  # how to name each model on the job's command line (file:// specs); default: models

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Job:
        return cls(key=d["key"], benchmark=d["benchmark"], models=tuple(d["models"]), shard=tuple(d["shard"]),
                   cells=tuple(tuple(c) for c in d["cells"]), seconds=float(d["seconds"]),
                   decoded_lists=tuple(d.get("decoded_lists", ())), specs=tuple(d.get("specs", ())))

    def argv(self) -> list[str]:
        """The flags that make the suite's command line run exactly this job."""
        i, n = self.shard
        out = ["--model", ",".join(self.specs or self.models), "--benchmarks", self.benchmark]
        return out + (["--shard", f"{i}/{n}"] if n > 1 else [])


def _split(items: Sequence[str], n_chunks: int) -> list[tuple[str, ...]]:
    """``items`` in ``n_chunks`` contiguous chunks whose sizes differ by at most one."""
    q, r = divmod(len(items), n_chunks)
    out, start = [], 0
    for k in range(n_chunks):
        size = q + (k < r)
        out.append(tuple(items[start:start + size]))
        start += size
    return out


def _fewest_shards(costs: list[float], n_models: int, budget: float) -> int | None:
    """Smallest n such that every shard i::n of the conditions fits ``budget`` for ``n_models``."""
    for n in range(1, len(costs) + 1):
        if max(n_models * sum(costs[i::n]) for i in range(n)) <= budget:
            return n
    return None


def plan_benchmark(bench: Benchmark, models: Sequence[str], *, limit_s: float, images_per_second: float,
                   fingerprint: Callable[[ImageList], str], models_per_job: int | None = None,
                   headroom: float = 0.8, specs: Mapping[str, str] | None = None) -> list[Job]:
    """The jobs of one benchmark; ConfigError when one condition alone does not fit the limit.
    ``specs`` maps a model name to what names it on a job's command line (when not the name)."""
    conds = bench.conditions()
    if not conds or not models:
        return []
    costs = [len(c.images) * forward_equivalents(c) / images_per_second for c in conds]  # s per model
    budget = limit_s * headroom
    top = min(len(models), models_per_job or len(models))
    for m in range(top, 0, -1):
        n = _fewest_shards(costs, m, budget)
        if n is not None:
            break
    else:
        worst = max(range(len(conds)), key=costs.__getitem__)
        raise ConfigError(
            f"condition {conds[worst].name} of {bench.name} takes about {costs[worst] / 60:.1f} min per model "
            f"({len(conds[worst].images):,} images at --images-per-second {images_per_second:g}), more than "
            f"{headroom:.0%} of --time-limit {limit_s / 60:g} min: raise --time-limit, or measure the real "
            "images/s of one model (the runner logs it) and pass it")
    fps = [fingerprint(c.images) for c in conds]
    decoded = {fp for c, fp in zip(conds, fps) if c.images.preprocess == RESIZE_CROP}
    jobs = []
    chunks = _split(list(models), math.ceil(len(models) / m))
    for ci, chunk in enumerate(chunks):
        for i in range(n):
            idx = range(i, len(conds), n)
            jobs.append(Job(
                key=f"{bench.name}.m{ci:02d}.s{i}of{n}", benchmark=bench.name, models=chunk, shard=(i, n),
                cells=tuple((conds[k].name, fps[k]) for k in idx),
                seconds=round(len(chunk) * sum(costs[k] for k in idx), 3),
                decoded_lists=tuple(sorted({fps[k] for k in idx} & decoded)),
                specs=tuple(specs.get(m, m) for m in chunk) if specs and any(specs.get(m, m) != m for m in chunk)
                else ()))
    return jobs


def make_plan(benchmarks: Sequence[Benchmark], models: Sequence[str], *, limit_s: float, images_per_second: float,
              fingerprint: Callable[[ImageList], str], models_per_job: int | None = None,
              headroom: float = 0.8, specs: Mapping[str, str] | None = None) -> list[Job]:
    """Every job of a sweep over ``models`` x ``benchmarks``, benchmark by benchmark."""
    if images_per_second <= 0 or not math.isfinite(images_per_second):
        raise ConfigError(f"--images-per-second {images_per_second:g}: expected a positive number")
    if limit_s <= 0 or not math.isfinite(limit_s):
        raise ConfigError(f"--time-limit {limit_s / 60:g}: expected a positive number of minutes")
    if models_per_job is not None and models_per_job < 1:
        raise ConfigError(f"--models-per-job {models_per_job}: expected 1 or more")
    jobs: list[Job] = []
    for bench in benchmarks:
        jobs += plan_benchmark(bench, models, limit_s=limit_s, images_per_second=images_per_second,
                               fingerprint=fingerprint, models_per_job=models_per_job, headroom=headroom,
                               specs=specs)
    return jobs
