"""Attacks: PGD and FGSM against torchattacks and hand-computed cases, seeding, bounds,
model hygiene, AutoAttack, eps parsing and column names."""

import csv
import math
import sys

import pytest
import torch
import torchattacks
from scipy import stats
from torch import nn

from biasbench.attacks import (
    PGDAttack,
    autoattack,
    corrected_reference_accuracy,
    eps_column,
    fgsm,
    image_seeds,
    parse_eps,
    pgd_linf,
    robust_accuracy,
)
from biasbench.attacks.pgd import _splitmix64
from biasbench.errors import ConfigError
from biasbench.rng import stream_key


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # These models are tiny: a second thread only adds contention on a shared machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def synthetic(n: int, seed: int, contrast: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """10 classes, each a fixed random 3x16x16 template of the given contrast, plus noise."""
    templates = torch.rand(10, 3, 16, 16, generator=torch.Generator().manual_seed(99)) * contrast + (1 - contrast) / 2
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    return (templates[y] + 0.35 * torch.randn(n, 3, 16, 16, generator=g)).clamp(0, 1), y


def fitted_cnn() -> nn.Sequential:
    """A small CNN with batch norm and dropout, fitted in closed form: random convolution,
    batch-norm statistics of the training set, ridge-regression head. Nonlinear, accurate
    enough for attacks to have something to break, and built in well under a second."""
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(3, 32, 5, stride=2, padding=2), nn.BatchNorm2d(32, momentum=None), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(4), nn.Flatten())
    head = nn.Linear(512, 10)
    model = nn.Sequential(features, nn.Dropout(0.5), head)
    x, y = synthetic(2048, seed=1)
    with torch.no_grad():
        features.train()(x)  # momentum=None: running stats = the training set's
        model.eval()
        f = torch.cat([features(x), torch.ones(len(x), 1)], 1)
        target = nn.functional.one_hot(y, 10).float() * 10 - 5
        w = torch.linalg.solve(f.T @ f + 0.1 * torch.eye(f.shape[1]), f.T @ target)
        head.weight.copy_(w[:-1].T)
        head.bias.copy_(w[-1])
    return model


@pytest.fixture(scope="module")
def model():
    return fitted_cnn()


@pytest.fixture(scope="module")
def test_set():
    return synthetic(256, seed=2)


def accuracy(model, x, y) -> float:
    with torch.no_grad():
        return robust_accuracy(int((model(x).argmax(1) == y).sum()), len(y))


# Batches of 8: we sum the loss over the batch and torchattacks averages it; the factor 1/8 is
# a power of two, so every gradient agrees exactly, sign included (other sizes agree in practice).
@pytest.mark.parametrize("eps", [0.5 / 255, 8 / 255])
def test_pgd_equals_torchattacks_without_random_start(model, test_set, eps):
    x, y = test_set[0][:8], test_set[1][:8]
    ours = pgd_linf(model, x, y, eps, steps=40, random_start=False)
    theirs = torchattacks.PGD(model, eps=eps, alpha=2 / 255, steps=40, random_start=False)(x, y)
    assert torch.equal(ours, theirs)
    assert not torch.equal(ours, x)


def test_pgd_global_rng_start_equals_torchattacks(model, test_set):
    x, y = test_set[0][:8], test_set[1][:8]
    torch.manual_seed(7)
    ours = pgd_linf(model, x, y, 4 / 255, steps=5, seeds=None)
    torch.manual_seed(7)
    theirs = torchattacks.PGD(model, eps=4 / 255, alpha=2 / 255, steps=5, random_start=True)(x, y)
    assert torch.equal(ours, theirs)


def test_random_start_is_uniform_in_the_ball(model):
    eps = 4 / 255
    x = torch.full((8, 3, 16, 16), 0.5)  # interior pixels: the start is not clipped
    y = torch.zeros(8, dtype=torch.long)
    start = pgd_linf(model, x, y, eps, steps=0, seeds=image_seeds(0, torch.arange(8))) - x
    torch.manual_seed(3)
    peer = torchattacks.PGD(model, eps=eps, alpha=2 / 255, steps=0, random_start=True)(x, y) - x
    assert stats.kstest(start.flatten().numpy(), stats.uniform(-eps, 2 * eps).cdf).pvalue > 1e-3
    assert stats.ks_2samp(start.flatten().numpy(), peer.flatten().numpy()).pvalue > 1e-3
    assert start.abs().max() <= eps + 1e-7
    assert not torch.equal(start[0], start[1])  # every image has its own draw


