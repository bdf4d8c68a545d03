"""How long generating ImageNet-C-bar takes (``prepare_data.py --datasets cbar``), measured on N images
and projected to ImageNet val's 50,000 images x 50 files on K processes.

Per corruption: CPU ms per val image for its 5 severities, each ``cbar.corrupt`` + ``cbar._save_jpeg``
as ``prepare/cbar.py`` runs them; plus the decode (Resize(256) + CenterCrop(224)) and, as a check of
the sum, ``cbar._one_image`` end to end. Baselines in the same run, on the same images:
- perlin_noise before #21 (vectorised, but without the release's factor 1.5 and with other tables);
- the release's pixel-by-pixel perlin_noise (``reference_approach.release_perlin_noise``), on
  ``--n_reference`` images: what the authors' generator spends on that corruption.

Times are CPU time of this one process (``time.process_time``), so other work on the machine matters
little; the projection assumes K processes scale linearly (the files are independent).
Images: smooth random photographs of ImageNet val's typical 500 x 375 (not real ones; every step's
cost depends on the size alone, except the JPEG encoder's, a little, on the content).

python bench/bench_cbar_generation.py [--n 8] [--n_reference 1] [--cores 16] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from biasbench.data.corruptions import IMAGENET_CBAR, IMAGENET_CBAR_PARAMS, SEVERITIES
from biasbench.data.decode import decode
from biasbench.data.imagelist import RESIZE_CROP
from biasbench.prepare import cbar

import common  # noqa: F401  (puts code/ on the path)
import reference_approach as ref

N_VAL, FILES_PER_IMAGE = 50_000, len(IMAGENET_CBAR) * len(SEVERITIES)


# ------------------------------------------------------------------ the baseline: perlin_noise before #21

class _PerlinBefore21:
    """biasbench's Perlin generator before #21, kept verbatim as the timing baseline (its output is not
    the release's: tables drawn in another order and form, no final factor 1.5)."""

    B = 256

    def __init__(self, rs):
        g = rs.uniform(-1, 1, size=(self.B, 2))
        g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
        perm = rs.permutation(self.B)
        self.p = np.concatenate((perm, perm, perm[:2]))
        self.g = np.concatenate((g, g, g[:2]))

    def noise(self, x, y):
        tx, ty = x + 4096, y + 4096
        bx0, by0 = tx.astype(int) & 255, ty.astype(int) & 255
        bx1, by1 = (bx0 + 1) & 255, (by0 + 1) & 255
        rx0, ry0 = tx - tx.astype(int), ty - ty.astype(int)
        rx1, ry1 = rx0 - 1, ry0 - 1
        i, j = self.p[bx0], self.p[bx1]
        b00, b10, b01, b11 = self.p[i + by0], self.p[j + by0], self.p[i + by1], self.p[j + by1]
        sx, sy = rx0 * rx0 * (3 - 2 * rx0), ry0 * ry0 * (3 - 2 * ry0)

        def dot(b, rx, ry):
            return rx * self.g[b, 0] + ry * self.g[b, 1]

        a = dot(b00, rx0, ry0) + sx * (dot(b10, rx1, ry0) - dot(b00, rx0, ry0))
        b = dot(b01, rx0, ry1) + sx * (dot(b11, rx1, ry1) - dot(b01, rx0, ry1))
        return a + sy * (b - a)

    def turbulence(self, x, y, octaves):
        t, f = np.zeros_like(x), 1.0
        while f <= octaves:
            t += np.abs(self.noise(f * x, f * y)) / f
            f *= 2
        return t


def perlin_before_21(image, p, rs):
    n = image.shape[0]
    period = 32 * n / 224
    alpha = float(p) * 0.5 / 10
    gen = _PerlinBefore21(np.random.RandomState(rs.randint(low=0, high=2**32)))
    y, x = np.mgrid[0:n, 0:n].astype(np.float64)
    f = np.clip(0.5 * gen.turbulence(y / period, x / period, 16.0) + 0.5, 0, 1)
    return np.clip((1 - alpha) * image.astype(np.float32) + 255 * alpha * f[..., None], 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ measurement

def photos(folder: Path, n: int) -> list[Path]:
    """``n`` smooth random 500 x 375 JPEGs (an upsampled 12 x 9 colour grid plus fine noise)."""
    out = []
    for i in range(n):
        rng = np.random.default_rng(i)
        small = Image.fromarray(rng.integers(0, 256, (9, 12, 3), dtype=np.uint8)).resize((500, 375), Image.BICUBIC)
        arr = np.clip(np.asarray(small, dtype=np.int16) + rng.integers(-12, 13, (375, 500, 3)), 0, 255)
        path = folder / "val" / "n01440764" / f"ILSVRC2012_val_{i + 1:08d}.JPEG"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr.astype(np.uint8)).save(path, quality=90)
        out.append(path)
    return out


