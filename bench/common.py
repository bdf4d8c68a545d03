"""Shared setup of the performance scripts: flags, synthetic data, models, timing, the results table.

Every script measures the suite (through ``biasbench.runner`` and the library's
transforms) and the re-created reference approach (``reference_approach``) in the
same process, on the same synthetic images, with the same model objects, batch
size, DataLoader workers and torch threads, and prints absolute numbers and the
ratio suite / reference.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "code") not in sys.path:
    sys.path.insert(0, str(REPO / "code"))

import torch  # noqa: E402
import torchvision  # noqa: E402
from torch import nn  # noqa: E402

from biasbench.benchmarks.base import Benchmark  # noqa: E402
from biasbench.data.imagelist import ImageList  # noqa: E402
from biasbench.results import ResultsStore  # noqa: E402
from biasbench.runner import RunOptions, run  # noqa: E402
from biasbench.synthetic import TEST_CLASSES, write_datasets  # noqa: E402

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


# ------------------------------------------------------------------ flags and environment

def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="cpu", help="torch device for both sides (cpu, cuda, cuda:1)")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--num_workers", type=int, default=2, help="DataLoader decode workers (both sides)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads of the main process (default: 1 on the CPU, where the DataLoader workers "
                        "take the other cores, torch's default on a GPU)")
    p.add_argument("--data", default=None,
                   help="folder for the synthetic datasets, kept and reused (default: a temporary folder)")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")
    return p


def data_and_model_flags(p: argparse.ArgumentParser) -> None:
    """The flags of a script that measures (a) the data path and (b) end to end with a model."""
    p.add_argument("--n_data", type=int, default=64, help="images for the data-path measurement")
    p.add_argument("--n_model", type=int, default=8, help="images for the end-to-end measurement")
    p.add_argument("--model", default="resnet50", help="torchvision classifier for (b) (random weights)")


def main(description: str, flags: Callable[[argparse.ArgumentParser], None], measure: Callable[[Env], int],
         argv: Sequence[str] | None = None) -> int:
    """A script's whole ``main``: the shared flags plus its own (``flags(parser)``), the Env they give,
    ``measure(env)``'s exit status, and the temporary data folder removed however ``measure`` ends."""
    p = parser(description)
    flags(p)
    env = Env(p.parse_args(argv))
    try:
        return measure(env)
    finally:
        env.close()


