"""Distribution-shift benchmarks (ImageNet-C, C-bar, A, R, Sketch, v2): readers, layout checks,
aggregates, and runs whose expected numbers the tests compute themselves from the files they wrote.

The model in the end-to-end runs is an oracle: the test decides, file by file, which class it
answers (the true one or another), keyed by the file's decoded pixels, so the expected accuracy of
every cell is known from the file list alone.
"""

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from timm.data import ImageNetInfo
from torch import nn

from biasbench.benchmarks.imagenet_c import ImageNetC
from biasbench.benchmarks.imagenet_cbar import ImageNetCBar
from biasbench.benchmarks.ood import ShiftedSet
from biasbench.data import corruptions, ood
from biasbench.data.imagelist import AS_IS, RESIZE_CROP, ImageList
from biasbench.data.imagenet import check_layout, imagenet_val
from biasbench.data.synsets import subset_indices
from biasbench.errors import ConfigError, DatasetError
from biasbench.metrics import corruption as metric
from biasbench.results import ResultsStore
from biasbench.runner import RunOptions, run

from helpers import Loader, file_key, pixel_key, pixel_keys, write_val_tree

WNIDS = ImageNetInfo().label_names()
INDEX = {w: i for i, w in enumerate(WNIDS)}
OPTS = dict(device="cpu", num_workers=0, progress=False, batch_size=16)

# Written out here (from the datasets' releases), not imported: the tests check the package's lists against them.
C_STANDARD = ["gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
              "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
              "jpeg_compression"]
C_ALL = C_STANDARD + ["speckle_noise", "gaussian_blur", "spatter", "saturate"]
# facebookresearch/augmentation-corruption imagenet_c_bar/imagenet_c_bar.csv
CBAR_PARAMS = {"caustic_refraction": [2.35, 3.2, 4.9, 6.6, 9.15], "inverse_sparkles": [1.0, 2.0, 4.0, 9.0, 10.0],
               "sparkles": [1.0, 2.0, 3.0, 5.0, 6.0], "perlin_noise": [4.6, 5.2, 5.8, 7.6, 8.8],
               "blue_noise_sample": [0.8, 1.6, 2.4, 4.0, 5.6], "plasma_noise": [4.75, 7.0, 8.5, 9.25, 10.0],
               "checkerboard_cutout": [2.0, 3.0, 4.0, 5.0, 6.0], "cocentric_sine_waves": [3.0, 5.0, 8.0, 9.0, 10.0],
               "single_frequency_greyscale": [1.0, 1.5, 2.0, 4.5, 5.0], "brownish_noise": [1.0, 2.0, 3.0, 4.0, 5.0]}
# AlexNet errors, alibaba/easyrobust benchmarks/ood/imagenet_c.py (get_ce_alexnet)
ALEXNET = {"gaussian_noise": 0.886428, "shot_noise": 0.894468, "impulse_noise": 0.922640, "defocus_blur": 0.819880,
           "glass_blur": 0.826268, "motion_blur": 0.785948, "zoom_blur": 0.798360, "snow": 0.866816,
           "frost": 0.826572, "fog": 0.819324, "brightness": 0.564592, "contrast": 0.853204,
           "elastic_transform": 0.646056, "pixelate": 0.717840, "jpeg_compression": 0.606500}


# ----------------------------------------------------------------------------- oracle model

class Oracle(nn.Module):
    """Answers every image with the class ``answers`` holds for its pixels; ``decoy`` gets an even
    higher logit on every image (a class outside a restricted subset)."""

    def __init__(self, answers: dict[str, int], decoy: int | None = None):
        super().__init__()
        self.answers, self.decoy = answers, decoy

    def forward(self, x):
        logits = -1e-3 * torch.arange(1000, dtype=torch.float32).repeat(len(x), 1)
        for i, key in enumerate(pixel_keys(x)):
            logits[i, self.answers[key]] += 10
            if self.decoy is not None:
                logits[i, self.decoy] += 20
        return logits


