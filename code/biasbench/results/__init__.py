"""The results store: every benchmark value is appended with its provenance to an
append-only log (one shard per writing process); ``benchmark.csv`` is derived from it.

    store = ResultsStore("raw-data/benchmark.csv")
    key = cell_key(model, "clean", "clean", fingerprint, Setup(seed=None))  # the reference setup, unseeded
    if key not in store.newest([key]):  # measured already? (same model, condition, dataset and setup)
        store.append([Record(model, "clean", "clean", {"top1_acc/imagenet": 76.1}, 50000, fingerprint)])
    store.write_csv()
"""

from biasbench.results import decisions
from biasbench.results.keys import cell_key, summary_key
from biasbench.results.record import Record, ResultKey, code_version
from biasbench.results.setup import Setup
from biasbench.results.store import DEFAULT_CSV, ResultsStore, ResultsWarning

__all__ = ["DEFAULT_CSV", "decisions", "Record", "ResultKey", "ResultsStore", "ResultsWarning", "Setup",
           "cell_key", "code_version", "summary_key"]
