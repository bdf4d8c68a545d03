"""The GPU check: one prepared command proving that a device gives the CPU's numbers, and how close
each benchmark's pass comes to the model's own forward speed (docs/devices.md "The GPU check").

    python bench/gpu_check.py --out DIR [--device cuda] [--tiny]

Steps: (1) the CUDA-only tests; (2) every benchmark on synthetic data with the demo model on the CPU
and on the device, fp32: top-1 per condition within the stated tolerance, transforms within 1e-5;
(3) the floor: the model's (ResNet-50's) forward images/s at strict fp32, PyTorch's default (TF32), bf16 and fp16
autocast, with and without channels_last and torch.compile, and forward+backward images/s (PGD);
(4) each kind of pass with 1 and N models: images/s and the ratio to the floor at the same precision;
(5) each precision's deviation from strict fp32 on the demo model; (6) projected device-hours of the
suite; (7) DIR/gpu_check.json and DIR/gpu_check.md. On a CPU (or with --tiny) the same steps run at
tiny sizes, which is what the test suite does; the CPU's figures mean little.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

import bench_precision as bp
from biasbench.benchmarks.adversarial import Adversarial
from biasbench.benchmarks.criticalband import CriticalBand
from biasbench.benchmarks.imagenet import ImageNetClean
from biasbench.benchmarks.spectral import Spectral
from biasbench.device import global_flags, precision_context
from biasbench.transforms.criticalband import CriticalBandNoise
from biasbench.transforms.spectral import bandpass

import common  # noqa: F401  (puts code/ on the path)

REPO = Path(__file__).resolve().parents[1]
# CPU vs device at fp32: per condition, top-1 may differ by at most this many images (a logit tie
# broken differently by a reordered float sum), and transformed pixels by at most TRANSFORM_ATOL.
TOP1_IMAGES_TOLERANCE = 1
TRANSFORM_ATOL = 1e-5
FLOOR_VARIANTS = {  # name: (precision, channels_last, compile); "default" = PyTorch's own TF32 default
    "fp32": ("fp32", False, False), "default (TF32)": ("tf32", False, False), "bf16": ("bf16", False, False),
    "fp16": ("fp16", False, False), "fp32 channels_last": ("fp32", True, False),
    "bf16 channels_last": ("bf16", True, False), "fp32 compile": ("fp32", False, True),
    "bf16 channels_last compile": ("bf16", True, True)}


def _flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="folder for gpu_check.json and gpu_check.md")
    p.add_argument("--tiny", action="store_true", help="tiny sizes (the default on a CPU)")
    p.add_argument("--models", type=int, default=8, help="models per pass in step 4 (2 with --tiny)")
    p.add_argument("--tests", default="tests", help="what step 1 runs pytest on (-k cuda)")
    p.add_argument("--model", default="demo",
                   help="demo (the demo ResNet-50) or a torchvision classifier name with random weights; the "
                        "floor is measured on the same architecture")
    p.set_defaults(device="cuda" if torch.cuda.is_available() else "cpu", batch_size=None, num_workers=None)


def _sizes(args: argparse.Namespace) -> argparse.Namespace:
    """The sizes of every step: tiny on a CPU or with --tiny, GPU-sized otherwise; a --batch_size or
    --num_workers given wins."""
    args.tiny = args.tiny or torch.device(args.device).type == "cpu"
    size = dict(n=8, n_proj=8, n_proj_conditions=1, n_pgd=1, floor_batch=2, floor_iters=1,
                batch_size=8, num_workers=0, models=2) if args.tiny else \
        dict(n=256, n_proj=1024, n_proj_conditions=64, n_pgd=64, floor_batch=128, floor_iters=20,
             batch_size=128, num_workers=8, models=args.models)
    for k, v in size.items():
        if k == "models" or getattr(args, k, None) is None:
            setattr(args, k, v)
    # On a CPU: no compile (compilation dominates tiny runs) and no fp16 (CPUs emulate it, very slowly).
    args.skip = "compile,fp16" if torch.device(args.device).type == "cpu" else ("compile" if args.tiny else "")
    args.precision, args.channels_last, args.compile = "fp32", False, False
    return args


def step_tests(args) -> dict:
    """Step 1: the CUDA-only tests (those with "cuda" in their name), in a subprocess."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "cuda", *args.tests.split(",")]
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    last = (done.stdout.strip().splitlines() or [""])[-1]
    counts = {k: 0 for k in ("passed", "failed", "skipped", "error")}
    for part in last.replace(" in ", ", ").split(", "):
        words = part.split()
        if len(words) >= 2 and words[1].rstrip("s") in counts and words[0].isdigit():
            counts[words[1].rstrip("s")] = int(words[0])
    return dict(command=" ".join(cmd[2:]), returncode=done.returncode, summary=last, seconds=time.perf_counter() - t,
                **counts)