def plan(folders: dict, answers: dict, rule, resize_crop=False, wrong=lambda y: (y + 1) % 1000) -> dict:
    """For each (key -> folder of <class folder>/<files>): choose the oracle's answer per file with
    ``rule(key, k)`` (True: the true class y, False: ``wrong(y)``), and return the expected top-1
    of each folder."""
    expected = {}
    for key, folder in folders.items():
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        hits = 0
        for k, f in enumerate(files):
            y = INDEX[f.parent.name] if f.parent.name in INDEX else int(f.parent.name)
            got = answers.setdefault(file_key(f, resize_crop), y if rule(key, k) else wrong(y))
            hits += got == y
        expected[key] = 100.0 * hits / len(files)
    return expected


# ----------------------------------------------------------------------------- tiny datasets

def _save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, "JPEG", quality=90)


def write_cells(root, names, folder=lambda c, s: str(s), classes=(3, 999), per_class=1, seed=0):
    rng = np.random.default_rng(seed)
    for c in names:
        for s in range(1, 6):
            for y in classes:
                for k in range(per_class):
                    _save(root / c / folder(c, s) / WNIDS[y] / f"ILSVRC2012_val_{50 * y + k + 1:08d}.JPEG",
                          rng.integers(0, 256, (224, 224, 3), dtype=np.uint8))
    return root


