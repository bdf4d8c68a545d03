"""ImageNet-C-bar generation: each corruption against properties computed independently of it,
and the generated folder read back by the C-bar benchmark."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats
from torch import nn

from biasbench.benchmarks.imagenet_cbar import ImageNetCBar
from biasbench.data import cbar_manifest, corruptions
from biasbench.data.imagenet import imagenet_val
from biasbench.data.synsets import imagenet_wnids
from biasbench.errors import DatasetError, UserError
from biasbench.prepare import cbar, run
from biasbench.prepare import cbar_corruptions as cc
from biasbench.results import ResultsStore
from biasbench.runner import RunOptions
from biasbench.runner import run as run_benchmarks

from helpers import write_val_tree

# the release's per-pixel Perlin loop, re-created plainly (also the generation bench's baseline)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import reference_approach as ref  # noqa: E402

# facebookresearch/augmentation-corruption imagenet_c_bar/imagenet_c_bar.csv, written out here
PARAMS = {"blue_noise_sample": [0.8, 1.6, 2.4, 4.0, 5.6], "brownish_noise": [1.0, 2.0, 3.0, 4.0, 5.0],
          "caustic_refraction": [2.35, 3.2, 4.9, 6.6, 9.15], "checkerboard_cutout": [2.0, 3.0, 4.0, 5.0, 6.0],
          "cocentric_sine_waves": [3.0, 5.0, 8.0, 9.0, 10.0], "inverse_sparkles": [1.0, 2.0, 4.0, 9.0, 10.0],
          "perlin_noise": [4.6, 5.2, 5.8, 7.6, 8.8], "plasma_noise": [4.75, 7.0, 8.5, 9.25, 10.0],
          "single_frequency_greyscale": [1.0, 1.5, 2.0, 4.5, 5.0], "sparkles": [1.0, 2.0, 3.0, 5.0, 6.0]}
N = 224
GREY = np.full((N, N, 3), 128, np.uint8)


def photo(seed=0, n=N):
    """A smooth random image in 20..230 (no clipping, no pixel equal to 128 by chance matters little)."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(20, 230, (8, 8, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(small).resize((n, n), Image.BILINEAR))


def rs(seed=1):
    return np.random.RandomState(seed)


def test_the_ten_corruptions_and_parameters_are_the_releases():
    assert set(cc.CORRUPTIONS) == set(PARAMS) == set(corruptions.IMAGENET_CBAR)
    assert {c: list(v) for c, v in corruptions.IMAGENET_CBAR_PARAMS.items()} == PARAMS


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_uint8_deterministic_and_monotone_in_the_parameter(name):
    img = photo(3)
    f = cc.CORRUPTIONS[name]
    outs = [f(img, p, rs(7)) for p in PARAMS[name]]
    for o in outs:
        assert o.dtype == np.uint8 and o.shape == img.shape
    assert np.array_equal(f(img, PARAMS[name][2], rs(7)), outs[2])  # same seed, same image
    assert not np.array_equal(f(img, PARAMS[name][2], rs(8)), outs[2])  # another seed, another draw
    dist = [np.abs(o.astype(float) - img).mean() for o in outs]
    assert all(b >= a - 1e-9 for a, b in zip(dist, dist[1:])), dist
    assert dist[-1] > dist[0] + 1 and dist[0] > 0.1


def test_single_frequency_grating_has_its_one_fft_peak_at_the_drawn_frequency():
    r = rs(4)
    mag = r.uniform(-np.pi, np.pi)
    other = r.uniform(-abs(mag), abs(mag))
    fx, fy = np.array([mag, other])[r.permutation(2)]
    out = cc.single_frequency_greyscale(GREY, 1.0, rs(4)).astype(float)[..., 0]
    noise = out - out.mean()
    power = np.abs(np.fft.fft2(noise)) ** 2
    ky, kx = np.unravel_index(np.argmax(power), power.shape)
    freqs = np.fft.fftfreq(N) * 2 * np.pi  # radians per pixel of each bin
    # the peak (or its mirror) sits within half a bin of the drawn frequency (fx along columns)
    d = min(np.hypot(freqs[kx] - s * fx, freqs[ky] - s * fy) for s in (1, -1))
    assert d <= np.pi / N * np.sqrt(2) + 1e-9
    assert np.std(noise) == pytest.approx(19.6 / np.sqrt(2), rel=0.05)  # amplitude 196 * 1 / 10


