"""The demo model and the demo run (``make demo``): no download, real code paths.

The demo model is a torchvision ResNet-50 with random, frozen convolutions (seeded),
batch-norm statistics calibrated on synthetic training images, and a linear head
fitted (ridge regression) on those images' features, so its accuracies are clearly
above chance on the synthetic classes and respond to the benchmarks' corruptions.
The head is fitted on each training image and on its noise-free critical-band stimulus
(grey, contrast 0.2: docs/benchmarks.md "Bias measurements"), so the critical-band fit has a
clean accuracy above chance to start from rather than a flat curve.
It is saved as an ordinary state dict and evaluated through ``file://`` like a
user's own checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torchvision

from .data.decode import decode
from .data.imagelist import RESIZE_CROP, list_images
from .data.synsets import label_of
from .transforms.criticalband import low_contrast_grey

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def _train_images(train_root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Every training image, then its critical-band stimulus (3 grey channels), normalised; their labels."""
    xs, ys = [], []
    for d in sorted(p for p in train_root.iterdir() if p.is_dir()):
        for f in list_images(d):
            xs.append(decode(f, RESIZE_CROP))
            ys.append(label_of(d.name, str(train_root)))
    images = torch.stack(xs)
    grey = low_contrast_grey(images, torch.float32).unsqueeze(1).expand(-1, 3, -1, -1)
    x = torch.cat([images.float() / 255, grey])
    return (x - MEAN) / STD, torch.tensor(ys).repeat(2)


def build_demo_model(train_root: str | Path, out: str | Path, *, seed: int = 0, ridge: float = 1e-2,
                     arch: str = "resnet50") -> Path:
    """Write the demo model's state dict (torchvision ``arch``, a ResNet) to ``out`` (fitted on ``train_root/<wnid>/*``)."""
    torch.manual_seed(seed)
    net = getattr(torchvision.models, arch)(weights=None)
    x, y = _train_images(Path(train_root))
    # Calibrate batch-norm statistics on the training images (cumulative average), so the
    # random features are well scaled; nothing else is trained.
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    net.train()
    with torch.no_grad():
        for i in range(0, len(x), 32):
            net(x[i:i + 32])
    net.eval()
    feats = []
    body = torch.nn.Sequential(*list(net.children())[:-1])
    with torch.no_grad():
        for i in range(0, len(x), 32):
            feats.append(body(x[i:i + 32]).flatten(1))
    f = torch.cat(feats).double()
    mu, sd = f.mean(0), f.std(0) + 1e-6
    z = (f - mu) / sd
    onehot = torch.nn.functional.one_hot(y, 1000).double()
    target = onehot - onehot.mean(0)
    w = torch.linalg.solve(z.T @ z + ridge * len(z) * torch.eye(z.shape[1], dtype=z.dtype), z.T @ target)
    # logits = ((f - mu) / sd) @ w + bias, folded into the fc layer; absent classes get a low bias.
    weight = (w / sd[:, None]).T
    bias = onehot.mean(0) - (mu / sd) @ w
    bias[onehot.sum(0) == 0] = -10.0
    with torch.no_grad():
        net.fc.weight.copy_(weight.float())
        net.fc.bias.copy_(bias.float())
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": net.state_dict(), "note": "biasbench demo model"}, out)
    return out


def train_accuracy(path: str | Path, train_root: str | Path, arch: str = "resnet50") -> float:
    """Top-1 accuracy (%) of a saved demo model on its own training images (a sanity figure)."""
    net = getattr(torchvision.models, arch)(weights=None)
    net.load_state_dict(torch.load(path, weights_only=True)["state_dict"])
    x, y = _train_images(Path(train_root))
    with torch.no_grad():
        pred = torch.cat([net.eval()(x[i:i + 32]).argmax(1) for i in range(0, len(x), 32)])
    return float(100.0 * np.mean((pred == y).numpy()))


# ----------------------------------------------------------------------------- the demo run (biasbench demo)

DEMO_NOTE = ("**Demo numbers** (make demo): a ResNet-18 with random frozen features and a fitted head, on small "
             "synthetic datasets. They test the pipeline, not a model; its place among the paper's 48 means nothing.")


def main(argv: Sequence[str] | None = None, prog: str = "biasbench demo") -> int:
    """make demo: synthetic datasets in the real layouts, a demo ResNet-18, every benchmark, one table,
    then the analysis and HTML report of its own results. Nothing is downloaded; all caches stay under --out."""
    import argparse
    import time

    from .benchmarks import REGISTRY
    from .cli import main as run_cli
    from .prepare.freq_cue_conflict import generate as generate_freq_cue_conflict
    from .synthetic import write_preset

    p = argparse.ArgumentParser(prog=prog, description=main.__doc__, allow_abbrev=False)
    p.add_argument("--out", default="demo-out", help="results, model and caches")
    p.add_argument("--data", default="demo-data", help="where the synthetic datasets are written")
    p.add_argument("--device", default=None)
    # 0: decode in the main process. The demo makes many passes of 8-38 small images; starting decode
    # workers for each would cost more than the decoding (a real dataset wants workers).
    p.add_argument("--num_workers", "--num-workers", type=int, default=0)
    args = p.parse_args(argv)
    out, data = Path(args.out), Path(args.data)
    start = time.time()

    if not (data / "imagenet").is_dir():
        print(f"writing synthetic datasets to {data}/ ...")
        write_preset(data, "demo")
    if not (data / "freq-cue-conflict").is_dir():
        # A few hybrid images (low band of one category, high band of another) from the 16-class stylized images.
        generate_freq_cue_conflict(data / "modelvshuman" / "stylized", data / "freq-cue-conflict", n=32)
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
        description="demo", require_data=False, prog=f"{prog} (run)")
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
    from .analysis.cli import main as analyze_main

    print("\nanalysis of the demo's results among the paper's 48 (demo numbers) ...")
    return analyze_main(["--results", str(results), "--paper-results", "--highlight", model,
                         "--out", str(out / "analysis"), "--html", str(out / "report.html"), "--note", DEMO_NOTE],
                        prog="demo analysis")


def _python() -> str:
    """How a user in this folder starts this Python: ``.venv/bin/python`` after ``make demo``."""
    import sys

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
    from .analysis.image_bootstrap import Interval, model_intervals
    from .results import ResultsStore, decisions

    store = ResultsStore(results)
    latest = decisions.latest(store)
    print(f"\nper-image decisions of {len(latest)} conditions in {store.log_dir / decisions.FOLDER}/")
    ci = model_intervals(store, model, n_resamples=200).set_index("column")
    for column in ("top1_acc/imagenet", "metric/bandpass/LPP", "metric/bandpass/HPP", "metric/criticalband/bw_norm",
                   "frequency-bias"):
        if column in ci.index:
            row = ci.loc[column]
            interval = Interval(row.value, row.low, row.high, int(row.n_resamples), row.degenerate)
            print(f"  {column} = {row.value:.3f}  95% CI over images {interval.text()}")
