"""Every registry entry, field by field, against a snapshot of the registry as it was before its entries
were rewritten with keyword arguments (commit 990fd13): the rewrite changed how entries are spelt, not
what they are. A deliberate change to an entry regenerates the snapshot:
``PYTHONPATH=code:tests python -c "import test_zoo_registry_snapshot as t; t.write()"``."""

import dataclasses
import json
from pathlib import Path

from biasbench.zoo.registry import ModelEntry, registry

SNAPSHOT = Path(__file__).parent / "data" / "registry_snapshot.json"


def plain(value):
    """A JSON-comparable form: dataclasses as dicts of their fields, functions by their qualified name."""
    if dataclasses.is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in sorted(value.items())}
    if callable(value):
        return f"{value.__module__}.{value.__qualname__}"
    return value


def write() -> None:
    rows = [json.dumps(plain(e), sort_keys=True) for e in registry().values()]
    SNAPSHOT.write_text("[\n" + ",\n".join(rows) + "\n]\n")


def test_every_entry_equals_the_snapshot():
    want = json.loads(SNAPSHOT.read_text())
    got = [plain(e) for e in registry().values()]
    assert [e["name"] for e in got] == [e["name"] for e in want]  # same entries, same order
    added = {f.name for f in dataclasses.fields(ModelEntry)} - set(want[0])  # fields newer than the snapshot
    defaults = {f.name: plain(f.default) for f in dataclasses.fields(ModelEntry) if f.name in added}
    for g, w in zip(got, want):
        assert {k: g[k] for k in w} == w, g["name"]
        assert {k: g[k] for k in added} == defaults, g["name"]  # registry entries leave new fields at their default
