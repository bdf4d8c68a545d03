"""The benchmarks of the suite, by name.

Each entry names the module that defines it and the flag that points at its data. Every
module has ``build(name, config, datasets)`` (the benchmark from a typed ``Config``, None
when its data was not given) and ``declared_columns(name, config)`` (the columns it writes,
without reading any data). Adding a benchmark is one module plus one line here; the runner
never changes. ``python -m biasbench.benchmarks`` lists them with their columns.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .config import Config, Datasets


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    module: str
    data_flag: str  # the flag that points at its data, for messages
    script: str  # the code/ script that runs it alone

    def load(self):
        return importlib.import_module(self.module)

    def build(self, config: Config, datasets: Datasets | None = None):
        """The benchmark, its datasets read and checked; None when its data is not given."""
        return self.load().build(self.name, config, datasets or Datasets(config))

    def columns(self, config: Config | None = None):
        """The ``Column``s it writes under ``config`` (default: the full benchmark), without any data."""
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
        BenchmarkSpec("freq-cue-conflict", "biasbench.benchmarks.freq_cue_conflict", "--freq-cue-conflict",
                      "eval_freq_cue_conflict.py"),
    ]
}
