"""Downloads into the cache: a local HTTP server for plain URLs (with a dropped connection, HTTP errors,
HTML pages), the Hugging Face and Google Drive paths monkeypatched at the library call; the SHA-256 lock
file; tampered files; offline mode."""

import hashlib
import io
import json
import multiprocessing
import threading
from pathlib import Path

import gdown
import huggingface_hub
import pytest
import torch

from biasbench import download as transfer
from biasbench.download import Ledger
from biasbench.errors import ModelError
from biasbench.zoo import download
from biasbench.zoo.download import LOCK_NAME, fetch, relpath
from biasbench.zoo.registry import Source


def checkpoint_bytes(seed=0, n=300_000) -> bytes:
    buf = io.BytesIO()
    torch.save({"state_dict": {"w": torch.randn(n, generator=torch.Generator().manual_seed(seed))}}, buf)
    return buf.getvalue()


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lock_file(cache) -> dict:
    return json.loads((cache / "checkpoints" / LOCK_NAME).read_text())["files"]


def test_url_download_records_sha_and_is_reused(http_server, cache):
    data = checkpoint_bytes()
    http_server.files["/models/r50.pth"] = data
    src = Source("url", http_server.url("/models/r50.pth"))
    got = fetch(src, cache_dir=cache, offline=False, progress=False)
    assert got.status == "downloaded" and got.path.read_bytes() == data
    assert got.path == cache / "checkpoints" / "url" / f"127.0.0.1:{http_server.httpd.server_address[1]}" / "models" / "r50.pth"
    rec = lock_file(cache)[relpath(src)]
    assert rec["sha256"] == sha(data) and rec["size"] == len(data)
    again = fetch(src, cache_dir=cache, offline=True)  # offline: verified from the cache alone
    assert again.status == "cached+verified" and again.path == got.path
    assert len(http_server.requests) == 1


def test_dropped_connection_is_retried_and_resumed(http_server, cache):
    data = checkpoint_bytes(1)
    http_server.files["/big.pth"] = data
    http_server.drop_once.add("/big.pth")
    got = fetch(Source("url", http_server.url("/big.pth")), cache_dir=cache, offline=False, progress=False)
    assert got.path.read_bytes() == data and got.sha256 == sha(data)
    assert http_server.gets("/big.pth") == [None, f"bytes={len(data) // 2}-"]
    assert not list(got.path.parent.glob("*.part"))


def test_partial_file_never_counts(http_server, cache):
    data = checkpoint_bytes(2)
    src = Source("url", http_server.url("/p.pth"))
    final = cache / "checkpoints" / relpath(src)
    final.parent.mkdir(parents=True)
    final.with_name("p.pth.part").write_bytes(data[:1000])
    with pytest.raises(ModelError, match="not in the cache"):
        fetch(src, cache_dir=cache, offline=True)
    http_server.files["/p.pth"] = data
    got = fetch(src, cache_dir=cache, offline=False, progress=False)
    assert got.path.read_bytes() == data and http_server.requests == [("GET", "/p.pth", "bytes=1000-")]


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_cache_file_is_deleted_and_refetched(damage, http_server, cache):
    data = checkpoint_bytes(3)
    http_server.files["/m.pth"] = data
    src = Source("url", http_server.url("/m.pth"))
    path = fetch(src, cache_dir=cache, offline=False, progress=False).path
    bad = data[: len(data) - 100] if damage == "truncate" else data[:500] + bytes([data[500] ^ 1]) + data[501:]
    path.write_bytes(bad)
    with pytest.raises(ModelError, match="SHA-256") as err:
        fetch(src, cache_dir=cache, offline=True, model="some_model")
    assert "prefetch.py --models some_model" in str(err.value)
    assert not path.exists()  # never left in place to be loaded
    path.write_bytes(bad)
    got = fetch(src, cache_dir=cache, offline=False, progress=False)
    assert got.status.startswith("downloaded") and got.path.read_bytes() == data


def test_redownload_must_match_recorded_hash(http_server, cache):
    http_server.files["/c.pth"] = checkpoint_bytes(4)
    src = Source("url", http_server.url("/c.pth"))
    path = fetch(src, cache_dir=cache, offline=False, progress=False).path
    path.unlink()
    http_server.files["/c.pth"] = checkpoint_bytes(5)  # upstream changed
    with pytest.raises(ModelError, match="--relock"):
        fetch(src, cache_dir=cache, offline=False, progress=False)
    assert not path.exists()
    download.forget(src, cache)  # what prefetch --relock does
    assert fetch(src, cache_dir=cache, offline=False, progress=False).path.read_bytes() == checkpoint_bytes(5)


def test_http_404_fails_without_retry(http_server, cache):
    with pytest.raises(ModelError, match="HTTP 404"):
        fetch(Source("url", http_server.url("/missing.pth")), cache_dir=cache, offline=False, progress=False)
    assert len(http_server.requests) == 1


