"""Spectral low-/high-pass filter against a per-image NumPy FFT version and hand-checked radii."""

import numpy as np
import pytest
import torch

from biasbench.errors import ConfigError
from biasbench.transforms.spectral import CUTOFFS, PREFERENCE_CUTOFFS, Bandpass, bandpass, square_radii

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _numpy_bandpass(image_chw, cutoff, lowpass):
    """The definition (docs/benchmarks.md "Bias measurements") for one image, written plainly with numpy.fft and
    explicit index ranges."""
    c, h, w = image_chw.shape
    c_eff = cutoff if lowpass else 1 - cutoff
    cy, cx = h // 2, w // 2
    ry, rx = int(c_eff * cy), int(c_eff * cx)
    out = np.empty_like(image_chw)
    for ch in range(c):
        spec = np.fft.fftshift(np.fft.fft2(image_chw[ch]))
        mask = np.zeros((h, w)) if lowpass else np.ones((h, w))
        mask[cy - ry:cy + ry, cx - rx:cx + rx] = 1 if lowpass else 0
        out[ch] = np.clip(np.fft.ifft2(np.fft.ifftshift(spec * mask)).real, 0, 1)
    return out


@pytest.mark.parametrize("lowpass", [True, False])
@pytest.mark.parametrize("cutoff", [0.01, 0.1, 0.3, 0.5, 0.7, 0.99])
def test_matches_numpy_per_image(cutoff, lowpass):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 3, 224, 224)).astype(np.float64) / 255.0
    got = bandpass(torch.from_numpy(images).float(), cutoff, lowpass).numpy()
    for i in range(len(images)):
        np.testing.assert_allclose(got[i], _numpy_bandpass(images[i], cutoff, lowpass), rtol=0, atol=2e-6)


def test_odd_and_non_square_sizes_match_numpy():
    rng = np.random.default_rng(1)
    images = rng.random((2, 3, 37, 50))
    for lowpass in (True, False):
        got = bandpass(torch.from_numpy(images), 0.4, lowpass).numpy()
        for i in range(2):
            np.testing.assert_allclose(got[i], _numpy_bandpass(images[i], 0.4, lowpass), rtol=0, atol=1e-12)


def test_radii_by_hand():
    assert square_radii(224, 224, 0.1, True) == (11, 11)      # int(11.2)
    assert square_radii(224, 224, 0.99, True) == (110, 110)   # int(110.88)
    assert square_radii(224, 224, 0.01, True) == (1, 1)
    assert square_radii(224, 224, 0.5, True) == (56, 56)
    assert square_radii(224, 224, 0.1, False) == (100, 100)   # int(0.9 * 112) = int(100.8)
    assert square_radii(224, 224, 0.99, False) == (1, 1)
    assert square_radii(224, 112, 0.3, True) == (33, 16)
    # the reference's np.arange cut-offs (0.30000000000000004, 0.7000000000000001, ...) give the same radii
    ref_cutoffs = [0.01, *np.arange(0.1, 0.99, 0.1), 0.99]
    for lowpass in (True, False):
        assert [square_radii(224, 224, c, lowpass) for c in ref_cutoffs] == \
               [square_radii(224, 224, c, lowpass) for c in CUTOFFS]


def test_lowpass_keeps_the_square_exactly():
    """A single frequency just inside the square survives low-pass; one just outside is removed."""
    h = w = 224
    r = square_radii(h, w, 0.1, True)[0]  # 11: kept offsets are -11..10 around DC
    yy, xx = np.mgrid[0:h, 0:w]
    inside = 0.5 + 0.2 * np.cos(2 * np.pi * (10 * xx) / w)    # offsets +-10: both inside
    outside = 0.5 + 0.2 * np.cos(2 * np.pi * (r * xx) / w)    # offset +11 lies outside [-11, 11)
    imgs = torch.from_numpy(np.stack([inside, outside])[:, None])
    out = bandpass(imgs, 0.1, lowpass=True).numpy()[:, 0]
    np.testing.assert_allclose(out[0], inside, atol=1e-12)
    # +11 removed, -11 kept: half the cosine's amplitude remains, as a complex exponential's real part
    np.testing.assert_allclose(out[1], 0.5 + 0.1 * np.cos(2 * np.pi * (r * xx) / w), atol=1e-12)


