"""What ImageNet-C and ImageNet-C-bar share: one condition per (corruption, severity) cell.

Each cell writes ``top1_acc/<corruption>_<severity>`` (and top-5). Summaries are aggregates over
every cell of the full benchmark, so runs over a subset of corruptions or severities, and shards
until the last one is in, write cells only (a later full run skips the cells already in the log
and adds the summaries).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

from ..data import corruptions as data
from ..data.imagelist import ImageList
from .base import Benchmark, Column, Condition, family


def cell_column(corruption: str, severity: int, k: int = 1) -> str:
    return f"top{k}_acc/{corruption}_{severity}"


class CorruptionBenchmark(Benchmark):
    """Cells of a corruption dataset; subclasses set ``name`` and ``all_corruptions`` and
    implement ``summarize_cells``."""

    all_corruptions: tuple[str, ...] = ()

    def __init__(self, cells: dict[tuple[str, int], ImageList]):
        self.cells = cells

    def conditions(self) -> list[Condition]:
        return [Condition(f"{c}/{s}", images, params={"corruption": c, "severity": s})
                for (c, s), images in self.cells.items()]

    def columns(self, condition: Condition, result: dict) -> dict[str, float]:
        c, s = condition.params["corruption"], condition.params["severity"]
        return {cell_column(c, s): result["top1"], cell_column(c, s, 5): result["top5"]}

    def summarize(self, values: dict[str, dict[str, float]]) -> dict[str, float]:
        cells = {(c, s): values[f"{c}/{s}"][cell_column(c, s)]
                 for c in self.all_corruptions for s in data.SEVERITIES if f"{c}/{s}" in values}
        if len(cells) < len(self.all_corruptions) * len(data.SEVERITIES):
            return {}  # a subset: the aggregates are only defined over every cell
        return self.summarize_cells(cells, values)

    @abstractmethod
    def summarize_cells(self, cells: dict[tuple[str, int], float],
                        values: dict[str, dict[str, float]]) -> dict[str, float]:
        """Summary columns from every cell's top-1 accuracy (``values``: all conditions' columns)."""


def cell_columns(title: str, corruptions: Sequence[str], severities: Sequence[int]) -> list[Column]:
    """The declared columns of the cells of a selection (summaries are the subclass's)."""
    out = []
    for k in (1, 5):
        out += family(f"top{k}_acc/<corruption>_<severity>", f"top-{k} accuracy (%) on one {title} cell",
                      [cell_column(c, s, k) for c in corruptions for s in severities])
    return out


def complete(corruptions: Sequence[str], severities: Sequence[int], all_corruptions: Sequence[str]) -> bool:
    """Whether a selection is every cell: only then are the summaries written."""
    return set(all_corruptions) <= set(corruptions) and set(data.SEVERITIES) <= set(severities)
