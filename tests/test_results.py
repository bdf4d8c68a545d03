"""The results store: round trip, concurrent writers, killed writers, damaged logs, hand edits, CLI."""

import csv
import math
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

import biasbench
from biasbench.errors import ResultsError
from biasbench.results import Record, ResultKey, ResultsStore, ResultsWarning, Setup, code_version
from biasbench.results.__main__ import main

CODE = Path(biasbench.__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
FP = "0123abcd"


def rec(model="m", benchmark="clean", condition="clean", values=None, fingerprint=FP, **kw):
    return Record(model, benchmark, condition, values if values is not None else {"top1_acc/imagenet": 1.5},
                  n_images=kw.pop("n_images", 10), fingerprint=fingerprint, **kw)


def read_csv_exact(path):
    """The CSV as {model: {column: float}} via the csv module and float() (exact), plus the header."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    table = {row[0]: {c: float(v) for c, v in zip(header[1:], row[1:]) if v != ""} for row in rows[1:]}
    return header, table


def shards(log_dir):
    return sorted(p for p in Path(log_dir).iterdir() if p.suffix == ".jsonl")


# --------------------------------------------------------------------------- round trip
def test_round_trip_full_precision_and_newest_wins(tmp_path):
    import pandas as pd

    csv_path = tmp_path / "raw-data" / "benchmark.csv"
    store = ResultsStore(csv_path)
    tricky = {"a/third": 1 / 3, "b/sum": 0.1 + 0.2, "c/tiny": 5e-324, "d/big": 1.7976931348623157e308,
              "e/neg": -123456.78901234567}
    store.append([rec("m1", values=tricky, seed=0, precision="fp32", extra={"note": "x"})])
    store.append([rec("m2", "spectral", "lowpass/0.1", {"metric/bandpass/LFC/0.1": 0.25})])
    # Same column again for m1, newer: must win; then one stamped older, appended later: must not win.
    store.append([rec("m1", condition="clean", values={"a/third": 2 / 3})])
    store.append([rec("m1", values={"a/third": 99.0}, time="2000-01-01T00:00:00+00:00")])

    records = store.records()
    assert len(records) == 4
    assert records[0].values == {"a/third": 99.0}  # oldest first, by time stamp
    assert records[1].values == tricky and records[1].seed == 0 and records[1].precision == "fp32"
    assert records[1].extra == {"note": "x"} and records[1].n_images == 10
    assert records[1].code_version == code_version()
    assert ResultsStore(csv_path).records() == records  # a fresh reader sees the same

    latest = store.latest_values("m1")
    assert latest == {**tricky, "a/third": 2 / 3}
    assert store.latest_values("m2", benchmark="spectral") == {"metric/bandpass/LFC/0.1": 0.25}
    assert store.latest_values("m2", benchmark="clean") == {}
    assert store.latest_values("m1", fingerprint="ffff") == {}

    table = store.table()
    columns = sorted([*tricky, "metric/bandpass/LFC/0.1"])
    assert list(table.columns) == ["model", *columns]
    assert table.shape == (2, 1 + len(columns))
    assert list(table["model"]) == ["m1", "m2"]
    assert table.loc[0, "a/third"] == 2 / 3
    assert math.isnan(table.loc[1, "a/third"]) and table.loc[1, "metric/bandpass/LFC/0.1"] == 0.25

    assert store.write_csv() == csv_path
    header, parsed = read_csv_exact(csv_path)
    assert header == ["model", *columns]
    assert parsed == {"m1": latest, "m2": {"metric/bandpass/LFC/0.1": 0.25}}  # bit-exact floats
    # pandas >= 3.1 always parses floats exactly; older versions need the round-trip converter.
    exact = {} if tuple(int(x) for x in pd.__version__.split(".")[:2]) >= (3, 1) else {"float_precision": "round_trip"}
    back = pd.read_csv(csv_path, **exact)
    pd.testing.assert_frame_equal(back, table)
    first = csv_path.read_bytes()
    store.write_csv()  # rewriting its own output is not a hand edit, and is deterministic
    assert csv_path.read_bytes() == first


def test_record_json_round_trip_and_validation():
    r = rec(values={"x": 0.1, "y": 7}, seed=3, extra={"k": [1, 2]})
    assert Record.from_json(r.to_json()) == r and r.values["y"] == 7.0 and isinstance(r.values["y"], float)
    assert r.to_json().count("\n") == 1 and r.to_json().endswith("\n")
    for bad in ({"x": float("nan")}, {"x": float("inf")}, {"x": "1.0"}, {"model": 1.0}, {}, {"x": True}):
        with pytest.raises(ResultsError):
            rec(values=bad)
    with pytest.raises(ResultsError, match="fingerprint"):
        rec(fingerprint="not-hex")
    with pytest.raises(ResultsError, match="n_images"):
        rec(n_images=-1)
    with pytest.raises(ResultsError, match="time"):
        rec(time="2024-01-01T00:00:00")  # no UTC offset
    with pytest.raises(ResultsError, match="extra"):
        rec(extra={"f": object()}).to_json()


def test_code_version_names_the_commit():
    version = code_version()
    assert version.startswith(biasbench.__version__)
    repo = CODE.parent
    if shutil.which("git") is None or not (repo / ".git").exists():
        pytest.skip("not a git checkout: code_version is the package version alone")
    sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True, check=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--", "code"], capture_output=True,
                           text=True, check=True).stdout.strip()
    assert version == f"{biasbench.__version__}+g{sha}" + ("-dirty" if dirty else "")


# --------------------------------------------------------------------------- resume
def test_resume_helpers_by_fingerprint(tmp_path):
    store = ResultsStore(tmp_path / "b.csv")
    store.append([rec("m", "c", "gaussian_noise/3", fingerprint="aa"), rec("m", "c", "fog/1", fingerprint="aa"),
                  rec("m", "c", "fog/2", fingerprint="bb"), rec("other", "c", "fog/5", fingerprint="aa")])

    def is_done(model, benchmark, condition, fingerprint):  # at the reference setup, unseeded
        key = ResultKey(model, benchmark, condition, fingerprint, Setup(seed=None))
        return key in store.newest([key])

    def done_conditions(model, benchmark, fingerprint):
        conditions = ("gaussian_noise/3", "fog/1", "fog/2", "fog/3", "fog/5")  # every condition this test writes
        return {c for c in conditions if is_done(model, benchmark, c, fingerprint)}

    assert is_done("m", "c", "gaussian_noise/3", "aa")
    assert not is_done("m", "c", "gaussian_noise/3", "bb")  # another dataset: not done
    assert not is_done("m", "clean", "gaussian_noise/3", "aa")
    assert done_conditions("m", "c", "aa") == {"gaussian_noise/3", "fog/1"}
    assert done_conditions("m", "c", "bb") == {"fog/2"}
    assert done_conditions("nobody", "c", "aa") == set()
    # Another process's appends are seen by an existing reader.
    ResultsStore(tmp_path / "b.csv").append([rec("m", "c", "fog/3", fingerprint="aa")])
    assert done_conditions("m", "c", "aa") == {"gaussian_noise/3", "fog/1", "fog/3"}


def test_a_result_is_done_only_for_its_whole_identity(tmp_path):
    """model, benchmark, condition, dataset fingerprint and setup: a record differing in any of them is
    another result; of one result's records the newest (by its time) counts."""
    store = ResultsStore(tmp_path / "b.csv")
    key = ResultKey("m", "c", "fog/1", "aa", Setup())  # a seeded benchmark at the reference setup

    def cell(x, **kw):
        return rec("m", "c", "fog/1", values={"x": x}, fingerprint="aa", **{"seed": 0, **kw})

    store.append([cell(1.0), cell(2.0), cell(0.5, time="2000-01-01T00:00:00+00:00")])  # measured again; an old line
    others = {"model": replace(key, model="m2"), "benchmark": replace(key, benchmark="clean"),
              "condition": replace(key, condition="fog/2"), "fingerprint": replace(key, fingerprint="bb"),
              "precision": replace(key, setup=Setup(precision="bf16")),
              "n_samples": replace(key, setup=Setup(n_samples=100)), "seed": replace(key, setup=Setup(seed=1)),
              "preprocess": replace(key, setup=Setup(preprocess="model"))}
    got = store.newest([key, *others.values()])
    assert list(got) == [key] and got[key].values == {"x": 2.0}
    # the same cell under each other setup is another result, found by its own key and only by it
    store.append([cell(3.0, precision="bf16"), cell(4.0, n_samples=100), cell(5.0, seed=1),
                  cell(6.0, preprocess="model")])
    got = store.newest([key, *others.values()])
    assert {k: r.values["x"] for k, r in got.items()} == {
        key: 2.0, others["precision"]: 3.0, others["n_samples"]: 4.0, others["seed"]: 5.0, others["preprocess"]: 6.0}
    # an unseeded benchmark's key (seed None) ignores the seed its records carry, and nothing else
    unseeded = replace(key, setup=Setup(seed=None))
    assert store.newest([unseeded])[unseeded].values == {"x": 5.0}  # newest of seed 0 and seed 1
    store.append([rec("m", "c", "fog/3", fingerprint="aa")])  # recorded without a seed
    assert store.newest([replace(key, condition="fog/3")]) == {}
    assert replace(unseeded, condition="fog/3") in store.newest([replace(unseeded, condition="fog/3")])


# --------------------------------------------------------------------------- damaged logs
def test_torn_last_line_is_ignored_with_a_warning_and_new_appends_go_elsewhere(tmp_path):
    csv_path = tmp_path / "benchmark.csv"
    first = ResultsStore(csv_path)
    good = [rec("m", condition=f"c{i}", values={"x": i + 0.5}) for i in range(2)]
    first.append(good)
    (shard,) = shards(first.log_dir)
    torn = rec("m", condition="c2").to_json().encode()[:37]  # a writer killed mid-line
    with open(shard, "ab") as f:
        f.write(torn)

    reader = ResultsStore(csv_path)
    with pytest.warns(ResultsWarning, match=f"incomplete last line 3 of results log .*{shard.name}"):
        assert reader.records() == good
    later = rec("m", condition="c3")
    ResultsStore(csv_path).append([later])
    assert len(shards(first.log_dir)) == 2
    assert shard.read_bytes().endswith(torn)  # the torn shard is never appended to
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the existing reader warned already: no repeat
        assert reader.records() == [*good, later]
    with pytest.warns(ResultsWarning, match=shard.name):
        ResultsStore(csv_path).write_csv()
    assert read_csv_exact(csv_path)[1] == {"m": {"x": 1.5, "top1_acc/imagenet": 1.5}}


def test_damaged_middle_line_is_skipped_with_a_warning(tmp_path):
    log = tmp_path / "benchmark.log"
    log.mkdir()
    a, b, c = (rec(condition=f"c{i}") for i in range(3))
    incomplete = b'{"model": "m", "benchmark": "x"}'  # valid JSON, not a record
    (log / "h-1-x.jsonl").write_bytes(a.to_json().encode() + b"\x00garbage{\n" + incomplete + b"\n\n"
                                      + b.to_json().encode())
    (log / "h-2-y.jsonl").write_bytes(c.to_json().encode())
    (log / "notes.txt").write_text("not a shard")
    with pytest.warns(ResultsWarning) as caught:
        got = ResultsStore(tmp_path / "benchmark.csv").records()
    assert got == [a, b, c]
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2
    assert "damaged line 2 of results log" in messages[0] and "h-1-x.jsonl" in messages[0]
    assert "damaged line 3 of results log" in messages[1]


def test_unusable_paths_give_clear_errors(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    with pytest.raises(ResultsError, match="is not a directory"):
        ResultsStore(tmp_path / "b.csv", log_dir=blocker)
    store = ResultsStore(blocker / "sub" / "benchmark.csv")
    with pytest.raises(ResultsError, match=r"cannot create the results folder .*blocker/sub"):
        store.write_csv()
    with pytest.raises(ResultsError, match=r"cannot create the results log folder .*blocker/sub/benchmark.log"):
        store.append([rec()])
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(ResultsError, match="is a directory"):
        ResultsStore(tmp_path / "dir.csv").write_csv()
    with pytest.raises(ResultsError, match="Record"):
        ResultsStore(tmp_path / "b.csv").append([{"model": "m"}])


# --------------------------------------------------------------------------- hand edits
def test_hand_edited_csv_is_refused_until_moved_away(tmp_path):
    csv_path = tmp_path / "benchmark.csv"
    store = ResultsStore(csv_path)
    store.append([rec("m", values={"x": 0.125})])
    store.write_csv()
    edited = csv_path.read_text().replace("0.125", "0.5")
    csv_path.write_text(edited)
    store.append([rec("m2", values={"x": 2.0})])
    with pytest.raises(ResultsError, match=rf"{csv_path} was edited by hand.*move it away.*re-derived"):
        store.write_csv()
    assert csv_path.read_text() == edited  # untouched
    csv_path.rename(tmp_path / "benchmark.csv.edited")
    store.write_csv()
    assert read_csv_exact(csv_path)[1] == {"m": {"x": 0.125}, "m2": {"x": 2.0}}

    # A CSV this store never wrote (no hash record) is refused too, unless it is exactly the derived table.
    other = tmp_path / "other.csv"
    other.write_text("model,x\nm,1.0\n")
    with pytest.raises(ResultsError, match="was not written by this results store"):
        ResultsStore(other, log_dir=store.log_dir).write_csv()
    other.write_bytes(csv_path.read_bytes())
    ResultsStore(other, log_dir=store.log_dir).write_csv()
    assert other.read_bytes() == csv_path.read_bytes()


def test_write_csv_rederives_when_the_log_grows_meanwhile(tmp_path, monkeypatch):
    csv_path = tmp_path / "benchmark.csv"
    store, other = ResultsStore(csv_path), ResultsStore(csv_path)
    store.append([rec("m", values={"x": 1.0})])
    derive, calls = store._csv_bytes, []

    def racing_derive():  # another process appends (and never writes the CSV) while this one derives
        data = derive()
        if not calls:
            other.append([rec("late", values={"x": 2.0})])
        calls.append(data)
        return data

    monkeypatch.setattr(store, "_csv_bytes", racing_derive)
    store.write_csv()
    assert len(calls) == 2
    assert read_csv_exact(csv_path)[1] == {"late": {"x": 2.0}, "m": {"x": 1.0}}


# --------------------------------------------------------------------------- concurrency
N_PROCS, N_RECORDS, N_COLS = 8, 200, 50


def _value(p: int, i: int) -> float:
    return p * 1000 + i + 1 / (3 + p + i)  # distinct per record, not short in decimal


def _concurrent_writer(csv_path: str, p: int, barrier) -> None:
    store = ResultsStore(csv_path)
    barrier.wait()
    for i in range(N_RECORDS):
        store.append([Record(f"model{p % 3}", "bench", f"cond{i}", {f"col/{p}/{i % N_COLS}": _value(p, i)},
                             n_images=i, fingerprint="abc", extra={"p": p, "i": i})])
        if (i + 1) % 50 == 0:
            store.write_csv()


def test_many_concurrent_writers_lose_nothing(tmp_path):
    csv_path = tmp_path / "raw-data" / "benchmark.csv"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(N_PROCS)
    procs = [ctx.Process(target=_concurrent_writer, args=(str(csv_path), p, barrier)) for p in range(N_PROCS)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0] * N_PROCS

    store = ResultsStore(csv_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        records = store.records()
    seen = Counter((r.extra["p"], r.extra["i"]) for r in records)
    assert len(records) == N_PROCS * N_RECORDS and set(seen.values()) == {1}
    assert set(seen) == {(p, i) for p in range(N_PROCS) for i in range(N_RECORDS)}
    for r in records:
        p, i = r.extra["p"], r.extra["i"]
        assert r.values == {f"col/{p}/{i % N_COLS}": _value(p, i)} and r.n_images == i
    assert len(shards(store.log_dir)) == N_PROCS

    # The CSV as the last writer left it (not re-derived here) holds every (model, column), newest value.
    expected: dict[str, dict[str, float]] = {}
    for p in range(N_PROCS):
        for k in range(N_COLS):
            expected.setdefault(f"model{p % 3}", {})[f"col/{p}/{k}"] = _value(p, N_RECORDS - N_COLS + k)
    header, parsed = read_csv_exact(csv_path)
    assert header[0] == "model" and header[1:] == sorted(header[1:])
    assert parsed == expected


# --------------------------------------------------------------------------- killed writers
def _kill_record(round_: int, i: int) -> Record:
    """Deterministic records of varying size: up to ~10 kB a line, 8 MB in odd rounds (a SIGKILL
    during a write that large tears the line for real)."""
    n = 1 + (i * 37) % 250
    pad = "x" * (8 << 20) if round_ % 2 else ""
    return Record(f"model{round_}", "bench", f"cond{i}", {f"col{k}": round_ * 1e6 + i + k / 7 for k in range(n)},
                  n_images=i, fingerprint="beef", seed=round_, code_version="test",
                  time=f"2024-01-01T{round_:02d}:00:00.{i:06d}+00:00", host="writer", extra={"i": i, "pad": pad})


def _kill_writer(csv_path: str, round_: int) -> None:
    store = ResultsStore(csv_path)
    i = 0
    while True:
        store.append([_kill_record(round_, i)])
        print(i, flush=True)  # the ack: this record is on disk
        i += 1


def test_killed_writers_never_lose_acked_records_or_break_reading(tmp_path):
    csv_path = tmp_path / "benchmark.csv"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(CODE), str(TESTS)])}
    rng = random.Random(1234)
    live_reader = ResultsStore(csv_path)  # reads while writers run, then after each kill
    log_dir = live_reader.log_dir

    def torn_shards():
        return [s for s in shards(log_dir) if not s.read_bytes().endswith(b"\n")]

    # At least 6 rounds; more (up to 16) until a kill has torn a line for real (kernel-dependent).
    round_ = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        while round_ < 6 or (round_ < 16 and not torn_shards()):
            big = round_ % 2 == 1
            with subprocess.Popen(
                    [sys.executable, "-c", f"import test_results as t; t._kill_writer({str(csv_path)!r}, {round_})"],
                    stdout=subprocess.PIPE, text=True, env=env) as proc:
                acked = -1
                for _ in range(rng.randint(1, 3) if big else rng.randint(3, 40)):
                    line = proc.stdout.readline()
                    assert line.endswith("\n"), f"writer died early: {proc.wait()}"
                    acked = int(line)
                    if rng.random() < 0.3:
                        live_reader.records()
                if big:  # kill as soon as the shard grows: most likely in the middle of an 8 MB write
                    (shard,) = (s for s in shards(log_dir) if f"-{proc.pid}-" in s.name)
                    size, deadline = shard.stat().st_size, time.monotonic() + 10
                    while shard.stat().st_size == size and time.monotonic() < deadline:
                        pass
                else:  # land anywhere in the write / fsync / ack cycle
                    time.sleep(rng.uniform(0, 0.004))
                proc.send_signal(signal.SIGKILL)
                rest = proc.stdout.read()
            acked = max([acked, *(int(x) for x in rest.split("\n")[:-1])])  # acks printed before the kill

            for store in (live_reader, ResultsStore(csv_path)):
                records = store.records()
                for r in range(round_ + 1):
                    mine = [x for x in records if x.model == f"model{r}"]
                    # A gap-free prefix of what was written, each record complete and equal.
                    assert mine == [_kill_record(r, i) for i in range(len(mine))]
                    if r == round_:
                        assert len(mine) >= acked + 1
            round_ += 1
        assert len(shards(log_dir)) == round_
    assert all(issubclass(w.category, ResultsWarning) for w in caught), [str(w.message) for w in caught]
    # A shard that ends mid-line is reported by name; the others read silently.
    torn = torn_shards()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ResultsStore(csv_path).records()
    assert sorted(str(w.message).split("results log ")[1].split(" ")[0] for w in caught) == sorted(map(str, torn))
    print(f"{round_} writers killed, {len(torn)} left a torn line")
    shutil.rmtree(log_dir)  # up to ~100 MB