def test_concentric_rings_are_a_sawtooth_of_the_parameters_amplitude():
    for p in (3.0, 10.0):
        intensity = p * 12.8
        diff = cc.cocentric_sine_waves(GREY, p, rs(2)).astype(float) - GREY  # +-64 at most: no clipping
        assert diff.min() >= -intensity / 2 - 1 and diff.max() <= intensity / 2
        assert np.std(diff) == pytest.approx(intensity / np.sqrt(12), rel=0.15)  # uniform in [-I/2, I/2)
        assert np.array_equal(diff[..., 0], diff[..., 2])


def test_blue_noise_sample_drops_the_gaussian_fraction_below_its_threshold():
    img = photo(1)
    for p in (0.8, 2.4, 5.6):
        drops = [np.mean(np.all(cc.blue_noise_sample(img, p, rs(s)) == 0, axis=2)) for s in range(4)]
        assert np.mean(drops) == pytest.approx(stats.norm.cdf(0.3 * p - 2.5), abs=0.02)
    out = cc.blue_noise_sample(img, 5.6, rs(0))
    kept = np.any(out != 0, axis=2)
    assert np.array_equal(out[kept], img[kept])  # a pixel is kept as it is or zeroed
    # blue: the mask's power lies mostly at high spatial frequencies
    power = np.abs(np.fft.fftshift(np.fft.fft2(kept - kept.mean()))) ** 2
    r = np.hypot(*np.meshgrid(np.arange(N) - N // 2, np.arange(N) - N // 2))
    assert power[r > N / 4].sum() > 3 * power[(r > 0) & (r <= N / 8)].sum()


def test_brownish_noise_has_unit_variance_scaled_by_the_parameter_and_low_frequencies():
    out = cc.brownish_noise(GREY, 1.0, rs(3)).astype(float)
    diff = out - 128
    assert np.std(diff) == pytest.approx(6.4, rel=0.1)
    assert not np.allclose(diff[..., 0], diff[..., 1])  # one field per channel
    power = np.abs(np.fft.fftshift(np.fft.fft2(diff[..., 0] - diff[..., 0].mean()))) ** 2
    r = np.hypot(*np.meshgrid(np.arange(N) - N // 2, np.arange(N) - N // 2))
    assert power[r <= 8].sum() > 0.8 * power.sum()


def test_checkerboard_cutout_greys_half_of_the_squares_times_the_fraction():
    img = photo(2) // 2  # 10..115: no pixel is 128 before the cut
    for p in (2.0, 6.0):
        fractions = []
        for s in range(12):
            out = cc.checkerboard_cutout(img, p, rs(s))
            cut = np.all(out == 128, axis=2)
            assert np.array_equal(out[~cut], img[~cut])
            fractions.append(cut.mean())
        assert np.mean(fractions) == pytest.approx(0.5 * p / 10, abs=0.04)


def test_sparkles_only_brighten_and_are_white_at_their_centres():
    img = photo(5)
    r = rs(6)
    centers = r.uniform(0, N, size=(5, 2))
    out = cc.sparkles(img, 5.0, rs(6))
    assert np.all(out >= img.astype(int) - 0)  # blending toward white never darkens
    for cy, cx in centers:
        assert out[min(int(cy), N - 1), min(int(cx), N - 1)].min() >= 250
    far = [np.mean(np.abs(cc.sparkles(img, p, rs(6)).astype(int) - img) > 2) for p in (1.0, 6.0)]
    assert far[1] > far[0]


def test_inverse_sparkles_keep_the_image_only_around_the_centre():
    img = photo(5)
    cy, cx = rs(9).uniform(0.25, 0.75, size=2) * N
    for p in (1.0, 10.0):
        out = cc.inverse_sparkles(img, p, rs(9))
        assert np.all(out >= img)  # toward white everywhere
        y, x = int(cy), int(cx)
        assert np.abs(out[y, x].astype(int) - img[y, x]).max() <= 1  # the star's centre shows the image
    # the star narrows as p grows (its falloff exponent is 0.13 p), so more of the image turns white
    w = [(cc.inverse_sparkles(img, p, rs(9)).astype(float) - img) / (255.0 - img) for p in (1.0, 10.0)]
    assert w[1].mean() > w[0].mean() + 0.2


def test_plasma_blend_stays_within_its_amplitude():
    for p in (4.75, 10.0):
        intensity = p * 6.4
        out = cc.plasma_noise(GREY, p, rs(1)).astype(float)
        plasma = (out - (1 - intensity / 255) * 128) / intensity
        assert plasma.min() >= -1 - 1 / intensity and plasma.max() <= 1 + 1e-9
        assert plasma.std() > 0.2  # a real pattern, not a constant


def test_perlin_noise_is_one_half_at_lattice_points():
    # gradient noise is 0 at integer lattice points at every octave, so turbulence is 0 and f = bias 0.5
    img = np.zeros((N, N, 3), np.uint8)
    p = 8.8
    alpha = p * 0.05
    out = cc.perlin_noise(img, p, rs(2)).astype(int)
    lattice = out[::32, ::32]
    assert np.all(lattice == int(255 * alpha * 0.5))
    assert out.min() == int(255 * alpha * 0.5)  # turbulence >= 0: nothing below the bias
    f = out / (255 * alpha)
    assert f.max() <= 1 and f.std() > 0.02


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_perlin_noise_is_the_releases_pixel_for_pixel(seed):
    small = np.random.default_rng(seed).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    for p in (4.6, 8.8):
        assert np.array_equal(cc.perlin_noise(small, p, rs(seed)), ref.release_perlin_noise(small, p, rs(seed)))
    # at the real size, on a sparse grid of pixels (the field is computed pixel by pixel, so any subset checks it)
    img = photo(seed)
    grid = [(y, x) for y in range(0, N, 9) for x in range(3, N, 11)]
    got = cc.perlin_noise(img, 5.8, rs(seed))
    want = ref.release_perlin_noise(img, 5.8, rs(seed), grid)
    rows, cols = np.array(grid).T
    assert np.array_equal(got[rows, cols], want[rows, cols])


def test_perlin_noise_with_a_zero_gradient_is_the_releases_too():
    # outer seed 1397 draws a table whose gradient 134 is (0, 0): 0/0 = NaN there, in the release as here
    gen = cc._Perlin(np.random.RandomState(rs(1397).randint(low=0, high=2**32)))
    assert np.isnan(gen.g[134]).all() and np.isfinite(np.delete(gen.g[:256], 134, axis=0)).all()
    small = photo(2, n=24)
    assert np.array_equal(cc.perlin_noise(small, 8.8, rs(1397)), ref.release_perlin_noise(small, 8.8, rs(1397)))


def test_perlin_noise_field_by_hand():
    gen = cc._Perlin(rs(3))
    assert sorted(gen.p[:256]) == list(range(256)) and np.array_equal(gen.p[256:512], gen.p[:256])
    assert np.allclose(np.hypot(gen.g[:, 0], gen.g[:, 1]), 1)
    k = rs(3).randint(low=0, high=2**31, size=2) % 512 - 256  # the first two draws give gradient 0
    assert np.allclose(gen.g[0], k / np.hypot(*k)) and np.array_equal(gen.g[256], gen.g[0])
    lattice = np.array([0.0, 1.0, 7.0, 100.0])
    assert np.all(gen.noise(lattice[:, None], lattice[None, :]) == 0)  # gradient noise is 0 at lattice points
    # every gradient (1, 0): along x the noise is 1.5 (r - s(r)), s(r) = 3r^2 - 2r^3; constant along y
    gen.g[:] = (1.0, 0.0)
    assert gen.noise(np.array([0.25, 3.25]), np.array([0.0, 0.6])) == pytest.approx([1.5 * (0.25 - 0.15625)] * 2)
    assert gen.noise(np.array(0.5), np.array(0.3)) == pytest.approx(0.0)  # 0.5 - s(0.5) = 0
    # every gradient (0, 1): the same along y
    gen.g[:] = (0.0, 1.0)
    assert gen.noise(np.array(5.9), np.array(0.75)) == pytest.approx(1.5 * (0.75 - 0.84375))
    # turbulence sums |noise(f x, f y)| / f over f = 1, 2, 4, 8, 16; at y = 1/16 the last is on the lattice
    y = np.array(1 / 16)
    want = sum(abs(1.5 * ((f / 16 % 1) - (3 - 2 * (f / 16 % 1)) * (f / 16 % 1) ** 2)) / f for f in (1, 2, 4, 8))
    assert gen.turbulence(np.array(2.0), y, 16.0) == pytest.approx(want)


def _refract_loop(image, p, r):
    """Caustic refraction pixel by pixel with Snell's law via an explicit rotation matrix and its inverse."""
    n = image.shape[0]
    time, size = r.uniform(0.5, 2.0), r.uniform(0.75, 1.25) * n
    lens, light = p * 0.05 * n, p * 0.2
    field = np.repeat(cc.caustics(n, time, size)[..., None], 3, axis=2)
    from scipy.ndimage import gaussian_filter
    luma = gaussian_filter(field, sigma=1) @ np.array([0.2126, 0.7152, 0.0722])
    img = image.astype(np.float32) / 255

    def at(a, y, x):
        return a[y, x] if 0 <= y < a.shape[0] and 0 <= x < a.shape[1] else 0 * a[0, 0]

    out = np.zeros((n, n, 3))
    for y in range(n):
        for x in range(n):
            no, so, we, ea = at(luma, y, x - 1), at(luma, y, x + 1), at(luma, y - 1, x), at(luma, y + 1, x)
            nrm = np.array([ea - we, so - no, 1.0])
            nrm /= np.linalg.norm(nrm)
            inc = np.array([0.0, 0.0, 1.0])
            if abs(inc @ nrm) >= 1 - 1e-3:
                ray = inc
            else:
                a_out = np.arcsin(np.sin(np.arccos(inc @ nrm)) / 4.0)
                spec = np.cross(inc, nrm)
                spec /= np.linalg.norm(spec)
                rot = np.stack((nrm, np.cross(nrm, spec), spec))
                ray = np.linalg.inv(rot) @ np.array([np.cos(a_out), np.sin(a_out), 0.0])
            sy, sx = np.round(ray * lens, 3)[:2] + (y, x)
            y0, x0 = int(np.floor(sy)), int(np.floor(sx))
            v = sum(at(img, y0 + i, x0 + j) * (1 - abs(sy - y0 - i)) * (1 - abs(sx - x0 - j))
                    for i in (0, 1) for j in (0, 1))
            out[y, x] = np.clip(v + (no - so) * light + (ea - we) * light, 0, 1)
    return (out * 255).astype(np.uint8)


def test_caustic_refraction_equals_a_pixel_by_pixel_snell_refraction():
    img = photo(4, n=40)
    for p in (2.35, 9.15):
        fast = cc.caustic_refraction(img, p, rs(5))
        slow = _refract_loop(img, p, rs(5))
        assert np.mean(fast != slow) < 0.002 and np.abs(fast.astype(int) - slow).max() <= 1


def test_corruptions_refuse_a_non_square_image():
    with pytest.raises(ValueError, match="square"):
        cc.sparkles(np.zeros((20, 30, 3), np.uint8), 1.0, rs())


# ----------------------------------------------------------------------------- the generated folder

class Bright(nn.Module):
    """Class 3 when the image's mean is above 0.5, otherwise class 999."""

    def forward(self, x):
        logits = torch.zeros(len(x), 1000)
        logits[:, 3] = x.mean(dim=(1, 2, 3))
        logits[:, 999] = 0.5
        return logits


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_val_tree(root / "imagenet", [3, 999], per_class=2, size=(300, 260))
    val = imagenet_val(root / "imagenet", check=False)
    out = root / "imagenet-cbar"
    written = cbar.generate(val, out, workers=2, progress=False)
    return root, val, out, written


def test_generated_files_are_the_corrupted_crops_in_the_parameter_layout(generated):
    root, val, out, written = generated
    assert written == 4 * 50
    wnid = imagenet_wnids()[3]
    name = val.files[0].split("/")[-1]
    for c in PARAMS:
        for p in PARAMS[c]:
            with Image.open(out / c / f"{p:.2f}" / wnid / name) as im:
                assert im.format == "JPEG" and im.size == (224, 224)
    # one file against the corruption applied by hand to a Resize(256)+CenterCrop(224) of the source
    with Image.open(val.path(0)) as im:
        w, h = im.size
        crop = im.convert("RGB").resize((256 * w // h, 256), Image.BILINEAR)
        left = int(round((crop.size[0] - 224) / 2))
        crop = np.asarray(crop.crop((left, 16, left + 224, 240)))
    want = cc.brownish_noise(crop, 3.0, cbar.image_rng(0, name, "brownish_noise", 3))
    with Image.open(out / "brownish_noise" / "3.00" / wnid / name) as im:
        got = np.asarray(im, dtype=float)
    ref = np.asarray(Image.open(_jpeg(want, root / "ref.jpg")), dtype=float)
    assert np.array_equal(got, ref)  # the same bytes as saving at quality 85 ourselves


def _jpeg(arr, path):
    Image.fromarray(arr).save(path, format="JPEG", quality=85, optimize=True)
    return path


def test_rerun_skips_complete_files_and_rewrites_a_missing_one_identically(generated):
    _, val, out, _ = generated
    victim = next((out / "sparkles" / "6.00").rglob("*.JPEG"))
    before = victim.read_bytes()
    victim.unlink()
    (victim.parent / f".{victim.name}.1.part").write_bytes(b"half")  # an interrupted write
    assert cbar.generate(val, out, workers=1, progress=False) == 1
    assert victim.read_bytes() == before
    assert cbar.generate(val, out, workers=1, progress=False) == 0


def test_the_cbar_benchmark_reads_the_generated_folder(tmp_path, generated):
    _, _, out, _ = generated
    cells = corruptions.imagenet_cbar(out, check=False)
    res = run_benchmarks([ImageNetCBar(cells)], ["m"], ResultsStore(tmp_path / "b.csv"),
                         RunOptions(device="cpu", num_workers=0, progress=False, batch_size=4),
                         load=lambda name, device: Bright())["m"]
    wnid3 = imagenet_wnids()[3]
    expected = {}
    for c in PARAMS:
        for s, p in enumerate(PARAMS[c], 1):
            files = sorted((out / c / f"{p:.2f}").rglob("*.JPEG"))
            hits = [(np.asarray(Image.open(f).convert("RGB"), dtype=np.float32).mean() / 255 > 0.5)
                    == (f.parent.name == wnid3) for f in files]
            expected[c, s] = 100 * np.mean(hits)
            assert res[f"top1_acc/{c}_{s}"] == pytest.approx(expected[c, s]), (c, s)
    assert len(set(expected.values())) >= 3
    assert res["top1_acc/imagenet-cbar"] == pytest.approx(np.mean(list(expected.values())))


def test_prepare_data_cbar_needs_imagenet_val(tmp_path, capsys):
    assert run.main(["--root", str(tmp_path), "--datasets", "cbar", "--no-progress"]) == 1
    assert "ImageNet-C-bar: FAILED" in capsys.readouterr().out


def test_prepare_data_cbar_generates_and_then_has_nothing_to_do(tmp_path, capsys):
    write_val_tree(tmp_path / "imagenet", [3], per_class=1, size=(240, 240))
    args = ["--root", str(tmp_path), "--datasets", "cbar", "--no-progress", "--workers", "1",
            "--check-dataset", "false"]
    assert run.main(args) == 0
    assert "ImageNet-C-bar: 50 images found, 50 expected, OK" in capsys.readouterr().out
    assert len(list((tmp_path / "imagenet-cbar").rglob("*.JPEG"))) == 50
    assert run.main(args) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_prepare_data_cbar_refuses_zero_workers(tmp_path, capsys):
    write_val_tree(tmp_path / "imagenet", [3], per_class=1)
    assert run.main(["--root", str(tmp_path), "--datasets", "cbar", "--workers", "0", "--no-progress"]) == 1
    assert "ImageNet-C-bar: FAILED: --workers is 0; expected a number of processes >= 1" in capsys.readouterr().out


# ----------------------------------------------------------------------------- the recipe of generated files

def _fingerprints(folder):
    return {k: v.fingerprint() for k, v in corruptions.imagenet_cbar(folder, check=False).items()}


def test_generated_folder_records_its_recipe_and_the_reader_fingerprints_it(generated, tmp_path):
    _, _, out, _ = generated
    assert cbar.RECIPE == 2
    assert json.loads((out / cbar_manifest.MANIFEST).read_text()) == {"recipe": 2}
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    new = _fingerprints(copy)
    (copy / cbar_manifest.MANIFEST).unlink()  # the same files, as before recipe 2 (no manifest)
    old = _fingerprints(copy)
    assert old.keys() == new.keys() and all(old[k] != new[k] for k in new)
    cbar_manifest.write(copy, 3)
    assert all(v not in (old[k], new[k]) for k, v in _fingerprints(copy).items())
    cbar_manifest.write(copy, 2)
    assert _fingerprints(copy) == new  # the fingerprint depends on the recipe, not on where the files are


@pytest.mark.parametrize("text, expected", [("{", "unreadable"), ('{"recipe": "2"}', "recipe is '2'"),
                                            ("[2]", "unreadable")])
def test_a_bad_manifest_is_one_line_naming_it(tmp_path, text, expected):
    (tmp_path / cbar_manifest.MANIFEST).write_text(text)
    with pytest.raises(DatasetError, match=expected) as e:
        corruptions.imagenet_cbar(tmp_path, check=False)
    assert str(tmp_path / cbar_manifest.MANIFEST) in str(e.value) and "\n" not in str(e.value)


def test_prepare_data_cbar_refuses_files_of_the_old_recipe_until_they_are_regenerated(tmp_path, capsys):
    write_val_tree(tmp_path / "imagenet", [3], per_class=1, size=(240, 240))
    args = ["--root", str(tmp_path), "--datasets", "cbar", "--no-progress", "--workers", "1",
            "--check-dataset", "false"]
    dst = tmp_path / "imagenet-cbar"
    assert run.main(args) == 0
    capsys.readouterr()
    perlin = sorted((dst / "perlin_noise").rglob("*.JPEG"))
    others = {f: f.read_bytes() for f in dst.rglob("*.JPEG") if f not in perlin}
    new_perlin = {f: f.read_bytes() for f in perlin}
    for f in perlin:  # a folder generated before recipe 2: other perlin_noise files and no manifest
        _jpeg(np.full((224, 224, 3), 90, np.uint8), f)
    (dst / cbar_manifest.MANIFEST).unlink()
    for args_now in (args, args + ["--dry-run"]):
        assert run.main(args_now) == 1
        lines = [line for line in capsys.readouterr().out.splitlines() if "GB free" not in line]  # --dry-run's
        assert lines == [(f"ImageNet-C-bar: FAILED: {dst / 'perlin_noise'}: files of an older biasbench recipe "
                          "(before recipe 2 its perlin_noise differed from the authors'); delete that folder and "
                          "rerun to regenerate it")]
    assert not (dst / cbar_manifest.MANIFEST).exists()
    with pytest.raises(UserError, match="perlin_noise: files of an older"):  # the library refuses as well
        cbar.generate(imagenet_val(tmp_path / "imagenet", check=False), dst, workers=1, progress=False)
    shutil.rmtree(dst / "perlin_noise")
    assert run.main(args) == 0
    assert "50 images found, 50 expected, OK" in capsys.readouterr().out
    assert {f: f.read_bytes() for f in (dst / "perlin_noise").rglob("*.JPEG")} == new_perlin  # regenerated
    assert all(f.read_bytes() == b for f, b in others.items())  # the other nine were kept as they were
    assert cbar_manifest.recipe(dst) == 2


def test_a_folder_of_a_newer_recipe_is_refused(tmp_path):
    cbar_manifest.write(tmp_path, cbar.RECIPE + 1)
    with pytest.raises(UserError, match=f"newer biasbench \\(recipe {cbar.RECIPE + 1}, this one makes "):
        cbar.claim(tmp_path)