def mcnemar_p(correct_a: torch.Tensor, correct_b: torch.Tensor) -> float:
    """Exact McNemar test: p-value of the hypothesis that an image fooled by exactly one of
    two attacks is equally likely to be fooled by either."""
    only_a, only_b = int((~correct_a & correct_b).sum()), int((correct_a & ~correct_b).sum())
    return stats.binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0


def test_pgd_with_random_start_matches_torchattacks_statistically(model, test_set):
    x, y = test_set
    # 3 steps at 8/255: few enough that the random start changes the outcome of many images,
    # so the comparison can tell a correct start from a wrong one (checked below).
    eps, steps = 8 / 255, 3
    ours = pgd_linf(model, x, y, eps, steps=steps, seeds=image_seeds(0, torch.arange(len(y))))
    torch.manual_seed(0)
    theirs = torchattacks.PGD(model, eps=eps, alpha=2 / 255, steps=steps, random_start=True)(x, y)
    no_start = pgd_linf(model, x, y, eps, steps=steps, random_start=False)
    with torch.no_grad():
        ok_ours, ok_theirs, ok_no_start = (model(a).argmax(1) == y for a in (ours, theirs, no_start))
    assert 10 < robust_accuracy(int(ok_ours.sum()), len(y)) < 90  # neither fails nor wins everywhere
    # Same images, same attack, independent random starts: the robust accuracies may differ only
    # by sampling noise, i.e. McNemar's test must not reject at p < 0.001 ...
    assert mcnemar_p(ok_ours, ok_theirs) >= 1e-3
    # ... while the same test does reject PGD without its random start: it has the power to.
    assert mcnemar_p(ok_no_start, ok_theirs) < 1e-3


@pytest.mark.parametrize("eps", [2 / 255, 16 / 255])
def test_fgsm_equals_torchattacks(model, test_set, eps):
    x, y = test_set[0][:8], test_set[1][:8]
    ours = fgsm(model, x, y, eps)
    assert torch.equal(ours, torchattacks.FGSM(model, eps=eps)(x, y))
    assert not torch.equal(ours, x)


def test_linear_model_hand_computed():
    # Two classes, logits W x: the cross-entropy gradient of a class-0 image is
    # p1 * (w1 - w0), so every step moves along sign(w1 - w0). With the paper's step 2/255 >= 2 eps
    # the first step lands on the ball's corner x + eps * sign(w1 - w0), whatever the start.
    g = torch.Generator().manual_seed(5)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(12, 2, bias=False))
    with torch.no_grad():
        lin[1].weight.copy_(torch.randn(2, 12, generator=g) * 0.1)
    x = torch.rand(6, 3, 2, 2, generator=g)
    x[0, 0, 0, 0], x[1, 1, 1, 1] = 0.0, 1.0  # saturated pixels exercise the [0, 1] clip
    y = torch.zeros(6, dtype=torch.long)
    eps = 0.5 / 255
    direction = (lin[1].weight[1] - lin[1].weight[0]).sign().reshape(1, 3, 2, 2).detach()
    expected = torch.clamp(x + eps * direction, 0, 1)
    adv = pgd_linf(lin, x, y, eps, seeds=image_seeds(0, torch.arange(6)))
    assert torch.equal(adv, expected)
    assert torch.equal(fgsm(lin, x, y, eps), expected)


