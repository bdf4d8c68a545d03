"""Inputs that used to give a silent wrong number or lose a download (docs/troubleshooting.md): a 16-bit image,
an archive truncated exactly at a member boundary, a hash recorded before the file proved usable."""

import hashlib
import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from biasbench.data.decode import decode
from biasbench.data.imagelist import AS_IS, RESIZE_CROP
from biasbench.data.synsets import subset_wnids
from biasbench.errors import DatasetError
from test_prepare_data import a_archive, jpeg, main, serve, shrink_ood

# --- 1. high-depth images -----------------------------------------------------------------------------


def test_16bit_grey_png_keeps_its_high_byte(tmp_path):
    # Every 16-bit value of a 224x224 ramp, saved as PIL mode I;16; PIL's own convert("RGB") clips them to 255.
    values = (np.arange(224 * 224, dtype=np.int64) * 65535 // (224 * 224 - 1)).astype(np.uint16).reshape(224, 224)
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode == "I;16"
    x = decode(tmp_path / "deep.png", AS_IS).numpy()
    expected = (values >> 8).astype(np.uint8)  # torchvision's convert_image_dtype(uint16 -> uint8)
    assert x.shape == (3, 224, 224)
    for channel in x:
        np.testing.assert_array_equal(channel, expected)
    # The same image as 8-bit decodes to the same pixels through the resize-and-crop path too.
    Image.fromarray(expected).save(tmp_path / "eight.png")
    np.testing.assert_array_equal(decode(tmp_path / "deep.png", RESIZE_CROP).numpy(),
                                  decode(tmp_path / "eight.png", RESIZE_CROP).numpy())


@pytest.mark.parametrize("array, kind", [(np.full((8, 8), 0.5, np.float32), "floating-point"),
                                         (np.full((8, 8), 70_000, np.int32), "32-bit integer")])
def test_images_without_a_defined_range_are_refused(tmp_path, array, kind):
    path = tmp_path / "odd.png"  # TIFF content: PIL opens files by their content, not their suffix
    Image.fromarray(array).save(path, format="TIFF")
    with pytest.raises(DatasetError) as e:
        decode(path, AS_IS)
    assert str(e.value).count("\n") == 0 and str(path) in str(e.value) and kind in str(e.value)


# --- 2 and 3. archives truncated at a member boundary; the ledger --------------------------------------


def truncated_a_archive() -> bytes:
    """``a_archive()`` cut exactly after its third member: every header and payload whole, the last image and
    the end-of-archive blocks missing; tarfile reads it without error."""
    w = subset_wnids("a")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in {"imagenet-a/README.txt": b"ImageNet-A",
                           f"imagenet-a/{w[0]}/0.000116_digital clock _ digital clock_0.865662.jpg": jpeg(0),
                           f"imagenet-a/{w[0]}/0.000348_x.jpg": jpeg(1)}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        end = tar.offset  # where the next member's header would start
    return buf.getvalue()[:end]


def _ledger(root) -> dict:
    path = root / ".downloads" / "datasets.lock.json"
    return json.loads(path.read_text())["files"] if path.exists() else {}


def test_truncated_archive_is_not_installed_recorded_or_deleted(http_server, monkeypatch, tmp_path, capsys):
    cut = truncated_a_archive()
    assert len(cut) % 512 == 0 and a_archive().startswith(cut)
    serve(monkeypatch, http_server, "a", {"imagenet-a.tar": cut})
    shrink_ood(monkeypatch, "imagenet-a", n_classes=2, total=3)
    assert main(tmp_path, "--datasets", "a") == 1
    out = capsys.readouterr().out
    assert out.startswith("ImageNet-A: FAILED:") and out.count("\n") == 1, out
    assert "incomplete" in out and "1 classes (expected 2)" in out and "2 images (expected 3)" in out
    assert "check_dataset" not in out  # never offered for a dataset prepare_data.py makes
    assert not (tmp_path / "imagenet-a").exists()  # nothing moved into place
    assert (tmp_path / ".downloads" / "imagenet-a.tar").read_bytes() == cut  # nothing deleted
    assert _ledger(tmp_path) == {}  # nor recorded as the good file
    assert not [p for p in (tmp_path / ".downloads").iterdir() if p.name.startswith((".stage", ".extract"))]
    # As the message says: delete it and run again; the complete archive is accepted and only now recorded.
    (tmp_path / ".downloads" / "imagenet-a.tar").unlink()
    http_server.files["/imagenet-a.tar"] = a_archive()
    assert main(tmp_path, "--datasets", "a") == 0
    assert "ImageNet-A: 3 images found, 3 expected, OK" in capsys.readouterr().out
    assert _ledger(tmp_path)["imagenet-a.tar"]["sha256"] == hashlib.sha256(a_archive()).hexdigest()


def test_archive_placed_by_hand_is_recorded_only_once_it_proves_complete(monkeypatch, tmp_path, capsys):
    shrink_ood(monkeypatch, "imagenet-a", n_classes=2, total=3)
    placed = tmp_path / ".downloads" / "imagenet-a.tar"
    placed.parent.mkdir()
    placed.write_bytes(truncated_a_archive())
    assert main(tmp_path, "--datasets", "a", "--offline") == 1
    assert "incomplete" in capsys.readouterr().out and _ledger(tmp_path) == {}
    placed.write_bytes(a_archive())  # the good copy, placed by hand: not refused as tampered
    assert main(tmp_path, "--datasets", "a", "--offline") == 0
    assert "ImageNet-A: 3 images found, 3 expected, OK" in capsys.readouterr().out
    assert _ledger(tmp_path)["imagenet-a.tar"]["sha256"] == hashlib.sha256(a_archive()).hexdigest()


def test_incomplete_dataset_in_place_is_not_offered_the_relaxed_check(monkeypatch, tmp_path, capsys):
    shrink_ood(monkeypatch, "imagenet-a", n_classes=2, total=3)
    (tmp_path / ".downloads").mkdir()
    (tmp_path / ".downloads" / "imagenet-a.tar").write_bytes(a_archive())
    assert main(tmp_path, "--datasets", "a", "--offline", "--keep-archives") == 0
    capsys.readouterr()
    next((tmp_path / "imagenet-a").rglob("0.000348_x.jpg")).unlink()  # a file lost afterwards
    assert main(tmp_path, "--datasets", "a") == 1
    out = capsys.readouterr().out
    assert "2 images (expected 3)" in out and "check_dataset" not in out and "run prepare_data.py again" in out


def test_forget_a_recorded_hash(monkeypatch, tmp_path, capsys):
    shrink_ood(monkeypatch, "imagenet-a", n_classes=2, total=3)
    (tmp_path / ".downloads").mkdir()
    (tmp_path / ".downloads" / "imagenet-a.tar").write_bytes(a_archive())
    assert main(tmp_path, "--datasets", "a", "--offline", "--keep-archives") == 0
    assert list(_ledger(tmp_path)) == ["imagenet-a.tar"]
    capsys.readouterr()
    assert main(tmp_path, "--forget", "imagenet-a.tar") == 0
    assert _ledger(tmp_path) == {} and "forgotten" in capsys.readouterr().out
    assert main(tmp_path, "--forget", "imagenet-b.tar") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --forget imagenet-b.tar: no such entry") and err.count("\n") == 1


def test_hash_mismatch_on_download_names_the_forget_command(http_server, monkeypatch, tmp_path, capsys):
    serve(monkeypatch, http_server, "a", {"imagenet-a.tar": a_archive()})
    shrink_ood(monkeypatch, "imagenet-a", n_classes=2, total=3)
    (tmp_path / ".downloads").mkdir()
    (tmp_path / ".downloads" / "datasets.lock.json").write_text(json.dumps(
        {"version": 1, "files": {"imagenet-a.tar": {"sha256": "0" * 64, "size": 1, "source": "x"}}}))
    assert main(tmp_path, "--datasets", "a") == 1
    assert f"--root {tmp_path} --forget imagenet-a.tar" in capsys.readouterr().out


# --- 4. messages that misled ---------------------------------------------------------------------------


def test_corrupt_local_checkpoint_is_not_told_to_be_fetched_again(tmp_path):
    from biasbench.errors import ModelError
    from biasbench.zoo.loader import file_entry, state_dict_for

    ckpt = tmp_path / "mine.pth"
    ckpt.write_bytes(b"PK\x03\x04 not a zip at all" * 10)  # the user's own file, damaged
    with pytest.raises(ModelError) as e:
        state_dict_for(file_entry(f"file://{ckpt}"))
    msg = str(e.value)
    assert str(ckpt) in msg and "prefetch" not in msg and "fetch it again" not in msg
    assert "restore it from your copy or save it again" in msg


def test_empty_val_folder_is_said_to_be_empty(tmp_path):
    from biasbench.data.imagenet import imagenet_val

    (tmp_path / "val").mkdir()
    with pytest.raises(DatasetError) as e:
        imagenet_val(tmp_path, check=False)
    assert str(e.value).startswith(f"{tmp_path / 'val'} is empty") and "holds images" not in str(e.value)


def test_sizes_in_messages_never_read_as_zero():
    from biasbench.files import size_text

    assert [size_text(n) for n in (10, 1000, 1_354_761, 7_800_000_000)] == ["10 bytes", "1 kB", "1.35 MB", "7.8 GB"]


def test_export_writes_the_readable_decisions_and_names_the_damaged_file(tmp_path, val, capsys):
    import pandas as pd

    from biasbench.benchmarks.imagenet import ImageNetClean
    from biasbench.results import ResultsStore, decisions
    from biasbench.results.__main__ import main as results_main
    from biasbench.runner import RunOptions, run

    from helpers import nudged_tinynet

    store = ResultsStore(tmp_path / "benchmark.csv")
    nets = {"a": nudged_tinynet(val, 0), "b": nudged_tinynet(val, 1)}
    run([ImageNetClean(val)], list(nets), store, RunOptions(device="cpu", num_workers=0, progress=False,
                                                           batch_size=4), load=lambda name, dev: nets[name])
    (bad,) = [r for r in store.records() if r.model == "b" and decisions.KEY in r.extra]
    path = store.log_dir / bad.extra[decisions.KEY]["file"]
    path.write_bytes(path.read_bytes()[:-7])  # truncated after it was written
    out = tmp_path / "decisions.csv"
    assert results_main(["export", "--results", str(store.csv_path), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith(f"error: 1 record(s) left out of {out}")
    assert str(path) in captured.err and "SHA-256 mismatch" in captured.err
    table = pd.read_csv(out)  # the other model's decisions are written
    assert set(table["model"]) == {"a"} and len(table) == len(val)
    assert f"wrote {out}: {len(val)} decisions of 1 model(s)" in captured.out


def test_empty_class_folder_is_an_error_even_unchecked(tmp_path):
    from biasbench.data import ood

    w = subset_wnids("a")
    (tmp_path / w[0]).mkdir()
    (tmp_path / w[1]).mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / w[0] / "x.jpg")
    with pytest.raises(DatasetError) as e:
        ood.read("imagenet-a", tmp_path, check=False)
    assert str(e.value).startswith(f"class folder {tmp_path / w[1]} holds no images")