class Env:
    """Parsed flags plus the device, the data folder and the machine's state."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.device = torch.device(args.device)
        threads = args.threads or (1 if self.device.type == "cpu" else None)
        if threads:
            torch.set_num_threads(threads)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            sys.exit(f"--device {args.device}: CUDA is not available here")
        self._tmp = None if args.data else tempfile.mkdtemp(prefix="biasbench-bench-")
        self.data = Path(args.data or self._tmp)
        self.data.mkdir(parents=True, exist_ok=True)
        self.load_before = os.getloadavg()
        self.rows: list[dict] = []

    def close(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def machine(self) -> dict:
        gpu = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else None
        return {"device": str(self.device), "gpu": gpu, "cpu_count": os.cpu_count(), "platform": platform.platform(),
                "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                "load_average_before": [round(v, 2) for v in self.load_before],
                "load_average_after": [round(v, 2) for v in os.getloadavg()]}


# ------------------------------------------------------------------ data

def synthetic(env: Env, which: str, *, per_class: int, classes: Sequence[int] = TEST_CLASSES, **kw) -> Path:
    """A synthetic dataset (``biasbench.synthetic``) under the data folder, written once per parameters."""
    key = f"{which}-{len(classes)}x{per_class}" + "".join(f"-{k}={v}" for k, v in sorted(kw.items()))
    root = env.data / key.replace("/", "_").replace(" ", "")
    if not (root / "SYNTHETIC.json").is_file():
        if root.exists():
            shutil.rmtree(root)
        write_datasets(root, classes=classes, per_class=per_class, which=[which], **kw)
    return root / {"imagenet": "imagenet/val"}.get(which, which)


def val_images(env: Env, n: int) -> tuple[Path, ImageList]:
    """Synthetic ImageNet val images in the real val/<wnid>/ layout (8 classes, ``n`` rounded up to a
    multiple of 8), read by the suite's reader; the folder holds exactly these images."""
    from biasbench.data.imagenet import imagenet_val

    per_class = max(1, -(-n // len(TEST_CLASSES)))
    val = synthetic(env, "imagenet", per_class=per_class)
    return val, imagenet_val(val.parent, check=False)


def cbar_cells(env: Env, per_class: int, corruptions: Sequence[str] | None = None) -> dict[str, Path]:
    """Synthetic ImageNet-C-bar: {"<corruption>/<severity>": folder of <wnid>/*.JPEG 224x224 files}."""
    from biasbench.data.corruptions import IMAGENET_CBAR

    corruptions = list(corruptions or IMAGENET_CBAR)
    root = synthetic(env, "imagenet-cbar", per_class=per_class, cbar_corruptions=",".join(corruptions))
    return {f"{c}/{s}": root / c / str(s) for c in corruptions for s in range(1, 6)}


def cbar_benchmark(cells: dict[str, Path]) -> Benchmark:
    """ImageNet-C-bar's conditions over ``cells``: one image list per cell, files fed as stored
    (224x224, ToTensor only), read with the library's folder reader. What is timed is the runner,
    which treats every benchmark's conditions alike."""
    from dataclasses import replace

    from biasbench.benchmarks.base import Condition
    from biasbench.data.imagelist import AS_IS
    from biasbench.data.imagenet import imagenet_val

    class CBarCells(Benchmark):
        name = "imagenet-cbar"

        def conditions(self):
            return [Condition(name, replace(imagenet_val(folder, check=False), name=f"imagenet-cbar/{name}",
                                            preprocess=AS_IS)) for name, folder in cells.items()]

        def columns(self, condition, result):
            return {f"top1_acc/{condition.name.replace('/', '_')}": result["top1"]}

    return CBarCells()


def cycled(images: ImageList, n: int) -> ImageList:
    """``images`` repeated to ``n`` entries: long passes (fixed costs amortised) from few files; every
    entry is still read and decoded."""
    from dataclasses import replace

    import numpy as np

    idx = [i % len(images) for i in range(n)]
    return replace(images, files=tuple(images.files[i] for i in idx), labels=np.asarray(images.labels)[idx],
                   note=f"{images.note}cycled{n};")


# ------------------------------------------------------------------ models

class Normalized(nn.Module):
    """[0, 1] RGB in, ImageNet mean/std normalisation, then the network (as the suite's model wrapper)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, x):
        return self.net((x - self.mean) / self.std)


def model(name: str, device: torch.device, seed: int = 0) -> nn.Module:
    """``resnet50`` and other torchvision classifiers with random weights (seeded), or ``head``: a global
    average pool + linear layer, which costs next to nothing and so leaves the data path alone in the timing."""
    torch.manual_seed(seed)
    if name == "head":  # no normalisation either: its full-size arithmetic would be most of its cost
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 1000)).to(device).eval()
    return Normalized(getattr(torchvision.models, name)(weights=None)).to(device).eval()


# ------------------------------------------------------------------ timing and the suite

def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable, device: torch.device):
    """(wall seconds, result) of ``fn()``, CUDA work included."""
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def cpu_timed(fn: Callable) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of ``fn()``. With one torch thread the CPU
    seconds are the work itself, little affected by other programs sharing the machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def suite_run(env: Env, benchmarks: Sequence[Benchmark], models: dict[str, nn.Module], *,
              decoded_cache: bool = True, **options) -> tuple[float, dict]:
    """Time one ``biasbench.runner.run`` of ``models`` on ``benchmarks``: fresh results store, and with
    ``decoded_cache`` a fresh (cold) decoded-image cache, as a first run of the command-line scripts does."""
    with tempfile.TemporaryDirectory(prefix="biasbench-bench-run-", dir=env.data) as tmp:
        opts = RunOptions(device=str(env.device), batch_size=env.args.batch_size, num_workers=env.args.num_workers,
                          progress=False, decoded_cache=str(Path(tmp) / "decoded") if decoded_cache else None,
                          **options)
        store = ResultsStore(Path(tmp) / "benchmark.csv")
        # Modules in memory have no preprocessing config of their own (as in biasbench.evaluate): the zoo is
        # not asked, so the timing is the evaluation's alone.
        return timed(lambda: run(benchmarks, list(models), store, opts, load=lambda name, dev: models[name],
                                 input_config=lambda _name: None), env.device)


def reference_run(env: Env, net: nn.Module, conditions: dict) -> tuple[float, dict[str, float]]:
    """Time the reference approach (``reference_approach.run_conditions``: a DataLoader per condition) of
    ``net`` on ``conditions`` with the run's batch size, workers and device: (seconds, {condition: top-1})."""
    import reference_approach

    args = env.args
    return timed(lambda: reference_approach.run_conditions(net, conditions, batch_size=args.batch_size,
                                                           num_workers=args.num_workers, device=env.device),
                 env.device)


def top1_of(results: dict, model_name: str, prefix: str) -> dict[str, float]:
    """{condition: top-1} from the runner's written columns ``<prefix><condition>``."""
    return {k[len(prefix):]: v for k, v in results.get(model_name, {}).items() if k.startswith(prefix)}


# ------------------------------------------------------------------ output

def row(env: Env, what: str, unit: str, suite: float, reference: float, higher_is_better: bool,
        target: float | None = None, **extra) -> dict:
    """One measurement; ``ratio`` is always 'how many times better the suite is'."""
    ratio = suite / reference if higher_is_better else reference / suite
    r = {"what": what, "unit": unit, "suite": suite, "reference": reference, "speedup": ratio, "target": target,
         "met": None if target is None else bool(ratio >= target), **extra}
    env.rows.append(r)
    return r


def pass_row(env: Env, what: str, n_images: int, n_conditions: int, suite_s: float, reference_s: float,
             target: float | None) -> dict:
    """The wall-time row of one pass of ``n_images`` x ``n_conditions`` on each side, with both images/s."""
    n = n_images * n_conditions
    return row(env, f"{what} ({n_images} img x {n_conditions} cond)", "s", suite_s, reference_s, False, target=target,
               images_per_s_suite=n / suite_s, images_per_s_reference=n / reference_s)


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def report(env: Env, title: str, notes: Sequence[str] = (), **extra) -> None:
    """Print the table of ``env.rows`` and write the JSON when asked."""
    machine = env.machine()
    print(f"\n{title}")
    print(f"device {machine['device']}{' (' + machine['gpu'] + ')' if machine['gpu'] else ''}, "
          f"{machine['cpu_count']} CPUs, torch {machine['torch']} with {machine['torch_threads']} threads, "
          f"batch {env.args.batch_size}, {env.args.num_workers} workers, load average "
          f"{machine['load_average_before'][0]:.2f} before / {machine['load_average_after'][0]:.2f} after")
    header = f"{'measurement':<48} {'unit':<10} {'suite':>10} {'reference':>10} {'speedup':>8} {'target':>7}"
    if env.rows:
        print(header)
        print("-" * len(header))
    for r in env.rows:
        target = "" if r["target"] is None else f">={r['target']:g}x" + (" ok" if r["met"] else " NO")
        print(f"{r['what']:<48} {r['unit']:<10} {_fmt(r['suite']):>10} {_fmt(r['reference']):>10} "
              f"{r['speedup']:>7.2f}x {target:>7}")
    for n in notes:
        print(f"  {n}")
    if env.args.json:
        out = {"title": title, "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
               "args": {k: v for k, v in vars(env.args).items()}, "machine": machine, "rows": env.rows,
               "notes": list(notes), **extra}
        Path(env.args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(env.args.json).write_text(json.dumps(out, indent=1, default=str) + "\n")
        print(f"  wrote {env.args.json}")
