"""The synthetic datasets: real layouts, real metadata formats, determinism, and content
that is class-dependent, cue-conflicting and degraded monotonically with severity."""

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from biasbench.data.corruptions import IMAGENET_C, IMAGENET_CBAR
from biasbench.data.synsets import imagenet_wnids, subset_indices, subset_wnids, wnid_to_index
from biasbench.errors import ConfigError
from biasbench.synthetic import datasets as syn
from biasbench.synthetic.corruptions import corrupt
from biasbench.synthetic.images import TRAIN, class_image, silhouette

VAL_NAME = re.compile(r"^ILSVRC2012_val_(\d{8})\.JPEG$")
# The 16 model-vs-human categories (model-vs-human helper/human_categories.py, sorted).
CATEGORIES = ["airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat", "chair", "clock", "dog",
              "elephant", "keyboard", "knife", "oven", "truck"]
# Stylized file names as in model-vs-human's raw-data (e.g. the reference response files):
# 0001_sty_dnn_0_airplane_00_airplane-0001-ILSVRC2012-val-00000631.png
CUE_NAME = re.compile(r"^([a-z]+)(\d+)-([a-z]+)(\d+)\.png$")
STYLIZED_NAME = re.compile(r"^(\d{4})_sty_dnn_0_([a-z]+)_00_\2-(\d{4})-ILSVRC2012-val-(\d{8})\.png$")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn")
    return root, syn.write_preset(root, "test")


@pytest.fixture(scope="module")
def preset():
    return syn.PRESETS["test"]


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _wnids(classes) -> set[str]:
    return {imagenet_wnids()[c] for c in classes}