def write_folders(root, folders, per_class=2, size=(300, 260), seed=1):
    """Natural-size images in ``root/<folder>/``."""
    rng = np.random.default_rng(seed)
    for name in folders:
        for k in range(per_class):
            _save(root / name / f"img_{k}.jpg", rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    return root


def cell_rule(key, k):
    c, s = key
    return k < (s + len(c)) % 3  # the first 0..2 files of a cell: 0, 50 or 100 % by corruption and severity


# ----------------------------------------------------------------------------- names, lists, selection

def test_corruption_lists_and_parameters():
    assert list(corruptions.IMAGENET_C) == C_ALL and list(corruptions.IMAGENET_C_STANDARD) == C_STANDARD
    assert {c: list(p) for c, p in corruptions.IMAGENET_CBAR_PARAMS.items()} == CBAR_PARAMS
    assert metric.ALEXNET_ERROR == ALEXNET


def test_a_and_r_index_lists_match_their_wnid_lists():
    info = resources.files("timm.data").joinpath("_info")
    for name in ("a", "r"):
        wnids = info.joinpath(f"imagenet_{name}_synsets.txt").read_text().split()
        timm_indices = [int(v) for v in info.joinpath(f"imagenet_{name}_indices.txt").read_text().split()]
        assert len(wnids) == 200
        assert list(subset_indices(name)) == sorted(INDEX[w] for w in wnids) == sorted(timm_indices)
    a, r = set(subset_indices("a")), set(subset_indices("r"))
    assert a != r and len(a & r) == 86  # two different 200-class lists, 86 shared


def test_unknown_corruptions_and_severities_are_config_errors():
    assert corruptions.select("fog,gaussian_noise", C_ALL, "--corruptions") == ["gaussian_noise", "fog"]
    with pytest.raises(ConfigError, match=r"--corruptions: unknown corruption 'gausian_noise'; valid: gaussian_noise, "
                                          r"shot_noise.*saturate"):
        corruptions.select("gausian_noise", corruptions.IMAGENET_C, "--corruptions")
    with pytest.raises(ConfigError, match="unknown corruption 'fog'; valid: blue_noise_sample"):
        corruptions.select("fog", corruptions.IMAGENET_CBAR, "--cbar-corruptions")
    assert corruptions.select_severities("3,1,3", "--severities") == [1, 3]
    for bad in ("0", "6", "1.5", "x", "1,,7"):
        with pytest.raises(ConfigError, match=r"--severities: unknown severity '.*'; valid: 1, 2, 3, 4, 5"):
            corruptions.select_severities(bad, "--severities")


# ----------------------------------------------------------------------------- aggregates by hand

def test_mean_mce_and_relative_mce_by_hand():
    cells = {("gaussian_noise", s): acc for s, acc in zip(range(1, 6), [50, 40, 30, 20, 10])}
    cells |= {("brightness", s): 70.0 for s in range(1, 6)}
    assert metric.mean_accuracy(cells) == pytest.approx((150 + 350) / 10)
    # errors: gaussian_noise mean 0.7, brightness 0.3
    two = ("gaussian_noise", "brightness")
    assert metric.mce(cells, two) == pytest.approx(100 * (0.7 / 0.886428 + 0.3 / 0.564592) / 2)
    expected_rel = 100 * ((0.7 - 0.2) / (0.886428 - 0.43478) + (0.3 - 0.2) / (0.564592 - 0.43478)) / 2
    assert metric.relative_mce(cells, 80.0, two) == pytest.approx(expected_rel)
    with pytest.raises(ConfigError, match="missing"):
        metric.mce({k: v for k, v in cells.items() if k != ("brightness", 4)}, two)
    with pytest.raises(ConfigError, match="no AlexNet error for corruption 'spatter'"):
        metric.mce(cells, ("spatter",))


def test_alexnet_clean_error_is_torchvisions_alexnet():
    from torchvision.models import AlexNet_Weights

    acc = AlexNet_Weights.IMAGENET1K_V1.meta["_metrics"]["ImageNet-1K"]["acc@1"]
    assert metric.ALEXNET_CLEAN_ERROR == pytest.approx(1 - acc / 100)


def test_mce_of_the_papers_resnet50_matches_the_published_value(reference_dir):
    import pandas as pd

    row = pd.read_csv(reference_dir / "paper" / "benchmark.csv").set_index("model").loc["tv_resnet50"]
    cells = {(c, s): row[f"top1_acc/{c}_{s}"] for c in C_STANDARD for s in range(1, 6)}
    # Hendrycks & Dietterich (ICLR 2019), ResNet-50: mCE 76.7, relative mCE 105.0
    assert metric.mce(cells) == pytest.approx(76.7, abs=0.5)
    assert metric.relative_mce(cells, row["top1_acc/imagenet"]) == pytest.approx(105.0, abs=1.0)


# ----------------------------------------------------------------------------- layouts and checks

def _fake(name, counts: dict[int, int], preprocess=RESIZE_CROP):
    labels = np.repeat(np.array(list(counts), dtype=np.int64), list(counts.values()))
    return ImageList(name, Path("/data") / name, tuple(f"f{i}.jpg" for i in range(len(labels))), labels, preprocess)


def _spread(classes, total):
    base, extra = divmod(total, len(classes))
    return {c: base + (i < extra) for i, c in enumerate(classes)}


@pytest.mark.parametrize("name, classes, total", [
    ("imagenet-a", list(subset_indices("a")), 7500), ("imagenet-r", list(subset_indices("r")), 30000),
    ("imagenet-sketch", list(range(1000)), 50889), ("imagenet-v2", list(range(1000)), 10000)])
def test_layout_checks_pass_on_the_full_sizes_and_say_what_is_off(name, classes, total):
    lay = ood.LAYOUTS[name]
    full = _spread(classes, total)
    check_layout(_fake(name, full), lay.n_classes, lay.per_class, lay.title, ood.RELAX, total=lay.total)
    short = dict(full)
    short[classes[0]] -= 1
    with pytest.raises(DatasetError, match=rf"{lay.title} at .*{total - 1} images \(expected {total:,}\).*"
                                           r"--check_dataset false"):
        check_layout(_fake(name, short), lay.n_classes, lay.per_class, lay.title, ood.RELAX, total=lay.total)


def test_v2_check_wants_ten_images_per_class():
    counts = {c: 10 for c in range(1000)}
    counts[5], counts[6] = 11, 9  # right total, wrong split
    with pytest.raises(DatasetError, match=r"2 classes without exactly 10 images \(e.g. class 5: 11\)"):
        check_layout(_fake("imagenet-v2", counts), 1000, 10, "ImageNet-v2", ood.RELAX, total=10000)


def test_imagenet_a_on_disk_passes_its_check_and_tiny_sets_fail_with_the_flag(tmp_path):
    root = tmp_path / "imagenet-a"  # 7,500 empty files: reading and checking never decodes
    for c, n in _spread(list(subset_indices("a")), 7500).items():
        (root / WNIDS[c]).mkdir(parents=True)
        for k in range(n):
            (root / WNIDS[c] / f"{k}.jpg").touch()
    (root / "README.txt").write_text("not a class")
    images = ood.read("imagenet-a", tmp_path)  # the archive's folder below the given one is found
    assert len(images) == 7500 and set(images.labels.tolist()) == set(subset_indices("a"))
    tiny = write_folders(tmp_path / "tiny", [WNIDS[6], WNIDS[11]])
    with pytest.raises(DatasetError, match=r"ImageNet-A at .*tiny looks incomplete: 2 classes \(expected 200\); "
                                           r"4 images \(expected 7,500\).*--check_dataset false"):
        ood.read("imagenet-a", tiny)


def test_a_and_r_refuse_folders_outside_their_classes(tmp_path):
    r_only = sorted(set(subset_indices("r")) - set(subset_indices("a")))[:2]
    root = write_folders(tmp_path / "r", [WNIDS[c] for c in r_only])
    assert len(ood.read("imagenet-r", root, check=False)) == 4
    with pytest.raises(DatasetError, match=r"--imagenet-a .*2 class folder\(s\) are not among ImageNet-A's 200"):
        ood.read("imagenet-a", root, check=False)


def test_v2_labels_are_numeric_folder_names_in_any_padding(tmp_path):
    for pad in (False, True):
        folders = ["0", "2", "10", "100", "999"]  # lexicographic order would put 10, 100 before 2
        names = [f"{int(f):03d}" if pad else f for f in folders]
        root = write_folders(tmp_path / f"v2-{pad}", names, per_class=1)
        images = ood.read("imagenet-v2", root, check=False)
        assert [(f.split("/")[0], int(y)) for f, y in zip(images.files, images.labels)] == \
               [(n, int(n)) for n in names]
    write_folders(tmp_path / "v2-False", ["007", "7"], per_class=1)
    with pytest.raises(DatasetError, match="'007' and '7' .* are the same class 7"):
        ood.read("imagenet-v2", tmp_path / "v2-False", check=False)
    write_folders(tmp_path / "v2-bad", ["n01440764"], per_class=1)
    with pytest.raises(DatasetError, match="'n01440764' .* is not a class index"):
        ood.read("imagenet-v2", tmp_path / "v2-bad", check=False)


def test_c_layout_errors_name_what_is_missing(tmp_path):
    root = write_cells(tmp_path / "c", ["fog"], classes=(3,), per_class=1)
    with pytest.raises(DatasetError, match=r"ImageNet-C at .*: no folder for corruption gaussian_noise.*found fog"
                                           r".*--corruptions"):
        corruptions.imagenet_c(root, check=False)
    with pytest.raises(DatasetError, match=r"ImageNet-C cell fog/1 at .*1 classes \(expected 1000\).*"
                                           r"1 images \(expected 50,000\).*--check_dataset false"):
        corruptions.imagenet_c(root, corruptions=["fog"])
    import shutil

    shutil.rmtree(root / "fog" / "4")
    with pytest.raises(DatasetError, match=r"no severity 4 folder for fog .*--severities"):
        corruptions.imagenet_c(root, corruptions=["fog"], check=False)
    assert len(corruptions.imagenet_c(root, corruptions=["fog"], severities=[1, 5], check=False)) == 2
    # the download archives' group folders (ROOT/weather/fog/...) are found too
    shutil.move(root / "fog", tmp_path / "fog")
    (root / "weather").mkdir()
    shutil.move(tmp_path / "fog", root / "weather" / "fog")
    cells = corruptions.imagenet_c(root, corruptions=["fog"], severities=[2], check=False)
    assert cells[("fog", 2)].labels.tolist() == [3] and cells[("fog", 2)].preprocess == AS_IS


def test_cbar_severity_folders_by_index_or_parameter(tmp_path):
    folder = tmp_path / "inverse_sparkles"
    for name in ("1.00", "2.00", "4.00", "9.00", "10.00"):  # make_imagenet_c_bar.py's "{:.2f}" names
        (folder / name).mkdir(parents=True)
    got = {s: d.name for s, d in corruptions.cbar_severity_dirs(folder, "inverse_sparkles").items()}
    assert got == {1: "1.00", 2: "2.00", 3: "4.00", 4: "9.00", 5: "10.00"}
    (folder / "3").mkdir()  # index 3 and parameter 4.00 are the same severity
    with pytest.raises(DatasetError, match="'3' and '4.00' are both severity 3|'4.00' and '3' are both severity 3"):
        corruptions.cbar_severity_dirs(folder, "inverse_sparkles")
    other = tmp_path / "caustic_refraction"
    (other / "2.30").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"'2.30' is not a severity folder of caustic_refraction; expected 1..5 "
                                           r"or its parameter values 2.35, 3.20, 4.90, 6.60, 9.15"):
        corruptions.cbar_severity_dirs(other, "caustic_refraction")