def test_batch_size_and_order_independence(model, test_set):
    x, y = test_set[0][:48], test_set[1][:48]
    seeds = image_seeds(3, torch.arange(48))
    whole = pgd_linf(model, x, y, 4 / 255, steps=10, seeds=seeds)
    pieces = torch.cat([pgd_linf(model, x[a:b], y[a:b], 4 / 255, steps=10, seeds=seeds[a:b])
                        for a, b in [(0, 1), (1, 8), (8, 21), (21, 48)]])
    assert torch.equal(whole, pieces)
    perm = torch.randperm(48, generator=torch.Generator().manual_seed(0))
    assert torch.equal(pgd_linf(model, x[perm], y[perm], 4 / 255, steps=10, seeds=seeds[perm]), whole[perm])
    # Through the runner-facing callable: indices are dataset positions.
    attack = PGDAttack(4 / 255, steps=10, seed=3)
    assert torch.equal(attack(model, x[8:21], y[8:21], torch.arange(8, 21)), whole[8:21])
    assert not torch.equal(PGDAttack(4 / 255, steps=10, seed=4)(model, x, y, torch.arange(48)), whole)


def test_random_start_equals_the_reference_counter_sequence(model):
    """Image i's start is -eps + 2 eps u, u = top 24 bits of Philox4x32-10 words of counters
    (q, 0, seed_i low, seed_i high) under the key of "pgd|random start" (pure Python here)."""
    from test_rng import philox_python

    eps = 4 / 255
    x = torch.full((3, 3, 4, 4), 0.5)
    seeds = image_seeds(5, torch.tensor([0, 9, 123456]))
    start = pgd_linf(model, x, torch.zeros(3, dtype=torch.long), eps, steps=0, seeds=seeds) - x
    key = stream_key("pgd|random start")
    for row, s in zip(start, seeds.tolist()):
        words = [w for q in range(12) for w in philox_python((q, 0, s % 2 ** 32, s >> 32), (key % 2 ** 32, key >> 32))]
        want = torch.tensor([(w >> 8) * 2.0 ** -24 * (2 * eps) - eps for w in words], dtype=torch.float64)
        torch.testing.assert_close(row.flatten().double(), want, rtol=0, atol=6e-8)  # 0.5 + start in float32


def test_image_seeds():
    assert _splitmix64(0) == 0xE220A8397B1DCDAF  # the reference splitmix64's first output from state 0
    s0 = image_seeds(0, torch.arange(10_000))
    assert s0.dtype == torch.long and bool((s0 >= 0).all())
    assert len(set(s0.tolist())) == 10_000
    assert torch.equal(image_seeds(0, torch.arange(5, 9)), s0[5:9])
    assert not (image_seeds(1, torch.arange(10_000)) == s0).any()


@pytest.mark.parametrize("attack", ["pgd", "fgsm"])
def test_bounds_and_model_untouched(attack, test_set):
    model = fitted_cnn()
    model.train()
    model[1].eval()  # a mixed-mode model comes back mixed
    modes = [m.training for m in model.modules()]
    params = {k: v.clone() for k, v in model.state_dict().items()}  # includes BN running stats
    x, y = test_set[0][:16].clone(), test_set[1][:16]
    x[:, :, :2] = 0.0
    x[:, :, -2:] = 1.0
    eps = 8 / 255
    run = (lambda m: pgd_linf(m, x, y, eps, steps=10, seeds=image_seeds(0, torch.arange(16)))) if attack == "pgd" \
        else (lambda m: fgsm(m, x, y, eps))
    adv = run(model)
    assert (adv - x).abs().max() <= eps + 1e-7
    assert adv.min() >= 0 and adv.max() <= 1
    assert not adv.requires_grad
    assert [m.training for m in model.modules()] == modes
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, params[k]) for k, v in model.state_dict().items())
    assert torch.equal(adv, run(fitted_cnn().eval()))  # attacked in eval mode


def test_no_grad_and_inference_mode_callers(model, test_set):
    x, y = test_set[0][:8], test_set[1][:8]
    seeds = image_seeds(0, torch.arange(8))
    plain = pgd_linf(model, x, y, 4 / 255, steps=5, seeds=seeds)
    with torch.no_grad():
        assert torch.equal(pgd_linf(model, x, y, 4 / 255, steps=5, seeds=seeds), plain)
    with torch.inference_mode():
        xi, yi = x.clone(), y.clone()  # inference tensors
        assert torch.equal(pgd_linf(model, xi, yi, 4 / 255, steps=5, seeds=seeds), plain)
        assert torch.equal(fgsm(model, xi, yi, 4 / 255), fgsm(model, x, y, 4 / 255))


