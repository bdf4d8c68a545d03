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

PGD_IMAGES = 8


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="demo-out", help="results, model and caches")
    p.add_argument("--data", default="demo-data", help="where the synthetic datasets are written")
    p.add_argument("--device", default=None)
    # 0: decode in the main process. The demo makes ~200 passes of 12-38 small images; starting decode
    # workers for each would cost more than the decoding (a real dataset wants workers).
    p.add_argument("--num_workers", type=int, default=0)
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

    common = ["--model", f"file://{model}?arch={arch}", "--data-root", str(data), "--results", str(out / "benchmark.csv"),
              "--check_dataset", "false", "--cache-dir", str(out / "cache"), "--num_workers", str(args.num_workers),
              "--batch_size", "32"] + (["--device", args.device] if args.device else [])
    # PGD costs 41 forward + 40 backward passes per image (121 forward-pass equivalents): the demo attacks
    # the first 8 of its 19 val images.
    everything_else = [b for b in REGISTRY if b != "adversarial"]
    status = run_cli(everything_else, common + ["--benchmarks", ",".join(everything_else)],
                     description="demo", require_data=False)
    if status == 0:
        status = run_cli(["adversarial"], common + ["--n_samples", str(PGD_IMAGES)], description="demo PGD")
    if status == 0:
        _per_image_demo(out / "benchmark.csv", model.stem)  # a file:// model is recorded under its stem
    verdict = "finished" if status == 0 else "FAILED (see the error above)"
    print(f"\ndemo {verdict} in {time.time() - start:.0f} s; results table: {(out / 'benchmark.csv').resolve()}")
    return status


def _per_image_demo(results: Path, model: str) -> None:
    """What the stored per-image decisions give: confidence intervals over images."""
    from biasbench.analysis.image_bootstrap import Interval, model_intervals
    from biasbench.results import ResultsStore, decisions

    store = ResultsStore(results)
    latest = decisions.latest(store)
    print(f"\nper-image decisions of {len(latest)} conditions in {store.log_dir / decisions.FOLDER}/")
    ci = model_intervals(store, model, n_resamples=200).set_index("column")
    for column in ("top1_acc/imagenet", "metric/bandpass/LPP", "metric/bandpass/HPP", "metric/criticalband/bw_norm"):
        if column in ci.index:
            row = ci.loc[column]
            interval = Interval(row.value, row.low, row.high, int(row.n_resamples), row.degenerate)
            print(f"  {column} = {row.value:.3f}  95% CI over images {interval.text()}")


if __name__ == "__main__":
    sys.exit(main())