def test_returned_paths(written):
    root, paths = written
    assert set(paths) == set(syn.ALL)
    assert paths["imagenet"] == root / "imagenet"
    assert paths["cue-conflict"] == root / "modelvshuman" / "cue-conflict"
    assert paths["stylized"] == root / "modelvshuman" / "stylized"
    manifest = json.loads((root / syn.MANIFEST).read_text())
    for name, path in paths.items():
        n = sum(1 for p in _files(path) if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
        expected = manifest["datasets"][name]["images"] + manifest["datasets"][name].get("train_images", 0)
        assert n == expected, name


def test_imagenet_val_layout(written, preset):
    root, paths = written
    val = paths["imagenet"] / "val"
    assert {p.name for p in val.iterdir()} == _wnids(preset["classes"])
    numbers = []
    for d in val.iterdir():
        files = list(d.iterdir())
        assert len(files) == preset["per_class"]
        for f in files:
            m = VAL_NAME.match(f.name)
            assert m, f.name
            numbers.append(int(m.group(1)))
            with Image.open(f) as img:
                assert img.format == "JPEG" and img.mode == "RGB"
                w, h = img.size
                assert 250 <= w <= 400 and 250 <= h <= 400 and w != h
    assert len(set(numbers)) == len(numbers) and all(1 <= n <= 50000 for n in numbers)
    train = paths["imagenet"] / "train"
    for d in train.iterdir():
        names = sorted(p.name for p in d.iterdir())
        assert names == sorted(f"{d.name}_{k + 1}.JPEG" for k in range(preset["train_per_class"]))


def test_meta_bin_is_torchvisions_format(written, preset):
    root, paths = written
    wnid_to_classes, val_wnids = torch.load(paths["imagenet"] / "meta.bin", weights_only=True)
    assert list(wnid_to_classes) == list(imagenet_wnids())
    assert wnid_to_classes["n01440764"] == ("tench", "Tinca tinca")
    assert all(isinstance(v, tuple) and all(isinstance(s, str) for s in v) for v in wnid_to_classes.values())
    assert len(val_wnids) == 50000
    counts = {}
    for w in val_wnids:
        counts[w] = counts.get(w, 0) + 1
    assert set(counts.values()) == {50} and len(counts) == 1000
    for f in (paths["imagenet"] / "val").rglob("*.JPEG"):
        assert val_wnids[int(VAL_NAME.match(f.name).group(1)) - 1] == f.parent.name
    # torchvision's own ImageNet class reads it (it needs meta.bin beside val/)
    from torchvision.datasets import ImageNet

    ds = ImageNet(str(paths["imagenet"]), split="val")
    assert len(ds) == len(preset["classes"]) * preset["per_class"]
    assert ds.wnids == sorted(_wnids(preset["classes"]))
    assert ds.classes[ds.wnids.index("n01484850")][0] == "great white shark"


def test_real_json(written):
    root, paths = written
    labels = json.loads((paths["imagenet"] / "real.json").read_text())
    assert len(labels) == 50000 and all(isinstance(e, list) for e in labels)
    assert sum(1 for e in labels if not e) == 3125
    kinds = set()
    for f in (paths["imagenet"] / "val").rglob("*.JPEG"):
        y = wnid_to_index()[f.parent.name]
        entry = labels[int(VAL_NAME.match(f.name).group(1)) - 1]
        assert entry in ([], [y]) or (len(entry) == 2 and y in entry and all(abs(z - y) == 1 for z in entry if z != y))
        kinds.add(len(entry))
    assert kinds == {0, 1, 2}  # the test preset has an empty list, a single and a double label


def test_flat_val_layout(tmp_path):
    paths = syn.write_datasets(tmp_path, classes=[3, 7], per_class=1, which="imagenet", val_layout="flat")
    files = sorted(p.name for p in (paths["imagenet"] / "val").iterdir())
    _, val_wnids = torch.load(paths["imagenet"] / "meta.bin", weights_only=True)
    assert len(files) == 2 and all(VAL_NAME.match(f) for f in files)
    assert sorted(val_wnids[int(f[15:23]) - 1] for f in files) == sorted(_wnids([3, 7]))


def test_imagenet_c_layout(written, preset):
    root, paths = written
    val = {f.relative_to(paths["imagenet"] / "val") for f in (paths["imagenet"] / "val").rglob("*.JPEG")}
    c = paths["imagenet-c"]
    assert sorted(p.name for p in c.iterdir()) == sorted(preset["c_corruptions"])
    for corruption in c.iterdir():
        assert sorted(p.name for p in corruption.iterdir()) == ["1", "2", "3", "4", "5"]
        for sev in corruption.iterdir():
            files = {f.relative_to(sev) for f in sev.rglob("*") if f.is_file()}
            assert files == val  # same <wnid>/<file> as the val images they corrupt
            for f in list(sev.rglob("*.JPEG"))[:3]:
                with Image.open(f) as img:
                    assert img.format == "JPEG" and img.size == (224, 224)
    assert set(IMAGENET_C[15:]) == {"speckle_noise", "gaussian_blur", "spatter", "saturate"}
    assert len(IMAGENET_C) == 19 and len(IMAGENET_CBAR) == 10


def test_cbar_severity_folders(written, tmp_path):
    root, paths = written
    for corruption in paths["imagenet-cbar"].iterdir():
        assert sorted(p.name for p in corruption.iterdir()) == ["1", "2", "3", "4", "5"]
    out = syn.write_datasets(tmp_path, classes=[1], per_class=1, which=["cbar"], cbar_severity_folders="value",
                             cbar_corruptions=["caustic_refraction", "inverse_sparkles"])["imagenet-cbar"]
    # values from facebookresearch/augmentation-corruption imagenet_c_bar.csv, named "{:.2f}"
    assert sorted(p.name for p in (out / "caustic_refraction").iterdir()) == ["2.35", "3.20", "4.90", "6.60", "9.15"]
    assert sorted(p.name for p in (out / "inverse_sparkles").iterdir()) == ["1.00", "10.00", "2.00", "4.00", "9.00"]


def test_corrupt_classes_subset(tmp_path):
    """C and C-bar corrupt the instances of ``corrupt_classes`` only (the demo's 8 of 19): the same
    <wnid>/<file> as those classes' val images, while val keeps every class."""
    paths = syn.write_datasets(tmp_path, classes=[1, 7, 9], per_class=1, which=["imagenet", "c", "cbar"],
                               corrupt_classes=[9, 1], c_corruptions=["fog"], cbar_corruptions=["blue_noise_sample"])
    val = paths["imagenet"] / "val"
    kept = {f.relative_to(val) for f in val.rglob("*.JPEG") if f.parent.name in _wnids([1, 9])}
    assert len({f.parent.name for f in val.rglob("*.JPEG")}) == 3 and len(kept) == 2
    for sev in [*(paths["imagenet-c"] / "fog").iterdir(), *(paths["imagenet-cbar"] / "blue_noise_sample").iterdir()]:
        assert {f.relative_to(sev) for f in sev.rglob("*.JPEG")} == kept
    assert json.loads((tmp_path / syn.MANIFEST).read_text())["corrupt_classes"] == [9, 1]


def test_a_and_r_use_their_own_classes(written, preset):
    root, paths = written
    a = {p.name for p in paths["imagenet-a"].iterdir()}
    r = {p.name for p in paths["imagenet-r"].iterdir()}
    assert a == _wnids(preset["classes"]) & set(subset_wnids("a")) and a
    assert r == _wnids(preset["classes"]) & set(subset_wnids("r")) and r
    assert a - r and r - a and a & r  # the test preset covers A-only, R-only and shared classes
    for f in _files(paths["imagenet-a"]):
        assert re.match(r"^0\.\d{6}_[^/]+ _ [^/]+_0\.\d{8}\.jpg$", f.name), f.name
    for f in _files(paths["imagenet-r"]):
        assert re.match(r"^[a-z]+_\d+\.jpg$", f.name), f.name
    assert sum(1 for _ in _files(paths["imagenet-a"])) == len(a) * preset["per_class"]


def test_a_falls_back_to_a_classes(tmp_path):
    paths = syn.write_datasets(tmp_path, classes=[0], per_class=1, which="a,r")
    assert {p.name for p in paths["imagenet-a"].iterdir()} == _wnids(subset_indices("a")[:5])
    assert {p.name for p in paths["imagenet-r"].iterdir()} == _wnids(subset_indices("r")[:5])


def test_sketch_and_v2(written, preset, tmp_path):
    root, paths = written
    sketch = paths["imagenet-sketch"]
    assert {p.name for p in sketch.iterdir()} == _wnids(preset["classes"])
    assert all(re.match(r"^sketch_\d+\.JPEG$", f.name) for f in _files(sketch))
    v2 = paths["imagenet-v2"]
    folders = {p.name for p in v2.iterdir()}
    assert folders == {str(c) for c in preset["classes"]} and {"2", "10", "100"} <= folders
    assert all(re.match(r"^[0-9a-f]{40}\.jpeg$", f.name) for f in _files(v2))
    padded = syn.write_datasets(tmp_path, classes=[2, 10, 100], per_class=1, which="v2", v2_zero_pad=True)
    assert {p.name for p in padded["imagenet-v2"].iterdir()} == {"002", "010", "100"}


def test_cue_conflict_layout(written, preset):
    root, paths = written
    cue = paths["cue-conflict"]
    assert sorted(p.name for p in cue.iterdir()) == CATEGORIES
    same = 0
    for f in _files(cue):
        m = CUE_NAME.match(f.name)
        assert m and m.group(1) == f.parent.name and m.group(3) in CATEGORIES, f.name
        same += m.group(1) == m.group(3)
        with Image.open(f) as img:
            assert img.format == "PNG" and img.size == (224, 224) and img.mode == "RGB"
    n = 16 * preset["mvh_per_category"]
    assert len(_files(cue)) == n and same == n // 16  # 1 in 16, as the real set's 80 of 1,280


def test_stylized_layout(written, preset):
    root, paths = written
    session = paths["stylized"] / "dnn" / "session-1"
    assert [p.name for p in paths["stylized"].iterdir()] == ["dnn"]
    assert [p.name for p in (paths["stylized"] / "dnn").iterdir()] == ["session-1"]
    names = sorted(p.name for p in session.iterdir())
    assert len(names) == 16 * preset["mvh_per_category"]
    trials = []
    for name in names:
        m = STYLIZED_NAME.match(name)
        assert m, name
        trials.append(int(m.group(1)))
        assert name.split("_")[4] in CATEGORIES  # how model-vs-human's InfoMappingWithSessions reads the class
    assert trials == list(range(1, len(names) + 1))
    with Image.open(session / names[0]) as img:
        assert img.format == "PNG" and img.size == (224, 224)


def test_name_patterns_are_the_real_ones(reference_dir):
    """Our file name patterns match every image name in model-vs-human's response files."""
    mvh = reference_dir / "modelvshuman"
    real = [line.rsplit(",", 1)[1] for line in
            (mvh / "stylized" / "stylized_resnet50_session-1.csv").read_text().splitlines()[1:]]
    assert len(real) == 800 and all(STYLIZED_NAME.match(n) for n in real)
    real = [line.rsplit(",", 1)[1] for line in
            (mvh / "cue-conflict" / "cue-conflict_resnet50_session-1.csv").read_text().splitlines()[1:]]
    groups = [CUE_NAME.match(n).groups() for n in real]
    assert len(groups) == 1280 and sum(g[0] == g[2] for g in groups) == 80
    assert sorted({g[0] for g in groups}) == CATEGORIES


def test_stylized_by_category(tmp_path):
    out = syn.write_datasets(tmp_path, per_class=1, which="stylized", stylized_layout="by-category")["stylized"]
    assert sorted(p.name for p in out.iterdir()) == CATEGORIES
    assert all(STYLIZED_NAME.match(f.name) and f.name.split("_")[4] == f.parent.name for f in _files(out))


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in _files(root)}