def cpu_ms(fn, *args) -> float:
    t = time.process_time()
    fn(*args)
    return 1000 * (time.process_time() - t)


def _corrupt_and_save(img, corruption, s, rng, path, fn) -> None:
    arr = cbar.corrupt(img, corruption, s, rng) if fn is None else fn(img, IMAGENET_CBAR_PARAMS[corruption][s - 1], rng)
    cbar._save_jpeg(arr, path)


def corrupt_and_save(images, corruption, out: Path, fn=None) -> float:
    """CPU ms per image for the 5 severities of ``corruption`` (``fn`` in place of its function)."""
    total = sum(cpu_ms(_corrupt_and_save, img, corruption, s, cbar.image_rng(0, name, corruption, s),
                       out / corruption / str(s) / name, fn)
                for name, img in images for s in SEVERITIES)
    return total / len(images)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=8, help="val images for the suite's generator and the baseline")
    p.add_argument("--n_reference", type=int, default=1, help="images for the release's pixel loop (about 1 s each "
                   "per severity)")
    p.add_argument("--cores", type=int, default=16, help="K: the processes the projection assumes")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="biasbench-cbar-bench-"))
    try:
        srcs = photos(tmp / "imagenet", args.n)
        decode_ms = sum(cpu_ms(decode, s, RESIZE_CROP) for s in srcs) / len(srcs)
        images = [(s.name, decode(s, RESIZE_CROP).permute(1, 2, 0).numpy()) for s in srcs]
        per = {c: corrupt_and_save(images, c, tmp / "suite") for c in IMAGENET_CBAR}
        before = corrupt_and_save(images, "perlin_noise", tmp / "before", perlin_before_21)
        release = corrupt_and_save(images[:args.n_reference], "perlin_noise", tmp / "release",
                                   ref.release_perlin_noise)
        end_to_end = sum(cpu_ms(cbar._one_image, (s, "n01440764", tmp / "e2e", tuple(IMAGENET_CBAR), 0))
                         for s in srcs) / len(srcs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    per_image = decode_ms + sum(per.values())

    def hours(ms_per_image: float) -> float:
        return N_VAL * ms_per_image / 1000 / 3600 / args.cores

    print(f"ImageNet-C-bar generation, CPU ms per val image (its 5 severities: corrupt + JPEG save), "
          f"{args.n} images ({args.n_reference} for the release's loop)")
    print(f"  {'decode (Resize 256, CenterCrop 224)':38s} {decode_ms:9.1f}")
    for c in IMAGENET_CBAR:
        print(f"  {c:38s} {per[c]:9.1f}   {per[c] / len(SEVERITIES):7.1f} per file")
    print(f"  {'sum':38s} {per_image:9.1f}   ({end_to_end:.1f} measured end to end by cbar._one_image)")
    print(f"perlin_noise: {per['perlin_noise']:.1f} ms now, {before:.1f} ms before #21 (ratio now / before "
          f"{per['perlin_noise'] / before:.2f}), {release:.0f} ms the release's pixel loop (ratio release / now "
          f"{release / per['perlin_noise']:.0f})")
    print(f"projected: {N_VAL:,} images x {FILES_PER_IMAGE} files on {args.cores} processes: "
          f"{hours(per_image):.2f} h now, {hours(per_image - per['perlin_noise'] + before):.2f} h before #21, "
          f"{hours(per_image - per['perlin_noise'] + release):.2f} h with the release's perlin loop "
          f"({N_VAL * per_image / 1000 / 3600:.1f} CPU hours now)")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "n": args.n, "n_reference": args.n_reference, "cores": args.cores, "decode_ms": decode_ms,
            "corruption_ms_per_image": per, "per_image_ms": per_image, "end_to_end_ms": end_to_end,
            "perlin_before_21_ms": before, "perlin_release_loop_ms": release,
            "projected_hours": hours(per_image), "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "load_average": os.getloadavg()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
