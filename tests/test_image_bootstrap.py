"""Bootstrap over images: an accuracy's interval equals scipy.stats.bootstrap's percentile
interval with the same seed; derived metrics (LPP/HPP, critical-band fit, shape bias) equal a
hand-written paired resampling with the same draws; seeded runs repeat exactly."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from biasbench.analysis.image_bootstrap import (
    accuracy_interval,
    benchmark_intervals,
    paired_bootstrap,
    shape_bias_interval,
)
from biasbench.benchmarks.criticalband import CriticalBand
from biasbench.benchmarks.spectral import Spectral
from biasbench.errors import ResultsError
from biasbench.metrics.criticalband import make_grid, summary
from biasbench.metrics.shape_bias import shape_bias
from biasbench.results import Record
from biasbench.results.decisions import Decisions


def test_accuracy_interval_equals_scipy_percentile_bootstrap():
    rng = np.random.default_rng(5)
    correct = rng.random(300) < 0.7
    ours = accuracy_interval(correct, n_resamples=500, seed=11)
    theirs = stats.bootstrap((100.0 * correct,), np.mean, n_resamples=500, method="percentile",
                             random_state=np.random.default_rng(11), vectorized=True)
    assert ours.value == pytest.approx(100 * correct.mean())
    assert (ours.low, ours.high) == (pytest.approx(theirs.confidence_interval.low),
                                     pytest.approx(theirs.confidence_interval.high))
    assert ours == accuracy_interval(correct, n_resamples=500, seed=11)  # reproducible
    assert ours != accuracy_interval(correct, n_resamples=500, seed=12)


def _decided(condition, correct):
    correct = np.asarray(correct)
    record = Record(model="m", benchmark="b", condition=condition, values={"x": 1.0}, n_images=len(correct),
                    fingerprint="ab")
    return Decisions(record, np.arange(len(correct)), np.where(correct, 0, 1), np.zeros(len(correct), int),
                     "imagenet-1k")


def _hand_resampled(correct: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """[n_resamples, k] accuracies (percent) of hand-drawn resamples, scipy's draw order."""
    idx = np.random.default_rng(seed).integers(0, correct.shape[1], (n_resamples, correct.shape[1]))
    return 100.0 * correct[:, idx].mean(axis=-1).T


def test_critical_band_parameters_from_resampled_grids():
    bench = CriticalBand(None, seed=0)
    conds = bench.conditions()
    rng = np.random.default_rng(0)
    n = 120
    # accuracy falls with noise sd, most in the middle bands: a fit with a peak
    probs = [0.9] + [0.9 - c.params["sd"] * (0.8 if 2 <= i % 7 <= 4 else 0.2) / 0.5
                     for i, c in enumerate(conds[1:])]
    correct = np.stack([rng.random(n) < max(p, 0.02) for p in probs])
    by_condition = {c.name: _decided(c.name, k) for c, k in zip(conds, correct)}
    out = benchmark_intervals(bench, by_condition, n_resamples=20, seed=3)
    accs = _hand_resampled(correct, 20, 3)
    from biasbench.benchmarks.criticalband import BANDS, SDS, cell
    names = [c.name for c in conds]
    bw = []
    for row in accs:
        acc = dict(zip(names, row))
        grid = make_grid(acc[names[0]], [[acc[cell(b, sd)] for b in BANDS] for sd in SDS])
        bw.append(summary(grid)["bw"])
    assert out["metric/criticalband/bw"].low == pytest.approx(np.percentile(bw, 2.5))
    assert out["metric/criticalband/bw"].high == pytest.approx(np.percentile(bw, 97.5))
    full = {c: 100 * k.mean() for c, k in zip(names, correct)}
    grid = make_grid(full[names[0]], [[full[cell(b, sd)] for b in BANDS] for sd in SDS])
    assert out["metric/criticalband/bw"].value == pytest.approx(summary(grid)["bw"])
    assert out[f"top1_acc/criticalband/{names[0]}"].value == pytest.approx(full[names[0]])


def test_lpp_hpp_from_resampled_grids():
    bench = Spectral(None)
    conds = bench.conditions()
    rng = np.random.default_rng(1)
    correct = np.stack([rng.random(80) < p for p in np.linspace(0.9, 0.2, len(conds))])
    out = benchmark_intervals(bench, {c.name: _decided(c.name, k) for c, k in zip(conds, correct)},
                              n_resamples=30, seed=4)
    accs = _hand_resampled(correct, 30, 4)
    names = [c.name for c in conds]
    lpp = [np.mean([row[names.index(f"LFC/{c}")] / row[0] for c in (0.1, 0.2, 0.3, 0.4, 0.5)]) for row in accs]
    assert (out["metric/bandpass/LPP"].low, out["metric/bandpass/LPP"].high) == (
        pytest.approx(np.percentile(lpp, 2.5)), pytest.approx(np.percentile(lpp, 97.5)))
    with pytest.raises(ResultsError, match="no stored decisions for condition"):
        benchmark_intervals(bench, {"clean": _decided("clean", correct[0])})


