"""``python -m biasbench.results rebuild|show|export``: re-derive the results table, look into the log,
or export the per-image decisions stored beside it (docs/results.md "Per-image decisions")."""

from __future__ import annotations

import argparse
import json
import sys
import warnings

from biasbench.errors import ResultsError, UserError, exit_status, one_line_warnings
from biasbench.results import decisions, run_record
from biasbench.results.setup import Setup
from biasbench.results.store import DEFAULT_CSV, ResultsStore


def _rebuild(store: ResultsStore) -> None:
    if not store.log_dir.is_dir():
        raise ResultsError(f"no results log at {store.log_dir}: nothing to derive {store.csv_path} from "
                           "(the log is written by biasbench runs; pass --results for another table)")
    path = store.write_csv()
    columns, rows = store._wide()
    print(f"wrote {path}: {len(rows)} rows (models x setups) x {len(columns)} columns from "
          f"{len(store.records())} records in {store.log_dir}")


def _show(store: ResultsStore, model: str | None) -> None:
    records = store.records()
    if model is None:
        by_model: dict[str, list] = {}
        for record in records:
            by_model.setdefault(record.model, []).append(record)
        for name in sorted(by_model):
            recs = by_model[name]
            print(f"{name}  records={len(recs)}  last={recs[-1].time[:19]}")
            for label, mine in sorted(store.setups(name).items()):
                setup = Setup.of_record(mine[0])
                benchmarks = ",".join(sorted({r.benchmark for r in mine}))
                print(f"  setup {label or 'reference'} (row {setup.row(name)}): records={len(mine)}  "
                      f"columns={len(store.latest_values(name, setup=setup))}  benchmarks={benchmarks}")
        print(f"{len(records)} records, {len(by_model)} models in {store.log_dir}")
        return
    mine = [r for r in records if r.model == model]
    if not mine:
        known = sorted({r.model for r in records})
        raise ResultsError(f"no records for model {model!r} in {store.log_dir}; models there: "
                           f"{', '.join(known) if known else 'none'}")
    for r in mine:
        seed = "-" if r.seed is None else r.seed
        print(f"{r.time[:19]}  {r.benchmark}  {r.condition}  n={r.n_images}  fp={r.fingerprint[:12]}  "
              f"{r.precision}  seed={seed}  setup={Setup.of_record(r).label() or 'reference'}  "
              f"{r.code_version}  {r.host}  values={len(r.values)}")
    for label, recs in sorted(store.setups(model).items()):
        setup = Setup.of_record(recs[0])
        print(f"latest values of {model}, setup {label or 'reference'} (row {setup.row(model)}):")
        for column, value in sorted(store.latest_values(model, setup=setup).items()):
            print(f"  {column} = {value!r}")


def _show_run(results: str, which: str, as_json: bool) -> None:
    path = run_record.find(results, which)
    data = run_record.load(path)
    print(json.dumps(data, indent=1) if as_json else f"run record {path}\n{run_record.describe(data)}")


def _export(store: ResultsStore, out: str, model: str | None, precision: str) -> None:
    """One CSV row per (record, image): the newest decisions of every cell at ``precision``. A damaged decisions
    file leaves its record out: the others are written, then a ResultsError names every file left out."""
    import pandas as pd

    bad: list[tuple[tuple, str]] = []
    found = decisions.latest(store, Setup(precision=precision), bad)
    chosen = [d for (m, *_), d in found.items() if model in (None, m)]
    unreadable = [message for (m, *_), message in bad if model in (None, m)]
    if not chosen and unreadable:
        raise ResultsError(f"nothing written to {out}: {'; '.join(unreadable)}")
    if not chosen:
        raise ResultsError(f"no per-image decisions for model {model!r} at {precision} in {store.log_dir}"
                           if model else f"no per-image decisions at {precision} in {store.log_dir}")
    frames = [pd.DataFrame({"model": d.record.model, "benchmark": d.record.benchmark,
                            "condition": d.record.condition, "fingerprint": d.record.fingerprint,
                            "space": d.space, "image": d.index, "pred": d.pred, "label": d.label,
                            "correct": d.correct}) for d in chosen]
    table = pd.concat(frames, ignore_index=True)
    try:
        table.to_csv(out, index=False)
    except OSError as err:
        raise ResultsError(f"cannot write {out}: {err.strerror or err}") from None
    print(f"wrote {out}: {len(table)} decisions of {table['model'].nunique()} model(s) in {len(chosen)} records")
    if unreadable:
        raise ResultsError(f"{len(unreadable)} record(s) left out of {out}: {'; '.join(unreadable)}")


def main(argv: list[str] | None = None, prog: str = "biasbench results") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, allow_abbrev=False)
    commands = parser.add_subparsers(dest="command", required=True)
    rebuild = commands.add_parser("rebuild", help="re-derive the results CSV from its log")
    show = commands.add_parser("show", help="list models (or one model's records and latest values)")
    show.add_argument("--model", help="show this model's records and its newest value per column")
    show.add_argument("--run", nargs="?", const="latest", default=None, metavar="latest|FILE",
                      help="print a run record (command, versions, device, checksums, values) instead; "
                           "add --json for the file as written")
    show.add_argument("--json", action="store_true", help="with --run: the record's JSON as written")
    export = commands.add_parser("export", help="write the stored per-image decisions as one CSV "
                                 "(model,benchmark,condition,fingerprint,space,image,pred,label,correct)")
    export.add_argument("--out", required=True, help="CSV file to write (.csv.gz compresses)")
    export.add_argument("--model", help="only this model")
    export.add_argument("--precision", default="fp32", help="results of this precision (default fp32)")
    for sub in (rebuild, show, export):
        sub.add_argument("--results", default=DEFAULT_CSV, help=f"results CSV (default {DEFAULT_CSV})")
        sub.add_argument("--log-dir", help="results log folder (default: <CSV stem>.log beside the CSV)")
    args = parser.parse_args(argv)
    with one_line_warnings(), warnings.catch_warnings():
        warnings.simplefilter("always")
        try:
            store = ResultsStore(args.results, args.log_dir)
            if args.command == "rebuild":
                _rebuild(store)
            elif args.command == "export":
                _export(store, args.out, args.model, args.precision)
            elif args.run:
                _show_run(args.results, args.run, args.json)
            else:
                _show(store, args.model)
        except UserError as err:
            return exit_status(err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