def step_same_numbers(env, model) -> dict:
    """Step 2: every kind of benchmark on the CPU and on the device, fp32, and the transforms themselves."""
    _, val = common.val_images(env, env.args.n)
    benches = lambda: [ImageNetClean(val), Spectral(val), CriticalBand(val), Adversarial(val, steps=3)]  # noqa: E731
    top1 = {}
    for where in ("cpu", str(env.device)):
        env.device = torch.device(where)
        _, out = common.suite_run(env, benches(), {"demo": model.to(where)}, decoded_cache=False)
        top1[where] = out["demo"]
    env.device = torch.device(env.args.device)
    model.to(env.device)
    cpu, dev = top1["cpu"], top1[str(env.device)]
    diff = {k: abs(cpu[k] - dev[k]) for k in cpu if k in dev}
    allowed = 100.0 * TOP1_IMAGES_TOLERANCE / len(val)
    from biasbench.data.decode import decode
    u8 = torch.stack([decode(val.path(i), val.preprocess) for i in range(min(4, len(val)))])
    idx = torch.arange(len(u8))
    x = u8.float() / 255
    transforms = {"criticalband band 2 sd 0.16": CriticalBandNoise(2, 0.16), "criticalband band 6 sd 0.02":
                  CriticalBandNoise(6, 0.02), "lowpass 0.1": lambda t, i: bandpass(t, 0.1, True),
                  "highpass 0.9": lambda t, i: bandpass(t, 0.9, False)}
    tdiff = {name: float((f(x, idx) - f(x.to(env.device), idx.to(env.device)).cpu()).abs().max())
             for name, f in transforms.items()}
    return dict(columns=len(diff), max_top1_diff=max(diff.values()), top1_tolerance=allowed,
                top1_ok=max(diff.values()) <= allowed, transforms_max_abs_diff=tdiff,
                transforms_ok=max(tdiff.values()) <= TRANSFORM_ATOL, cpu=cpu, device=dev)


def step_floor(env) -> dict:
    """Step 3: ResNet-50 forward images/s per variant, and forward+backward images/s (PGD)."""
    a, dev = env.args, env.device
    x = torch.rand(a.floor_batch, 3, 224, 224, device=dev)
    y = torch.zeros(a.floor_batch, dtype=torch.long, device=dev)
    out = {}
    for name, (precision, cl, comp) in FLOOR_VARIANTS.items():
        if ("compile" in a.skip and comp) or ("fp16" in a.skip and precision == "fp16"):
            out[name] = dict(status="skipped here (CPU or --tiny)")
            continue
        net = _network(a.model).to(dev).eval().requires_grad_(False)
        xi = x.contiguous(memory_format=torch.channels_last) if cl else x
        if cl:
            net = net.to(memory_format=torch.channels_last)
        if comp:
            net = torch.compile(net)
        autocast = precision_context(precision, dev)
        with global_flags(precision, False):
            def fwd():
                with torch.no_grad(), autocast():
                    for _ in range(a.floor_iters):
                        net(xi)

            def fwd_bwd():
                for _ in range(a.floor_iters):
                    xg = xi.detach().requires_grad_(True)
                    with autocast():
                        loss = torch.nn.functional.cross_entropy(net(xg), y, reduction="sum")
                    torch.autograd.grad(loss, xg)
            common.timed(fwd, dev)  # warm-up: autotuning, compilation
            s_f, _ = common.timed(fwd, dev)
            common.timed(fwd_bwd, dev)
            s_b, _ = common.timed(fwd_bwd, dev)
        n = a.floor_batch * a.floor_iters
        out[name] = dict(forward_images_per_s=n / s_f, forward_backward_images_per_s=n / s_b)
    return out


def _network(name: str) -> torch.nn.Module:
    """The floor's network: the pass model's architecture, random weights, with its normalisation."""
    return common.model("resnet50" if name == "demo" else name, torch.device("cpu"))


def _pass_model(env) -> torch.nn.Module:
    return (bp.demo_model(env) if env.args.model == "demo" else _network(env.args.model)).to(env.device)