# ----------------------------------------------------------------------------- end to end through the runner

@pytest.fixture(scope="module")
def c_data(tmp_path_factory):
    root = write_cells(tmp_path_factory.mktemp("imagenet-c"), C_ALL)
    val_root = write_val_tree(tmp_path_factory.mktemp("imagenet"), [3, 500], per_class=3)
    answers: dict[str, int] = {}
    expected = plan({(c, s): root / c / str(s) for c in C_ALL for s in range(1, 6)}, answers, cell_rule)
    clean = plan({"clean": val_root / "val"}, answers, lambda key, k: k % 3 != 0, resize_crop=True)["clean"]
    return root, val_root, answers, expected, clean


def _c_benchmark(c_data):
    root, val_root, *_ = c_data
    return ImageNetC(corruptions.imagenet_c(root, check=False), imagenet_val(val_root, check=False))


@pytest.fixture(scope="module")
def c_full_run(tmp_path_factory, c_data):
    return run([_c_benchmark(c_data)], ["m"], ResultsStore(tmp_path_factory.mktemp("c-run") / "b.csv"),
               RunOptions(**OPTS), load=Loader(m=Oracle(c_data[2])))["m"]


def test_imagenet_c_cells_and_summaries_equal_the_expected_numbers(c_data, c_full_run):
    _, _, answers, expected, clean = c_data
    assert len(set(expected.values())) >= 3  # the cells really differ
    out = c_full_run
    for (c, s), acc in expected.items():
        assert out[f"top1_acc/{c}_{s}"] == pytest.approx(acc), (c, s)
    assert out["top1_acc/imagenet"] == pytest.approx(clean)
    assert out["top1_acc/imagenet-c"] == pytest.approx(np.mean(list(expected.values())))
    assert out["top1_acc/imagenet-c-15"] == pytest.approx(np.mean([expected[c, s] for c in C_STANDARD
                                                                   for s in range(1, 6)]))
    err = {c: np.mean([1 - expected[c, s] / 100 for s in range(1, 6)]) for c in C_STANDARD}
    assert out["metric/imagenet-c/mCE"] == pytest.approx(100 * np.mean([err[c] / ALEXNET[c] for c in C_STANDARD]))
    rel = [(err[c] - (1 - clean / 100)) / (ALEXNET[c] - 0.43478) for c in C_STANDARD]
    assert out["metric/imagenet-c/relative_mCE"] == pytest.approx(100 * np.mean(rel))


