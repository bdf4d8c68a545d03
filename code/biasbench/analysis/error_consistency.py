"""Error consistency (Geirhos, Meding & Wichmann, NeurIPS 2020, "Beyond accuracy: quantifying
trial-by-trial behaviour of CNNs and humans by measuring error consistency").

Two observers decide the same trials; each trial is correct or not. With p1, p2 their
accuracies,

    c_obs = share of trials both got right or both got wrong
    c_exp = p1 p2 + (1 - p1)(1 - p2)         (what independent observers would share)
    kappa = (c_obs - c_exp) / (1 - c_exp)    (Cohen's kappa; 1 where c_obs = 1, as in the toolbox)

Between models it is computed from the per-image decisions stored beside the log
(``results.decisions``), on the images both models decided, for every pair of models on
every benchmark condition. Against humans it is computed from model-vs-human response
tables (the toolbox's ``raw-data/<dataset>/<dataset>_subject-NN_session_1.csv`` and a
model's table written with ``--responses-dir``), trials matched by stimulus (the last
``_`` field of the image name, so the toolbox's per-subject trial prefixes do not matter),
per subject and condition; a human's ``na`` answer counts as an error, as in the toolbox.
The human tables are downloaded on first use (``prepare/human_responses.py``).
docs/results.md "Error consistency".

    python -m biasbench.analysis.error_consistency --results raw-data/benchmark.csv --out ec.csv
    python -m biasbench.analysis.error_consistency --model-responses DIR [--humans RAW-DATA] --out ec-humans.csv
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ResultsError, UserError, exit_status
from ..metrics.shape_bias import read_responses
from ..results.setup import Setup


@dataclass(frozen=True)
class Consistency:
    n: int
    c_obs: float
    c_exp: float
    kappa: float


def error_consistency(correct_a, correct_b) -> Consistency:
    """Observed and expected consistency and Cohen's kappa of two boolean vectors over the same trials."""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ResultsError(f"error consistency needs two equally long, non-empty 1-d trial vectors; got "
                           f"shapes {a.shape} and {b.shape}")
    p1, p2 = a.mean(), b.mean()
    c_obs = float((a == b).mean())
    c_exp = float(p1 * p2 + (1 - p1) * (1 - p2))
    kappa = 1.0 if c_obs == 1.0 else (c_obs - c_exp) / (1 - c_exp)
    return Consistency(len(a), c_obs, c_exp, float(kappa))


def between_models(latest: dict) -> pd.DataFrame:
    """Every pair of models on every condition, from ``results.decisions.latest(store)``: columns
    benchmark, condition, model_a, model_b, n, c_obs, c_exp, kappa (images both decided)."""
    cells = defaultdict(dict)
    for (model, benchmark, condition, fingerprint), d in latest.items():
        cells[(benchmark, condition, fingerprint)][model] = d
    rows = []
    for (benchmark, condition, _), by_model in sorted(cells.items()):
        for ma, mb in itertools.combinations(sorted(by_model), 2):
            da, db = by_model[ma], by_model[mb]
            _, ia, ib = np.intersect1d(da.index, db.index, assume_unique=True, return_indices=True)
            if len(ia):
                ec = error_consistency(da.correct[ia], db.correct[ib])
                rows.append({"benchmark": benchmark, "condition": condition, "model_a": ma, "model_b": mb,
                             **asdict(ec)})
    return pd.DataFrame(rows, columns=["benchmark", "condition", "model_a", "model_b", "n", "c_obs", "c_exp",
                                       "kappa"])


def stimulus(imagename: str) -> str:
    """The stimulus of a trial: '0001_s5n_s01_0_bird_00_bird3-bird2.png' -> 'bird3-bird2.png'."""
    return str(imagename).split("_")[-1]


def _correct_by_stimulus(table: pd.DataFrame, where: str) -> pd.Series:
    key = table["imagename"].map(stimulus)
    if key.duplicated().any():
        raise ResultsError(f"{where}: stimulus {key[key.duplicated()].iloc[0]!r} occurs twice; expected one "
                           "trial per image")
    return pd.Series((table["object_response"] == table["category"]).to_numpy(), index=key.to_numpy())


