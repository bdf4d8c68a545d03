"""Shared test fixtures (shared functions and classes are in helpers.py).

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


@pytest.fixture(scope="module")
def val(tmp_path_factory):
    """15 ImageNet val images (classes 0, 1, 2, 500, 999; 3 each) in the real layout, read with the
    layout check off; one tree per test module (a module may define its own ``val`` instead)."""
    from biasbench.data.imagenet import imagenet_val

    from helpers import write_val_tree

    root = write_val_tree(tmp_path_factory.mktemp("imagenet"), [0, 1, 2, 500, 999], per_class=3)
    return imagenet_val(root, check=False)


@pytest.fixture
def fake_zoo(monkeypatch):
    """The model zoo as a dict the test fills (name -> model), for the command line run in this
    process (tests/fake_zoo.py is the zoo of subprocesses)."""
    from biasbench import zoo

    models = {}
    monkeypatch.setattr(zoo, "resolve_models", lambda text, local=None, **_cache: text.split(","), raising=False)
    monkeypatch.setattr(zoo, "load_model", lambda name, device, **kw: models[name], raising=False)
    return models


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


SLURM_SCRIPT = REPO / "tests" / "cluster" / "slurm.sh"
SLURM_DAEMONS = ("slurmctld", "slurmd", "slurmdbd", "munged", "mariadbd", "mariadb-install-db", "sbatch")


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A one-node Slurm cluster with accounting, started by tests/cluster/slurm.sh for this session and
    stopped afterwards: its slurm.conf path (tests point SLURM_CONF at it). Skips, saying why, where it
    cannot start (not root, or the Debian packages not installed: ``tests/cluster/slurm.sh install``)."""
    import shutil
    import subprocess
    import time

    if os.geteuid() != 0:
        pytest.skip("the test Slurm cluster needs root (its daemons run as root): run the tests as root")
    missing = [c for c in SLURM_DAEMONS if not shutil.which(c)]
    if missing:
        pytest.skip(f"Slurm is not installed ({', '.join(missing)} not found): run tests/cluster/slurm.sh install "
                    "(Debian: slurm-wlm, munge, slurmdbd, mariadb-server)")
    folder = tmp_path_factory.mktemp("slurm")
    t0 = time.monotonic()
    started = subprocess.run([str(SLURM_SCRIPT), "start", str(folder)], capture_output=True, text=True, timeout=180,
                             check=False)
    if started.returncode != 0:
        pytest.fail(f"the test Slurm cluster did not start: {started.stderr[-2000:]}")
    print(f"test Slurm cluster up in {time.monotonic() - t0:.1f} s")
    try:
        yield Path(started.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run([str(SLURM_SCRIPT), "stop", str(folder)], capture_output=True, timeout=180, check=False)


# Tests run on tiny tensors in 2 xdist workers: one thread each is fastest and keeps them from
# oversubscribing the cores.
torch.set_num_threads(1)