# --------------------------------------------------------------------------- command line
def test_cli_rebuild_and_show(tmp_path, capsys):
    csv_path = tmp_path / "benchmark.csv"
    store = ResultsStore(csv_path)
    store.append([rec("m", values={"top1_acc/imagenet": 0.1 + 0.2}, seed=7), rec("n", values={"y": 2.0})])
    assert main(["rebuild", "--results", str(csv_path)]) == 0
    assert "2 rows (models x setups) x 2 columns from 2 records" in capsys.readouterr().out
    # seed 7 is not the reference setup's: its row names the setup (docs/results.md)
    assert read_csv_exact(csv_path)[1] == {"m@seed=7": {"top1_acc/imagenet": 0.1 + 0.2}, "n": {"y": 2.0}}

    assert main(["show", "--results", str(csv_path), "--model", "m"]) == 0
    out = capsys.readouterr().out
    assert "top1_acc/imagenet = 0.30000000000000004" in out and "seed=7" in out and f"fp={FP}" in out
    assert main(["show", "--results", str(csv_path)]) == 0
    assert "2 records, 2 models" in capsys.readouterr().out

    assert main(["show", "--results", str(csv_path), "--model", "zzz"]) == 2
    assert capsys.readouterr().err.startswith("error: no records for model 'zzz'")
    csv_path.write_text("model,y\nhand,1\n")
    assert main(["rebuild", "--results", str(csv_path)]) == 2
    assert "edited by hand" in capsys.readouterr().err

    missing = tmp_path / "none" / "benchmark.csv"
    done = subprocess.run([sys.executable, "-m", "biasbench.results", "rebuild", "--results", str(missing)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(CODE)})
    assert done.returncode == 2 and done.stderr.startswith("error: no results log at")
    assert "Traceback" not in done.stderr and not missing.exists()