def test_deterministic(tmp_path):
    small = dict(classes=[2, 207], per_class=1, train_per_class=1, c_corruptions=["glass_blur", "spatter"],
                 cbar_corruptions=["sparkles"], mvh_per_category=1)
    syn.write_datasets(tmp_path / "a", **small)
    syn.write_datasets(tmp_path / "b", **small)
    first, second = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert len(first) == 76 and first == second
    syn.write_datasets(tmp_path / "c", **{**small, "seed": 1})
    third = _digest(tmp_path / "c")
    assert not any(third.get(name) == digest for name, digest in first.items())  # another seed changes every file


def _tiny(img: Image.Image, n: int = 8) -> np.ndarray:
    return np.asarray(img.resize((n, n), Image.BOX), np.float32).ravel() / 255


def _ncm_accuracy(classes, n_train=5, n_test=3):
    """Nearest class mean on 8x8 pixels of the 224 crop: means from train instances, tested on val ones."""
    size = (320, 280)
    means = np.stack([np.mean([_tiny(syn.resize_crop(class_image(c, k, size, stream=TRAIN))) for k in range(n_train)],
                              axis=0) for c in classes])
    hits = [np.argmin(((means - _tiny(syn.resize_crop(class_image(c, k, (290, 340))))) ** 2).sum(1)) == i
            for i, c in enumerate(classes) for k in range(n_test)]
    return float(np.mean(hits))


