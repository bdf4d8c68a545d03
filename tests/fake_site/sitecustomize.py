"""Loaded by every Python subprocess whose PYTHONPATH starts here (tests/fake_zoo.subprocess_env):
installs the test zoo when BIASBENCH_FAKE_ZOO=1."""

import os

if os.environ.get("BIASBENCH_FAKE_ZOO") == "1":
    import fake_zoo

    fake_zoo.install()
