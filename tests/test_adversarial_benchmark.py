"""The adversarial benchmark on the runner equals a direct PGD / FGSM evaluation."""

import pytest
import torch

from biasbench.attacks import fgsm, image_seeds, pgd_linf
from biasbench.benchmarks.adversarial import Adversarial
from biasbench.data.imagenet import imagenet_val
from biasbench.results import ResultsStore
from biasbench.runner import RunOptions, run

from helpers import interpolating_tinynet, paper_batch, write_val_tree


def test_pgd_and_fgsm_columns_equal_direct_attacks(tmp_path):
    val = imagenet_val(write_val_tree(tmp_path / "in", [0, 1, 2, 3], per_class=2), check=False)
    x = paper_batch(val)
    y = torch.as_tensor(val.labels)
    # right on the clean images, so the attack has something to break
    net = interpolating_tinynet(x, y, seed=5, scale=0.05)
    eps = [0.5 / 255, 8 / 255]
    bench = Adversarial(val, eps=eps, pgd=True, fgsm_=True, steps=5, seed=3)
    out = run([bench], ["n"], ResultsStore(tmp_path / "a.csv"),
              RunOptions(device="cpu", num_workers=0, progress=False, batch_size=3), load=lambda m, d: net)["n"]

    def acc(adv):
        with torch.no_grad():
            return 100.0 * (net(adv).argmax(1) == y).sum().item() / len(y)  # correct / number of images

    seeds = image_seeds(3, torch.arange(len(val)))
    low = acc(pgd_linf(net, x, y, eps[0], steps=5, seeds=seeds))
    high = acc(pgd_linf(net, x, y, eps[1], steps=5, seeds=seeds))
    assert out["top1_acc/PGD-5/eps=0.5/255"] == pytest.approx(low)
    assert out["top1_acc/PGD-5/eps=8/255"] == pytest.approx(high)
    assert out["top1_acc/FGSM/eps=8/255"] == pytest.approx(acc(fgsm(net, x, y, eps[1])))
    assert high < acc(x) == 100.0


def test_default_is_the_papers_pgd40_low_column(tmp_path):
    val = imagenet_val(write_val_tree(tmp_path / "in", [0], per_class=1), check=False)
    bench = Adversarial(val)
    (cond,) = bench.conditions()
    assert bench.columns(cond, {"top1": 12.5}) == {"top1_acc/PGD-40/low": 12.5}
    assert cond.attack.attack.steps == 40 and cond.attack.attack.step_size == 2 / 255
