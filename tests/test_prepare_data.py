"""prepare_data.py against a local HTTP server serving tiny archives in each release's real format (folder and
file names, nesting): download, SHA-256 ledger, resume after a kill, tampered and unsafe archives refused,
layout checks, a second run doing nothing, offline messages, and ImageNet val arranged from the user's tar."""

import dataclasses
import hashlib
import io
import json
import multiprocessing
import os
import shutil
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from biasbench import download
from biasbench.data import corruptions, imagenet, ood
from biasbench.data.synsets import imagenet_wnids, subset_wnids, wnid_to_index
from biasbench.prepare import imagenet_val, run, sources


def jpeg(seed: int, size=(8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def tar_bytes(files: dict[str, bytes], mode="w", extra=()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return buf.getvalue()


def serve(monkeypatch, http_server, key: str, blobs: dict[str, bytes]) -> None:
    """Point dataset ``key``'s archives at the server, which serves ``blobs`` (archive file name -> bytes)."""
    ds = sources.DATASETS[key]
    archives = tuple(dataclasses.replace(a, url=http_server.url("/" + a.filename), kind="url", size=None)
                     for a in ds.archives)
    monkeypatch.setitem(sources.DATASETS, key, dataclasses.replace(ds, archives=archives))
    for name, data in blobs.items():
        http_server.files["/" + name] = data


def shrink_ood(monkeypatch, name: str, **kw) -> None:
    monkeypatch.setitem(ood.LAYOUTS, name, dataclasses.replace(ood.LAYOUTS[name], **kw))


def main(root: Path, *args: str) -> int:
    return run.main(["--root", str(root), "--no-progress", *args])


def a_archive() -> bytes:
    w = subset_wnids("a")
    return tar_bytes({"imagenet-a/README.txt": b"ImageNet-A",
                      f"imagenet-a/{w[0]}/0.000116_digital clock _ digital clock_0.865662.jpg": jpeg(0),
                      f"imagenet-a/{w[0]}/0.000348_x.jpg": jpeg(1),
                      f"imagenet-a/{w[5]}/0.001_y.jpg": jpeg(2)})


def test_download_extract_check_then_nothing_to_do(http_server, monkeypatch, tmp_path, capsys):
    data = a_archive()
    serve(monkeypatch, http_server, "a", {"imagenet-a.tar": data})
    shrink_ood(monkeypatch, "imagenet-a", n_classes=2, total=3)
    assert main(tmp_path, "--datasets", "a") == 0
    assert capsys.readouterr().out.strip() == "ImageNet-A: 3 images found, 3 expected, OK"
    images = ood.read("imagenet-a", tmp_path / "imagenet-a")
    w = subset_wnids("a")
    assert sorted(set(images.labels.tolist())) == sorted([wnid_to_index()[w[0]], wnid_to_index()[w[5]]])
    ledger = json.loads((tmp_path / ".downloads" / "datasets.lock.json").read_text())["files"]
    assert ledger["imagenet-a.tar"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert not (tmp_path / ".downloads" / "imagenet-a.tar").exists()  # archive removed once in place
    assert not [p for p in (tmp_path / ".downloads").iterdir() if p.name.startswith(".extract")]
    n_requests = len(http_server.requests)
    assert main(tmp_path, "--datasets", "a") == 0
    assert capsys.readouterr().out.strip() == "ImageNet-A: 3 images found, 3 expected, OK (already in place; nothing to do)"
    assert len(http_server.requests) == n_requests


def test_wrong_layout_is_reported_not_ok(http_server, monkeypatch, tmp_path, capsys):
    serve(monkeypatch, http_server, "a", {"imagenet-a.tar": a_archive()})
    shrink_ood(monkeypatch, "imagenet-a", n_classes=2, total=4)  # one image short
    assert main(tmp_path, "--datasets", "a") == 1
    out = capsys.readouterr().out
    assert out.startswith("ImageNet-A: FAILED:") and "3 images (expected 4)" in out


def test_v2_numeric_folders_are_class_indices(http_server, monkeypatch, tmp_path, capsys):
    top = "imagenetv2-matched-frequency-format-val"
    files = {f"{top}/{c}/{h}.jpeg": jpeg(i) for i, (c, h) in enumerate(
        [(0, "7e7bd6"), (2, "a3f0b1"), (10, "0c4d2e"), (100, "ff01aa")])}
    serve(monkeypatch, http_server, "v2", {"imagenetv2-matched-frequency.tar.gz": tar_bytes(files, "w:gz")})
    shrink_ood(monkeypatch, "imagenet-v2", n_classes=4, total=4, per_class=1)
    assert main(tmp_path, "--datasets", "v2") == 0
    assert "ImageNet-v2 matched-frequency: 4 images found, 4 expected, OK" in capsys.readouterr().out
    images = ood.read("imagenet-v2", tmp_path / "imagenet-v2")
    got = {Path(f).name: int(y) for f, y in zip(images.files, images.labels)}
    assert got == {"7e7bd6.jpeg": 0, "a3f0b1.jpeg": 2, "0c4d2e.jpeg": 10, "ff01aa.jpeg": 100}


def test_sketch_zip(http_server, monkeypatch, tmp_path, capsys):
    w = imagenet_wnids()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(f"sketch/{w[3]}/sketch_1.JPEG", jpeg(3))
        z.writestr(f"sketch/{w[999]}/sketch_2.JPEG", jpeg(4))
    serve(monkeypatch, http_server, "sketch", {"ImageNet-Sketch.zip": buf.getvalue()})
    shrink_ood(monkeypatch, "imagenet-sketch", n_classes=2, total=2)
    assert main(tmp_path, "--datasets", "sketch") == 0
    assert "ImageNet-Sketch: 2 images found, 2 expected, OK" in capsys.readouterr().out
    assert sorted(ood.read("imagenet-sketch", tmp_path / "imagenet-sketch").labels.tolist()) == [3, 999]


def test_imagenet_c_five_group_archives(http_server, monkeypatch, tmp_path, capsys):
    w = imagenet_wnids()
    blobs = {}
    for g, cs in sources.C_GROUPS.items():
        blobs[f"{g}.tar"] = tar_bytes({f"{g}/{c}/{s}/{w[7]}/ILSVRC2012_val_00000293.JPEG": jpeg(s)
                                       for c in cs for s in range(1, 6)})
    serve(monkeypatch, http_server, "c", blobs)
    monkeypatch.setattr(corruptions, "N_CLASSES", 1)
    monkeypatch.setattr(corruptions, "PER_CLASS", 1)
    assert main(tmp_path, "--datasets", "c") == 0
    assert capsys.readouterr().out.strip() == "ImageNet-C: 95 images found, 95 expected, OK"
    assert sorted(p.name for p in (tmp_path / "imagenet-c").iterdir()) == sorted(corruptions.IMAGENET_C)
    cells = corruptions.imagenet_c(tmp_path / "imagenet-c")
    assert len(cells) == 95 and all(v.labels.tolist() == [7] for v in cells.values())


def test_real_json(http_server, monkeypatch, tmp_path, capsys):
    labels = [[i % 1000] for i in range(50_000)]
    labels[3] = []
    serve(monkeypatch, http_server, "real", {"real.json": json.dumps(labels).encode()})
    assert main(tmp_path, "--datasets", "real") == 0
    assert "ImageNet ReaL labels: 50,000 images found, 50,000 expected, OK" in capsys.readouterr().out
    assert json.loads((tmp_path / "imagenet" / "real.json").read_text()) == labels


def _run_quiet(root):
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    run.main(["--root", str(root), "--datasets", "a", "--no-progress"])


def test_killed_download_resumes_with_a_range_request(http_server, monkeypatch, tmp_path, capsys):
    data = a_archive() + b"\0" * (3 * download.CHUNK)  # tar padding: still valid, and a whole chunk lands before the stall
    serve(monkeypatch, http_server, "a", {"imagenet-a.tar": data})
    shrink_ood(monkeypatch, "imagenet-a", n_classes=2, total=3)
    http_server.stall.add("/imagenet-a.tar")
    proc = multiprocessing.get_context("fork").Process(target=_run_quiet, args=(tmp_path,))
    proc.start()
    part = tmp_path / ".downloads" / "imagenet-a.tar.part"
    deadline = time.time() + 30
    while not (part.exists() and part.stat().st_size >= download.CHUNK) and time.time() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.join()
    half = part.stat().st_size
    assert download.CHUNK <= half < len(data) and not (tmp_path / "imagenet-a").exists()
    http_server.stall.clear()
    assert main(tmp_path, "--datasets", "a") == 0
    assert "ImageNet-A: 3 images found, 3 expected, OK" in capsys.readouterr().out
    assert http_server.gets("/imagenet-a.tar") == [None, f"bytes={half}-"]


def test_tampered_archive_is_refused(http_server, monkeypatch, tmp_path, capsys):
    data = a_archive()
    serve(monkeypatch, http_server, "a", {"imagenet-a.tar": data})
    shrink_ood(monkeypatch, "imagenet-a", n_classes=2, total=3)
    assert main(tmp_path, "--datasets", "a") == 0
    capsys.readouterr()
    # The dataset is deleted and must be fetched again, but the server now sends other bytes.
    shutil.rmtree(tmp_path / "imagenet-a")
    w = subset_wnids("a")
    http_server.files["/imagenet-a.tar"] = tar_bytes({f"imagenet-a/{w[0]}/evil.jpg": jpeg(9),
                                                 f"imagenet-a/{w[1]}/evil.jpg": jpeg(9),
                                                 f"imagenet-a/{w[2]}/evil.jpg": jpeg(9)})
    assert main(tmp_path, "--datasets", "a") == 1
    out = capsys.readouterr().out
    assert "ImageNet-A: FAILED:" in out and "SHA-256" in out and hashlib.sha256(data).hexdigest()[:12] in out
    assert not (tmp_path / "imagenet-a").exists() and not (tmp_path / ".downloads" / "imagenet-a.tar").exists()


def test_pinned_hash_mismatch_is_refused(http_server, monkeypatch, tmp_path, capsys):
    serve(monkeypatch, http_server, "a", {"imagenet-a.tar": a_archive()})
    ds = sources.DATASETS["a"]
    pinned = dataclasses.replace(ds.archives[0], sha256="0" * 64)
    monkeypatch.setitem(sources.DATASETS, "a", dataclasses.replace(ds, archives=(pinned,)))
    assert main(tmp_path, "--datasets", "a") == 1
    assert "pinned in biasbench/prepare/sources.py" in capsys.readouterr().out
    assert not (tmp_path / "imagenet-a").exists()


def _evil_parent() -> bytes:
    return tar_bytes({"imagenet-a/n01498041/ok.jpg": jpeg(0), "imagenet-a/../../escaped.jpg": jpeg(1)})


def _evil_link() -> bytes:
    link = tarfile.TarInfo("imagenet-a/n01498041/passwd.jpg")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    return tar_bytes({"imagenet-a/n01498041/ok.jpg": jpeg(0)}, extra=[link])


def _evil_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("imagenet-a/n01498041/ok.jpg", jpeg(0))
        z.writestr("../escaped.jpg", jpeg(1))
    return buf.getvalue()


@pytest.mark.parametrize("make, why", [(_evil_parent, "outside the target"), (_evil_link, "link or special file"),
                                       (_evil_zip, "outside the target")])
def test_unsafe_archive_is_refused(http_server, monkeypatch, tmp_path, capsys, make, why):
    root = tmp_path / "root"
    serve(monkeypatch, http_server, "a", {"imagenet-a.tar": make()})
    assert main(root, "--datasets", "a") == 1
    out = capsys.readouterr().out
    assert "ImageNet-A: FAILED:" in out and why in out
    assert not (root / "imagenet-a").exists()
    assert not list(tmp_path.rglob("escaped.jpg")) and not list(tmp_path.rglob("passwd.jpg"))


def test_offline_names_every_missing_piece(monkeypatch, tmp_path, capsys):
    assert main(tmp_path, "--datasets", "a,c", "--offline") == 1
    out = capsys.readouterr().out
    assert f"{sources.HENDRYCKS}/imagenet-a.tar" in out and f"{tmp_path / 'imagenet-a'}/" in out
    for g, cs in sources.C_GROUPS.items():
        assert f"{sources.ZENODO_C}/{g}.tar" in out
        assert all(f"{tmp_path / 'imagenet-c' / c}/" in out for c in cs)
    assert not (tmp_path / "imagenet-a").exists()


def test_offline_uses_an_archive_placed_by_hand(monkeypatch, tmp_path, capsys):
    shrink_ood(monkeypatch, "imagenet-a", n_classes=2, total=3)
    (tmp_path / ".downloads").mkdir()
    (tmp_path / ".downloads" / "imagenet-a.tar").write_bytes(a_archive())
    assert main(tmp_path, "--datasets", "a", "--offline") == 0
    assert "ImageNet-A: 3 images found, 3 expected, OK" in capsys.readouterr().out


def test_dry_run_lists_sizes_and_fetches_nothing(http_server, monkeypatch, tmp_path, capsys):
    data = a_archive()
    serve(monkeypatch, http_server, "a", {"imagenet-a.tar": data})
    assert main(tmp_path, "--datasets", "a", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "GB free" in out and f"[{len(data) / 1e9:.2f} GB]" in out and http_server.gets("/imagenet-a.tar") == []
    assert not (tmp_path / "imagenet-a").exists()


def test_not_enough_disk_space_stops_before_downloading(http_server, monkeypatch, tmp_path, capsys):
    serve(monkeypatch, http_server, "a", {"imagenet-a.tar": a_archive()})
    real = shutil.disk_usage
    monkeypatch.setattr(download.shutil, "disk_usage", lambda p: real(p)._replace(free=10))
    assert main(tmp_path, "--datasets", "a") == 1
    out = capsys.readouterr().out
    assert "free under" in out and "; 10 bytes are free" in out and http_server.gets("/imagenet-a.tar") == []


# ---------------------------------------------------------------- ImageNet val from the user's files

VAL_WNIDS = [imagenet_wnids()[i] for i in (1, 0, 1, 0)]  # images 1..4: classes 1, 0, 1, 0


@pytest.fixture
def small_val(monkeypatch, tmp_path):
    monkeypatch.setattr(imagenet_val, "N_VAL", 4)
    monkeypatch.setattr(imagenet, "N_CLASSES", 2)
    monkeypatch.setattr(imagenet, "PER_CLASS", 2)
    labels = tmp_path / "LOC_val_solution.csv"
    rows = [f"ILSVRC2012_val_{i + 1:08d},{w} 10 20 30 40" for i, w in enumerate(VAL_WNIDS)]
    labels.write_text("ImageId,PredictionString\n" + "\n".join(reversed(rows)) + "\n")
    return labels


def val_files() -> dict[str, bytes]:
    return {f"ILSVRC2012_val_{i + 1:08d}.JPEG": jpeg(i) for i in range(4)}


def check_val(root: Path) -> None:
    images = imagenet.imagenet_val(root / "imagenet")
    got = {Path(f).name: int(y) for f, y in zip(images.files, images.labels)}
    assert got == {f"ILSVRC2012_val_{i + 1:08d}.JPEG": wnid_to_index()[w] for i, w in enumerate(VAL_WNIDS)}
    assert not (root / "imagenet" / "val.partial").exists()


def test_val_from_the_official_tar(small_val, tmp_path, capsys):
    tar = tmp_path / "ILSVRC2012_img_val.tar"
    tar.write_bytes(tar_bytes(val_files()))
    root = tmp_path / "data"
    args = ("--datasets", "val", "--imagenet-val-tar", str(tar), "--imagenet-val-labels", str(small_val))
    assert main(root, *args) == 0
    assert capsys.readouterr().out.strip() == "ImageNet val: 4 images found, 4 expected, OK"
    check_val(root)
    assert main(root, *args) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_val_from_an_extracted_folder_is_hard_linked(small_val, tmp_path, capsys):
    flat = tmp_path / "val_flat"
    flat.mkdir()
    for name, data in val_files().items():
        (flat / name).write_bytes(data)
    root = tmp_path / "data"
    assert main(root, "--imagenet-val-tar", str(flat), "--imagenet-val-labels", str(small_val)) == 0
    check_val(root)
    src = flat / "ILSVRC2012_val_00000001.JPEG"
    dst = root / "imagenet" / "val" / VAL_WNIDS[0] / src.name
    assert os.stat(src).st_ino == os.stat(dst).st_ino  # no second copy


def test_val_incomplete_tar_keeps_progress(small_val, tmp_path, capsys):
    files = val_files()
    del files["ILSVRC2012_val_00000004.JPEG"]
    tar = tmp_path / "ILSVRC2012_img_val.tar"
    tar.write_bytes(tar_bytes(files))
    root = tmp_path / "data"
    assert main(root, "--imagenet-val-tar", str(tar), "--imagenet-val-labels", str(small_val)) == 1
    out = capsys.readouterr().out
    assert "ImageNet val: FAILED:" in out and "holds 3 val images; expected 4" in out
    assert len(list((root / "imagenet" / "val.partial").rglob("*.JPEG"))) == 3
    assert not (root / "imagenet" / "val").exists()


def test_unknown_dataset_is_a_usage_error(tmp_path, capsys):
    assert main(tmp_path, "--datasets", "a,imagenet-z") == 2
    assert "--datasets: unknown dataset 'imagenet-z'" in capsys.readouterr().err


def test_val_labels_from_the_devkit(small_val, monkeypatch, tmp_path, capsys):
    """The devkit's meta.mat and ground-truth file, parsed by torchvision (its MD5 check of the official
    archive is switched off for this tiny one)."""
    import scipy.io
    from torchvision.datasets import imagenet as tv_imagenet

    monkeypatch.setattr(tv_imagenet, "_verify_archive", lambda *a: None)
    wnids = imagenet_wnids()
    synsets = np.array([(7, wnids[1], "goldfish", "g", 0), (3, wnids[0], "tench", "t", 0),
                        (1001, "n00001740", "entity", "e", 2)],
                       dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("gloss", "O"),
                              ("num_children", "O")])
    kit = tmp_path / "kit" / "ILSVRC2012_devkit_t12" / "data"
    kit.mkdir(parents=True)
    scipy.io.savemat(kit / "meta.mat", {"synsets": synsets})
    ids = {wnids[1]: 7, wnids[0]: 3}
    (kit / "ILSVRC2012_validation_ground_truth.txt").write_text("".join(f"{ids[w]}\n" for w in VAL_WNIDS))
    devkit = tmp_path / "ILSVRC2012_devkit_t12.tar.gz"
    with tarfile.open(devkit, "w:gz") as tar:
        tar.add(tmp_path / "kit" / "ILSVRC2012_devkit_t12", arcname="ILSVRC2012_devkit_t12")
    tar = tmp_path / "ILSVRC2012_img_val.tar"
    tar.write_bytes(tar_bytes(val_files()))
    root = tmp_path / "data"
    assert main(root, "--imagenet-val-tar", str(tar), "--imagenet-devkit", str(devkit)) == 0
    assert "ImageNet val: 4 images found, 4 expected, OK" in capsys.readouterr().out
    check_val(root)
