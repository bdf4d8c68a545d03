"""The four generalization aggregates, the six bias scores of the paper and the follow-up's
low-frequency bias (docs/analysis.md).

Every metric is the plain mean of its result columns, taken as they are in the
table (no sign flips): aggregates in percent, shape bias and LPP/HPP as
fractions, bw in octaves, cf in cycles/image, pns as a factor. A metric is
computed only when all its columns hold a value for that model; otherwise it
is left empty (NaN) and reported, never averaged over what happens to exist.

The column names are those the benchmarks declare (``biasbench.benchmarks``; a test checks every
one is declared). LPP and HPP are the plain means of the ratios ``benchmarks.spectral`` averages
into its own LPP/HPP columns, read by name, because the paper's table has only the ratios.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..attacks.eps import LOW_EPS, eps_column
from ..benchmarks.criticalband import summary_column
from ..benchmarks.freq_cue_conflict import BIAS as FREQUENCY_BIAS
from ..benchmarks.imagenet import REAL_TOP1, TOP1
from ..benchmarks.spectral import preference_inputs
from ..transforms.spectral import PREFERENCE_CUTOFFS
from ..zoo.families import ZERO_SHOT, is_zero_shot
from ..zoo.paper_models import MODEL_CATEGORY

SPECTRAL_CUTOFFS = PREFERENCE_CUTOFFS  # the cut-offs LPP/HPP average

AGGREGATES: dict[str, tuple[str, ...]] = {
    "ID": (TOP1, "top1_acc/imagenet-v2", REAL_TOP1),
    "Robustness": ("top1_acc/imagenet-a", "top1_acc/imagenet-c", "top1_acc/imagenet-cbar"),
    "Concepts": ("top1_acc/imagenet-sketch", "top1_acc/imagenet-r", "top1_acc/stylized"),
    "Adversarial": (eps_column(LOW_EPS),),
}

PAPER_BIASES: dict[str, tuple[str, ...]] = {
    "shape-bias": ("shape-bias",),
    "LPP": preference_inputs("LPP"),
    "HPP": preference_inputs("HPP"),
    **{key: (summary_column(key),) for key in ("bw_norm", "cf_norm", "pns_norm")},
}
# The follow-up's cue-conflict version of spectral bias (Gavrikov et al., ICLR 2025; docs/benchmarks.md
# "Frequency cue-conflict"). The paper's table has no such column: a model without it drops out of this
# bias's correlations only, and the prediction test keeps to the paper's six (analysis/prediction.py).
BIASES: dict[str, tuple[str, ...]] = {**PAPER_BIASES, FREQUENCY_BIAS: (FREQUENCY_BIAS,)}
#: Metrics a table may lack altogether (not in the paper's table): then they are empty, not "missing" per model.
OPTIONAL: tuple[str, ...] = (FREQUENCY_BIAS,)

METRICS: dict[str, tuple[str, ...]] = {**AGGREGATES, **BIASES}

UNITS: dict[str, str] = {
    **{a: "% top-1" for a in AGGREGATES},
    "shape-bias": "fraction of shape decisions",
    "LPP": "accuracy ratio", "HPP": "accuracy ratio",
    "bw_norm": "octaves", "cf_norm": "cycles/image", "pns_norm": "factor",
    FREQUENCY_BIAS: "fraction of low-frequency decisions",
}

OTHER_CATEGORY = "other"


@dataclass
class Metrics:
    """Per-model aggregates and biases (``values``, columns = METRICS names) and
    what could not be computed: ``missing`` maps model -> metric -> missing columns (an OPTIONAL
    metric whose columns the table lacks altogether is empty for every model, and not listed)."""

    values: pd.DataFrame
    missing: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def missing_for(self, models) -> dict[str, dict[str, list[str]]]:
        return {m: self.missing[m] for m in models if m in self.missing}


def category_of(model: str) -> str:
    """The paper category of one of the 48 models, ``zero_shot_vlm`` for a zero-shot image-text model (any of its
    prompt sets' rows), else ``other``."""
    if is_zero_shot(model):
        return ZERO_SHOT
    return MODEL_CATEGORY.get(model, OTHER_CATEGORY)


def compute_metrics(table: pd.DataFrame, models=None) -> Metrics:
    """Aggregates and biases for ``models`` (default: every row) of a checked table indexed by model."""
    models = list(table.index if models is None else models)
    sub = table.reindex(models)
    values = pd.DataFrame(index=pd.Index(models, name="model"))
    missing: dict[str, dict[str, list[str]]] = {}
    for name, cols in METRICS.items():
        block = sub.reindex(columns=list(cols)).astype(float)
        values[name] = block.mean(axis=1, skipna=False)
        if name in OPTIONAL and not set(cols) & set(table.columns):
            continue
        for model, row in block.isna().iterrows():
            if row.any():
                missing.setdefault(model, {})[name] = [c for c in cols if row[c]]
    values.insert(0, "category", [category_of(m) for m in models])
    return Metrics(values=values, missing=missing)