def test_http_503_is_retried_then_fails(http_server, cache):
    http_server.status["/busy.pth"] = 503
    with pytest.raises(ModelError, match=f"after {transfer.RETRIES} attempts"):
        fetch(Source("url", http_server.url("/busy.pth")), cache_dir=cache, offline=False, progress=False)
    assert len(http_server.requests) == transfer.RETRIES


def test_html_page_is_not_a_checkpoint(http_server, cache):
    http_server.files["/quota.pth"] = b"\n<!DOCTYPE html><html>Quota exceeded</html>"
    src = Source("url", http_server.url("/quota.pth"))
    with pytest.raises(ModelError, match="HTML"):
        fetch(src, cache_dir=cache, offline=False, progress=False)
    assert not (cache / "checkpoints" / relpath(src)).exists()


def test_offline_missing_names_file_source_and_command(cache):
    src = Source("hf", "madrylab/robust-imagenet-models", "resnet50_l2_eps3.ckpt")
    with pytest.raises(ModelError) as err:
        fetch(src, cache_dir=cache, model="robust_resnet50_l2_eps3")  # offline from $BIASBENCH_OFFLINE
    msg = str(err.value)
    assert str(cache / "checkpoints" / "hf" / "madrylab" / "robust-imagenet-models" / "resnet50_l2_eps3.ckpt") in msg
    assert "madrylab/robust-imagenet-models" in msg
    assert f"python code/prefetch.py --models robust_resnet50_l2_eps3 --cache-dir {cache}" in msg
    assert not (cache / "checkpoints").exists()  # offline touches nothing


def test_file_placed_by_hand_is_adopted(cache):
    data = checkpoint_bytes(6)
    src = Source("gdrive", "1abcDEF")
    final = cache / "checkpoints" / "gdrive" / "1abcDEF"
    final.parent.mkdir(parents=True)
    final.write_bytes(data)
    assert fetch(src, cache_dir=cache, offline=True).status.startswith("cached (hash recorded")
    assert lock_file(cache)["gdrive/1abcDEF"]["sha256"] == sha(data)
    assert fetch(src, cache_dir=cache, offline=True).status == "cached+verified"


class FakeHub:
    """Stands in for huggingface_hub.hf_hub_download: writes the file under local_dir like the real one."""

    def __init__(self, data: bytes, fail_first: Exception | None = None):
        self.data, self.fail_first, self.calls = data, fail_first, []

    def __call__(self, repo_id, filename, *, local_dir, **kw):
        self.calls.append((repo_id, filename))
        if self.fail_first is not None:
            e, self.fail_first = self.fail_first, None
            raise e
        out = Path(local_dir) / filename
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(self.data)
        return str(out)


def test_hf_download(monkeypatch, cache):
    monkeypatch.setattr(transfer, "BACKOFF_S", 0.0)
    fake = FakeHub(checkpoint_bytes(7), fail_first=OSError("connection reset"))
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake)
    monkeypatch.setattr(transfer, "_check_reachable", lambda url: None)  # the Hub is faked
    src = Source("hf", "madrylab/robust-imagenet-models", "resnet50_linf_eps4.0.ckpt")
    got = fetch(src, cache_dir=cache, offline=False, progress=False)
    assert fake.calls == [("madrylab/robust-imagenet-models", "resnet50_linf_eps4.0.ckpt")] * 2  # retried once
    assert got.path == cache / "checkpoints" / "hf/madrylab/robust-imagenet-models/resnet50_linf_eps4.0.ckpt"
    assert got.path.read_bytes() == fake.data
    assert lock_file(cache)[relpath(src)]["sha256"] == sha(fake.data)
    assert not list(got.path.parent.glob("*.hf"))  # staging removed


def test_timm_tag_downloads_its_safetensors(monkeypatch, cache):
    fake = FakeHub(b"\x10\x00\x00\x00\x00\x00\x00\x00{}" + b" " * 14)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake)
    monkeypatch.setattr(transfer, "_check_reachable", lambda url: None)  # the Hub is faked
    got = fetch(Source("timm", "resnet50.a1_in1k"), cache_dir=cache, offline=False, progress=False)
    assert fake.calls == [("timm/resnet50.a1_in1k", "model.safetensors")]
    assert got.path == cache / "checkpoints" / "hf/timm/resnet50.a1_in1k/model.safetensors"


