"""The Python API: evaluate a model held in memory (docs/models.md "A model in memory, from Python").

``evaluate(model, name=..., benchmarks=[...], data_root=..., mean=..., std=...)`` is the
``--model`` of the command line for an ``nn.Module``: its keywords make the same
``suite.Request`` the command line's flags make (same declared options, same defaults), the model is wrapped like every zoo model
(``zoo.wrapper.NormalizedModel``) and checked like one (``zoo.loader.check_classifier``),
and it runs through the one runner into the same results store (resume, provenance, setups).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas
from torch import nn

from .errors import ConfigError

TIDY_COLUMNS = ["model", "benchmark", "condition", "column", "value", "setup"]


def _settings(names: Sequence[str], options: dict) -> dict:
    """``options`` (the command line's flags by name, ``_`` or ``-``, as Python values) by the names the
    front door takes; an unknown one is a ConfigError naming it."""
    from .suite import setting_names

    known = setting_names(names)
    out = {}
    for key, value in options.items():
        name = known.get(key.replace("-", "_"))
        if name is None or name in ("models", "results", "data_root", "benchmarks"):
            raise ConfigError(f"biasbench.evaluate: unknown option {key}= (the command line's flags are the "
                              f"options, e.g. batch_size=, n_samples=, device=; see `biasbench run --help`)")
        out[name] = value
    return out


def evaluate(model: nn.Module, *, name: str, benchmarks: Sequence[str], mean: Sequence[float],
             std: Sequence[float], data_root: str | os.PathLike | None = None,
             results: str | os.PathLike = "raw-data/benchmark.csv", tokenizer=None, **options) -> pandas.DataFrame:
    """Evaluate ``model`` (taking inputs normalised with ``mean``/``std``) on ``benchmarks``.

    ``options`` are the command line's flags by their names (``batch_size=16``, ``n_samples=100``,
    ``device="cuda"``, ``check_dataset=False``, a dataset folder such as ``imagenet="/data/val"``).
    Results are appended to the store at ``results`` (conditions it already holds under the same
    setup are not re-run) and returned as a tidy table with columns ``TIDY_COLUMNS``: one row per
    value of this model and setup on these benchmarks ('' is the paper's setup).
    """
    from . import suite
    from .benchmarks import REGISTRY
    from .zoo.loader import check_classifier
    from .zoo.wrapper import NormalizedModel

    if not isinstance(model, nn.Module):
        raise ConfigError(f"biasbench.evaluate: model {name!r} is a {type(model).__name__}, expected a torch.nn.Module")
    if not name or "@" in name or "," in name:
        raise ConfigError(f"biasbench.evaluate: name {name!r}: expected a non-empty model name without '@' or ','")
    if isinstance(benchmarks, str):
        benchmarks = [benchmarks]
    names = suite.select_benchmarks(benchmarks, list(REGISTRY))
    settings = _settings(names, options) | {"results": os.fspath(results), "data_root": data_root}
    request = suite.make_request(name, names, settings, require_data=True)
    opts = request.options
    device = opts.resolved_device()
    try:
        if tokenizer is not None:
            from .zoo.open_clip_models import zero_shot_model

            wrapped = zero_shot_model(model, tokenizer, mean, std, name=name, device=device,
                                      prompts=suite.prompt_set_of(request, [name], zero_shot=[name]),
                                      cache_dir=request.config.cache_dir)
        else:
            if request.prompts or request.classnames:  # a prompt set only applies to a model given with its tokenizer
                suite.prompt_set_of(request, [name], zero_shot=[])
            wrapped = NormalizedModel(model, mean, std, name=name)
    except ValueError as e:
        raise ConfigError(f"biasbench.evaluate: model {name}: {e}") from None
    wrapped = wrapped.to(device).eval()
    check_classifier(wrapped, name, device)  # before any data is read
    info = {"source": f"in-memory {type(model).__name__} (biasbench.evaluate)", "mean": list(mean), "std": list(std)}
    outcome = suite.run(request, [name], lambda _name, _device: wrapped, model_info={name: info},
                        input_config=lambda _name: None)  # a module in memory has no preprocessing config of its own
    return tidy(outcome.store, name, outcome.benchmarks, opts)


def tidy(store, model: str, benchmarks, opts) -> pandas.DataFrame:
    """The latest value of every (benchmark, condition, column) of ``model`` measured under ``opts``'s setup."""
    from .results.keys import cell_key
    from .results.setup import Setup

    wanted = {b.name: Setup.of_run(opts, b.seeded) for b in benchmarks}
    latest: dict[tuple, tuple] = {}
    for r in store.records():  # log order: a later record of the same cell replaces an earlier one
        if r.model != model or r.benchmark not in wanted:
            continue
        # the cell's key under the wanted setup (any dataset: the record's own fingerprint)
        if not cell_key(model, r.benchmark, r.condition, r.fingerprint, wanted[r.benchmark]).matches(r):
            continue
        setup = wanted[r.benchmark]
        for column, value in r.values.items():
            latest[(r.benchmark, r.condition, column)] = (model, r.benchmark, r.condition, column, value,
                                                         setup.label())
    return pandas.DataFrame(list(latest.values()), columns=TIDY_COLUMNS)


def _wide(results) -> pandas.DataFrame:
    """A tidy table (or several, or a ``benchmark.csv`` path) as the wide table the analysis reads, indexed by model."""
    from .analysis.tables import read_results

    if isinstance(results, (str, os.PathLike)):
        return read_results(results)
    if isinstance(results, pandas.DataFrame):
        results = [results]
    tidy_all = pandas.concat(list(results), ignore_index=True)
    missing = [c for c in TIDY_COLUMNS if c not in tidy_all.columns]
    if missing:
        raise ConfigError(f"biasbench.place: expected the table biasbench.evaluate returns (columns "
                          f"{', '.join(TIDY_COLUMNS)}); missing {', '.join(missing)}")
    rows = [m if not s else f"{m}@{s}" for m, s in zip(tidy_all.model, tidy_all.setup.fillna(""))]
    wide = tidy_all.assign(row=rows).pivot_table(index="row", columns="column", values="value", aggfunc="last")
    wide.index.name, wide.columns.name = "model", None
    return wide


def place(results, paper=None, *, cache_dir=None, offline: bool | None = None):
    """Where the models of ``results`` fall among the paper's 48: the analysis's ``--highlight``.

    ``results``: what ``evaluate`` returned (one table or a list of them), or a ``benchmark.csv``
    path. ``paper``: the paper's published table, a CSV path or the folder holding
    ``benchmark.csv``; None reads the copy shipped in ``raw-data/paper/``, as
    ``code/analyze.py --paper-results`` does (docs/analysis.md). Returns the ``Analysis``: ``.ranks`` (each model's rank per aggregate and bias,
    1 = highest, among the paper's models) and ``.correlations`` (bias vs. aggregate over the
    paper's models), computed on the merged table where our values win.
    """
    from pathlib import Path

    from .analysis import analyze, load_paper_table, merge_tables
    from .analysis.paper_table import SHIPPED_PAPER_TABLE

    ours = _wide(results)
    if paper is not None and Path(paper).is_dir():
        paper = Path(paper) / "benchmark.csv"
    paper_df = load_paper_table(SHIPPED_PAPER_TABLE if paper is None else paper, cache_dir=cache_dir, offline=offline)
    table, provenance = merge_tables(ours, paper_df)
    return analyze(table, provenance, highlights=list(ours.index))
