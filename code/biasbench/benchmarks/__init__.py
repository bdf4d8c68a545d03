"""The benchmarks of the suite, by name (``REGISTRY``), and the typed ``Config`` they are built from.

Each entry names the module that defines it and the flag that points at its data. Every module
declares its options (``OPTIONS``), ``build(name, config, datasets)`` (the benchmark from a typed
``Config``, None when its data was not given) and ``declared_columns(name, config)`` (the columns
it writes, without reading any data): the ``BenchmarkModule`` protocol. Adding a benchmark is one
module plus one line in ``REGISTRY`` (docs/architecture.md "Adding a benchmark"); the runner never
changes. ``biasbench benchmarks`` lists them with their columns.
"""

from __future__ import annotations

from .config import Config, Datasets
from .registry import REGISTRY, BenchmarkModule, BenchmarkSpec, options_of

__all__ = ["REGISTRY", "BenchmarkModule", "BenchmarkSpec", "Config", "Datasets", "options_of"]
