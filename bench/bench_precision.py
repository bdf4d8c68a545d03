"""The speed options (--precision bf16|fp16|tf32, --channels_last, --compile), each alone against fp32:
top-1 deviation (points), predictions changed, max |logit difference| and images/s of the model on
the same decoded images, through the runner's own model preparation and forward. Then images/s of
every kind of pass through the runner, and the projected hours of the whole suite for one
checkpoint and for the paper's 48.

The model is the library's demo ResNet-50 (random frozen convolutions, batch norm calibrated and a
linear head fitted on synthetic training images), so top-1 is well above chance on the synthetic
classes without any download.

python bench/bench_precision.py [--n 64] [--skip ""] [--device cuda] [--json PATH]
    projection with options: [--precision bf16] [--channels_last] [--compile]
"""

from __future__ import annotations

import copy
import traceback
from dataclasses import replace

import torch
import torchvision

from biasbench.benchmarks.adversarial import Adversarial
from biasbench.benchmarks.criticalband import CriticalBand
from biasbench.benchmarks.imagenet import ImageNetClean
from biasbench.benchmarks.spectral import Spectral
from biasbench.data.decode import decode
from biasbench.data.imagelist import AS_IS, ImageList
from biasbench.device import forward, global_flags, precision_context, prepare_model
from biasbench.runner import RunOptions
from biasbench.synthetic import TEST_CLASSES

import common

OPTIONS = {"bf16": dict(precision="bf16"), "fp16": dict(precision="fp16"), "tf32": dict(precision="tf32"),
           "channels_last": dict(channels_last=True), "compile": dict(compile=True)}

# Images (x conditions, or forward-backward steps) per checkpoint: docs/benchmarks.md.
VAL = 50_000
SUITE = {  # benchmark: (images x conditions, which measured rate applies)
    "ImageNet val + ReaL (one pass)": (VAL, "clean"),
    "spectral (23 conditions)": (VAL * 23, "spectral"),
    "critical band (29 conditions)": (VAL * 29, "criticalband"),
    "PGD-40": (VAL, "pgd"),
    "ImageNet-C (19 x 5)": (4_750_000, "as-is"),
    "ImageNet-C-bar (10 x 5)": (2_500_000, "as-is"),
    "ImageNet-A, -R, -Sketch, -v2": (7_500 + 30_000 + 50_889 + 10_000, "natural"),
    "cue-conflict + stylized": (1_280 + 800, "as-is"),
}


def _flags(p) -> None:
    p.add_argument("--n", type=int, default=64, help="images for the deviations (8 classes)")
    p.add_argument("--skip", default=None,
                   help="comma-separated options not to measure (default: compile on the CPU, where its C++ "
                        "build takes minutes; nothing on a GPU); --skip '' measures all")
    p.add_argument("--precision", default="fp32", help="projection: precision of the timed passes")
    p.add_argument("--channels_last", action="store_true", help="projection: channels_last")
    p.add_argument("--compile", action="store_true", help="projection: torch.compile")
    p.add_argument("--n_proj", type=int, default=64, help="projection: images of the one-forward passes")
    p.add_argument("--n_proj_conditions", type=int, default=8,
                   help="projection: images of the spectral and critical-band passes")
    p.add_argument("--n_pgd", type=int, default=2, help="projection: images attacked with PGD-40")
    # On a GPU use long passes, e.g. --n 5000 --n_proj 20000 --n_proj_conditions 2000 --n_pgd 1000
    p.add_argument("--no_projection", action="store_true")


def main(argv=None) -> int:
    return common.main(__doc__, _flags, _run, argv)


def demo_model(env: common.Env) -> torch.nn.Module:
    from biasbench.demo import build_demo_model

    train = common.synthetic(env, "imagenet", per_class=1, train_per_class=8).parent / "train"
    path = env.data / "demo-model.pth"
    if not path.is_file():
        build_demo_model(train, path)
    resnet = torchvision.models.resnet50(weights=None)
    resnet.load_state_dict(torch.load(path, weights_only=True)["state_dict"])
    return common.Normalized(resnet).eval()


def deviations(env: common.Env, fp32_model: torch.nn.Module, images: ImageList) -> dict[str, dict]:
    dev, args = env.device, env.args
    x_all = torch.stack([decode(images.path(i), images.preprocess) for i in range(len(images))])
    labels = torch.as_tensor(images.labels)
    batches = [x_all[i:i + args.batch_size] for i in range(0, len(x_all), args.batch_size)]
    skip_text = args.skip if args.skip is not None else ("compile" if dev.type == "cpu" else "")
    skip = {s.strip() for s in skip_text.split(",") if s.strip()}

    def measure(opts: RunOptions):
        model = prepare_model(copy.deepcopy(fp32_model), dev, channels_last=opts.channels_last, compile=opts.compile)
        autocast = precision_context(opts.precision, dev)

        def forward_all():
            out = []
            for b in batches:
                x = b.to(dev).float().div_(255.0)  # as the runner does
                if opts.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                out.append(forward(model, x, autocast).cpu())
            return torch.cat(out)

        with global_flags(opts.precision, False):  # TF32 on only for tf32, as in a run
            warm_s, _ = common.timed(forward_all, dev)  # first call: compilation, cuDNN autotuning
            seconds, logits = common.timed(forward_all, dev)
        return logits, len(x_all) / seconds, warm_s

    base_opts = RunOptions(device=str(dev))
    ref_logits, ref_rate, _ = measure(base_opts)
    ref_top1 = 100.0 * (ref_logits.argmax(1) == labels).float().mean().item()
    rows = {"fp32": dict(top1=ref_top1, images_per_s=ref_rate)}
    for name, option in OPTIONS.items():
        if name in skip:
            rows[name] = dict(status="skipped (--skip; on the CPU by default)")
            continue
        try:
            logits, rate, warm_s = measure(replace(base_opts, **option))
        except Exception as e:  # noqa: BLE001 - report what does not run on this device, then go on
            rows[name] = dict(status=f"does not run here: {type(e).__name__}: {str(e).splitlines()[0][:120]}")
            traceback.print_exc(limit=1)
            continue
        top1 = 100.0 * (logits.argmax(1) == labels).float().mean().item()
        rows[name] = dict(top1=top1, top1_deviation=top1 - ref_top1,
                          predictions_changed=100.0 * (logits.argmax(1) != ref_logits.argmax(1)).float().mean().item(),
                          max_abs_logit_diff=(logits - ref_logits).abs().max().item(),
                          images_per_s=rate, speedup=rate / ref_rate, first_call_s=warm_s)
    return rows


