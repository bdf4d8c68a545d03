"""The re-created reference approach in bench/ (the performance baseline) computes what the suite computes."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torchvision import transforms as T

from biasbench.benchmarks.spectral import Spectral
from biasbench.data.decode import decode
from biasbench.data.imagenet import imagenet_val
from biasbench.results import ResultsStore
from biasbench.runner import RunOptions, run
from biasbench.synthetic import write_datasets
from biasbench.transforms.criticalband import CriticalBandNoise
from biasbench.transforms.spectral import CUTOFFS, bandpass

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import reference_approach as ref  # noqa: E402

CLASSES = (2, 10, 100, 207)


@pytest.fixture(scope="module")
def val(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    write_datasets(root, classes=CLASSES, per_class=3, which=["imagenet"])
    return imagenet_val(root / "imagenet", check=False)


def _crop(images, i):
    """The reference's PIL pipeline up to the filter: Resize(256), CenterCrop(224)."""
    return T.Compose(ref.RESIZE_CROP)(Image.open(images.path(i)).convert("RGB"))


class _Prototypes(nn.Module):
    """Nearest class mean of pooled local contrast and edge energy, fitted on the clean images:
    accurate on them, and hurt more the less of the spectrum a low-pass keeps."""

    def __init__(self, images):
        super().__init__()
        self.register_buffer("edge", torch.tensor([[0.0, -1, 0], [-1, 4, -1], [0, -1, 0]]).expand(3, 1, 3, 3).clone())
        x = torch.stack([decode(images.path(i), images.preprocess) for i in range(len(images))]).float() / 255
        feats = self.features(x)
        labels = torch.as_tensor(images.labels)
        self.register_buffer("means", torch.stack([feats[labels == c].mean(0) for c in range(1000)]).nan_to_num(1e3))

    def features(self, x):
        contrast = (x - F.avg_pool2d(x, 9, 1, 4)).abs()
        edges = F.conv2d(x, self.edge, padding=1, groups=3).abs()
        return torch.cat([F.adaptive_avg_pool2d(contrast, 4).flatten(1), F.adaptive_avg_pool2d(edges, 4).flatten(1)], 1)

    def forward(self, x):
        return -torch.cdist(self.features(x), self.means)


@pytest.fixture(autouse=True)
def one_thread():
    # Per-image FFTs on small tensors: extra threads only wait for each other on a shared machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_reference_bandpass_equals_the_suites(val):
    x = torch.stack([T.ToTensor()(_crop(val, i)) for i in range(4)])
    # the suite decodes to the same pixels as the reference's PIL pipeline
    suite_x = torch.stack([decode(val.path(i), val.preprocess) for i in range(4)]).float() / 255
    torch.testing.assert_close(suite_x, x, rtol=0, atol=0)
    for c in CUTOFFS:
        for lowpass in (True, False):
            got = bandpass(suite_x, c, lowpass)
            want = torch.stack([ref.bandpass_filter(x[i], c, lowpass) for i in range(4)])
            # the suite filters the half spectrum of a real FFT, the reference the full complex one
            torch.testing.assert_close(got, want, rtol=0, atol=2e-6)


def test_reference_spectral_run_gives_the_suites_accuracies(tmp_path, val):
    net = _Prototypes(val).eval()
    store = ResultsStore(tmp_path / "benchmark.csv")
    out = run([Spectral(val)], ["net"], store, RunOptions(device="cpu", batch_size=5, num_workers=0, progress=False),
              load=lambda name, device: net)
    prefix = "top1_acc/spectral/"
    suite = {k[len(prefix):]: v for k, v in out["net"].items() if k.startswith(prefix)}
    reference = ref.run_conditions(net, ref.spectral_conditions(val.root, CUTOFFS), batch_size=5, num_workers=0,
                                   device=torch.device("cpu"))
    assert set(reference) == set(suite) and len(suite) == 23
    assert reference == suite
    assert suite["clean"] > 80 and len(set(suite.values())) >= 5  # a real test: accuracies differ by condition


@pytest.mark.parametrize("band,sd", [(0, 0.16), (3, 0.08), (6, 0.02), (None, 0.0)])
def test_reference_critical_band_equals_the_suites_with_the_same_noise(val, band, sd):
    indices = [0, 5, 11]
    transform = CriticalBandNoise(band, sd, seed=0)  # a seed whose band-0 noise moves pixels
    u8 = torch.stack([decode(val.path(i), val.preprocess) for i in indices])
    got = transform(u8, torch.tensor(indices))
    moved = 0
    for k, i in enumerate(indices):
        noise = transform.white_noise(torch.tensor([i]), 224, 224)[0].numpy() if sd else None

        def redraw():  # the suite's redraws are keyed by pixel, the reference's are sequential
            raise AssertionError("a noise redraw: this test's images never need one")
        # the reference transform itself: cropped PIL image -> HWC float32 (-> ToTensor)
        grey_u8 = np.asarray(_crop(val, i).convert("L"), dtype=np.uint8)
        want = ref.critical_band_grey(grey_u8, band, sd, noise, redraw)
        for c in range(3):
            np.testing.assert_allclose(got[k, c].numpy(), want, rtol=0, atol=1e-6)
        moved += int(np.isclose(want, 0.1, atol=1e-6).sum() + np.isclose(want, 0.9, atol=1e-6).sum())
    if sd == 0.16:  # the out-of-range pixel loop ran and moved pixels
        assert moved > 0


def test_reference_critical_band_pipeline_output(val):
    """The whole reference transform (Resize, CenterCrop, filter, ToTensor) gives a 3-channel
    float image in [0, 1] around the grey mean, as the suite's does."""
    np.random.seed(0)
    x = ref.critical_band_transform(2, 0.04)(Image.open(val.path(3)).convert("RGB"))
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    assert torch.equal(x[0], x[2]) and 0 <= x.min() and x.max() <= 1
    assert abs(x.mean().item() - 0.449) < 0.02


def test_release_perlin_loop_is_the_suites_perlin_noise():
    """The timing baseline of bench_cbar_generation.py computes what the generator writes."""
    from biasbench.prepare.cbar_corruptions import perlin_noise

    img = np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    for seed, p in ((0, 4.6), (5, 8.8)):
        want = perlin_noise(img, p, np.random.RandomState(seed))
        assert np.array_equal(ref.release_perlin_noise(img, p, np.random.RandomState(seed)), want)