def test_imagenet_c_subset_writes_cells_but_no_summary(tmp_path, c_data):
    root, _, answers, expected, _ = c_data
    cells = corruptions.imagenet_c(root, corruptions=["fog", "saturate"], severities=[1, 3], check=False)
    out = run([ImageNetC(cells)], ["m"], ResultsStore(tmp_path / "s.csv"), RunOptions(**OPTS),
              load=Loader(m=Oracle(answers)))["m"]
    assert {k for k in out if k.startswith("top1")} == {"top1_acc/fog_1", "top1_acc/fog_3", "top1_acc/saturate_1",
                                                        "top1_acc/saturate_3"}
    assert out["top1_acc/saturate_3"] == pytest.approx(expected["saturate", 3])


def test_two_shards_give_the_columns_of_one_full_run(tmp_path, c_data, c_full_run):
    answers = c_data[2]
    store = ResultsStore(tmp_path / "sharded.csv")
    first = run([_c_benchmark(c_data)], ["m"], store, RunOptions(**OPTS), load=Loader(m=Oracle(answers)),
                shard=(0, 2))["m"]
    assert len(first) == 2 * 48 and "top1_acc/imagenet-c" not in first  # conditions 0, 2, 4 ... only
    second = run([_c_benchmark(c_data)], ["m"], store, RunOptions(**OPTS), load=Loader(m=Oracle(answers)),
                 shard=(1, 2))["m"]
    assert "metric/imagenet-c/mCE" in second  # the summaries come with the last shard
    merged = store.table().set_index("model").loc["m"].dropna().to_dict()
    assert set(merged) == set(c_full_run) and len(c_full_run) == 2 * 95 + 2 + 4
    assert merged == pytest.approx(c_full_run)


