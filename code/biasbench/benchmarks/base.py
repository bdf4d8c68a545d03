"""What a benchmark is: named conditions over image lists, and the columns they write.

A benchmark never touches devices, batching or models: it declares its
conditions (the images, an optional transform applied to whole batches on the
device, an optional per-model attack, and an accuracy accumulator), turns each
condition's result into result columns, and derives summary columns from the
columns of all its conditions, read by name. The runner does the rest.

Every benchmark module also declares, without reading any data, the columns it
writes (``declared_columns(name, config)``: a list of ``Column``): the listing
``biasbench benchmarks``, the column table of docs/benchmarks.md and the analysis's
column names come from there (docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from ..data.imagelist import ImageList
from ..metrics.accuracy import TopK

# (images float B x 3 x H x W in [0,1] on the device, indices into the ImageList) -> images
Transform = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# (model, images, labels, indices) -> adversarial images; needs gradients, so it runs per model
Attack = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def transform_key(transform: Transform | None) -> tuple:
    """What decides whether two conditions may share one transformed batch: the transform's type and
    parameters. A transform whose attributes are all plain values (numbers, strings, booleans, None, tuples of
    them: e.g. ``Bandpass(0.1, lowpass=True)``) is keyed by its class and attributes, so equal parameters
    share a pass; anything else (a function, a lambda, an object holding state) only shares with itself."""
    if transform is None:
        return ("identity",)
    kind = type(transform)
    state = getattr(transform, "__dict__", None)
    # Functions and partials have a (usually empty) __dict__ too, which says nothing about what they do.
    routine = inspect.isroutine(transform) or isinstance(transform, functools.partial)
    if not routine and state is not None and all(map(_plain, state.values())):
        return (f"{kind.__module__}.{kind.__qualname__}", tuple(sorted(state.items())))
    return ("object", id(transform))  # the condition keeps its transform alive, so the id stays unique


def _plain(value) -> bool:
    if isinstance(value, tuple):
        return all(map(_plain, value))
    return value is None or isinstance(value, (bool, int, float, str))


@dataclass(frozen=True)
class Column:
    """A result column a benchmark writes: its name (the paper's) and what the value is.
    ``family`` names the pattern it is one instance of (``top1_acc/<corruption>_<severity>``;
    the name itself when it stands alone); ``summary`` marks a column derived from every
    condition of the benchmark (written once all of them have a result)."""

    name: str
    meaning: str
    family: str = ""
    summary: bool = False

    @property
    def pattern(self) -> str:
        return self.family or self.name


def family(pattern: str, meaning: str, names, *, summary: bool = False) -> list[Column]:
    """The columns ``names`` as instances of one ``pattern`` with one meaning."""
    return [Column(n, meaning, pattern, summary) for n in names]


@dataclass
class Condition:
    name: str
    images: ImageList
    transform: Transform | None = None
    attack: Attack | None = None
    metric: Callable[[], object] = TopK
    # What the benchmark's columns() reads to name this condition's columns (e.g. the cut-off).
    # Recorded with the result too.
    params: dict = field(default_factory=dict)
    # Recorded with the result, never read back to name columns (e.g. the attack's seed).
    provenance: dict = field(default_factory=dict)
    # Forward-pass equivalents per image and model (an attack's steps: PGD-40 costs 121): the
    # runner's progress bar and the sweep planner's job lengths count work with it.
    cost: float = 1.0

    @property
    def transform_key(self) -> tuple:
        """Conditions over the same images with the same key share one transformed batch and forward pass."""
        return transform_key(self.transform)


class Benchmark(ABC):
    """Base class: subclasses set ``name`` and implement ``conditions`` and ``columns``."""

    name: str = ""
    # Whether results depend on the run's --seed (random noise, attack starts): then the seed is part of
    # their setup (biasbench.results.setup) and a run with another seed measures them anew.
    seeded: bool = False

    @abstractmethod
    def conditions(self) -> list[Condition]:
        """Every condition of the benchmark, in a fixed order."""

    @abstractmethod
    def columns(self, condition: Condition, result: dict) -> dict[str, float]:
        """The result columns (paper names) of one condition's accumulator result."""

    def summarize(self, values: dict[str, dict[str, float]]) -> dict[str, float]:
        """Summary columns from ``values`` = {condition name: its columns}, called once every
        condition of the benchmark has a result for the model. Default: none."""
        return {}

    def degenerate(self, values: dict[str, dict[str, float]]) -> set[str]:
        """The summary columns of ``values`` (as ``summarize`` takes them) that are degenerate, no measurement
        (e.g. a critical-band fit without a band): bootstrap intervals report the share of resamples where they
        are (docs/analysis.md). Default: none."""
        return set()

    def after_run(self, store, models: Sequence[str], opts, images_of=None) -> None:  # noqa: B027 (optional hook)
        """Called once at the end of every run with the results store (everything of the run is
        in it, resumed or new), the requested models, the run options and the run's
        ``images_of(images, model)`` (the list each model was fed: ``runner.ModelImages``; None:
        ``runner.model_images``); for outputs beyond result columns (e.g. per-image response
        tables). Default: nothing."""
