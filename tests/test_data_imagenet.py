"""ImageNet val reading: pixel-identity with the PIL/torchvision pipeline, layouts, labels, subsets, ReaL."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from biasbench.data.decode import decode
from biasbench.data.imagelist import AS_IS, RESIZE_CROP
from biasbench.data.imagenet import imagenet_val, real_labels, real_targets
from biasbench.data.synsets import imagenet_wnids
from biasbench.errors import DatasetError
from biasbench.metrics.accuracy import ReaL, TopK

from helpers import PAPER_PREPROCESS, write_val_tree

WNIDS = imagenet_wnids()


def _write(path, size, seed, fmt="JPEG"):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, fmt)


@pytest.mark.parametrize("size", [(300, 260), (260, 300), (500, 375), (256, 256), (231, 999), (224, 224)])
def test_decode_is_pixel_identical_to_torchvision_pipeline(tmp_path, size):
    f = tmp_path / "x.JPEG"
    _write(f, size, seed=sum(size))
    ref = PAPER_PREPROCESS(Image.open(f).convert("RGB"))
    ours = decode(f, RESIZE_CROP)
    assert ours.dtype == torch.uint8 and ours.shape == (3, 224, 224)
    assert torch.equal(ours.float() / 255, ref)


def test_as_is_refuses_other_sizes_naming_the_file(tmp_path):
    f = tmp_path / "c.JPEG"
    _write(f, (225, 224), 0)
    with pytest.raises(DatasetError, match=r"c\.JPEG is 225x224, expected 224x224"):
        decode(f, AS_IS)


def test_unreadable_image_error_names_file(tmp_path):
    f = tmp_path / "broken.JPEG"
    f.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DatasetError, match="broken.JPEG"):
        decode(f, RESIZE_CROP)


def test_labels_come_from_wnids_not_folder_positions(tmp_path):
    root = write_val_tree(tmp_path, [3, 500, 999])
    images = imagenet_val(root, check=False)
    assert images.labels.tolist() == [3, 3, 500, 500, 999, 999]
    # the val folder itself works as root too, with the same labels and fingerprint
    same = imagenet_val(root / "val", check=False)
    assert same.labels.tolist() == images.labels.tolist() and same.fingerprint() == images.fingerprint()


def test_flat_layout_with_meta_bin(tmp_path):
    val = tmp_path / "val"
    val_wnids = [WNIDS[i % 1000] for i in range(50000)]  # file i+1 has class i % 1000
    torch.save(({w: (w,) for w in WNIDS}, val_wnids), tmp_path / "meta.bin")
    for i in (0, 1, 2500, 49999):
        _write(val / f"ILSVRC2012_val_{i + 1:08d}.JPEG", (40, 40), i)
    images = imagenet_val(tmp_path, check=False)
    assert images.labels.tolist() == [0, 1, 500, 999]


def test_flat_layout_without_meta_bin_says_what_is_missing(tmp_path):
    _write(tmp_path / "val" / "ILSVRC2012_val_00000001.JPEG", (40, 40), 0)
    with pytest.raises(DatasetError, match="meta.bin is missing"):
        imagenet_val(tmp_path, check=False)


def test_layout_check_reports_found_and_expected(tmp_path):
    root = write_val_tree(tmp_path, [1, 2])
    with pytest.raises(DatasetError, match=r"2 classes \(expected 1000\).*4 images \(expected 50,000\).*--check_dataset false"):
        imagenet_val(root)


def test_bad_roots(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        imagenet_val(tmp_path / "nope")
    (tmp_path / "val" / "notawnid").mkdir(parents=True)
    with pytest.raises(DatasetError, match="'notawnid'.*not an ImageNet-1k wnid"):
        imagenet_val(tmp_path, check=False)


def test_subset_is_class_balanced_and_deterministic(tmp_path):
    root = write_val_tree(tmp_path, [0, 1, 2, 3], per_class=5)
    images = imagenet_val(root, check=False)
    sub = images.subset(10)
    counts = np.bincount(sub.labels, minlength=4)
    assert counts.tolist() == [3, 3, 2, 2]
    assert sub.files == images.subset(10).files
    assert sub.fingerprint() != images.fingerprint()
    # the first images of each class, in the original order
    assert sub.files[:3] == images.files[:3]


def test_real_labels_from_timm_have_the_published_counts():
    labels = real_labels()
    assert len(labels) == 50000
    assert sum(1 for entry in labels if not entry) == 3163


def test_real_labels_file_validation(tmp_path):
    bad = tmp_path / "real.json"
    bad.write_text(json.dumps([[1]] * 10))
    with pytest.raises(DatasetError, match="holds 10 entries; expected a JSON list of 50,000"):
        real_labels(bad)
    bad.write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        real_labels(bad)
    bad.write_text(json.dumps([[1]] * 49999 + [["x"]]))
    with pytest.raises(DatasetError, match="entry 49999"):
        real_labels(bad)


def test_real_metric_by_hand(tmp_path):
    root = write_val_tree(tmp_path, [0, 1], per_class=2)  # files 1, 2, 51, 52
    images = imagenet_val(root, check=False)
    table = [[] for _ in range(50000)]
    table[0], table[1], table[50], table[51] = [0, 7], [], [1], [5]
    targets = real_targets(images, table)
    assert targets == [[0, 7], [], [1], [5]]
    m = ReaL(targets)
    logits = torch.full((4, 1000), -1.0)
    for row, cls in enumerate([7, 3, 2, 5]):  # hit, (empty: left out), miss, hit
        logits[row, cls] = 1.0
    m.update(logits, torch.tensor([0, 0, 1, 1]), torch.arange(4), torch.ones(4, dtype=torch.bool))
    assert m.result() == {"top1": pytest.approx(200 / 3), "n": 3}


def test_topk_restricted_to_class_subset():
    logits = torch.zeros(2, 1000)
    logits[0, 5], logits[0, 10] = 9.0, 3.0  # 5 is outside the subset: the subset argmax is 10
    logits[1, 20] = 4.0
    m = TopK(classes=[10, 20, 30])
    m.update(logits, torch.tensor([10, 30]), torch.arange(2), torch.ones(2, dtype=torch.bool))
    r = m.result()
    assert r["top1"] == 50.0 and r["top5"] == 100.0 and r["n"] == 2
    full = TopK()
    full.update(logits, torch.tensor([10, 30]), torch.arange(2), torch.tensor([True, False]))
    assert full.result()["top1"] == 0.0 and full.result()["n"] == 1