def test_classes_are_separable_by_simple_features():
    classes = np.random.default_rng(0).choice(1000, 20, replace=False).tolist()
    assert _ncm_accuracy(classes) >= 0.6  # chance: 0.05


def test_instances_differ_within_a_class():
    a, b = (np.asarray(class_image(5, k, (300, 260)), np.float32) for k in (0, 1))
    assert np.abs(a - b).mean() > 5


def test_cue_conflict_carries_both_cues(written):
    """Colour statistics follow the texture class; the darkest outline is the shape class's."""
    root, paths = written
    reps = [syn.MVH_REPRESENTATIVES[c] for c in CATEGORIES]
    means = np.stack([np.mean([_tiny(syn.resize_crop(class_image(c, k, (300, 260), stream=TRAIN)))
                               for k in range(4)], axis=0) for c in reps])
    # boundary pixels of each category's silhouette (<shape><i> has the shape of val instance i - 1)
    boundaries = {i: [(m > 0.2) & (m < 0.8) for m in (silhouette(c, i - 1, (224, 224)) for c in reps)]
                  for i in (1, 2)}
    texture_hits = outline_hits = n = 0
    for f in _files(paths["cue-conflict"]):
        shape, i, texture, j = CUE_NAME.match(f.name).groups()
        if shape == texture:
            continue
        si, ti = CATEGORIES.index(shape), CATEGORIES.index(texture)
        img = Image.open(f)
        texture_hits += np.argmin(((means - _tiny(img)) ** 2).sum(1)) == ti
        grey = np.asarray(img.convert("L"), np.float32)
        outline_hits += int(np.argmin([grey[b].mean() for b in boundaries[int(i)]])) == si
        n += 1
    assert n == 30
    assert texture_hits / n >= 0.6 and outline_hits / n >= 0.9