def rates(env: common.Env, model: torch.nn.Module, options: dict) -> dict[str, float]:
    """Images (x conditions) per second of each kind of pass, through the runner. The image lists
    cycle over a few synthetic files, so long passes need no long data generation."""
    from biasbench.data.synsets import label_of

    args = env.args
    _, val = common.val_images(env, 64)
    cells = common.cbar_cells(env, 1)
    files = [(folder / f).relative_to(env.data) for folder in cells.values()
             for f in sorted(p.relative_to(folder) for p in folder.rglob("*.JPEG"))]
    as_is = ImageList("cbar-all", env.data, tuple(str(f) for f in files),
                      torch.tensor([label_of(f.parent.name) for f in files]).numpy(), AS_IS)
    val_n, few, pgd = (common.cycled(val, n) for n in (args.n_proj, args.n_proj_conditions, args.n_pgd))
    plan = {"clean": ([ImageNetClean(val_n)], len(val_n), True),
            "natural": ([ImageNetClean(replace(val_n, note=val_n.note + "no-cache;"))], len(val_n), False),
            "as-is": ([ImageNetClean(common.cycled(as_is, args.n_proj))], args.n_proj, False),
            "spectral": ([Spectral(few)], len(few) * 23, True),
            "criticalband": ([CriticalBand(few)], len(few) * 29, True),
            "pgd": ([Adversarial(pgd)], len(pgd), True)}
    out = {}
    for kind, (benchmarks, n, cache) in plan.items():
        seconds, _ = common.suite_run(env, benchmarks, {"demo": model}, decoded_cache=cache, **options)
        out[kind] = n / seconds
        print(f"  {kind:<13} {n:>6} image-conditions in {seconds:7.1f} s: {out[kind]:8.2f} /s", flush=True)
    return out


def _run(env: common.Env) -> int:
    args, dev = env.args, env.device
    model = demo_model(env).to(dev)
    _, images = common.val_images(env, args.n)
    print(f"deviations of each option from fp32 on {len(images)} images ({len(TEST_CLASSES)} classes)...", flush=True)
    dev_rows = deviations(env, model, images)
    print(f"\nOptions against fp32: demo ResNet-50, {len(images)} images, {dev}")
    print(f"{'option':<14} {'top-1':>7} {'dev (pt)':>9} {'changed %':>10} {'max|dlogit|':>12} {'img/s':>8} "
          f"{'speedup':>8}")
    for name, r in dev_rows.items():
        if "status" in r:
            print(f"{name:<14} {r['status']}")
        elif name == "fp32":
            print(f"{name:<14} {r['top1']:7.2f} {'':>9} {'':>10} {'':>12} {r['images_per_s']:8.1f} {'1.00x':>8}")
        else:
            print(f"{name:<14} {r['top1']:7.2f} {r['top1_deviation']:+9.2f} {r['predictions_changed']:10.2f} "
                  f"{r['max_abs_logit_diff']:12.3g} {r['images_per_s']:8.1f} {r['speedup']:7.2f}x")
    if dev.type == "cpu":
        print("  on the CPU: tf32 changes nothing (a CUDA matmul mode); fp16/bf16 autocast run but are not what "
              "the options are for; timings of the options mean little here")
    projection = {}
    if not args.no_projection:
        options = dict(precision=args.precision, channels_last=args.channels_last, compile=args.compile)
        print(f"\nimages/s of each kind of pass through the runner ({dev}, {options})...", flush=True)
        measured = rates(env, model, options)
        hours = {name: n / measured[kind] / 3600 for name, (n, kind) in SUITE.items()}
        total = sum(hours.values())
        clock = "GPU" if dev.type == "cuda" else "CPU (this machine; not GPU-hours)"
        print(f"\nProjected {clock} hours of the whole suite ({', '.join(f'{k}={v}' for k, v in options.items())})")
        for name, (n, kind) in SUITE.items():
            print(f"  {name:<32} {n:>10,} x 1 / {measured[kind]:9.2f} per s = {hours[name]:10.2f} h")
        print(f"  {'one checkpoint':<32} {total:10.2f} h")
        print(f"  {'the 48 checkpoints':<32} {48 * total:10.2f} h (single-model passes; passes shared by several "
              "models save the decoding)")
        projection = dict(rates=measured, hours=hours, per_checkpoint_h=total, paper48_h=48 * total, clock=clock,
                          options=options)
    env.rows.clear()
    common.report(env, "Speed options and projection", notes=[], deviations=dev_rows, projection=projection)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
