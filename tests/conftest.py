"""Shared test fixtures.

``reference_dir`` is ../shared/reference beside the repository (CI always has
it); tests that need it skip with a stated reason where it is absent, e.g. in a
user's clone. ``BIASBENCH_REFERENCE`` overrides the location. ``http_server`` is
the one local HTTP server of the download tests (tests/local_server.py).
"""

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def _reference_dir() -> Path:
    env = os.environ.get("BIASBENCH_REFERENCE")
    return Path(env) if env else REPO.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    ref = _reference_dir()
    if not ref.is_dir():
        pytest.skip(f"reference data not found at {ref} (it ships beside the repository in CI; "
                    "set BIASBENCH_REFERENCE to its path to run this test)")
    return ref


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's cache or the network from a test."""
    monkeypatch.setenv("BIASBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("BIASBENCH_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def http_server(tmp_path_factory, monkeypatch):
    """A LocalServer on 127.0.0.1 serving ``server.files`` and the files under ``server.root`` (a fresh
    folder); downloads are on (no proxies, no offline mode: only this server is reached) and retried
    without waiting."""
    from biasbench import download
    from local_server import LocalServer

    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("BIASBENCH_OFFLINE", raising=False)
    monkeypatch.setattr(download, "BACKOFF_S", 0.0)
    server = LocalServer(tmp_path_factory.mktemp("www"))
    yield server
    server.close()


# Tests run on tiny tensors in 2 xdist workers: one thread each is fastest and keeps them from
# oversubscribing the cores.
torch.set_num_threads(1)
