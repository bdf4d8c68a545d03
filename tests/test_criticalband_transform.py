"""Critical-band noise transform against PIL, pyrtools and a per-image NumPy version of the definition
(docs/benchmarks.md "Bias measurements")."""

import numpy as np
import pyrtools as pt
import pytest
import torch
from PIL import Image

from biasbench.errors import ConfigError
from biasbench.transforms.criticalband import (
    BANDS,
    SDS,
    CriticalBandNoise,
    centre_frequency,
    fix_out_of_range,
    pil_greyscale,
)
from biasbench.transforms.laplacian import band_reconstruction, pyramid_height
from test_rng import reference_normal

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _random_rgb(n, h=224, w=224, seed=0):
    """uint8 HWC images with smooth structure plus pixel noise, like photos, and pure extremes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    imgs = []
    for _ in range(n):
        base = 127 + 100 * np.sin(2 * np.pi * (rng.uniform(1, 4) * xx + rng.uniform(1, 4) * yy))[..., None]
        imgs.append(np.clip(base + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8))
    imgs[0][:8, :8] = 0
    imgs[0][-8:, -8:] = 255
    return np.stack(imgs)


def _to_tensor(hwc_batch):
    return torch.from_numpy(hwc_batch).permute(0, 3, 1, 2).float() / 255.0


# ---------------------------------------------------------------- greyscale

def test_greyscale_is_bit_identical_to_pil():
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (6, 31, 45, 3), dtype=np.uint8)
    imgs[0] = 255
    imgs[1] = 0
    expected = np.stack([np.asarray(Image.fromarray(im).convert("L")) for im in imgs])
    got_float = pil_greyscale(_to_tensor(imgs)).numpy()
    got_uint8 = pil_greyscale(torch.from_numpy(imgs).permute(0, 3, 1, 2)).numpy()
    np.testing.assert_array_equal(got_float, expected)
    np.testing.assert_array_equal(got_uint8, expected)


# ---------------------------------------------------------------- pyramid

def test_pyramid_height_matches_pyrtools():
    for h, w in [(224, 224), (96, 128), (160, 200), (37, 53)]:
        assert pyramid_height(h, w) == pt.pyramids.LaplacianPyramid(np.zeros((h, w))).num_scales
    assert pyramid_height(224, 224) == 7


@pytest.mark.parametrize("shape", [(224, 224), (64, 96), (75, 101), (130, 67)])
def test_band_reconstruction_equals_pyrtools(shape):
    rng = np.random.default_rng(2)
    noise = rng.normal(0.0, 0.1, (2, *shape))
    for level in range(pyramid_height(*shape)):
        got = band_reconstruction(torch.from_numpy(noise), level).numpy()
        for i in range(len(noise)):
            ref = pt.pyramids.LaplacianPyramid(noise[i]).recon_pyr(levels=level)
            np.testing.assert_allclose(got[i], ref, rtol=0, atol=1e-12, err_msg=f"level {level}")


# ---------------------------------------------------------------- the whole transform

def _reference_transform(rgb_hwc, noise, sd, band, draw):
    """The definition for one image, written plainly: PIL, pyrtools, a pixel loop. ``draw(i, j, k)`` gives
    the k-th N(0,1) redraw of pixel (i, j)."""
    image = np.asarray(Image.fromarray(rgb_hwc).convert("L"), dtype=np.uint8) / 255.0
    image = (image - image.mean()) * 0.2 + 0.449
    if sd == 0:
        return np.stack([image] * 3).astype(np.float32)
    pyr = pt.pyramids.LaplacianPyramid(noise)
    recon = pyr.recon_pyr(levels=6 - band)
    first = pyr.recon_pyr(levels=0)
    rms = lambda a: np.sqrt(np.mean(np.square(a)))  # noqa: E731
    sf_noise = recon * rms(first) / rms(recon)
    noisy = image + sf_noise
    for i in range(noisy.shape[0]):
        for j in range(noisy.shape[1]):
            if 0 <= noisy[i, j] <= 1:
                continue
            newp = (0.1 if noisy[i, j] < 0 else 0.9) - sf_noise[i, j]
            if 0 <= newp <= 1:
                image[i, j] = newp
            else:
                n, k = sf_noise[i, j], 0
                while not 0 <= image[i, j] + n <= 1:
                    k += 1
                    n = draw(i, j, k) * sd
                sf_noise[i, j] = n
    return np.stack([image + sf_noise] * 3).astype(np.float32)


@pytest.mark.parametrize("band,sd", [(1, 0.16), (4, 0.08), (6, 0.02), (None, 0.0)])
def test_transform_equals_per_image_numpy_reference(band, sd):
    rgb = _random_rgb(3)
    indices = torch.tensor([5, 17, 40000])
    transform = CriticalBandNoise(band, sd, seed=3)
    got = transform(_to_tensor(rgb), indices).numpy()
    assert got.shape == (3, 3, 224, 224) and got.dtype == np.float32
    n_moved = 0
    for k, idx in enumerate(indices.tolist()):
        # the noise: Philox4x32-10 words of counters (pixel pair, 0, idx) through Box-Muller
        noise = reference_normal(transform.noise_key(), idx, 224 * 224).reshape(224, 224) * sd if sd else None
        draw = lambda i, j, k: reference_normal(transform.noise_key(), idx, 1, draw=k, start=224 * i + j)[0]  # noqa: E731
        expected = _reference_transform(rgb[k], noise, sd, band, draw)
        np.testing.assert_allclose(got[k], expected, rtol=0, atol=2e-7)
        n_moved += int(np.isclose(expected, 0.1, atol=1e-7).sum() + np.isclose(expected, 0.9, atol=1e-7).sum())
    if band == 1:  # SD 0.16 on a contrast-0.2 image: the out-of-range rule must have been exercised
        assert n_moved > 0


def test_noise_does_not_depend_on_batching_or_order():
    x = _to_tensor(_random_rgb(6, seed=4))
    idx = torch.arange(100, 106)
    transform = CriticalBandNoise(3, 0.08)
    whole = transform(x, idx)
    perm = torch.tensor([4, 1, 5, 0, 3, 2])
    parts = torch.cat([transform(x[perm[:2]], idx[perm[:2]]), transform(x[perm[2:]], idx[perm[2:]])])
    torch.testing.assert_close(parts, whole[perm], rtol=0, atol=0)
    # a different image index, seed, band or SD gives different noise
    base = whole[0]
    for other in (transform(x[:1], idx[:1] + 1), CriticalBandNoise(3, 0.08, seed=1)(x[:1], idx[:1]),
                  CriticalBandNoise(2, 0.08)(x[:1], idx[:1]), CriticalBandNoise(3, 0.04)(x[:1], idx[:1])):
        assert (other[0] - base).abs().max() > 1e-3


def test_noise_free_run_is_the_low_contrast_grey_image():
    rgb = _random_rgb(2, seed=5)
    grey = np.stack([np.asarray(Image.fromarray(im).convert("L")) for im in rgb]) / 255.0
    expected = (grey - grey.mean(axis=(1, 2), keepdims=True)) * 0.2 + 0.449
    for transform in (CriticalBandNoise(None, 0.0), CriticalBandNoise(5, 0)):
        got = transform(_to_tensor(rgb), torch.tensor([0, 1])).numpy()
        for c in range(3):
            np.testing.assert_allclose(got[:, c], expected, rtol=0, atol=1e-7)


@pytest.mark.parametrize("device", DEVICES)
def test_runs_on_the_images_device(device):
    x = _to_tensor(_random_rgb(2, seed=6)).to(device)
    out = CriticalBandNoise(2, 0.16)(x, torch.tensor([0, 1], device=device))
    assert out.device.type == device and out.dtype == torch.float32
    assert 0.0 <= out.min().item() and out.max().item() <= 1.0
    assert torch.equal(out[:, 0], out[:, 2])


# ---------------------------------------------------------------- out-of-range rule by hand

def test_out_of_range_rule_by_hand():
    sd = 0.5
    image = torch.tensor([[[0.3, 0.3, 0.5, 0.5], [0.05, 0.4, 0.95, 0.6]]], dtype=torch.float64)
    noise = torch.tensor([[[-0.5, 0.2, 0.8, 0.5], [-0.95, -0.4, 0.95, -0.7]]], dtype=torch.float64)
    draws = []

    def redraw(rows, pixels, attempt):  # attempt k of pixel p: a fixed value per (p, k), logged
        draws.append((rows.tolist(), pixels.tolist(), attempt))
        return torch.tensor([[-0.9, 0.7, 0.6, -0.3][attempt - 1] * sd * (1 if p == 4 else -1)
                             for p in pixels.tolist()], dtype=torch.float64)

    out = fix_out_of_range(image, noise, sd, redraw)
    # below 0 -> ends at 0.1; above 1 -> 0.9; in range (0.5 + 0.5 = 1.0 and 0.4 - 0.4 = 0) untouched
    assert out[0, 0, 0].item() == pytest.approx(0.1, abs=1e-15)
    assert out[0, 0, 1].item() == pytest.approx(0.5, abs=1e-15)
    assert out[0, 0, 2].item() == pytest.approx(0.9, abs=1e-15)
    assert out[0, 0, 3].item() == 1.0
    assert out[0, 1, 1].item() == 0.0
    assert out[0, 1, 3].item() == pytest.approx(0.1, abs=1e-15)
    # 0.05 - 0.95 < 0 and 0.1 + 0.95 > 1: redraw; 0.95 + 0.95 > 1 and 0.9 - 0.95 < 0: redraw.
    # Pixel 4 (0.05): -0.45 out, 0.35 in -> 0.05 + 0.35 after 2 attempts; pixel 6 (0.95): +0.45 out,
    # -0.35 in -> 0.95 - 0.35 after 2 attempts. Every attempt redraws only the pixels still out.
    assert out[0, 1, 0].item() == pytest.approx(0.05 + 0.35, abs=1e-15)
    assert out[0, 1, 2].item() == pytest.approx(0.95 - 0.35, abs=1e-15)
    assert draws == [([0, 0], [4, 6], 1), ([0, 0], [4, 6], 2)]


def test_fix_out_of_range_keeps_in_range_batches():
    image = torch.full((2, 3, 3), 0.449, dtype=torch.float64)
    noise = torch.linspace(-0.4, 0.5, 18, dtype=torch.float64).reshape(2, 3, 3)
    torch.testing.assert_close(fix_out_of_range(image, noise, 0.1, None), image + noise, rtol=0, atol=0)


# ---------------------------------------------------------------- constants and bad input

def test_grid_constants():
    assert BANDS == tuple(range(7)) and SDS == (0.02, 0.04, 0.08, 0.16)
    assert [centre_frequency(f) for f in BANDS] == [1.75, 3.5, 7.0, 14.0, 28.0, 56.0, 112.0]


@pytest.mark.parametrize("band,sd", [(7, 0.02), (-1, 0.02), (None, 0.02), (2, -0.1), (2, float("nan")), (1.5, 0.02)])
def test_bad_conditions_raise_config_error(band, sd):
    with pytest.raises(ConfigError):
        CriticalBandNoise(band, sd)


def test_bad_images_raise_config_error():
    t = CriticalBandNoise(2, 0.02)
    idx = torch.tensor([0])
    with pytest.raises(ConfigError, match="RGB"):
        t(torch.rand(1, 1, 224, 224), idx)
    with pytest.raises(ConfigError, match="uint8"):
        t(torch.rand(1, 3, 224, 224), idx)  # not on the uint8 grid
    with pytest.raises(ConfigError, match="uint8"):
        t(_to_tensor(_random_rgb(1)) - 0.5, idx)  # normalised
    with pytest.raises(ConfigError, match="160x160"):
        t(torch.zeros(1, 3, 128, 128), idx)
    with pytest.raises(ConfigError, match="indices"):
        t(torch.zeros(2, 3, 224, 224), idx)


@pytest.mark.parametrize("band,sd", [(1, 0.16), (6, 0.02)])
def test_float32_arithmetic_stays_within_one_float32_step_of_the_float64_reference(band, sd):
    """float32 (what "auto" picks on GPUs with slow float64) against the same numpy float64 reference
    as above: within 1e-6 of it (the float64 path is within 2e-7), never a grey level (3.9e-3)."""
    rgb = _random_rgb(2, seed=9)
    indices = torch.tensor([3, 777])
    t64, t32 = CriticalBandNoise(band, sd, seed=1), CriticalBandNoise(band, sd, seed=1, dtype="float32")
    x = _to_tensor(rgb)
    got32, got64 = t32(x, indices).numpy(), t64(x, indices).numpy()
    for k, idx in enumerate(indices.tolist()):
        noise = reference_normal(t64.noise_key(), idx, 224 * 224).reshape(224, 224) * sd
        draw = lambda i, j, k: reference_normal(t64.noise_key(), idx, 1, draw=k, start=224 * i + j)[0]  # noqa: E731
        expected = _reference_transform(rgb[k], noise, sd, band, draw)
        np.testing.assert_allclose(got32[k], expected, rtol=0, atol=1e-6)
    assert 0 < np.abs(got32 - got64).max() < 1e-6  # really computed in float32, and close


def test_auto_arithmetic_is_float64_on_the_cpu_and_on_full_rate_float64_gpus(monkeypatch):
    from biasbench.transforms import criticalband as cb

    x, idx = _to_tensor(_random_rgb(1, seed=2)), torch.tensor([0])
    assert torch.equal(CriticalBandNoise(3, 0.08, dtype="auto")(x, idx), CriticalBandNoise(3, 0.08)(x, idx))
    for capability, expected in (((9, 0), torch.float64), ((8, 0), torch.float64), ((8, 6), torch.float32),
                                 ((8, 9), torch.float32), ((7, 5), torch.float32)):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None, c=capability: c)
        assert cb.arithmetic_dtype("auto", torch.device("cuda")) == expected
    assert cb.arithmetic_dtype("float32", torch.device("cpu")) == torch.float32
    with pytest.raises(ConfigError, match="critical-band arithmetic 'half'"):
        CriticalBandNoise(3, 0.08, dtype="half")
