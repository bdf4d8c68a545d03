"""The *setup* of a result: what, besides the model and the data, decides its value.

A setup is (precision, n_samples, seed, preprocess, prompts). The reference setup, the
paper's protocol, is fp32, every image of the dataset given (no ``--n_samples``
subset), seed 0 and the paper's preprocessing; for a zero-shot image-text model,
the default prompt set too (OpenAI's 80 templates: ``prompts`` None; any other
set is named by its label, docs/models.md "Zero-shot vision-language models"). The seed only counts for
benchmarks that draw random numbers (critical-band noise, attack starts); the
others record ``seed=None`` and any seed is the same setup for them.

This one definition decides both what a run skips as already done and which
row of ``benchmark.csv`` a result lands in (docs/results.md): the model's own
row (``tv_resnet50``) holds only reference-setup results; any other setup goes
to a row named ``<model>@<label>``, e.g. ``tv_resnet50@bf16``,
``tv_resnet50@n_samples=1``, ``tv_resnet50@bf16,seed=1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REFERENCE_PRECISION = "fp32"
REFERENCE_SEED = 0
REFERENCE_PREPROCESS = "paper"

# A row label: '@' then comma-separated parts, each a precision or key=value of a known key.
_PART = r"(?:fp32|tf32|bf16|fp16|n_samples=\d+|seed=-?\d+|preprocess=[A-Za-z0-9_.-]+|prompts=[A-Za-z0-9_.-]+)"
_ROW = re.compile(rf"^(?P<model>.+)@(?P<label>{_PART}(?:,{_PART})*)$")


@dataclass(frozen=True)
class Setup:
    precision: str = REFERENCE_PRECISION
    n_samples: int | None = None  # None: every image of the dataset given
    seed: int | None = REFERENCE_SEED  # None: the benchmark draws no random numbers
    preprocess: str = REFERENCE_PREPROCESS
    prompts: str | None = None  # a zero-shot model's prompt set; None: the default (or not a zero-shot model)

    @classmethod
    def of_record(cls, record) -> Setup:
        """The setup a logged record was measured under (log lines older than a field read its default)."""
        return cls(precision=record.precision, n_samples=getattr(record, "n_samples", None),
                   seed=record.seed, preprocess=getattr(record, "preprocess", REFERENCE_PREPROCESS),
                   prompts=getattr(record, "prompts", None))

    @classmethod
    def of_result(cls, record, seeded: bool) -> Setup:
        """The setup a logged result of a benchmark counts under (``seeded``: the benchmark draws random
        numbers). Log lines written before unseeded benchmarks recorded seed=None carry the run's seed:
        it made no difference, so it is dropped."""
        setup = cls.of_record(record)
        return setup if seeded else cls(setup.precision, setup.n_samples, None, setup.preprocess, setup.prompts)

    @classmethod
    def of_run(cls, opts, seeded: bool) -> Setup:
        """The setup a run with options ``opts`` measures a benchmark under (``seeded``: it draws random numbers)."""
        return cls(precision=opts.precision, n_samples=opts.n_samples, seed=opts.seed if seeded else None,
                   preprocess=getattr(opts, "preprocess", REFERENCE_PREPROCESS), prompts=getattr(opts, "prompts", None))

    def is_reference(self) -> bool:
        return (self.precision == REFERENCE_PRECISION and self.n_samples is None
                and self.seed in (None, REFERENCE_SEED) and self.preprocess == REFERENCE_PREPROCESS
                and self.prompts is None)

    def label(self) -> str:
        """'' for the reference setup, else what differs from it, e.g. 'bf16,n_samples=100'."""
        parts = []
        if self.precision != REFERENCE_PRECISION:
            parts.append(self.precision)
        if self.n_samples is not None:
            parts.append(f"n_samples={self.n_samples}")
        if self.seed not in (None, REFERENCE_SEED):
            parts.append(f"seed={self.seed}")
        if self.preprocess != REFERENCE_PREPROCESS:
            parts.append(f"preprocess={self.preprocess}")
        if self.prompts is not None:
            parts.append(f"prompts={self.prompts}")
        return ",".join(parts)

    def row(self, model: str) -> str:
        """The ``model`` cell of this setup's row in ``benchmark.csv``."""
        label = self.label()
        return f"{model}@{label}" if label else model


def split_row(row: str) -> tuple[str, str]:
    """(model, setup label) of a ``benchmark.csv`` row name; the label is '' for a reference row."""
    m = _ROW.match(str(row))
    return (m.group("model"), m.group("label")) if m else (str(row), "")


def is_reference_row(row: str) -> bool:
    return split_row(row)[1] == ""