@pytest.fixture(scope="module")
def cbar_data(tmp_path_factory):
    names = list(CBAR_PARAMS)
    by_param = set(names[::2])  # half the corruptions name severity folders by parameter value

    def folder(c, s):
        return f"{CBAR_PARAMS[c][s - 1]:.2f}" if c in by_param else str(s)

    root = write_cells(tmp_path_factory.mktemp("imagenet-cbar"), names, folder, seed=5)
    answers: dict[str, int] = {}
    expected = plan({(c, s): root / c / folder(c, s) for c in names for s in range(1, 6)}, answers, cell_rule)
    return root, answers, expected


def test_imagenet_cbar_cells_and_mean_equal_the_expected_numbers(tmp_path, cbar_data):
    root, answers, expected = cbar_data
    assert len(set(expected.values())) >= 3
    out = run([ImageNetCBar(corruptions.imagenet_cbar(root, check=False))], ["m"], ResultsStore(tmp_path / "b.csv"),
              RunOptions(**OPTS), load=Loader(m=Oracle(answers)))["m"]
    for (c, s), acc in expected.items():
        assert out[f"top1_acc/{c}_{s}"] == pytest.approx(acc), (c, s)
    assert out["top1_acc/imagenet-cbar"] == pytest.approx(np.mean(list(expected.values())))
    assert len(out) == 2 * 50 + 1


def test_a_and_r_score_only_their_own_classes(tmp_path):
    decoy = 0  # outside both subsets: the 1000-way argmax on every image, invisible to A and R
    assert decoy not in subset_indices("a") and decoy not in subset_indices("r")
    a_classes = [6, 15]  # 6 is in both lists, 15 in A only
    r_classes = [6, 1]  # 1 is in R only
    a_root = write_folders(tmp_path / "a", [WNIDS[c] for c in a_classes], per_class=3, seed=2)
    r_root = write_folders(tmp_path / "r", [WNIDS[c] for c in r_classes], per_class=3, seed=3)
    answers: dict[str, int] = {}
    # wrong answers stay inside the dataset's classes, so the restricted argmax does not undo them
    exp_a = plan({"a": a_root}, answers, lambda key, k: k != 1, True, lambda y: 21 - y)["a"]
    exp_r = plan({"r": r_root}, answers, lambda key, k: k < 4, True, lambda y: 7 - y)["r"]
    benches = [ShiftedSet("imagenet-a", ood.read("imagenet-a", a_root, check=False)),
               ShiftedSet("imagenet-r", ood.read("imagenet-r", r_root, check=False)),
               ShiftedSet("imagenet-sketch", ood.read("imagenet-sketch", a_root, check=False))]
    out = run(benches, ["m"], ResultsStore(tmp_path / "b.csv"), RunOptions(**OPTS),
              load=Loader(m=Oracle(answers, decoy=decoy)))["m"]
    assert (out["top1_acc/imagenet-a"], out["top1_acc/imagenet-r"]) == pytest.approx((exp_a, exp_r))
    assert exp_a == pytest.approx(500 / 6) and exp_r == pytest.approx(400 / 6)
    assert out["top1_acc/imagenet-sketch"] == 0.0  # 1000-way: the decoy wins everywhere


