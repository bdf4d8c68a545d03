"""What benchmarks are built from: one typed, frozen ``Config`` (data folders, selections,
options), made once from the parsed flags by ``biasbench.cli`` (or by hand, from Python).

``Config()`` is the paper's protocol with no data given: every corruption and severity,
PGD-40 at 0.5/255, the paper's two model-vs-human datasets. The column declarations
(``declared_columns``) read only the selections, so ``Config()`` lists the full benchmarks.
``Datasets`` reads a dataset shared by several benchmarks (ImageNet val) once per build.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from ..attacks import LOW_EPS, parse_eps
from ..data import corruptions as cdata
from ..data.model_vs_human import PAPER_DATASETS

ATTACKS = ("PGD", "FGSM", "AutoAttack")


@dataclass(frozen=True)
class Config:
    # Dataset folders (None: not given). --data-root has already filled in the ones found there.
    imagenet: Path | None = None
    real_labels: Path | None = None
    imagenet_c: Path | None = None
    imagenet_cbar: Path | None = None
    imagenet_a: Path | None = None
    imagenet_r: Path | None = None
    imagenet_sketch: Path | None = None
    imagenet_v2: Path | None = None
    mvh_root: Path | None = None
    freq_cue_conflict: Path | None = None
    data_root: Path | None = None
    # How datasets are read.
    check_dataset: bool = True
    n_samples: int | None = None
    # Selections.
    corruptions: tuple[str, ...] = cdata.IMAGENET_C
    severities: tuple[int, ...] = cdata.SEVERITIES
    cbar_corruptions: tuple[str, ...] = cdata.IMAGENET_CBAR
    cbar_severities: tuple[int, ...] = cdata.SEVERITIES
    mvh_datasets: tuple[str, ...] = PAPER_DATASETS
    attacks: tuple[str, ...] = ("PGD",)  # some of ATTACKS
    eps: tuple[float, ...] = (LOW_EPS,)
    steps: int = 40
    step_size: float = 2 / 255
    seed: int = 0
    # Options.
    responses_dir: Path | None = None
    cache_dir: str | None = None
    offline: bool = False
    progress: bool = True
    # Benchmarks named explicitly (a script's own, or --benchmarks): for them missing data is an
    # error; a suite run over "whatever has data" skips them instead.
    asked: frozenset[str] = frozenset()

    @classmethod
    def from_flags(cls, flags: dict, asked=()) -> Config:
        """From parsed flag values by destination name (``vars(args)``; a script without a
        flag has no entry and gets the default), checked and converted: a bad value is a
        ConfigError naming its flag."""
        known = {f.name for f in fields(cls)}
        given = {k: v for k, v in flags.items() if k in known and v is not None}
        for key in ("imagenet", "real_labels", "imagenet_c", "imagenet_cbar", "imagenet_a", "imagenet_r",
                    "imagenet_sketch", "imagenet_v2", "mvh_root", "freq_cue_conflict", "data_root", "responses_dir"):
            if key in given:
                given[key] = Path(given[key]).expanduser()
        for key, valid, flag in (("corruptions", cdata.IMAGENET_C, "--corruptions"),
                                 ("cbar_corruptions", cdata.IMAGENET_CBAR, "--cbar-corruptions")):
            if key in given:
                given[key] = tuple(cdata.select(given[key], valid, flag))
        for key, flag in (("severities", "--severities"), ("cbar_severities", "--cbar-severities")):
            if key in given:
                given[key] = tuple(cdata.select_severities(given[key], flag))
        if "mvh_datasets" in given:
            from .model_vs_human import parse_datasets

            given["mvh_datasets"] = tuple(parse_datasets(given["mvh_datasets"]))
        if "eps" in given:
            given["eps"] = tuple(parse_eps(given["eps"]))
        if "step_size" in given:
            given["step_size"] = parse_eps(given["step_size"], "--step_size")[0]
        if {"pgd", "fgsm", "aa"} & set(flags):
            chosen = [a for a, flag in zip(ATTACKS, ("pgd", "fgsm", "aa")) if flags.get(flag)]
            given["attacks"] = tuple(chosen) or ("PGD",)  # PGD when no attack is named
        return cls(**given, asked=frozenset(asked))


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