def step_passes(env, model, floor) -> dict:
    """Step 4: images/s of each kind of pass with 1 and N models, and the ratio to the floor: the
    pass's model-forwards per second over the floor's (forward+backward for PGD), same precision."""
    out = {}
    base = floor["fp32"]
    for n_models in (1, env.args.models):
        models = {f"m{i}": model for i in range(n_models)}
        rates = _rates(env, models)
        out[f"{n_models} model(s)"] = {
            kind: dict(images_per_s=r, forwards_per_s=r * n_models,
                       ratio_to_floor=r * n_models / (base["forward_backward_images_per_s"] / 41 if kind == "pgd"
                                                      else base["forward_images_per_s"]))
            for kind, r in rates.items()}
    return out


def _rates(env, models) -> dict[str, float]:
    """bench_precision.rates with several models sharing every pass."""
    saved = common.suite_run

    def several(env_, benchmarks, one, **kw):
        return saved(env_, benchmarks, models, **kw)
    common.suite_run = several
    try:
        return bp.rates(env, next(iter(models.values())), {})
    finally:
        common.suite_run = saved


def step_projection(passes, floor) -> dict:
    """Step 6: device-hours of the suite for one checkpoint and the 48, per precision: the measured
    fp32 pass rates (1 model), scaled by each precision's floor speed-up."""
    rates = {k: v["images_per_s"] for k, v in passes["1 model(s)"].items()}
    fp32_h = sum(n / rates[kind] / 3600 for n, kind in bp.SUITE.values())
    out = {}
    for name in ("fp32", "default (TF32)", "bf16", "fp16"):
        if "status" in floor[name]:
            continue
        speedup = floor[name]["forward_images_per_s"] / floor["fp32"]["forward_images_per_s"]
        out[name] = dict(per_checkpoint_h=fp32_h / speedup, paper48_h=48 * fp32_h / speedup, floor_speedup=speedup)
    return out


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [f"GPU check on {m['gpu'] or m['device']} (torch {m['torch']}), `{result['command']}`", "",
             "| floor (ResNet-50) | forward img/s | fwd+bwd img/s |", "|---|---:|---:|"]
    for name, r in result["floor"].items():
        if "status" in r:
            lines.append(f"| {name} | {r['status']} | |")
        else:
            lines.append(f"| {name} | {r['forward_images_per_s']:.1f} | {r['forward_backward_images_per_s']:.1f} |")
    lines += ["", "| pass | models | images/s | ratio to the floor |", "|---|---:|---:|---:|"]
    for models, kinds in result["passes"].items():
        for kind, r in kinds.items():
            lines.append(f"| {kind} | {models.split()[0]} | {r['images_per_s']:.2f} | {r['ratio_to_floor']:.2f} |")
    s = result["same_numbers"]
    lines += ["", f"CPU vs {m['device']} at fp32: max top-1 difference {s['max_top1_diff']:.3f} points "
              f"(tolerance {s['top1_tolerance']:.3f}), transforms max |diff| "
              f"{max(s['transforms_max_abs_diff'].values()):.2e} (tolerance {TRANSFORM_ATOL:g})", "",
              "| precision | top-1 deviation (pt) | predictions changed % | GPU-h per checkpoint | GPU-h for 48 |",
              "|---|---:|---:|---:|---:|"]
    for name, p in result["projection"].items():
        d = result["deviations"].get({"default (TF32)": "tf32"}.get(name, name), {})
        lines.append(f"| {name} | {d.get('top1_deviation', 0.0):+.2f} | {d.get('predictions_changed', 0.0):.2f} | "
                     f"{p['per_checkpoint_h']:.2f} | {p['paper48_h']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    return common.main(__doc__, _flags, lambda env: _check(env, argv), argv)


def _check(env: common.Env, argv) -> int:
    args = _sizes(env.args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"command": " ".join(["bench/gpu_check.py", *(argv if argv is not None else sys.argv[1:])]),
              "tiny": args.tiny}
    print("1. CUDA-only tests", flush=True)
    result["tests"] = step_tests(args)
    model = _pass_model(env)
    print("2. CPU vs device, fp32", flush=True)
    result["same_numbers"] = step_same_numbers(env, model)
    print("3. the floor", flush=True)
    result["floor"] = step_floor(env)
    print("4. passes", flush=True)
    result["passes"] = step_passes(env, model, result["floor"])
    print("5. deviations per precision", flush=True)
    _, images = common.val_images(env, args.n)
    result["deviations"] = bp.deviations(env, model, images)
    result["projection"] = step_projection(result["passes"], result["floor"])
    result["machine"] = env.machine()
    (out / "gpu_check.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    (out / "gpu_check.md").write_text(markdown(result))
    print(markdown(result))
    ok = result["same_numbers"]["top1_ok"] and result["same_numbers"]["transforms_ok"] and \
        result["tests"]["failed"] == 0 and result["tests"]["error"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