def _band_limited(h, w, k, seed):
    """A real image in [0.2, 0.8] whose spectrum lies within offsets -k..k of DC in both axes."""
    rng = np.random.default_rng(seed)
    spec = np.fft.fftshift(np.fft.fft2(rng.random((h, w))))
    mask = np.zeros((h, w))
    mask[h // 2 - k:h // 2 + k + 1, w // 2 - k:w // 2 + k + 1] = 1  # symmetric: the result stays real
    img = np.fft.ifft2(np.fft.ifftshift(spec * mask)).real
    return 0.2 + 0.6 * (img - img.min()) / (img.max() - img.min())


@pytest.mark.parametrize("cutoff,k", [(0.99, 109), (0.5, 55), (0.1, 10)])
def test_lowpass_keeps_an_image_inside_its_square(cutoff, k):
    # kept offsets for 224 px are -r..r-1 with r = 110, 56, 11
    img = torch.from_numpy(np.stack([_band_limited(224, 224, k, s) for s in range(3)])[None])
    torch.testing.assert_close(bandpass(img, cutoff, True), img, rtol=0, atol=1e-12)
    # the high-pass that zeroes the same square removes all of it
    torch.testing.assert_close(bandpass(img, 1 - cutoff, False), torch.zeros_like(img), rtol=0, atol=1e-12)


def test_pure_dc_image():
    const = torch.full((2, 3, 224, 224), 0.37, dtype=torch.float64)
    for c in CUTOFFS:
        torch.testing.assert_close(bandpass(const, c, True), const, rtol=0, atol=1e-12)
        torch.testing.assert_close(bandpass(const, c, False), torch.zeros_like(const), rtol=0, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_callable_class_and_device(device):
    x = torch.rand(2, 3, 224, 224, device=device)
    t = Bandpass(0.4, lowpass=False)
    out = t(x, torch.arange(2, device=device))
    assert out.device.type == device and out.dtype == x.dtype and out.shape == x.shape
    torch.testing.assert_close(out, bandpass(x, 0.4, False))
    assert 0 <= out.min().item() and out.max().item() <= 1


def test_constants():
    assert CUTOFFS == (0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99)
    assert PREFERENCE_CUTOFFS == (0.1, 0.2, 0.3, 0.4, 0.5)


@pytest.mark.parametrize("cutoff", [0, 1, -0.1, 1.5, float("nan")])
def test_bad_cutoff_raises_config_error(cutoff):
    with pytest.raises(ConfigError):
        Bandpass(cutoff, True)
    with pytest.raises(ConfigError):
        bandpass(torch.rand(1, 3, 8, 8), cutoff, False)


def test_bad_images_raise_config_error():
    with pytest.raises(ConfigError):
        bandpass(torch.rand(3, 8, 8), 0.5, True)
    with pytest.raises(ConfigError):
        bandpass(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), 0.5, True)


def test_conditions_of_one_batch_share_its_spectrum_but_never_a_stale_one():
    """The runner filters one batch under every cut-off with one FFT (``Bandpass.shared_step``, computed
    once per batch and passed to each filter); a new or modified batch is transformed afresh."""
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (5, 3, 224, 224)).astype(np.float64) / 255.0
    x = torch.from_numpy(images).float()
    spectrum = Bandpass.shared_step(x)
    for c in CUTOFFS:  # same batch, every condition, as the runner calls them
        for lowpass in (True, False):
            got = Bandpass(c, lowpass)(x, torch.arange(5), spectrum).numpy()
            for i in (0, 4):
                np.testing.assert_allclose(got[i], _numpy_bandpass(images[i], c, lowpass), rtol=0, atol=2e-6)
            np.testing.assert_array_equal(got, Bandpass(c, lowpass)(x, torch.arange(5)).numpy())  # same as alone
    with pytest.raises(ConfigError, match="does not belong to images"):
        bandpass(x[:4], 0.3, True, spectrum)  # another batch's spectrum
    x.mul_(0.5)  # modified in place: the old spectrum must not be used
    np.testing.assert_allclose(bandpass(x, 0.3, True)[1].numpy(), _numpy_bandpass(images[1] * 0.5, 0.3, True),
                               rtol=0, atol=2e-6)
    y = x.flip(0).contiguous()  # another tensor
    np.testing.assert_allclose(bandpass(y, 0.3, True)[0].numpy(), _numpy_bandpass(images[4] * 0.5, 0.3, True),
                               rtol=0, atol=2e-6)
    with torch.inference_mode():  # inference tensors have no version counter: never cached
        z = torch.from_numpy(images[:2]).float()
        np.testing.assert_allclose(bandpass(z, 0.5, False)[1].numpy(), _numpy_bandpass(images[1], 0.5, False),
                                   rtol=0, atol=2e-6)