def test_severity_increases_distance_for_every_corruption():
    clean = [syn.resize_crop(class_image(c, 0, (300, 260))) for c in (3, 321, 876)]
    for corruption in IMAGENET_C + IMAGENET_CBAR:
        d = [np.mean([np.abs(np.asarray(corrupt(img, corruption, s, (i,)), np.float32)
                             - np.asarray(img, np.float32)).mean() for i, img in enumerate(clean)])
             for s in range(1, 6)]
        assert d[0] > 0.5 and all(np.diff(d) > 0), (corruption, d)


def test_written_corruptions_grow_with_severity(written):
    root, paths = written
    for name in ("imagenet-c", "imagenet-cbar"):
        for corruption in paths[name].iterdir():
            d = []
            for s in "12345":
                errs = []
                for f in (corruption / s).rglob("*.JPEG"):
                    wnid_file = f.relative_to(corruption / s)
                    clean = syn.resize_crop(Image.open(paths["imagenet"] / "val" / wnid_file).convert("RGB"))
                    errs.append(np.abs(np.asarray(Image.open(f), np.float32) - np.asarray(clean, np.float32)).mean())
                d.append(np.mean(errs))
            assert all(np.diff(d) > 0), (corruption.name, d)


@pytest.mark.parametrize("kwargs, message", [
    (dict(which="imagenet,nope"), "unknown dataset 'nope'"),
    (dict(per_class=0), "per_class is 0"),
    (dict(per_class=51), "per_class is 51"),
    (dict(classes=[1000]), "class 1000"),
    (dict(c_corruptions=["fog", "rain"]), "unknown corruption 'rain'"),
    (dict(cbar_severity_folders="names"), "cbar_severity_folders"),
    (dict(seed=-1), "seed is -1"),
    (dict(classes=[1, 2], corrupt_classes=[2, 3]), "corrupt_classes [3] are not among classes"),
])
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        syn.write_datasets(tmp_path, **kwargs)


def test_existing_output(tmp_path):
    syn.write_datasets(tmp_path, classes=[1], per_class=1, which="sketch")
    with pytest.raises(ConfigError, match="already exists"):
        syn.write_datasets(tmp_path, classes=[1], per_class=1, which="sketch")
    syn.write_datasets(tmp_path, classes=[2], per_class=1, which="sketch", overwrite=True)
    assert [p.name for p in (tmp_path / "imagenet-sketch").iterdir()] == [imagenet_wnids()[2]]
    foreign = tmp_path / "foreign"
    (foreign / "imagenet-sketch").mkdir(parents=True)
    (foreign / "imagenet-sketch" / "keep.txt").write_text("user data")
    with pytest.raises(ConfigError, match="not written by this generator"):
        syn.write_datasets(foreign, which="sketch", overwrite=True)
    assert (foreign / "imagenet-sketch" / "keep.txt").exists()


def test_cli(tmp_path, capsys):
    assert syn.main(["--out", str(tmp_path), "--which", "v2,sketch", "--classes", "2,10", "--per-class", "1"]) == 0
    assert {p.name for p in (tmp_path / "imagenet-v2").iterdir()} == {"2", "10"}
    assert "imagenet-sketch" in capsys.readouterr().out
    assert syn.main(["--out", str(tmp_path / "x"), "--which", "nonsense"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown dataset 'nonsense'" in err[0]
    assert syn.main(["--out", str(tmp_path / "y"), "--classes", "1,x"]) == 2
    assert "--classes" in capsys.readouterr().err
