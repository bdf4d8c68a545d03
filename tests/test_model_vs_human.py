"""Model-vs-human benchmark: shape bias, 16-class accuracies and the OOD mean end to end on the
runner with a model whose decisions the test controls; response tables against the toolbox's
own files; layouts and file-name conditions; download with safe extraction; offline errors."""

import dataclasses
import hashlib
import io
import json
import re
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from biasbench.benchmarks.model_vs_human import ModelVsHuman, parse_datasets
from biasbench.data import model_vs_human as mvh
from biasbench.data.model_vs_human import condition_label, parse_path, read_dataset
from biasbench.errors import ConfigError, DatasetError
from biasbench.metrics.shape_bias import read_responses, shape_bias
from biasbench.metrics.sixteen_class import CATEGORIES, CATEGORY_INDICES
from biasbench.prepare.model_vs_human import ensure_dataset
from biasbench.results import ResultsStore, decisions
from biasbench.runner import RunOptions, run
from biasbench.synthetic import write_datasets

from helpers import file_key, pixel_key, pixel_keys

OPTS = dict(device="cpu", num_workers=0, progress=False, batch_size=64)


@pytest.fixture(autouse=True)
def _one_thread():
    """These tests move many small tensors; on a busy shared CPU two intra-op threads make each
    copy wait for a core (10x slower), one thread does not."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------------------- a controllable model

class Oracle(torch.nn.Module):
    """Answers a ranking of the 16 categories chosen per image (keyed by its pixels): every
    ImageNet class of the category ranked r gets logit 20 - r, every other class -30, so the
    category means rank exactly as chosen."""

    def __init__(self, rankings: dict[str, list[str]]):
        super().__init__()
        self.rankings = rankings

    def forward(self, x):
        out = torch.full((len(x), 1000), -30.0)
        for i, key in enumerate(pixel_keys(x)):  # unknown images (the zeros of an unreadable file) get flat logits
            for r, cat in enumerate(self.rankings.get(key, ())):
                out[i, list(CATEGORY_INDICES[cat])] = 20.0 - r
        return out


def ranking(first: str, second: str | None = None, last: str | None = None) -> list[str]:
    """The 16 categories with ``first`` on top, then ``second`` if given, ``last`` at the end."""
    rest = [c for c in CATEGORIES if c not in (first, second, last)]
    return [first] + ([second] if second else []) + rest + ([last] if last else [])


def load(model):
    return lambda name, device: model


# ---------------------------------------------------------------------------- parsing

def test_paths_conditions_and_categories():
    info = parse_path("dnn/session-1/0001_nse_dnn_0.03_elephant_10_n02504458_7209.png")
    assert (info.category, info.condition, info.session, info.imagename) == (
        "elephant", "0.03", 1, "0001_nse_dnn_0.03_elephant_10_n02504458_7209.png")
    assert parse_path("airplane/airplane1-bicycle2.png").category == "airplane"
    assert parse_path("airplane/airplane1-bicycle2.png").condition == "NaN"
    assert parse_path("truck/0005_sty_dnn_0_truck_00_truck-0005.png").condition == "0"
    # what files say -> the toolbox's condition labels (it compares after pandas parsed numbers/booleans)
    ds = mvh.DATASETS
    assert condition_label(ds["uniform-noise"], "0.00") == "0.0" and condition_label(ds["uniform-noise"], "0.90") == "0.9"
    assert condition_label(ds["high-pass"], "3") == "3.0" and condition_label(ds["high-pass"], "inf") == "inf"
    assert condition_label(ds["false-colour"], "true") == "True"
    assert condition_label(ds["contrast"], "c05") == "c05" and condition_label(ds["eidolonII"], "8-3-10") == "8-3-10"
    with pytest.raises(DatasetError, match=r"contrast: condition 'c07'.*c100, c50"):
        condition_label(ds["contrast"], "c07")
    with pytest.raises(DatasetError, match=r"category 'tiger' is not one of the 16"):
        parse_path("dnn/session-1/0001_nse_dnn_0.03_tiger_10_n1.png")
    with pytest.raises(DatasetError, match=r"file name says category 'cat' but it lies in folder 'dog'"):
        parse_path("dog/0001_sty_dnn_0_cat_00_x.png")
    with pytest.raises(DatasetError, match=r"NNNN_<abbr>_<subject>_<condition>_<category>"):
        parse_path("dnn/session-1/cat1.png")


def test_dataset_flag():
    assert parse_datasets("paper") == ["cue-conflict", "stylized"]
    assert len(parse_datasets("all")) == 17
    assert parse_datasets("edge,stylized,edge") == ["edge", "stylized"]
    with pytest.raises(ConfigError, match=r"unknown dataset 'eidolon2'"):
        parse_datasets("eidolon2")


# ---------------------------------------------------------------------------- synthetic end to end

def _cue_names(folder: Path):
    """(path, shape, texture) of every cue-conflict file, parsed here from the names."""
    out = []
    for p in sorted(folder.rglob("*.png")):
        m = re.fullmatch(r"([a-z]+)\d+-([a-z]+)\d+\.png", p.name)
        assert m and m.group(1) == p.parent.name
        out.append((p, m.group(1), m.group(2)))
    return out


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return write_datasets(tmp_path_factory.mktemp("mvh"), which="cue-conflict,stylized", mvh_per_category=3)


def test_shape_bias_and_accuracies_end_to_end(synthetic, tmp_path):
    cue = _cue_names(synthetic["cue-conflict"])
    other = {s: CATEGORIES[(CATEGORIES.index(s) + 5) % 16] for s in CATEGORIES}
    rankings, s_hits, t_hits, correct = {}, 0, 0, 0
    per_cat = {}
    for k, (path, shape, texture) in enumerate(cue):
        # answer the shape, the texture, or a third category, in turn
        answer = (shape, texture, other[shape] if other[shape] != texture else other[texture])[k % 3]
        rankings[file_key(path)] = ranking(answer)
        correct += answer == shape
        if shape != texture:
            s_hits += answer == shape
            t_hits += answer == texture
            s, t = per_cat.get(shape, (0, 0))
            per_cat[shape] = (s + (answer == shape), t + (answer == texture))
    sty = sorted(synthetic["stylized"].rglob("*.png"))
    sty_top1 = sty_top5 = 0
    for k, path in enumerate(sty):
        cat = path.name.split("_")[4]
        if k % 4 == 0:
            rankings[file_key(path)] = ranking(cat)
        elif k % 4 == 1:  # wrong, but second
            rankings[file_key(path)] = ranking(other[cat], second=cat)
        else:  # wrong and last
            rankings[file_key(path)] = ranking(other[cat], last=cat)
        sty_top1 += k % 4 == 0
        sty_top5 += k % 4 in (0, 1)
    assert 0 < s_hits and 0 < t_hits and len(cue) == 48 and sum(s == t for _, s, t in cue) == 3

    datasets = {n: read_dataset(synthetic[n], n, check=False) for n in ("cue-conflict", "stylized")}
    bench = ModelVsHuman(datasets, responses_dir=tmp_path / "responses")
    store = ResultsStore(tmp_path / "benchmark.csv")
    out = run([bench], ["oracle"], store, RunOptions(**OPTS), load=load(Oracle(rankings)))["oracle"]

    assert out["shape-bias"] == pytest.approx(s_hits / (s_hits + t_hits))
    assert out["top1_acc/cue-conflict"] == pytest.approx(100 * correct / len(cue))
    assert {k: v for k, v in out.items() if k.startswith("shape-bias/")} == pytest.approx(
        {f"shape-bias/{c}": s / (s + t) for c, (s, t) in per_cat.items() if s + t})
    assert out["top1_acc/stylized"] == pytest.approx(100 * sty_top1 / len(sty))
    assert out["top5_acc/stylized"] == pytest.approx(100 * sty_top5 / len(sty))
    assert "top1_acc/ood_mean" not in out  # only with all 17 datasets

    # the response tables reproduce the benchmark's numbers through the response-table reader
    cue_csv = tmp_path / "responses" / "cue-conflict" / "cue-conflict_oracle_session-1.csv"
    df = read_responses(cue_csv)
    assert list(df["imagename"]) == [p.name for p, _, _ in cue] and list(df["trial"]) == list(range(1, 49))
    r = shape_bias(df)
    assert (r.shape_hits, r.texture_hits) == (s_hits, t_hits)
    assert r.shape_bias == pytest.approx(out["shape-bias"]) and 100 * r.acc16 == pytest.approx(out["top1_acc/cue-conflict"])
    sty_df = read_responses(tmp_path / "responses" / "stylized" / "stylized_oracle_session-1.csv")
    assert set(sty_df["condition"].astype(str)) == {"0"}
    assert 100 * (sty_df["object_response"] == sty_df["category"]).mean() == pytest.approx(out["top1_acc/stylized"])

    # a resumed run evaluates nothing and still writes the tables (from the log)
    again = tmp_path / "again"
    calls = []
    run([ModelVsHuman(datasets, responses_dir=again)], ["oracle"], store, RunOptions(**OPTS),
        load=lambda n, d: calls.append(n))
    assert calls == [] and (again / "cue-conflict" / cue_csv.name).read_bytes() == cue_csv.read_bytes()

    # decisions of another setup (a newer --n_samples run, every decision changed) never stand in
    # for this run's: the tables still come from the reference-setup decisions
    ref = [r for r in store.records() if r.condition == "cue-conflict"][-1]
    flipped = [(d + 1) % 16 for d in ref.extra["result"]["decisions"]]
    store.append([dataclasses.replace(ref, n_samples=16, extra={"result": {**ref.extra["result"],
                                                                           "decisions": flipped}})])
    third = tmp_path / "third"
    ModelVsHuman(datasets, responses_dir=third).after_run(store, ["oracle"], RunOptions(**OPTS))
    assert (third / "cue-conflict" / cue_csv.name).read_bytes() == cue_csv.read_bytes()
    ModelVsHuman(datasets, responses_dir=third).after_run(store, ["oracle"], RunOptions(**OPTS, n_samples=16))
    assert list(read_responses(third / "cue-conflict" / cue_csv.name)["object_response"]) == [
        CATEGORIES[d] for d in flipped]


def test_layout_checks(synthetic, tmp_path):
    with pytest.raises(DatasetError, match=r"found 48 images; model-vs-human cue-conflict has 1280 images"):
        read_dataset(synthetic["cue-conflict"], "cue-conflict")
    sub = read_dataset(synthetic["cue-conflict"], "cue-conflict", check=False, n_samples=16)
    assert sorted(CATEGORIES[y] for y in sub.labels) == list(CATEGORIES)  # one per category
    assert [parse_path(f).category for f in sub.files] == [CATEGORIES[y] for y in sub.labels]
    bad = tmp_path / "stylized" / "dnn"
    (bad / "session-1").mkdir(parents=True)
    (bad / "notes").mkdir()
    with pytest.raises(DatasetError, match=r"mixes session folders with others \(notes\)"):
        read_dataset(tmp_path / "stylized", "stylized", check=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match=r"holds no images.*stylized\.tar\.gz"):
        read_dataset(empty, "stylized", check=False)


# ---------------------------------------------------------------------------- the toolbox's own responses

def _write_indexed_tree(root: Path, rel_paths: list[str], salt: int) -> list[str]:
    """One 224x224 PNG per path whose pixels encode (salt, its index); returns the keys."""
    keys = []
    for i, rel in enumerate(rel_paths):
        arr = np.zeros((224, 224, 3), np.uint8)
        arr[..., 0], arr[..., 1], arr[..., 2] = i // 256, i % 256, salt
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(root / rel, compress_level=1)
        keys.append(pixel_key(arr.transpose(2, 0, 1)))
    return keys


def test_reproduces_the_toolbox_response_files(reference_dir, tmp_path):
    """ResNet-50's decisions from the toolbox's response files, replayed through the runner on
    images with the same names: same numbers, byte-identical response tables."""
    ref = reference_dir / "modelvshuman"
    files = {"cue-conflict": ref / "cue-conflict" / "cue-conflict_resnet50_session-1.csv",
             "stylized": ref / "stylized" / "stylized_resnet50_session-1.csv"}
    rankings, datasets = {}, {}
    for name, csv in files.items():
        table = pd.read_csv(csv)
        rel = ([f"{c}/{n}" for c, n in zip(table["category"], table["imagename"])] if name == "cue-conflict"
               else [f"dnn/session-1/{n}" for n in table["imagename"]])
        keys = _write_indexed_tree(tmp_path / "mvh" / name, rel, salt=len(datasets))
        rankings.update({k: ranking(r) for k, r in zip(keys, table["object_response"])})
        datasets[name] = read_dataset(tmp_path / "mvh" / name, name)  # full size: the counts check passes
    out = run([ModelVsHuman(datasets, responses_dir=tmp_path / "raw-data")], ["resnet50"],
              ResultsStore(tmp_path / "b.csv"), RunOptions(**OPTS), load=load(Oracle(rankings)))["resnet50"]
    # reference/modelvshuman/README.md: S = 169, T = 620; acc16 0.18203125 (performances/resnet50.csv)
    assert out["shape-bias"] == pytest.approx(169 / 789)
    assert out["top1_acc/cue-conflict"] == pytest.approx(18.203125)
    assert out["top1_acc/stylized"] == pytest.approx(37.125)  # the paper's tv_resnet50 value as well
    stored = ResultsStore(tmp_path / "b.csv")
    for d in decisions.latest(stored).values():  # the 16-class decisions stored beside the log
        assert d.space == "16-class" and d.accuracy() == pytest.approx(out[f"top1_acc/{d.record.condition}"], abs=1e-12)
        answers = pd.read_csv(files[d.record.condition])["object_response"]
        assert sorted(CATEGORIES[p] for p in d.pred) == sorted(answers)
    for name, csv in files.items():
        assert (tmp_path / "raw-data" / name / csv.name).read_bytes() == csv.read_bytes()


# ---------------------------------------------------------------------------- all 17 and the OOD mean

# Written out from modelvshuman/plotting/plot.py (EXCLUDE_CONDITIONS) and datasets/experiments.py:
# the file-name spelling of a condition (as the released images spell it) -> (the toolbox's
# label, kept in the OOD accuracy?)
CONDITIONS = {
    "colour": {"cr": ("cr", False), "bw": ("bw", True)},
    "contrast": {"c100": ("c100", False), "c50": ("c50", True), "c03": ("c03", False), "c05": ("c05", True)},
    "high-pass": {"inf": ("inf", False), "3": ("3.0", True), "1": ("1.0", True), "0.45": ("0.45", False)},
    "low-pass": {"0": ("0", False), "3": ("3", True), "40": ("40", False)},
    "phase-scrambling": {"0": ("0", False), "90": ("90", True), "180": ("180", False)},
    "power-equalisation": {"0": ("0", False), "pow": ("pow", True)},
    "false-colour": {"true": ("True", False), "false": ("False", True)},
    "rotation": {"0": ("0", False), "90": ("90", True), "270": ("270", True)},
    "eidolonI": {"1-10-10": ("1-10-10", False), "4-10-10": ("4-10-10", True), "64-10-10": ("64-10-10", False)},
    "eidolonII": {"2-3-10": ("2-3-10", True), "32-3-10": ("32-3-10", False)},
    "eidolonIII": {"8-0-10": ("8-0-10", True), "16-0-10": ("16-0-10", False)},
    "uniform-noise": {"0.00": ("0.0", False), "0.03": ("0.03", True), "0.35": ("0.35", True),
                      "0.60": ("0.6", False)},
}
FOLDER_SETS = ("edge", "silhouette", "cue-conflict")


def _build_all(root: Path):
    """Every dataset in its release layout, 2 categories x each condition; returns
    {dataset: [(rel path, category, file condition, kept)]}."""
    plan, i = {}, 0
    cats = ("bear", "truck")
    for name in mvh.OOD_DATASETS:
        rows = []
        if name in FOLDER_SETS:
            for c in cats:
                for j in (1, 2):
                    tex = "clock" if name == "cue-conflict" and j == 1 else c
                    fname = f"{c}{j}-{tex}{j}.png" if name == "cue-conflict" else f"{c}{j}.png"
                    rows.append((f"{c}/{fname}", c, "NaN", True))
        else:
            for cond, (label, kept) in CONDITIONS.get(name, {"0": (None, True)}).items():
                for c in cats:
                    i += 1
                    rows.append((f"dnn/session-1/{i:04d}_x_dnn_{cond}_{c}_10_n0_{i}.png", c, label, kept))
        plan[name] = sorted(rows)
    return plan


def test_all_datasets_per_condition_and_ood_mean(tmp_path):
    plan = _build_all(tmp_path)
    rankings, expected, ood = {}, {}, {}
    n = 0
    for name, rows in plan.items():
        keys = _write_indexed_tree(tmp_path / name, [r for r, *_ in rows], salt=len(expected))
        hits = []
        for k, (_rel, cat, label, kept) in zip(keys, rows):
            n += 1
            right = n % 3 != 0
            rankings[k] = ranking(cat if right else "oven")
            hits.append((label, kept, right))
        expected[f"top1_acc/{name}"] = 100 * np.mean([h for *_, h in hits])
        ood[name] = 100 * np.mean([h for _, kept, h in hits if kept])
        if name in CONDITIONS:
            expected[f"top1_acc/{name}/ood"] = ood[name]
            for label in {lab for lab, *_ in hits}:
                expected[f"top1_acc/{name}/{label}"] = 100 * np.mean([h for lab, _, h in hits if lab == label])
    # one unreadable image in edge, left out with --skip_unreadable
    broken = tmp_path / "edge" / "truck" / "truck9.png"
    broken.write_bytes(b"not a png")

    datasets = {name: read_dataset(tmp_path / name, name, check=False) for name in plan}
    out = run([ModelVsHuman(datasets)], ["m"], ResultsStore(tmp_path / "b.csv"),
              RunOptions(skip_unreadable=True, **OPTS), load=load(Oracle(rankings)))["m"]
    assert {k: out[k] for k in expected} == pytest.approx(expected)
    assert out["top1_acc/ood_mean"] == pytest.approx(np.mean([ood[d] for d in mvh.OOD_DATASETS]))
    # per-condition columns carry the toolbox's labels ("0.00" -> "0.0", "3" -> "3.0", "true" -> "True") only
    per_condition = {k for k in out if k.count("/") == 2 and not k.endswith("/ood")}
    assert per_condition == {k for k in expected if k.count("/") == 2 and not k.endswith("/ood")}
    # plain mean != OOD mean here (the excluded conditions differ in accuracy)
    assert out["top1_acc/ood_mean"] != pytest.approx(np.mean([out[f"top1_acc/{d}"] for d in mvh.OOD_DATASETS]))


# ---------------------------------------------------------------------------- download

@pytest.fixture
def server(http_server, monkeypatch):
    """The local server's folder; the release URL points at it."""
    monkeypatch.setattr(mvh, "RELEASE_URL", http_server.base)
    return http_server.root


