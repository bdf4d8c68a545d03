"""make demo: synthetic datasets in the real layouts, a demo ResNet-18, every benchmark, one table.

python code/demo.py --out demo-out [--data demo-data] [--device cpu]
Nothing is downloaded; all caches stay under --out.
"""

import argparse
import sys
import time
from pathlib import Path

from biasbench.benchmarks import REGISTRY
from biasbench.cli import main as run_cli
from biasbench.data.synthetic import write_preset
from biasbench.demo import build_demo_model, train_accuracy

DEMO_NOTE = ("**Demo numbers** (make demo): a ResNet-18 with random frozen features and a fitted head, on small "
             "synthetic datasets. They test the pipeline, not a model; its place among the paper's 48 means nothing.")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="demo-out", help="results, model and caches")
    p.add_argument("--data", default="demo-data", help="where the synthetic datasets are written")
    p.add_argument("--device", default=None)
    # 0: decode in the main process. The demo makes ~200 passes of 12-38 small images; starting decode
    # workers for each would cost more than the decoding (a real dataset wants workers).
    p.add_argument("--num_workers", "--num-workers", type=int, default=0)
    args = p.parse_args()
    out, data = Path(args.out), Path(args.data)
    start = time.time()

    if not (data / "imagenet").is_dir():
        print(f"writing synthetic datasets to {data}/ ...")
        write_preset(data, "demo")
    # A ResNet-18 (2.3x fewer FLOPs than the paper's ResNet-50) loaded through the same file:// path as a
    # user's checkpoint: every code path of a ResNet-50 run, in a newcomer's waiting time (README "Two commands").
    arch = "resnet18"
    model = out / f"demo_{arch}.pth"
    if not model.exists():
        print(f"building the demo model (random frozen {arch}, head fitted on synthetic training images) ...")
        build_demo_model(data / "imagenet" / "train", model, arch=arch)
        print(f"  accuracy on its own training images: "
              f"{train_accuracy(model, data / 'imagenet' / 'train', arch):.1f}%")

    results = out / "benchmark.csv"
    # Every benchmark in one run, PGD-40 included on the whole (small) val set, so every value lands in the
    # model's own row (the reference setup) and the analysis below has every aggregate.
    status = run_cli(list(REGISTRY), [
        "--model", f"file://{model}?arch={arch}", "--data-root", str(data), "--results", str(results),
        "--check_dataset", "false", "--cache-dir", str(out / "cache"), "--num_workers", str(args.num_workers),
        "--batch_size", "32", *(["--device", args.device] if args.device else [])],
        description="demo", require_data=False)
    if status == 0:
        _per_image_demo(results, model.stem)  # a file:// model is recorded under its stem
        status = _analysis(results, model.stem, out)
    verdict = "finished" if status == 0 else "FAILED (see the error above)"
    print(f"\ndemo {verdict} in {time.time() - start:.0f} s; results table: {results.resolve()}")
    if status == 0:
        _next_steps(out, data)
    return status


def _analysis(results: Path, model: str, out: Path) -> int:
    """The analysis of the demo's own results among the paper's 48 (the shipped table): figures, summary.md
    and the HTML report, each stating that these are demo numbers."""
    from biasbench.analysis.cli import main as analyze_main

    print("\nanalysis of the demo's results among the paper's 48 (demo numbers) ...")
    return analyze_main(["--results", str(results), "--paper-results", "--highlight", model,
                         "--out", str(out / "analysis"), "--html", str(out / "report.html"), "--note", DEMO_NOTE],
                        prog="demo analysis")


def _python() -> str:
    """How a user in this folder starts this Python: ``.venv/bin/python`` after ``make demo``."""
    exe = Path(sys.executable)
    try:
        return str(exe.relative_to(Path.cwd()))
    except ValueError:
        return "python"


def _next_steps(out: Path, data: Path) -> None:
    py = _python()
    print(f"""
next:
  the report of the demo:  open {out / 'report.html'}   (figures and tables: {out / 'analysis'}/)
  your own model:          {py} code/run_suite.py --model file://mine.pth --data-root {data} --results mine.csv
  real data:               {py} code/prepare_data.py --root /data --datasets all --dry-run
                           (then: {py} code/run_suite.py --model file://mine.pth --data-root /data)""")


def _per_image_demo(results: Path, model: str) -> None:
    """What the stored per-image decisions give: confidence intervals over images."""
    from biasbench.analysis.image_bootstrap import model_intervals
    from biasbench.results import ResultsStore, decisions

    store = ResultsStore(results)
    latest = decisions.latest(store)
    print(f"\nper-image decisions of {len(latest)} conditions in {store.log_dir / decisions.FOLDER}/")
    ci = model_intervals(store, model, n_resamples=200).set_index("column")
    for column in ("top1_acc/imagenet", "metric/bandpass/LPP", "metric/bandpass/HPP", "metric/criticalband/bw_norm"):
        if column in ci.index:
            row = ci.loc[column]
            print(f"  {column} = {row.value:.3f}  95% CI over images [{row.low:.3f}, {row.high:.3f}]")


if __name__ == "__main__":
    sys.exit(main())
