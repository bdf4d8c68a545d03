"""Safe loading: weights_only plus the allow-list; code-running pickles refused before anything runs;
corrupt files named in the error."""

import argparse
import fractions
import logging
import os
import pathlib

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from biasbench.errors import ModelError
from biasbench.zoo.safe_load import allowed_global_names, load_checkpoint


class RunsCode:
    """Unpickling this calls os.system (here: creating a marker file)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class Exec:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


@pytest.mark.parametrize("payload,global_name", [(RunsCode, "posix.system"), (Exec, "global exec")])
def test_code_running_pickle_is_refused_and_never_runs(payload, global_name, tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}, "hook": payload(marker)}, path)
    assert not marker.exists()
    with pytest.raises(ModelError) as err:
        load_checkpoint(path)
    msg = str(err.value)
    assert str(path) in msg and global_name in msg and "--trust-checkpoint" in msg
    assert not marker.exists()


def test_code_running_legacy_pickle_is_refused(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth.tar"
    torch.save({"hook": RunsCode(marker)}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(ModelError, match="posix.system"):
        load_checkpoint(path)
    assert not marker.exists()


def test_allow_listed_objects_load(tmp_path):
    path = tmp_path / "ok.pth"
    obj = {"state_dict": {"w": torch.arange(4.0)}, "args": argparse.Namespace(lr=0.1, data=pathlib.Path("/data")),
           "best_acc1": np.float64(76.25), "epoch": np.int64(90), "history": np.array([1.0, 2.5], dtype=np.float32)}
    torch.save(obj, path)
    got = load_checkpoint(path)
    assert torch.equal(got["state_dict"]["w"], torch.arange(4.0))
    assert got["args"] == argparse.Namespace(lr=0.1, data=pathlib.Path("/data"))
    assert got["best_acc1"] == 76.25 and isinstance(got["best_acc1"], np.float64)
    assert got["epoch"] == 90
    np.testing.assert_array_equal(got["history"], np.array([1.0, 2.5], dtype=np.float32))


def test_numpy_1x_module_names_are_accepted(tmp_path):
    """Checkpoints written under numpy 1.x name numpy.core.multiarray.scalar; they must load under numpy 2."""
    path = tmp_path / "np1.pth"
    torch.save({"best": np.float64(1.5)}, path)
    import zipfile

    with zipfile.ZipFile(path) as z:
        items = {n: z.read(n) for n in z.namelist()}
    pkl = next(n for n in items if n.endswith("data.pkl"))
    assert b"numpy._core.multiarray" in items[pkl]
    items[pkl] = items[pkl].replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for n, data in items.items():
            z.writestr(n, data)
    assert load_checkpoint(path)["best"] == 1.5


def test_unlisted_harmless_global_needs_trust(tmp_path, caplog):
    path = tmp_path / "frac.pth"
    torch.save({"w": torch.ones(1), "ratio": fractions.Fraction(1, 3)}, path)
    with pytest.raises(ModelError, match="fractions.Fraction"):
        load_checkpoint(path)
    with caplog.at_level(logging.WARNING, logger="biasbench"):
        got = load_checkpoint(path, trust=True)
    assert got["ratio"] == fractions.Fraction(1, 3)
    assert "fractions.Fraction" in caplog.text and str(path) in caplog.text


def test_allow_list_documentation_names_the_pickle_globals():
    names = allowed_global_names()
    for n in ("argparse.Namespace", "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.dtype"):
        assert n in names


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


@pytest.mark.parametrize("damage", ["truncated_zip", "truncated_legacy", "random_bytes", "empty", "html"])
def test_corrupt_files_raise_model_error_naming_the_file(damage, tmp_path):
    good = tmp_path / "good.pth"
    torch.save({"w": torch.randn(1000)}, good, _use_new_zipfile_serialization=damage != "truncated_legacy")
    data = {"truncated_zip": lambda: _truncated(good.read_bytes()),
            "truncated_legacy": lambda: _truncated(good.read_bytes()),
            "random_bytes": lambda: np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
            "empty": lambda: b"",
            "html": lambda: b"<!DOCTYPE html><html><body>Quota exceeded</body></html>"}[damage]()
    bad = tmp_path / f"{damage}.pth"
    bad.write_bytes(data)
    with pytest.raises(ModelError) as err:
        load_checkpoint(bad)
    assert str(bad) in str(err.value)
    assert "corrupt" in str(err.value) or "not a readable checkpoint" in str(err.value)


def test_safetensors_load_and_corrupt(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file({"w": torch.arange(6.0).view(2, 3)}, str(path))
    assert torch.equal(load_checkpoint(path)["w"], torch.arange(6.0).view(2, 3))
    path.write_bytes(_truncated(path.read_bytes()))
    with pytest.raises(ModelError, match="model.safetensors"):
        load_checkpoint(path)


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_checkpoint(tmp_path / "nope.pth")
