"""biasbench.files: atomic writes (content, permissions kept, nothing left behind on failure) and the safe
archive extraction's refusals (zip links, absolute tar members) checked against what tarfile/zipfile wrote."""

import io
import json
import stat
import tarfile
import zipfile

import pytest

from biasbench.errors import ConfigError, DatasetError
from biasbench.files import atomic_write, atomic_write_json, safe_extract


def test_atomic_write_replaces_the_file_and_keeps_its_permissions(tmp_path):
    path = tmp_path / "table.csv"
    path.write_bytes(b"old")
    path.chmod(0o600)
    atomic_write(path, b"new contents")
    assert path.read_bytes() == b"new contents" and stat.S_IMODE(path.stat().st_mode) == 0o600
    atomic_write_json(tmp_path / "sub" / "state.json", {"a": [1, 2]})  # the folder is created
    assert json.loads((tmp_path / "sub" / "state.json").read_text()) == {"a": [1, 2]}
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["state.json", "sub", "table.csv"]  # no temp files


def test_atomic_write_failure_is_one_line_naming_the_file(tmp_path):
    (tmp_path / "blocker").write_bytes(b"a file where a folder is expected")
    target = tmp_path / "blocker" / "plan.json"
    with pytest.raises(ConfigError) as err:
        atomic_write_json(target, {}, what="sweep state ", error=ConfigError, hint="pass --sweep-dir")
    msg = str(err.value)
    assert msg.startswith(f"could not write sweep state {target}: ") and msg.endswith("; pass --sweep-dir")
    assert "\n" not in msg and sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_zip_with_a_symlink_member_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("data/ok.jpg", b"x")
        link = zipfile.ZipInfo("data/passwd.jpg")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/passwd")
    (tmp_path / "a.zip").write_bytes(buf.getvalue())
    with pytest.raises(DatasetError, match=r"'data/passwd\.jpg' is a link or special file"):
        safe_extract(tmp_path / "a.zip", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_tar_with_an_absolute_member_is_refused_before_anything_is_written(tmp_path):
    with tarfile.open(tmp_path / "a.tar", "w") as tar:
        for name in ("data/ok.jpg", "/tmp/biasbench-absolute.jpg"):
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(DatasetError, match="would be written outside the target folder"):
        safe_extract(tmp_path / "a.tar", tmp_path / "out")
    assert not (tmp_path / "out").exists()
