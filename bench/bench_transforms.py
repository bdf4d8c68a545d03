"""Images/s of the spectral filter and the critical-band transform: the suite's batch transforms
(as the runner calls them, every condition on one decoded batch) against the reference's
per-image transforms, on the same decoded 224x224 images.

python bench/bench_transforms.py [--batch_size 32] [--threads 1] [--device cpu] [--json PATH]
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T

from biasbench.data.decode import decode
from biasbench.transforms.criticalband import BANDS, SDS, CriticalBandNoise
from biasbench.transforms.spectral import CUTOFFS, Bandpass

import common  # noqa: F401  (puts the library on the path)
import reference_approach as ref


def _flags(p) -> None:
    p.add_argument("--ref_images", type=int, default=8,
                   help="images per condition for the (slow) per-image critical-band reference")
    p.add_argument("--repeat", type=int, default=3, help="timed runs of the suite side (the best is kept)")


def main(argv=None) -> int:
    return common.main(__doc__, _flags, _run, argv)


def _measure(fn, repeat: int) -> tuple[float, float]:
    """Best (wall, CPU) seconds of ``repeat`` runs after one warm-up."""
    fn()
    runs = [common.cpu_timed(fn) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def _rows(env, what, n_suite, suite, n_ref, ref, target=None):
    for i, clock in enumerate(("CPU-s", "wall s")):
        common.row(env, what, f"img/{clock}", n_suite / suite[1 - i], n_ref / ref[1 - i], True,
                   target=target if i == 0 else None)


def _run(env: common.Env) -> int:
    args, dev = env.args, env.device
    if dev.type != "cpu":
        raise SystemExit("bench_transforms.py times CPU work per core; on a GPU use bench_spectral.py / "
                         "bench_criticalband.py, which report images/s of the whole pass")
    _, images = common.val_images(env, args.batch_size)
    images = common.cycled(images, args.batch_size)
    u8 = torch.stack([decode(images.path(i), images.preprocess) for i in range(len(images))])
    idx = torch.arange(len(images))
    x = u8.float().div_(255.0)  # what the runner hands to a transform
    crops = [Image.fromarray(u8[i].permute(1, 2, 0).numpy()) for i in range(len(images))]  # PIL after the crop
    n = len(images)
    k = min(args.ref_images, n)

    # Spectral: the 22 filtered conditions of one batch, in the runner's order (suite), and
    # each condition image by image (reference).
    spectral = [Bandpass(c, lp) for lp in (True, False) for c in CUTOFFS]

    def one_batch():  # as the runner filters a batch: the shared FFT once, then every condition
        spectrum = Bandpass.shared_step(x)
        return [t(x, idx, spectrum) for t in spectral]

    suite = _measure(one_batch, args.repeat)
    ref_s = _measure(lambda: [ref.bandpass_filter(x[i], t.cutoff, t.lowpass) for t in spectral for i in range(n)], 1)
    _rows(env, "spectral filter, 22 conditions", n * len(spectral), suite, n * len(spectral), ref_s)
    xn = x.double().numpy()
    ref_np = _measure(lambda: [ref.bandpass_filter_numpy(xn[i], t.cutoff, t.lowpass) for t in spectral
                               for i in range(k)], 1)
    _rows(env, "  vs per-image numpy FFT (issue's wording)", n * len(spectral), suite, k * len(spectral), ref_np)

    # Critical band: the 28 noisy grid cells.
    cells = [(b, sd) for sd in SDS for b in BANDS]
    transforms = [CriticalBandNoise(b, sd) for b, sd in cells]
    suite = _measure(lambda: [t(x, idx) for t in transforms], args.repeat)
    for always, what in ((False, "critical-band transform, 28 cells"),
                         (True, "  vs pixel loop on every image (issue's)")):
        np.random.seed(0)
        per_image = [T.Compose([ref.CriticalBand(b, sd, always_loop=always), T.ToTensor()]) for b, sd in cells]
        ref_c = _measure(lambda: [t(crops[i]) for t in per_image for i in range(k)], 1)
        _rows(env, what, n * len(cells), suite, k * len(cells), ref_c, target=20.0)

    common.report(env, "Transforms: suite (whole batches) vs reference (one image at a time)", notes=[
        f"{torch.get_num_threads()} torch thread(s); suite: batch of {n}, best of {args.repeat} after a warm-up; "
        f"reference: one image at a time, as in a DataLoader worker ({n} images per spectral condition, "
        f"{k} for the numpy variant and per critical-band cell)",
        "reference = the authors' scripts: torch.fft per image; pixel loop only on images with a pixel out of "
        "[0, 1] (mostly SD 0.16). 'issue's': the variants the issue describes (numpy FFT; loop on every image)",
        "img = one image under one condition; img/CPU-s (CPU time of this process) is the per-core rate and "
        "little affected by other programs on the machine, img/wall s is the elapsed-time rate"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