def versus_humans(model: pd.DataFrame, humans: dict[str, pd.DataFrame], *, name: str = "model") -> pd.DataFrame:
    """Error consistency of one model's response table with each human's, per subject and condition
    (the human table's condition): columns subject, condition, n, c_obs, c_exp, kappa."""
    mine = _correct_by_stimulus(model, f"response table of {name}")
    rows = []
    for subject, table in sorted(humans.items()):
        theirs = _correct_by_stimulus(table, f"response table of {subject}")
        conditions = pd.Series(table["condition"].astype(str).to_numpy(), index=theirs.index)
        shared = theirs.index.intersection(mine.index)
        if not len(shared):
            raise ResultsError(f"{name} and {subject} share no stimulus; expected response tables of the same "
                               "model-vs-human dataset")
        for condition, keys in pd.Series(shared, index=shared).groupby(conditions[shared], sort=True):
            ec = error_consistency(mine[keys.index].to_numpy(), theirs[keys.index].to_numpy())
            rows.append({"subject": subject, "condition": condition, **asdict(ec)})
    return pd.DataFrame(rows, columns=["subject", "condition", "n", "c_obs", "c_exp", "kappa"])


def human_tables(folder: str | Path, dataset: str) -> dict[str, pd.DataFrame]:
    """The human response tables of ``dataset`` in a toolbox ``raw-data`` folder, by subject."""
    files = sorted((Path(folder) / dataset).glob(f"{dataset}_subject-*_session_*.csv"))
    if not files:
        raise ResultsError(f"no human response tables {dataset}_subject-NN_session_1.csv in {Path(folder) / dataset}; "
                           "expected the model-vs-human toolbox's raw-data/<dataset>/ folder")
    tables = {}
    for f in files:
        table = read_responses(f)
        tables[str(table["subj"].iloc[0])] = table
    return tables


def main(argv: list[str] | None = None, prog: str = "biasbench consistency") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", help="results CSV whose log holds per-image decisions: every pair of models")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--model-responses", metavar="DIR",
                        help="model response tables (--responses-dir of a model-vs-human run): vs humans")
    parser.add_argument("--humans", metavar="DIR", help="the toolbox's raw-data folder with the human tables "
                        "(default: downloaded on first use into <cache-dir>/model-vs-human/human-raw-data)")
    parser.add_argument("--cache-dir", help="download cache (default: $BIASBENCH_CACHE)")
    parser.add_argument("--offline", action="store_true", help="never download")
    parser.add_argument("--out", required=True, help="CSV to write")
    args = parser.parse_args(argv)
    try:
        if args.results:
            from ..results import ResultsStore, decisions

            table = between_models(decisions.latest(ResultsStore(args.results), Setup(precision=args.precision)))
        elif args.model_responses:
            humans_dir = args.humans
            if humans_dir is None:
                from ..data import model_vs_human as mvh
                from ..paths import offline
                from ..prepare.human_responses import ensure_human_responses

                humans_dir = ensure_human_responses(mvh.cache_root(args.cache_dir), offline=args.offline or offline())
            frames = []
            for dataset_dir in sorted(p for p in Path(args.model_responses).iterdir() if p.is_dir()):
                humans = human_tables(humans_dir, dataset_dir.name)
                for f in sorted(dataset_dir.glob("*.csv")):
                    model = read_responses(f)
                    frame = versus_humans(model, humans, name=f.name)
                    frames.append(frame.assign(dataset=dataset_dir.name, model=str(model["subj"].iloc[0])))
            if not frames:
                raise ResultsError(f"no response tables in {args.model_responses}/<dataset>/")
            table = pd.concat(frames, ignore_index=True)
        else:
            parser.error("give --results (model pairs) or --model-responses (vs humans)")
        table.to_csv(args.out, index=False)
    except (UserError, OSError) as err:
        return exit_status(err)
    print(f"wrote {args.out}: {len(table)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
