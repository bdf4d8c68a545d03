"""The benchmarks of the suite, by name.

Each entry names the module that defines it and the function that builds it
from parsed flags (returning None when its data was not given). Adding a
benchmark is one module plus one line here; the runner never changes.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    module: str
    build: str
    data_flag: str  # the flag that points at its data, for messages

    def load(self):
        return importlib.import_module(self.module)

    def build_from(self, args):
        return getattr(self.load(), self.build)(args)


REGISTRY: dict[str, BenchmarkSpec] = {
    spec.name: spec
    for spec in [
        BenchmarkSpec("imagenet", "biasbench.benchmarks.imagenet", "build_clean", "--imagenet"),
        BenchmarkSpec("imagenet-real", "biasbench.benchmarks.imagenet", "build_real", "--imagenet"),
        BenchmarkSpec("spectral", "biasbench.benchmarks.spectral", "build", "--imagenet"),
        BenchmarkSpec("criticalband", "biasbench.benchmarks.criticalband", "build", "--imagenet"),
        BenchmarkSpec("adversarial", "biasbench.benchmarks.adversarial", "build", "--imagenet"),
        BenchmarkSpec("imagenet-v2", "biasbench.benchmarks.ood", "build_v2", "--imagenet-v2"),
        BenchmarkSpec("imagenet-a", "biasbench.benchmarks.ood", "build_a", "--imagenet-a"),
        BenchmarkSpec("imagenet-r", "biasbench.benchmarks.ood", "build_r", "--imagenet-r"),
        BenchmarkSpec("imagenet-sketch", "biasbench.benchmarks.ood", "build_sketch", "--imagenet-sketch"),
        BenchmarkSpec("imagenet-c", "biasbench.benchmarks.imagenet_c", "build_c", "--imagenet-c"),
        BenchmarkSpec("imagenet-cbar", "biasbench.benchmarks.imagenet_cbar", "build_cbar", "--imagenet-cbar"),
        BenchmarkSpec("model-vs-human", "biasbench.benchmarks.model_vs_human", "build", "--mvh-root"),
    ]
}
