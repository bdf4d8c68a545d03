"""Synthetic stand-ins for every dataset the suite reads, for the demo and the tests.

``datasets`` writes them in the real on-disk layouts (``write_datasets``, ``write_preset``,
``python -m biasbench.synthetic --out DATA --preset demo``); ``images`` draws the class-dependent
pictures; ``corruptions`` degrades them like ImageNet-C and -C-bar. Only the demo, the tests and
``bench/`` import this package: the suite's readers (``biasbench.data``) never do. See
docs/datasets.md, "Synthetic datasets (tests and demo)".
"""

from .datasets import (
                       ALL,
                       DEMO_CLASSES,
                       MANIFEST,
                       MVH_CATEGORIES,
                       MVH_REPRESENTATIVES,
                       PRESETS,
                       TEST_CLASSES,
                       main,
                       real_label_list,
                       val_file_number,
                       write_datasets,
                       write_preset,
)

__all__ = ["ALL", "DEMO_CLASSES", "MANIFEST", "MVH_CATEGORIES", "MVH_REPRESENTATIVES", "PRESETS", "TEST_CLASSES",
           "main", "real_label_list", "val_file_number", "write_datasets", "write_preset"]
