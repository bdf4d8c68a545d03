"""The benchmarks of the suite by name, and what a benchmark module is (docs/architecture.md
"Adding a benchmark").

A benchmark module (``BenchmarkModule``) declares its options once (``OPTIONS``: a list of
``flags.Option``), builds its benchmark from a typed ``Config`` (``build``; None when its data was
not given) and declares the columns it writes without reading any data (``declared_columns``).
The command line's flags, the ``Config`` fields, the listing and ``biasbench.evaluate``'s keyword
options all come from those declarations. Adding a benchmark is one module plus one line in
``REGISTRY``; the runner never changes.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..errors import ConfigError
from ..flags import Option

if TYPE_CHECKING:
    from .base import Benchmark, Column
    from .config import Config, Datasets


@runtime_checkable
class BenchmarkModule(Protocol):
    """What every module named in ``REGISTRY`` provides."""

    OPTIONS: Sequence[Option]

    def build(self, name: str, config: Config, datasets: Datasets) -> Benchmark | None:
        """The benchmark ``name``, its datasets read and checked; None when its data is not given."""

    def declared_columns(self, name: str, config: Config) -> list[Column]:
        """The columns it writes under ``config``, without reading any data."""


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    module: str
    data_flag: str  # the flag that points at its data, for messages
    script: str  # the code/ script that runs it alone

    def load(self) -> BenchmarkModule:
        return importlib.import_module(self.module)

    def options(self) -> list[Option]:
        return list(self.load().OPTIONS)

    def data_option(self) -> Option:
        """The declared option of ``data_flag``."""
        return next(o for o in self.options() if self.data_flag in o.flags)

    def build(self, config: Config, datasets: Datasets | None = None):
        """The benchmark, its datasets read and checked; None when its data is not given."""
        from .config import Datasets

        return self.load().build(self.name, config, datasets or Datasets(config))

    def columns(self, config: Config | None = None):
        """The ``Column``s it writes under ``config`` (default: the full benchmark), without any data."""
        from .config import Config

        return self.load().declared_columns(self.name, config or Config())


REGISTRY: dict[str, BenchmarkSpec] = {
    spec.name: spec
    for spec in [
        BenchmarkSpec("imagenet", "biasbench.benchmarks.imagenet", "--imagenet", "eval_imagenet.py"),
        BenchmarkSpec("imagenet-real", "biasbench.benchmarks.imagenet", "--imagenet", "eval_imagenet_real.py"),
        BenchmarkSpec("spectral", "biasbench.benchmarks.spectral", "--imagenet", "eval_spectral.py"),
        BenchmarkSpec("criticalband", "biasbench.benchmarks.criticalband", "--imagenet", "eval_criticalband.py"),
        BenchmarkSpec("adversarial", "biasbench.benchmarks.adversarial", "--imagenet", "eval_imagenet_adv.py"),
        BenchmarkSpec("imagenet-v2", "biasbench.benchmarks.ood", "--imagenet-v2", "eval_imagenet_ood.py"),
        BenchmarkSpec("imagenet-a", "biasbench.benchmarks.ood", "--imagenet-a", "eval_imagenet_ood.py"),
        BenchmarkSpec("imagenet-r", "biasbench.benchmarks.ood", "--imagenet-r", "eval_imagenet_ood.py"),
        BenchmarkSpec("imagenet-sketch", "biasbench.benchmarks.ood", "--imagenet-sketch", "eval_imagenet_ood.py"),
        BenchmarkSpec("imagenet-c", "biasbench.benchmarks.imagenet_c", "--imagenet-c", "eval_imagenet_c.py"),
        BenchmarkSpec("imagenet-cbar", "biasbench.benchmarks.imagenet_cbar", "--imagenet-cbar",
                      "eval_imagenet_cbar.py"),
        BenchmarkSpec("model-vs-human", "biasbench.benchmarks.model_vs_human", "--mvh-root",
                      "eval_model_vs_human.py"),
    ]
}


def options_of(names: Iterable[str] | None = None) -> list[Option]:
    """The options the benchmarks ``names`` (default: all) declare, each once, in declaration order.
    Two modules may share an option (``--imagenet``) only by declaring the same one."""
    out: dict[str, Option] = {}
    for name in REGISTRY if names is None else names:
        for option in REGISTRY[name].options():
            if out.setdefault(option.dest, option) != option:
                raise ConfigError(f"benchmark {name} declares option {option.dest!r} differently from another "
                                  "benchmark: share the one declaration")
    return list(out.values())
