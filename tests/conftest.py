"""Shared test fixtures.

``reference_dir`` is ../shared/reference beside the repository (CI always has
it); tests that need it skip with a stated reason where it is absent, e.g. in a
user's clone. ``BIASBENCH_REFERENCE`` overrides the location.
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


# Tests run on tiny tensors in 2 xdist workers: one thread each is fastest and keeps them from
# oversubscribing the cores.
torch.set_num_threads(1)