def test_unreadable_images_stop_the_run_or_are_counted(tmp_path):
    root = write_folders(tmp_path / "a", [WNIDS[6], WNIDS[11]], per_class=2)
    answers: dict[str, int] = {}
    exp = plan({"a": root}, answers, lambda key, k: k != 0, True, lambda y: 17 - y)["a"]
    (root / WNIDS[11] / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    answers[pixel_key(np.zeros((3, 224, 224)))] = 0  # what the loader puts in an unreadable file's place
    bench = [ShiftedSet("imagenet-a", ood.read("imagenet-a", root, check=False))]
    store = ResultsStore(tmp_path / "b.csv")
    with pytest.raises(DatasetError, match=r"broken\.jpg.*--skip_unreadable"):
        run(bench, ["m"], store, RunOptions(**OPTS), load=Loader(m=Oracle(answers)))
    assert store.records() == []
    out = run(bench, ["m"], store, RunOptions(skip_unreadable=True, **OPTS), load=Loader(m=Oracle(answers)))["m"]
    assert out["top1_acc/imagenet-a"] == pytest.approx(exp) == pytest.approx(75.0)
    (record,) = store.records()
    assert record.n_images == 4 and record.extra["unreadable"] == 1


def test_c_files_of_another_size_stop_the_run_naming_the_file(tmp_path):
    root = write_cells(tmp_path / "c", ["fog"], classes=(3,), per_class=1)
    _save(root / "fog" / "2" / WNIDS[3] / "odd.JPEG", np.zeros((224, 225, 3), dtype=np.uint8))
    cells = corruptions.imagenet_c(root, corruptions=["fog"], severities=[2], check=False)
    with pytest.raises(DatasetError, match=r"odd\.JPEG is 225x224, expected 224x224"):
        run([ImageNetC(cells)], ["m"], ResultsStore(tmp_path / "b.csv"), RunOptions(**OPTS),
            load=Loader(m=Oracle({})))


# ----------------------------------------------------------------------------- command line

def test_ood_script_finds_datasets_under_data_root_and_skips_the_rest(tmp_path, fake_zoo, caplog):
    from biasbench.cli import main

    data = tmp_path / "data"
    a_root = write_folders(data / "imagenet-a", [WNIDS[6], WNIDS[11]], per_class=2, seed=7)
    v2_root = write_folders(data / "imagenet-v2", ["2", "10", "100"], per_class=2, seed=8)
    answers: dict[str, int] = {}
    exp_a = plan({"a": a_root}, answers, lambda key, k: k % 2 == 0, True, lambda y: 17 - y)["a"]
    exp_v2 = plan({"v2": v2_root}, answers, lambda key, k: k != 3, resize_crop=True)["v2"]
    fake_zoo["oracle"] = Oracle(answers)
    csv = tmp_path / "out" / "benchmark.csv"
    argv = ["--model", "oracle", "--data-root", str(data), "--check_dataset", "false", "--device", "cpu",
            "--num_workers", "0", "--no-progress", "--decoded_cache", "off", "--results", str(csv)]
    with caplog.at_level("INFO", logger="biasbench"):
        rc = main(["imagenet", "imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch"], argv,
                  require_data=False)
    assert rc == 0
    row = ResultsStore(csv).table().set_index("model").loc["oracle"]
    assert row["top1_acc/imagenet-a"] == pytest.approx(exp_a) and row["top1_acc/imagenet-v2"] == pytest.approx(exp_v2)
    assert exp_v2 == pytest.approx(500 / 6)
    assert not any("imagenet-r" in c or "sketch" in c for c in row.index)
    assert "skipping imagenet-r" in caplog.text and "skipping imagenet-sketch" in caplog.text


def test_c_and_cbar_scripts_take_the_reference_flags(tmp_path, fake_zoo, capsys, c_data, cbar_data):
    import eval_imagenet_c
    import eval_imagenet_cbar
    from biasbench.cli import main

    fake_zoo["m"] = Oracle({**c_data[2], **cbar_data[1]})
    common = ["--model", "m", "--check_dataset", "false", "--device", "cpu", "--num_workers", "0", "--no-progress",
              "--results", str(tmp_path / "b.csv")]
    c_alias = eval_imagenet_c.ALIASES
    assert main(["imagenet-c"], common + ["--dataset_path", str(c_data[0]), "--corruptions", "fog,nope"],
                aliases=c_alias) == 2
    assert "--corruptions: unknown corruption 'nope'; valid: gaussian_noise" in capsys.readouterr().err
    assert main(["imagenet-c"], common + ["--dataset_path", str(c_data[0]), "--severities", "2,6"],
                aliases=c_alias) == 2
    assert "--severities: unknown severity '6'; valid: 1, 2, 3, 4, 5" in capsys.readouterr().err
    assert main(["imagenet-c"], common + ["--dataset_path", str(c_data[0]), "--corruptions", "fog",
                                          "--severities", "2"], aliases=c_alias) == 0
    cbar_alias = eval_imagenet_cbar.ALIASES
    assert main(["imagenet-cbar"], common + ["--dataset_path", str(cbar_data[0]), "--corruptions", "sparkles",
                                             "--severities", "5"], aliases=cbar_alias) == 0
    row = ResultsStore(tmp_path / "b.csv").table().set_index("model").loc["m"]
    assert row["top1_acc/fog_2"] == pytest.approx(c_data[3]["fog", 2])
    assert row["top1_acc/sparkles_5"] == pytest.approx(cbar_data[2]["sparkles", 5])


def test_suite_on_the_synthetic_datasets_finds_everything_under_data_root(tmp_path, fake_zoo):
    """The generator's layouts (C-bar severity folders by parameter value, zero-padded v2 folders)
    through the command line: every column equals the number the test expects from the files."""
    from biasbench.cli import main
    from biasbench.synthetic import write_datasets

    root = tmp_path / "data"
    names = ["imagenet", "imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch", "imagenet-c", "imagenet-cbar"]
    write_datasets(root, classes=[1, 6], per_class=2, corrupt_per_class=1, which=names,
                   cbar_severity_folders="value", v2_zero_pad=True)
    answers: dict[str, int] = {}
    exp = {f"top1_acc/{c}_{s}": v for (c, s), v in plan(
        {(c, s): root / "imagenet-c" / c / str(s) for c in C_ALL for s in range(1, 6)}, answers, cell_rule).items()}
    cbar = plan({(c, s): root / "imagenet-cbar" / c / f"{p:.2f}" for c, ps in CBAR_PARAMS.items()
                 for s, p in enumerate(ps, 1)}, answers, cell_rule)
    exp |= {f"top1_acc/{c}_{s}": v for (c, s), v in cbar.items()}
    for name, rule, wrong in [("imagenet-v2", lambda key, k: k != 0, lambda y: (y + 1) % 1000),
                              ("imagenet-a", lambda key, k: k == 0, lambda y: 15),  # 15: another A class
                              ("imagenet-r", lambda key, k: k != 1, lambda y: 7 - y),  # R classes 1 and 6
                              ("imagenet-sketch", lambda key, k: k % 3 == 0, lambda y: (y + 1) % 1000),
                              ("imagenet", lambda key, k: k < 3, lambda y: (y + 1) % 1000)]:
        folder = root / name / "val" if name == "imagenet" else root / name
        exp[f"top1_acc/{name}"] = plan({name: folder}, answers, rule, True, wrong)[name]
    fake_zoo["m"] = Oracle(answers)
    csv = tmp_path / "benchmark.csv"
    rc = main(names, ["--model", "m", "--data-root", str(root), "--check_dataset", "false", "--device", "cpu",
                      "--num_workers", "0", "--no-progress", "--results", str(csv)], require_data=False)
    assert rc == 0
    row = ResultsStore(csv).table().set_index("model").loc["m"]
    for col, value in exp.items():
        assert row[col] == pytest.approx(value), col
    c_cells = {(c, s): exp[f"top1_acc/{c}_{s}"] for c in C_ALL for s in range(1, 6)}
    assert row["top1_acc/imagenet-c"] == pytest.approx(np.mean(list(c_cells.values())))
    assert row["top1_acc/imagenet-cbar"] == pytest.approx(np.mean(list(cbar.values())))
    err = {c: np.mean([1 - c_cells[c, s] / 100 for s in range(1, 6)]) for c in C_STANDARD}
    assert row["metric/imagenet-c/mCE"] == pytest.approx(100 * np.mean([err[c] / ALEXNET[c] for c in C_STANDARD]))
    clean_err = 1 - exp["top1_acc/imagenet"] / 100
    assert row["metric/imagenet-c/relative_mCE"] == pytest.approx(
        100 * np.mean([(err[c] - clean_err) / (ALEXNET[c] - 0.43478) for c in C_STANDARD]))