def _png_bytes(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((224, 224, 3), value, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _tar(path: Path, members: dict[str, bytes], links: dict[str, str] = ()):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in dict(links).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)


def test_download_extracts_atomically_into_the_cache(server, tmp_path):
    members = {f"edge/{c}/{c}{j}.png": _png_bytes(10 * i + j) for i, c in enumerate(CATEGORIES) for j in (1, 2)}
    _tar(server / "edge.tar.gz", members)
    # an archive whose top folder has another name is moved into place under the dataset's name
    _tar(server / "silhouette.tar.gz", {f"silhouette_v0/{c}/{c}1.png": _png_bytes(3) for c in CATEGORIES})
    cache = tmp_path / "cache" / "model-vs-human"
    got = ensure_dataset("edge", cache, offline=False, progress=False)
    assert got == cache / "edge"
    assert sorted(p.relative_to(cache).as_posix() for p in got.rglob("*.png")) == sorted(members)
    assert (got / "bear" / "bear2.png").read_bytes() == members["edge/bear/bear2.png"]
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == ["edge"]  # no temp left
    images = read_dataset(got, "edge", check=False)
    assert len(images) == 32 and [CATEGORIES[y] for y in images.labels[:2]] == ["airplane", "airplane"]
    assert len(list(ensure_dataset("silhouette", cache, offline=False, progress=False).rglob("*.png"))) == 16
    # present: no network needed
    (server / "edge.tar.gz").unlink()
    assert ensure_dataset("edge", cache, offline=True) == got
    with pytest.raises(DatasetError, match=r"cannot download http://127\.0\.0\.1:\d+/stylized\.tar\.gz: HTTP 404"):
        ensure_dataset("stylized", cache, offline=False, progress=False)


@pytest.mark.parametrize("evil", ["../escaped.png", "/tmp/absolute-biasbench-test.png", "edge/../../up.png"])
def test_archives_escaping_the_target_are_refused(server, tmp_path, evil):
    _tar(server / "edge.tar.gz", {"edge/bear/bear1.png": _png_bytes(1), evil: b"x"})
    cache = tmp_path / "c" / "model-vs-human"
    with pytest.raises(DatasetError, match=re.escape(f"member {evil!r} would be written outside the target folder")):
        ensure_dataset("edge", cache, offline=False, progress=False)
    assert not (cache / "edge").exists() and not (tmp_path / "c" / "escaped.png").exists()
    assert not (tmp_path / "c" / "up.png").exists() and not Path("/tmp/absolute-biasbench-test.png").exists()
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


def test_archives_with_links_are_refused(server, tmp_path):
    _tar(server / "edge.tar.gz", {"edge/bear/bear1.png": _png_bytes(1)}, links={"edge/bear/bear2.png": "/etc/passwd"})
    with pytest.raises(DatasetError, match=r"'edge/bear/bear2\.png' is a link or special file"):
        ensure_dataset("edge", tmp_path / "c", offline=False, progress=False)
    assert not (tmp_path / "c" / "edge").exists()


def _edge_archive(server: Path, value: int = 0) -> dict[str, bytes]:
    members = {f"edge/{c}/{c}1.png": _png_bytes(value + i) for i, c in enumerate(CATEGORIES)}
    _tar(server / "edge.tar.gz", members)
    return members


def test_download_resumes_an_interrupted_archive_from_its_part_file(server, http_server, tmp_path):
    members = _edge_archive(server)
    data = (server / "edge.tar.gz").read_bytes()
    part = tmp_path / "cache" / "downloads" / "model-vs-human" / "edge.tar.gz.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[: len(data) // 3])  # what a download killed a third of the way leaves
    got = ensure_dataset("edge", tmp_path / "cache" / "model-vs-human", offline=False, progress=False)
    assert http_server.gets("/edge.tar.gz") == [f"bytes={len(data) // 3}-"]
    assert {p.relative_to(got.parent).as_posix(): p.read_bytes() for p in got.rglob("*.png")} == members
    ledger = json.loads((tmp_path / "cache" / "downloads" / "downloads.lock.json").read_text())["files"]
    assert ledger["model-vs-human/edge.tar.gz"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert list(part.parent.iterdir()) == []  # the archive is deleted once the dataset is in place


def test_dropped_connection_is_retried_and_resumed(server, http_server, tmp_path):
    members = _edge_archive(server)
    size = (server / "edge.tar.gz").stat().st_size
    http_server.drop_once.add("/edge.tar.gz")
    got = ensure_dataset("edge", tmp_path / "c" / "model-vs-human", offline=False, progress=False)
    assert http_server.gets("/edge.tar.gz") == [None, f"bytes={size // 2}-"]
    assert {p.relative_to(got.parent).as_posix(): p.read_bytes() for p in got.rglob("*.png")} == members


def test_changed_upstream_archive_is_refused(server, tmp_path):
    _edge_archive(server)
    recorded = hashlib.sha256((server / "edge.tar.gz").read_bytes()).hexdigest()
    root = tmp_path / "c" / "model-vs-human"
    shutil.rmtree(ensure_dataset("edge", root, offline=False, progress=False))
    _edge_archive(server, value=100)  # fetched again, but the release now holds other bytes
    with pytest.raises(DatasetError, match=f"SHA-256 .*not the {recorded[:12]}"):
        ensure_dataset("edge", root, offline=False, progress=False)
    assert not (root / "edge").exists() and not list((tmp_path / "c" / "downloads" / "model-vs-human").iterdir())


def test_not_enough_disk_space_stops_before_downloading(server, http_server, tmp_path, monkeypatch):
    from biasbench import download

    _edge_archive(server)
    real = shutil.disk_usage
    monkeypatch.setattr(download.shutil, "disk_usage", lambda p: real(p)._replace(free=10))
    with pytest.raises(DatasetError, match="free under .*; 10 bytes are free"):
        ensure_dataset("edge", tmp_path / "c" / "model-vs-human", offline=False, progress=False)
    assert http_server.gets("/edge.tar.gz") == []


def test_refused_connection_stops_at_once_with_one_line(tmp_path, monkeypatch):
    import socket
    import time

    from biasbench import download

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connecting is refused
    monkeypatch.setattr(mvh, "RELEASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(download, "BACKOFF_S", 5.0)  # a retry would show in the time taken
    start = time.perf_counter()
    with pytest.raises(DatasetError) as err:
        ensure_dataset("edge", tmp_path / "c" / "model-vs-human", offline=False, progress=False)
    assert time.perf_counter() - start < 3
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"cannot download http://127.0.0.1:{port}/edge.tar.gz: connection refused")


# ---------------------------------------------------------------------------- command line

ARGV = ["--device", "cpu", "--num_workers", "0", "--no-progress", "--check_dataset", "false"]


def test_offline_without_data_says_what_to_fetch(tmp_path, fake_zoo, capsys, caplog):
    from biasbench.cli import main

    fake_zoo["m"] = Oracle({})
    argv = ["--model", "m", "--results", str(tmp_path / "b.csv"), "--cache-dir", str(tmp_path / "cache")] + ARGV
    assert main(["model-vs-human"], argv) == 2
    err = capsys.readouterr().err
    url = "https://github.com/bethgelab/model-vs-human/releases/download/v0.1/"
    cache = tmp_path / "cache" / "model-vs-human"
    assert err.startswith(f"error: model-vs-human datasets cue-conflict, stylized are not in {cache} and offline "
                          f"mode is on; download {url}cue-conflict.tar.gz, {url}stylized.tar.gz and extract into "
                          f"{cache}")
    assert "or pass --mvh-root DIR holding cue-conflict/, stylized/" in err
    assert main(["model-vs-human"], argv + ["--mvh-datasets", "edge"]) == 2
    assert f"model-vs-human dataset edge is not in {cache}" in capsys.readouterr().err
    # in a multi-benchmark run it is skipped with the same advice instead
    with caplog.at_level("WARNING", logger="biasbench"):
        assert main(["model-vs-human"], argv, require_data=False) == 2  # nothing left to run
    assert "skipping model-vs-human: model-vs-human datasets cue-conflict, stylized are not in" in caplog.text


def test_command_line_on_the_synthetic_layout(synthetic, tmp_path, fake_zoo, capsys):
    from biasbench.cli import main

    rankings = {file_key(p): ranking(p.parent.name) for p in synthetic["cue-conflict"].rglob("*.png")}
    rankings |= {file_key(p): ranking(p.name.split("_")[4]) for p in synthetic["stylized"].rglob("*.png")}
    fake_zoo["file:///tmp/my_model.pth"] = Oracle(rankings)
    data_root = synthetic["cue-conflict"].parents[1]  # <root>/modelvshuman/{cue-conflict,stylized}
    base = ["--model", "file:///tmp/my_model.pth", "--data-root", str(data_root), "--results",
            str(tmp_path / "b.csv")] + ARGV
    assert main(["model-vs-human"], base + ["--responses-dir", str(tmp_path / "resp")]) == 0
    row = ResultsStore(tmp_path / "b.csv").table().set_index("model").loc["file:///tmp/my_model.pth"]
    # always the shape: 45 shape answers among the 45 conflict images, all correct
    assert row["shape-bias"] == 1.0 and row["top1_acc/cue-conflict"] == 100.0 and row["top1_acc/stylized"] == 100.0
    table = read_responses(tmp_path / "resp" / "cue-conflict" / "cue-conflict_file-tmp-my-model.pth_session-1.csv")
    assert set(table["subj"]) == {"file:///tmp/my_model.pth"}
    assert main(["model-vs-human"], base + ["--mvh-datasets", "edge"]) == 2
    assert "--mvh-root " + str(data_root / "modelvshuman") + " has no edge/; download" in capsys.readouterr().err