def test_hf_missing_repo_fails_without_retry(monkeypatch, cache):
    from huggingface_hub.errors import RepositoryNotFoundError

    class Response:  # what the error reads from the HTTP response
        headers: dict = {}
        request = None

    fake = FakeHub(b"", fail_first=RepositoryNotFoundError("404 Client Error: Repository Not Found",
                                                           response=Response()))
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake)
    monkeypatch.setattr(transfer, "_check_reachable", lambda url: None)  # the Hub is faked
    with pytest.raises(ModelError, match="RepositoryNotFoundError"):
        fetch(Source("hf", "someone/nothing", "x.pth"), cache_dir=cache, offline=False, progress=False)
    assert len(fake.calls) == 1


def test_gdrive_download(monkeypatch, cache):
    data = checkpoint_bytes(8)
    calls = []

    def fake_download(*, id, output, quiet, resume, **kw):
        calls.append((id, resume))
        Path(output).write_bytes(data)
        return output

    monkeypatch.setattr(gdown, "download", fake_download)
    got = fetch(Source("gdrive", "1_i45yvC88hos50QjkoD97OgbDGreKdp9"), cache_dir=cache, offline=False, progress=False)
    assert calls == [("1_i45yvC88hos50QjkoD97OgbDGreKdp9", True)]
    assert got.path == cache / "checkpoints" / "gdrive" / "1_i45yvC88hos50QjkoD97OgbDGreKdp9"
    assert got.path.read_bytes() == data


def test_gdrive_refusal_explains_manual_download(monkeypatch, cache):
    calls = []

    def refuse(*, id, output, **kw):
        calls.append(id)
        raise gdown.exceptions.FileURLRetrievalError("Too many users have viewed or downloaded this file recently")

    monkeypatch.setattr(gdown, "download", refuse)
    with pytest.raises(ModelError) as err:
        fetch(Source("gdrive", "1XYZ"), cache_dir=cache, offline=False, progress=False)
    assert "by hand" in str(err.value) and str(cache / "checkpoints" / "gdrive" / "1XYZ") in str(err.value)
    assert calls == ["1XYZ"]


def test_concurrent_downloads_of_one_file_fetch_once(http_server, cache):
    data = checkpoint_bytes(9)
    http_server.files["/shared.pth"] = data
    src = Source("url", http_server.url("/shared.pth"))
    results = []
    threads = [threading.Thread(target=lambda: results.append(fetch(src, cache_dir=cache, offline=False,
                                                                     progress=False))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(http_server.requests) == 1
    assert sorted(r.status for r in results) == ["cached+verified", "cached+verified", "downloaded"]


def _record_many(root: str, worker: int, n: int) -> None:
    ledger = Ledger(Path(root), LOCK_NAME)
    for i in range(n):
        ledger.record(f"w{worker}/f{i}", f"{worker:02d}{i:062d}", i, "test")


def test_lock_file_is_safe_under_concurrent_processes(tmp_path):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_record_many, args=(str(tmp_path), w, 25)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    files = json.loads((tmp_path / LOCK_NAME).read_text())["files"]
    assert len(files) == 75 and files["w2/f24"]["sha256"] == f"02{24:062d}"


# ---------------------------------------------------------------- no network: one line, at once


def _refused_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connecting is refused
    return port


@pytest.mark.parametrize("host", ["refused", "unresolvable"])
def test_no_network_stops_at_once_with_one_line(monkeypatch, cache, host):
    import time

    monkeypatch.setattr(transfer, "BACKOFF_S", 5.0)  # a retry would show in the time taken
    url = (f"http://127.0.0.1:{_refused_port()}/w.pth" if host == "refused"
           else "http://no-such-host.invalid/w.pth")
    start = time.perf_counter()
    with pytest.raises(ModelError) as err:
        fetch(Source("url", url), cache_dir=cache, offline=False, progress=False, model="mine")
    assert time.perf_counter() - start < 3
    text = str(err.value)
    assert "\n" not in text and url in text and "code/prefetch.py --models mine" in text and "--offline" in text
    assert ("connection refused" if host == "refused" else "name does not resolve") in text
    assert str(cache / "checkpoints") in text


def test_hub_unreachable_stops_before_the_libraries_own_retries(monkeypatch, cache, capsys):
    import time

    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{_refused_port()}")
    start = time.perf_counter()
    with pytest.raises(ModelError) as err:
        fetch(Source("timm", "resnet50.a1_in1k"), cache_dir=cache, offline=False, progress=False, model="m")
    assert time.perf_counter() - start < 3  # huggingface_hub alone retries 5 times over ~23 s
    assert "connection refused" in str(err.value) and "--offline" in str(err.value)
    assert "Retry" not in capsys.readouterr().err


def test_transient_errors_are_still_retried(http_server, cache):
    http_server.status["/flaky.pth"] = 502
    with pytest.raises(ModelError, match=f"after {transfer.RETRIES} attempts"):
        fetch(Source("url", http_server.url("/flaky.pth")), cache_dir=cache, offline=False, progress=False)
    assert len(http_server.requests) == transfer.RETRIES
