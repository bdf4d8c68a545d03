"""Shape bias and the model-vs-human 16-class datasets (docs/benchmarks.md "Shape bias and model-vs-human").

One condition per dataset. Each image gets a 16-class decision (the category with the
highest mean softmax probability over its ImageNet classes); the accumulator records the
decision of every image, and accuracy, shape bias and the response tables all come from
those decisions and the categories in the file paths (never from ImageNet labels).

Columns (accuracies in percent, shape bias as a fraction, as in the paper's table):
``top1_acc/<dataset>`` (16-class accuracy over all its images), ``top5_acc/{sketch,stylized}``,
``shape-bias`` and ``shape-bias/<category>`` (per shape category) from cue-conflict,
``top1_acc/<dataset>/<condition>`` per condition of the 12 parametric sets and
``top1_acc/<dataset>/ood`` over the conditions the toolbox's OOD accuracy keeps, and, when
all 17 datasets are evaluated, ``top1_acc/ood_mean``: the toolbox's 'OOD accuracy', the plain
mean over the 17 sets of their accuracy on the kept conditions.

``--responses-dir DIR`` writes the toolbox's response tables
(``DIR/<dataset>/<dataset>_<model>_session-1.csv``) from the recorded decisions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..data.imagelist import ImageList
from ..data.model_vs_human import (
    DATASETS,
    OOD_DATASETS,
    PAPER_DATASETS,
    cache_root,
    condition_label,
    dataset_url,
    image_infos,
    is_present,
    read_dataset,
)
from ..errors import ConfigError, DatasetError, did_you_mean
from ..flags import Option, comma_list, path
from ..metrics.shape_bias import accuracy16, responses_filename, responses_frame, shape_bias, write_responses
from ..metrics.sixteen_class import CATEGORIES, category_probabilities, zero_shot_decisions
from ..prepare.model_vs_human import ensure_dataset, offline_message
from ..results.keys import cell_key
from ..results.setup import Setup
from .base import Benchmark, Column, Condition, family

log = logging.getLogger("biasbench")

NAME = "model-vs-human"
ZEROSHOT16 = "zeroshot16"  # the column suffix of a zero-shot model's own 16-way decision


class SixteenClassDecisions:
    """Accumulator: the 16-class decision of every image (-1 where unread) and whether its
    category is among the top five. ``labels`` must be category indices into CATEGORIES.
    A zero-shot model also gives its ``sixteen`` head (the runner's ``heads``): its own 16-way
    decision is recorded beside the mapped one (``zeroshot16``)."""

    heads = ("sixteen",)

    def __init__(self, n_images: int):
        self.zeroshot16 = np.full(n_images, -1, dtype=np.int64)
        self.decision = np.full(n_images, -1, dtype=np.int64)
        self.hit5 = np.zeros(n_images, dtype=bool)
        self.truth = np.full(n_images, -1, dtype=np.int64)

    def update(self, logits: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor, valid: torch.Tensor) -> None:
        ok = valid.cpu().numpy().astype(bool)
        labels_np = labels.cpu().numpy()
        if ((labels_np < 0) | (labels_np >= len(CATEGORIES))).any():
            raise ValueError("SixteenClassDecisions needs category indices (0..15) as labels, not ImageNet classes")
        top = category_probabilities(logits).topk(5, dim=1).indices.cpu().numpy()
        idx = indices.cpu().numpy()[ok]
        self.decision[idx] = top[ok, 0]
        self.truth[idx] = labels_np[ok]
        self.hit5[idx] = (top[ok] == labels_np[ok, None]).any(axis=1)

    def update_head(self, name: str, logits: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor,
                    valid: torch.Tensor) -> None:
        if name != "sixteen":
            raise ValueError(f"SixteenClassDecisions has no head {name!r}")
        ok = valid.cpu().numpy().astype(bool)
        self.zeroshot16[indices.cpu().numpy()[ok]] = zero_shot_decisions(logits).cpu().numpy()[ok]

    def result(self) -> dict:
        seen = self.decision >= 0
        n = int(seen.sum())
        top1 = 100.0 * float((self.decision[seen] == self.truth[seen]).mean()) if n else None
        top5 = 100.0 * float(self.hit5[seen].mean()) if n else None
        out = {"n": n, "top1": top1, "top5": top5, "decisions": self.decision.tolist()}
        if (self.zeroshot16 >= 0).any():
            out["decisions_zeroshot16"] = self.zeroshot16.tolist()
        return out

    def per_image(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        """(index, 16-class decision, category, "16-class") of every read image."""
        index = np.flatnonzero(self.decision >= 0)
        return index, self.decision[index], self.truth[index], "16-class"


def ood_column(dataset: str) -> str:
    """The column that enters ``top1_acc/ood_mean`` for ``dataset``."""
    return f"top1_acc/{dataset}/ood" if DATASETS[dataset].parametric else f"top1_acc/{dataset}"


class ModelVsHuman(Benchmark):
    name = NAME

    def __init__(self, datasets: dict[str, ImageList], responses_dir: str | Path | None = None):
        unknown = sorted(set(datasets) - set(DATASETS))
        if unknown:
            raise ConfigError(f"unknown model-vs-human dataset(s) {unknown}; expected some of {', '.join(DATASETS)}")
        self.datasets = dict(datasets)
        self.responses_dir = Path(responses_dir) if responses_dir else None
        self._infos = {name: image_infos(images) for name, images in self.datasets.items()}

    def conditions(self) -> list[Condition]:
        return [Condition(name, images, metric=partial(SixteenClassDecisions, len(images)),
                          provenance={"dataset": name})
                for name, images in self.datasets.items()]

    def responses(self, dataset: str, decisions: Sequence[int], subj: str) -> pd.DataFrame:
        """The toolbox's response table of one run: one row per decided image, in dataset order."""
        infos = self._infos[dataset]
        rows = [(CATEGORIES[d], info) for d, info in zip(decisions, infos) if d >= 0]
        if not rows:
            raise DatasetError(f"model-vs-human {dataset}: no image could be read, so there are no decisions")
        df = responses_frame([r for r, _ in rows], [i.category for _, i in rows], [i.imagename for _, i in rows],
                             subj=subj, session=rows[0][1].session)
        df["condition"] = [i.condition for _, i in rows]
        df["session"] = [i.session for _, i in rows]
        return df

    def columns(self, condition: Condition, result: dict) -> dict[str, float]:
        name = condition.name
        ds = DATASETS[name]
        if not result["n"]:
            return {}
        df = self.responses(name, result["decisions"], subj="model")
        out = {f"top1_acc/{name}": 100.0 * accuracy16(df)}
        if ds.top5:
            out[f"top5_acc/{name}"] = result["top5"]
        if ds.parametric:
            labels = df["condition"].map(partial(condition_label, ds))
            correct = df["object_response"] == df["category"]
            for label, hits in correct.groupby(labels, sort=False):
                out[f"top1_acc/{name}/{label}"] = 100.0 * float(hits.mean())
            kept = labels.isin(ds.ood_conditions)
            if kept.any():
                out[f"top1_acc/{name}/ood"] = 100.0 * float(correct[kept].mean())
        if name == "cue-conflict":
            sb = shape_bias(df)
            if sb.shape_hits + sb.texture_hits:
                out["shape-bias"] = sb.shape_bias
            out |= {f"shape-bias/{c}": v for c, v in sb.per_category.items() if np.isfinite(v)}
        if result.get("decisions_zeroshot16") is not None:  # a zero-shot model's own 16-way decision
            zs = self.responses(name, result["decisions_zeroshot16"], subj="model")
            out[f"top1_acc/{name}/{ZEROSHOT16}"] = 100.0 * accuracy16(zs)
            if name == "cue-conflict":
                sb = shape_bias(zs)
                if sb.shape_hits + sb.texture_hits:
                    out[f"shape-bias/{ZEROSHOT16}"] = sb.shape_bias
        return out

    def summarize(self, values: dict[str, dict[str, float]]) -> dict[str, float]:
        if not set(OOD_DATASETS) <= set(values):
            return {}
        accs = [values[d].get(ood_column(d)) for d in OOD_DATASETS]
        if any(a is None for a in accs):
            return {}
        return {"top1_acc/ood_mean": float(np.mean(accs))}

    @staticmethod
    def declare(datasets: Sequence[str] = PAPER_DATASETS) -> list[Column]:
        out = []
        for name in datasets:
            ds = DATASETS[name]
            out.append(Column(f"top1_acc/{name}", "16-class accuracy (%) over all its images", "top1_acc/<dataset>"))
            if ds.top5:
                out.append(Column(f"top5_acc/{name}", "16-class top-5 accuracy (%)", "top5_acc/<dataset>"))
            if ds.parametric:
                out += family("top1_acc/<dataset>/<condition>", "16-class accuracy (%) on one condition of a "
                              "parametric set", [f"top1_acc/{name}/{c}" for c in ds.conditions])
                out.append(Column(f"top1_acc/{name}/ood", "16-class accuracy (%) over the conditions the toolbox's "
                                  "OOD accuracy keeps", "top1_acc/<dataset>/ood"))
            out.append(Column(f"top1_acc/{name}/{ZEROSHOT16}", "zero-shot models only: 16-class accuracy (%) of "
                              "the model's own 16-way decision (the 16 category names as its zero-shot classes)",
                              f"top1_acc/<dataset>/{ZEROSHOT16}"))
            if name == "cue-conflict":
                out.append(Column("shape-bias", "S/(S+T): shape decisions among shape or texture decisions on the "
                                  "cue-conflict images whose shape and texture differ (a fraction)"))
                out.append(Column(f"shape-bias/{ZEROSHOT16}", "zero-shot models only: shape bias of the model's own "
                                  "16-way decision (not the mapped 1000-class one, which 'shape-bias' is)"))
                out += family("shape-bias/<category>", "shape bias within one shape category",
                              [f"shape-bias/{c}" for c in CATEGORIES])
        if set(OOD_DATASETS) <= set(datasets):
            out.append(Column("top1_acc/ood_mean", "the toolbox's OOD accuracy: mean over the 17 sets", summary=True))
        return out

    def after_run(self, store, models: Sequence[str], opts, images_of=None) -> None:
        """With a responses folder: write each model's response tables from its newest decisions
        measured under this run's setup (docs/results.md) on the images the run fed it; other setups
        never stand in for it."""
        if self.responses_dir is None:
            return
        from ..runner import Fingerprints, model_images

        setup = Setup.of_run(opts, self.seeded)
        images_of = images_of or model_images(models, opts)
        fingerprint = Fingerprints()  # once per distinct list: a fingerprint stats every file
        conds = self.conditions()
        keys = {(m, cond.name): cell_key(m, self.name, cond.name, fingerprint(images_of(cond.images, m)), setup)
                for cond in conds for m in models}
        newest = store.newest(keys.values())
        written = 0
        for cond in conds:
            for m in models:
                record = newest.get(keys[m, cond.name])
                decisions = record.extra.get("result", {}).get("decisions") if record is not None else None
                if decisions is None:
                    log.warning("model-vs-human: no decisions of %s on %s in the results log; no response table "
                                "written", m, cond.name)
                    continue
                df = self.responses(cond.name, decisions, subj=m)
                folder = self.responses_dir / cond.name
                folder.mkdir(parents=True, exist_ok=True)
                for session, rows in df.groupby("session", sort=True):
                    rows = rows.assign(trial=range(1, len(rows) + 1))
                    write_responses(rows, folder / responses_filename(cond.name, _file_safe(m), int(session)))
                    written += 1
        log.info("model-vs-human: %d response table(s) in %s", written, self.responses_dir)


def _file_safe(model: str) -> str:
    """A model name usable in a file name (``file:///x/y.pth`` -> ``file-x-y.pth``)."""
    return re.sub(r"[^A-Za-z0-9._+=-]+", "-", model).strip("-") or "model"


# ---------------------------------------------------------------------------- flags

def parse_datasets(text: str) -> list[str]:
    """``all``, ``paper`` (cue-conflict, stylized) or a comma-separated list of dataset names."""
    if not isinstance(text, str):  # a list from Python
        text = ",".join(text)
    text = text.strip()
    if text == "all":
        return list(OOD_DATASETS)
    if text in ("", "paper", "default"):
        return list(PAPER_DATASETS)
    chosen = []
    for item in comma_list(text):
        if item not in DATASETS:
            raise ConfigError(f"--mvh-datasets: unknown dataset {item!r}{did_you_mean(item, DATASETS)}; "
                              "expected 'all', 'paper' or some of "
                              f"{', '.join(DATASETS)}")
        if item not in chosen:
            chosen.append(item)
    if not chosen:
        raise ConfigError("--mvh-datasets is empty; expected 'all', 'paper' or dataset names")
    return chosen


OPTIONS = [
    Option("mvh_root", ("--mvh-root", "--mvh_root"), "folder holding the model-vs-human datasets as <name>/ "
           "(default: downloaded on first use from the toolbox's GitHub release v0.1 into <cache-dir>/model-vs-human)",
           metavar="DIR", folder="model-vs-human", parse=path, type=Path | None),
    Option("mvh_datasets", ("--mvh-datasets", "--mvh_datasets"), "model-vs-human datasets: 'paper' (cue-conflict "
           "and stylized, the paper's), 'all' (the 17 of the toolbox's OOD accuracy), or a comma-separated list of: "
           f"{', '.join(DATASETS)}", default=PAPER_DATASETS, shown="paper", type=tuple[str, ...],
           parse=lambda v: tuple(parse_datasets(v)), columns=True),
    Option("responses_dir", ("--responses-dir", "--responses_dir"), "also write model-vs-human response tables "
           "(subj,session,trial,rt,object_response,category,condition,imagename) to DIR/<dataset>/", metavar="DIR",
           parse=path, type=Path | None),
]


def _root(config) -> Path | None:
    if config.mvh_root:
        return config.mvh_root
    if config.data_root and (config.data_root / "modelvshuman").is_dir():  # the toolbox's own folder name
        return config.data_root / "modelvshuman"
    return None


def build(name, config, datasets):
    """The benchmark from the config: datasets from --mvh-root, else from the cache (downloaded
    on first use). None (skipped) when offline without the data in a run over whatever has data."""
    from ..paths import offline as offline_env

    names = list(config.mvh_datasets)
    offline = config.offline or offline_env()
    root = _root(config)
    if root is not None:
        for n in names:
            if not is_present(root / n):
                raise DatasetError(f"--mvh-root {root} has no {n}/; download {dataset_url(n)} and extract it "
                                   "there, or leave out --mvh-root to have it downloaded into the cache")
        folders = {n: root / n for n in names}
    else:
        cache = cache_root(config.cache_dir)
        missing = [n for n in names if not is_present(cache / n)]
        if missing and offline:
            if NAME not in config.asked:
                log.warning("skipping %s: %s", NAME, offline_message(missing, cache))
                return None
            raise DatasetError(offline_message(missing, cache))
        folders = {n: ensure_dataset(n, cache, offline=offline, progress=config.progress) for n in names}
    read = {n: read_dataset(folders[n], n, check=config.check_dataset, n_samples=config.n_samples) for n in names}
    return ModelVsHuman(read, responses_dir=config.responses_dir)


def declared_columns(name, config):
    return ModelVsHuman.declare(config.mvh_datasets)
