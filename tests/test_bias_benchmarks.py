"""Spectral and critical-band benchmarks end to end on the runner, against direct computation."""

import numpy as np
import pytest
import torch

from biasbench.benchmarks.criticalband import CriticalBand
from biasbench.benchmarks.spectral import Spectral
from biasbench.data.imagenet import imagenet_val
from biasbench.metrics.criticalband import fit, fit_normalized
from biasbench.results import ResultsStore
from biasbench.runner import RunOptions, run
from biasbench.transforms.criticalband import BANDS, SDS, CriticalBandNoise
from biasbench.transforms.spectral import CUTOFFS, Bandpass, bandpass, half_spectrum

from helpers import TinyNet, interpolating_tinynet, paper_batch, write_val_tree

OPTS = RunOptions(device="cpu", num_workers=0, progress=False, batch_size=4)


@pytest.fixture(scope="module")
def val(tmp_path_factory):
    return imagenet_val(write_val_tree(tmp_path_factory.mktemp("in"), [0, 1, 2, 3, 4], per_class=2), check=False)


@pytest.fixture(scope="module")
def val_small(val):
    return val.subset(5)  # one image per class: the 29 noise conditions are the costly part


@pytest.fixture(scope="module")
def batch(val):
    return paper_batch(val)


def _acc(net, x, labels):
    with torch.no_grad():
        return 100.0 * (net(x).argmax(1) == labels).float().mean().item()


def test_spectral_columns_equal_direct_computation(tmp_path, val, batch):
    labels = torch.as_tensor(val.labels)
    net = interpolating_tinynet(batch, labels, seed=3)
    out = run([Spectral(val)], ["n"], ResultsStore(tmp_path / "b.csv"), OPTS, load=lambda m, d: net)["n"]
    clean = _acc(net, batch, labels)
    assert out["top1_acc/spectral/clean"] == pytest.approx(clean) and clean > 50
    for c in CUTOFFS:
        lfc = _acc(net, bandpass(batch, c, True), labels)
        hfc = _acc(net, bandpass(batch, c, False), labels)
        assert out[f"top1_acc/spectral/LFC/{c}"] == pytest.approx(lfc)
        assert out[f"metric/bandpass/LFC/{c}"] == pytest.approx(lfc / clean)
        assert out[f"metric/bandpass/HFC/{c}"] == pytest.approx(hfc / clean)
    lpp = np.mean([out[f"metric/bandpass/LFC/{c}"] for c in (0.1, 0.2, 0.3, 0.4, 0.5)])
    assert out["metric/bandpass/LPP"] == pytest.approx(lpp)
    assert len([k for k in out if k.startswith("metric/bandpass/")]) == 24


def test_spectral_pass_computes_each_batchs_spectrum_once(tmp_path, val, monkeypatch):
    """The 22 filters of a batch share one forward FFT: the pass computes ``Bandpass.shared_step`` once
    per batch and hands it to every filter (the columns are those of filtering alone, test above)."""
    calls = []

    def counted(images):
        calls.append(len(images))
        return half_spectrum(images)

    monkeypatch.setattr(Bandpass, "shared_step", staticmethod(counted))
    run([Spectral(val)], ["n"], ResultsStore(tmp_path / "b.csv"), OPTS, load=lambda m, d: TinyNet(3))
    assert calls == [4, 4, 2]  # 10 images in batches of 4


def test_criticalband_grid_and_fit_equal_direct_computation(tmp_path, val_small):
    val = val_small
    batch = paper_batch(val)
    labels = torch.as_tensor(val.labels)
    grey = CriticalBandNoise(None, 0.0)(batch, torch.arange(len(val)))
    net = interpolating_tinynet(grey, labels, seed=3)  # right on the noise-free grey images
    store = ResultsStore(tmp_path / "cb.csv")
    out = run([CriticalBand(val, seed=7)], ["n"], store, OPTS, load=lambda m, d: net)["n"]
    idx = torch.arange(len(val))
    grid = np.zeros((5, 7))
    grid[0, :] = _acc(net, grey, labels)
    for r, sd in enumerate(SDS, start=1):
        for b in BANDS:
            grid[r, b] = _acc(net, CriticalBandNoise(b, sd, seed=7)(batch, idx), labels)
            assert out[f"top1_acc/criticalband/f={b}/sd={sd}"] == pytest.approx(grid[r, b])
    assert out["top1_acc/criticalband/sd=0"] == pytest.approx(grid[0, 0]) and grid[0, 0] > 50
    assert grid[1:].min() < grid[0, 0]  # noise hurts somewhere, so the fit is not trivial
    norm, plain = fit_normalized(grid), fit(grid)
    assert out["metric/criticalband/bw_norm"] == pytest.approx(norm.bw)
    assert out["metric/criticalband/cf_norm"] == pytest.approx(norm.cf)
    assert out["metric/criticalband/pns_norm"] == pytest.approx(norm.pns)
    assert out["metric/criticalband/bw"] == pytest.approx(plain.bw)
    # the seed is part of the protocol: another seed is another noise draw, recorded separately
    assert {r.seed for r in store.records()} == {0}  # RunOptions' seed is provenance only here


def test_spectral_ratios_are_left_out_when_no_clean_image_is_right(tmp_path, val):
    # a model right on no clean image: the filtered/clean ratios are undefined; the run must not fail
    # after its whole pass, and the raw accuracies are kept
    net = TinyNet(5)
    with torch.no_grad():
        net.fc.bias[999] = 1e6  # always predicts class 999, which no image has
    store = ResultsStore(tmp_path / "r.csv")
    out = run([Spectral(val)], ["never"], store, OPTS, load=lambda name, device: net)["never"]
    assert out["top1_acc/spectral/clean"] == 0.0 and len(out) == 2 * len(CUTOFFS) + 1
    assert not any(k.startswith("metric/bandpass/") for k in out)