def test_shape_bias_interval_on_the_toolbox_resnet50(reference_dir):
    table = pd.read_csv(reference_dir / "modelvshuman" / "cue-conflict" / "cue-conflict_resnet50_session-1.csv")
    ci = shape_bias_interval(table, n_resamples=200, seed=0)
    assert ci.value == pytest.approx(shape_bias(table).shape_bias) == pytest.approx(169 / 789)
    # hand: resample the 1,200 cue-conflict trials, S / (S + T) on each
    texture = table.imagename.str.split("-").str[-1].str.replace(r"\d+\.png$", "", regex=True)
    keep = table.category != texture
    s = (table.object_response == table.category)[keep].to_numpy()
    t = (table.object_response == texture)[keep].to_numpy()
    idx = np.random.default_rng(0).integers(0, len(s), (200, len(s)))
    draws = s[idx].sum(1) / (s[idx].sum(1) + t[idx].sum(1))
    assert (ci.low, ci.high) == (pytest.approx(np.percentile(draws, 2.5)), pytest.approx(np.percentile(draws, 97.5)))
    assert ci.low < 169 / 789 < ci.high


def test_bad_input():
    with pytest.raises(ResultsError, match="confidence"):
        paired_bootstrap(np.ones((1, 3)), lambda m: {"a": m[0]}, confidence=95)
    with pytest.raises(ResultsError, match=r"\[quantities, images\]"):
        paired_bootstrap(np.ones(3), lambda m: {"a": m[0]})


# --------------------------------------------------------------------------- degenerate resamples


def test_degenerate_critical_band_fits_from_hand_built_threshold_vectors():
    from biasbench.metrics.criticalband import fit_thresholds

    assert fit_thresholds([4] * 7).degenerate and fit_thresholds([4] * 7).bw == pytest.approx(11295.347, abs=1e-3)
    assert fit_thresholds([0] * 7).degenerate  # flat: no band at all
    assert fit_thresholds([0, 0, 0, 4, 0, 0, 0]).degenerate  # a one-band spike: the fit does not converge
    assert fit_thresholds([4, 4, 4, 3, 4, 4, 4]).degenerate  # a dip: sigma runs away
    for peaked in ([0, 0, 0, 4, 4, 0, 0], [0, 1, 2, 4, 2, 1, 0], [0, 0, 1, 2, 3, 4, 4]):
        assert not fit_thresholds(peaked).degenerate


def test_share_of_degenerate_resamples_marks_the_interval_unreliable():
    """A hand-built grid: every cell is decided the same way in every resample except one, band 4 at the
    noisiest SD, right at the 50 % criterion. Where a resample puts it above 50 %, band 4's threshold drops
    from 4 to 0 and the thresholds become a one-band spike (a degenerate fit): its share is counted by hand."""
    from biasbench.benchmarks.criticalband import NOISE_FREE, SDS, cell

    bench = CriticalBand(None, seed=0)
    conds = bench.conditions()
    n, n_resamples, seed = 40, 200, 7
    halves = np.arange(n) % 2 == 0  # 50 % correct: not above the criterion, so the point fit is fine

    def correct(name):
        if name == NOISE_FREE:
            return np.ones(n, bool)
        if name == cell(3, SDS[0]) or name in {cell(3, sd) for sd in SDS} or name in {cell(4, sd) for sd in SDS[:-1]}:
            return np.zeros(n, bool)  # bands 3 and 4 drown in noise: threshold 4
        if name == cell(4, SDS[-1]):
            return halves
        return np.ones(n, bool)  # every other band: threshold 0

    by_condition = {c.name: _decided(c.name, correct(c.name)) for c in conds}
    out = benchmark_intervals(bench, by_condition, n_resamples=n_resamples, seed=seed)
    idx = np.random.default_rng(seed).integers(0, n, (n_resamples, n))  # the draws, scipy's order
    share = float(np.mean(halves[idx].mean(axis=1) > 0.5))  # by hand: band 4's cell above the criterion
    assert 0.3 < share < 0.6
    for column in ("metric/criticalband/bw", "metric/criticalband/bw_norm", "metric/criticalband/cf"):
        ci = out[column]
        assert ci.degenerate == pytest.approx(share) and ci.n_resamples == n_resamples
        assert not ci.reliable
        assert ci.text() == f"unreliable: {100 * share:.0f}% of {n_resamples} resamples give a degenerate value"
    assert out["metric/criticalband/bw"].value == pytest.approx(1.76, abs=0.01)  # [0,0,0,4,4,0,0]: a real fit
    accuracy = out[f"top1_acc/criticalband/{cell(4, SDS[-1])}"]
    assert accuracy.degenerate == 0 and accuracy.reliable and accuracy.text(1).startswith("[")


def test_a_few_degenerate_resamples_leave_the_interval_reliable():
    per_image = (np.arange(200) % 10 != 0).astype(float)[None]  # 90 % ones
    # degenerate when a resample's mean falls below 0.85: rare (about 1 %), beyond the 2.5 % tail
    ci = paired_bootstrap(per_image, lambda m: {"x": m[0]}, degenerate=lambda m: {"x"} if m[0] < 0.85 else set(),
                          n_resamples=500, seed=1)["x"]
    idx = np.random.default_rng(1).integers(0, 200, (500, 200))
    assert ci.degenerate == pytest.approx(float(np.mean(per_image[0][idx].mean(axis=1) < 0.85)))
    assert 0 < ci.degenerate <= 0.025 and ci.reliable and ci.text() == f"[{ci.low:.3f}, {ci.high:.3f}]"