def test_robust_accuracy_monotone_in_eps(model, test_set):
    x, y = test_set
    clean = accuracy(model, x, y)
    accs = []
    for eps in (0, 1 / 255, 4 / 255, 16 / 255):
        adv = PGDAttack(eps, steps=10)(model, x, y, torch.arange(len(y)))
        if eps == 0:
            assert torch.equal(adv, x)
        accs.append(accuracy(model, adv, y))
    assert accs[0] == clean
    assert all(a >= b for a, b in zip(accs, accs[1:])), accs
    assert accs[-1] < clean / 2, (clean, accs)


def test_bad_arguments(model, test_set):
    x, y = test_set[0][:2], test_set[1][:2]
    with pytest.raises(ConfigError, match="eps"):
        pgd_linf(model, x, y, -1 / 255)
    with pytest.raises(ConfigError, match="eps"):
        fgsm(model, x, y, 2.0)
    with pytest.raises(ConfigError, match="steps"):
        pgd_linf(model, x, y, 1 / 255, steps=-1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pgd_linf(model, x * 255, y, 1 / 255)
    with pytest.raises(ValueError, match="labels"):
        pgd_linf(model, x, y[:1], 1 / 255)
    with pytest.raises(ValueError, match="seeds"):
        pgd_linf(model, x, y, 1 / 255, seeds=torch.zeros(3, dtype=torch.long))


def test_autoattack(test_set):
    model = fitted_cnn()
    model.train()
    x, y = test_set[0][:16], test_set[1][:16]
    eps = 8 / 255
    # Original AutoAttack settings take minutes on CPU: 10 iterations and 100 Square queries here.
    cheap = dict(steps=10, n_queries=100)
    rng = torch.get_rng_state()
    adv = autoattack(model, x, y, eps, seed=0, **cheap)
    assert torch.equal(torch.get_rng_state(), rng)  # torchattacks' reseeding does not leak
    assert model.training and all(p.grad is None for p in model.parameters())
    model.eval()
    clean, robust = accuracy(model, x, y), accuracy(model, adv, y)
    assert robust < clean
    assert (adv - x).abs().max() <= eps + 1e-7 and adv.min() >= 0 and adv.max() <= 1
    with torch.no_grad():
        fooled = model(adv).argmax(1) != y
    changed = (adv != x).flatten(1).any(1)
    assert bool((fooled | ~changed).all())  # an image comes back changed only when it is fooled
    assert torch.equal(autoattack(model, x, y, eps, seed=0, **cheap), adv)


def test_autoattack_errors(model, test_set, monkeypatch):
    x, y = test_set[0][:2], test_set[1][:2]
    with pytest.raises(ConfigError, match="version"):
        autoattack(model, x, y, 1 / 255, version="fast")
    monkeypatch.setitem(sys.modules, "torchattacks", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match="pip install"):
        autoattack(model, x, y, 1 / 255)


def test_parse_eps():
    assert parse_eps("0.5/255") == [0.5 / 255]
    assert parse_eps("1/255,4/255") == [1 / 255, 4 / 255]
    assert parse_eps(" 1/255 , 0.25 / 255 ") == [1 / 255, 0.25 / 255]
    assert parse_eps("0.00196") == [0.00196]
    assert parse_eps(["0.5/255", "8/255,16/255", 0.1]) == [0.5 / 255, 8 / 255, 16 / 255, 0.1]
    assert parse_eps("0") == [0.0] and parse_eps("255/255") == [1.0]
    for bad in ["-1/255", "300/255", "1.5", "abc", "1/0", "nan", "inf", "1/2/3", "", "1/255,", "1/255,,2/255"]:
        with pytest.raises(ConfigError) as err:
            parse_eps(bad)
        assert repr(bad) in str(err.value)
    for bad in [[], [None], [-0.1], [True]]:
        with pytest.raises(ConfigError):
            parse_eps(bad)


def test_eps_column():
    assert eps_column(0.5 / 255) == "top1_acc/PGD-40/low"
    assert eps_column(parse_eps("0.5/255")[0]) == "top1_acc/PGD-40/low"
    assert eps_column(1 / 255) == "top1_acc/PGD-40/eps=1/255"
    assert eps_column(4 / 255) == "top1_acc/PGD-40/eps=4/255"
    assert eps_column(0.25 / 255) == "top1_acc/PGD-40/eps=0.25/255"
    assert eps_column(0.00196) == "top1_acc/PGD-40/eps=0.4998/255"  # not 0.5/255: named as given
    assert eps_column(4 / 255, "FGSM") == "top1_acc/FGSM/eps=4/255"
    assert eps_column(0.5 / 255, "FGSM") == "top1_acc/FGSM/eps=0.5/255"
    assert eps_column(8 / 255, "AutoAttack") == "top1_acc/AutoAttack/eps=8/255"
    assert eps_column(0.5 / 255, "PGD-10") == "top1_acc/PGD-10/eps=0.5/255"
    with pytest.raises(ConfigError):
        eps_column(-1.0)
    with pytest.raises(ConfigError):
        eps_column(1 / 255, "PGD/40")


def test_robust_accuracy_counts():
    assert robust_accuracy(9204, 50_000) == pytest.approx(18.408)
    assert robust_accuracy(0, 1) == 0.0 and robust_accuracy(3, 3) == 100.0
    for correct, n in [(1, 0), (-1, 5), (6, 5)]:
        with pytest.raises(ValueError):
            robust_accuracy(correct, n)


def test_corrected_reference_accuracy_hand_computed():
    # tv_resnet50's 18.390 % = (correct + 48) / 50,048 -> correct = 9,156 -> 9,156 / 50,000 = 18.312 %.
    assert corrected_reference_accuracy(9_204 / 500.48) == pytest.approx(18.312, abs=1e-9)
    assert corrected_reference_accuracy(18.390) == pytest.approx(18.312, abs=5e-4)  # as printed, 3 decimals
    assert corrected_reference_accuracy(48 / 500.48) == pytest.approx(0.0, abs=1e-12)  # fully broken
    assert corrected_reference_accuracy(100.0) == pytest.approx(100.0)  # 50,000 + 48 of 50,048
    assert math.isnan(corrected_reference_accuracy(float("nan")))


def test_reference_pgd_values_are_counts_over_50048(reference_dir):
    with open(reference_dir / "paper" / "benchmark.csv", newline="") as f:
        values = [float(r["top1_acc/PGD-40/low"]) for r in csv.DictReader(f) if r["top1_acc/PGD-40/low"]]
    assert len(values) >= 48
    for v in values:
        count = v * 50_048 / 100  # the reference's (correct + 48)
        assert abs(count - round(count)) < 1e-6 and round(count) >= 48
        fixed = corrected_reference_accuracy(v)
        assert fixed * 50_000 / 100 == pytest.approx(round(count) - 48, abs=1e-6)
        assert fixed <= v


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_random_start_and_bounds(test_set):
    model = fitted_cnn().cuda()
    x, y = test_set[0][:32].cuda(), test_set[1][:32].cuda()
    seeds = image_seeds(0, torch.arange(32))
    start = pgd_linf(model, x, y, 4 / 255, steps=0, seeds=seeds)  # drawn by generators on the GPU
    pieces = torch.cat([pgd_linf(model, x[a:b], y[a:b], 4 / 255, steps=0, seeds=seeds[a:b])
                        for a, b in [(0, 5), (5, 32)]])
    assert start.device.type == "cuda" and torch.equal(start, pieces)
    cpu = pgd_linf(fitted_cnn(), x.cpu(), y.cpu(), 4 / 255, steps=0, seeds=seeds)
    assert torch.equal(start.cpu(), cpu)  # the same random start on every device
    adv = pgd_linf(model, x, y, 4 / 255, steps=10, seeds=seeds)
    assert (adv - x).abs().max() <= 4 / 255 + 1e-7 and adv.min() >= 0 and adv.max() <= 1
    assert accuracy(model, adv, y) < accuracy(model, x, y)
