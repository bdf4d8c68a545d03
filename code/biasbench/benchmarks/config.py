"""What benchmarks are built from: one typed, frozen ``Config``, made once per run by the front
door (``biasbench.suite``) from the command line's flags or ``biasbench.evaluate``'s keywords.

Its fields are the few every benchmark reads (``CORE``) plus every option the benchmark modules
declare (``OPTIONS`` of each module in ``REGISTRY``): a declared option is a field, with its
declared default and type, and nothing else needs to know it (docs/architecture.md "Options are
declared once"). ``Config()`` is the paper's protocol with no data given: every corruption and
severity, PGD-40 at 0.5/255, the paper's two model-vs-human datasets. The column declarations
(``declared_columns``) read only the selections, so ``Config()`` lists the full benchmarks.
``Datasets`` reads a dataset shared by several benchmarks (ImageNet val) once per build.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .registry import options_of

# (field, type, default) of what every benchmark reads; the run's seed and subset size are set
# from its RunOptions by the front door (one value each: biasbench.suite.Request).
CORE = [
    ("data_root", Path | None, None),  # --data-root: declared data folders are found under it
    ("check_dataset", bool, True),  # check class and image counts
    ("n_samples", int | None, None),  # a class-balanced subset of N images
    ("seed", int, 0),
    ("cache_dir", str | None, None),  # downloads (model-vs-human datasets)
    ("offline", bool, False),
    ("progress", bool, True),
    # Benchmarks named explicitly (a script's own, or --benchmarks): for them missing data is an
    # error; a suite run over "whatever has data" skips them instead.
    ("asked", frozenset, frozenset()),
]

OPTIONS = {o.dest: o for o in options_of()}


def _from_values(cls, values: Mapping[str, Any], asked: Iterable[str] = ()) -> Config:
    """The config of ``values`` (parsed flags by destination, or Python keywords; None or absent:
    not given), each declared option parsed by its own declaration (a bad value is a ConfigError
    naming its flag); a data folder not given is its declared folder under ``data_root`` when that
    exists."""
    given: dict[str, Any] = {k: values[k] for k, _, _ in CORE if values.get(k) is not None and k != "asked"}
    root = values.get("data_root")
    if root is not None:
        root = given["data_root"] = Path(root).expanduser()  # checked to be a folder when benchmarks are built
    for dest, option in OPTIONS.items():
        raw = option.from_flags(values)
        if raw is not None:
            given[dest] = option.value(raw)
        elif option.folder and root is not None and (root / option.folder).exists():
            given[dest] = root / option.folder
    return cls(**given, asked=frozenset(asked))


Config = dataclasses.make_dataclass(
    "Config",
    [(name, kind, dataclasses.field(default=default)) for name, kind, default in CORE]
    + [(o.dest, o.type, dataclasses.field(default=o.default)) for o in OPTIONS.values()],
    frozen=True,
    namespace={"from_values": classmethod(_from_values), "__doc__": __doc__, "__module__": __name__},
)


class Datasets:
    """Datasets several benchmarks of one build read, each read (and checked) once."""

    def __init__(self, config: Config):
        self.config = config
        self._val = None

    def imagenet_val(self):
        if self._val is None:
            from ..data.imagenet import imagenet_val

            c = self.config
            self._val = imagenet_val(c.imagenet, check=c.check_dataset, n_samples=c.n_samples)
        return self._val
