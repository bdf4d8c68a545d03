"""Frequency cue-conflict: the hybrid recipe against an independent numpy FFT, the generated set's pairs and
manifest, the low-frequency bias against hand counts (alone and through the runner with a model whose
decisions the test controls), its interval over stimuli, and the released parquet layout read back."""

import csv
import io
from itertools import permutations
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from biasbench.analysis.image_bootstrap import frequency_bias_interval, model_intervals, paired_bootstrap
from biasbench.benchmarks import REGISTRY
from biasbench.benchmarks.config import Config
from biasbench.benchmarks.freq_cue_conflict import FreqCueConflict
from biasbench.data import freq_cue_conflict as fcc
from biasbench.errors import DatasetError, UserError
from biasbench.metrics.frequency_bias import frequency_bias
from biasbench.metrics.sixteen_class import CATEGORIES, CATEGORY_INDICES
from biasbench.prepare import freq_cue_conflict as gen
from biasbench.prepare import run as prepare_run
from biasbench.results import ResultsStore
from biasbench.runner import RunOptions, run
from biasbench.synthetic import write_datasets

from helpers import file_key, pixel_keys

CUT = gen.DEFAULT_CUTOFF


@pytest.fixture(scope="module")
def stylized(tmp_path_factory) -> Path:
    """Two 224 x 224 model-vs-human stylized images per category (the toolbox's session layout)."""
    return write_datasets(tmp_path_factory.mktemp("mvh"), which="stylized", mvh_per_category=2)["stylized"]


@pytest.fixture(scope="module")
def generated(stylized, tmp_path_factory) -> Path:
    """240 stimuli: every ordered pair of different categories once."""
    return gen.generate(stylized, tmp_path_factory.mktemp("fcc") / "freq-cue-conflict", n=240, seed=3)


def numpy_masks(h: int, w: int, c: float) -> np.ndarray:
    """The symmetrised square of the spectral filter, from its definition (docs/benchmarks.md): the square
    [H//2 - r, H//2 + r) around DC of the centred spectrum, r = int(c * (H//2)); the real part of the
    inverse FFT weighs frequency k by (M(k) + M(-k)) / 2."""
    ry, rx = int(c * (h // 2)), int(c * (w // 2))
    m = np.zeros((h, w))
    m[h // 2 - ry:h // 2 + ry, w // 2 - rx:w // 2 + rx] = 1
    m = np.fft.ifftshift(m)
    return (m + m[(-np.arange(h)) % h][:, (-np.arange(w)) % w]) / 2


# ---------------------------------------------------------------------------- the recipe

@pytest.mark.parametrize("size,c", [(32, 0.1), (224, 0.1), (48, 0.3)])
def test_hybrid_spectrum_is_a_inside_the_square_and_b_outside(size, c):
    rng = np.random.default_rng(size)
    a, b = (torch.from_numpy(rng.random((2, 3, size, size))) for _ in range(2))
    stim, raw = gen.hybrid(a, b, c)
    weight = numpy_masks(size, size, c)
    fa, fb, fr = (np.fft.fft2(x.numpy()) for x in (a, b, raw))
    # Spectrum of the hybrid: A's where the low-pass keeps all, B's where it keeps nothing, their mean on the
    # square's one-sided edge (weight 1/2).
    expect = weight * fa + (1 - weight) * fb
    assert np.abs(fr - expect).max() < 1e-8 * size * size
    assert {0.0, 0.5, 1.0} >= set(np.unique(weight)) and (weight == 1).any() and (weight == 0).any()
    assert torch.equal(stim, raw.clamp(0, 1))


def test_stimulus_bands_equal_the_sources_bands_up_to_the_measured_clip(generated, stylized):
    rows = gen.read_manifest(generated / gen.MANIFEST)
    weight = numpy_masks(224, 224, CUT)
    inside, outside = weight == 1, weight == 0
    low_rel, high_rel = [], []
    for row in rows[:48]:
        stim = np.asarray(Image.open(generated / row["file"]), dtype=np.float64).transpose(2, 0, 1) / 255
        a, b = (np.asarray(Image.open(stylized / row[k]), dtype=np.float64).transpose(2, 0, 1) / 255
                for k in ("lf_source", "hf_source"))
        fs, fa, fb = (np.fft.fft2(x) for x in (stim, a, b))
        # What the clip and the 8-bit rounding changed, measured in pixels; by Parseval it bounds the spectral
        # difference on either side of the cut-off.
        raw = np.real(np.fft.ifft2(weight * fa + (1 - weight) * fb))
        change = stim - raw
        clipped = float(((raw < 0) | (raw > 1)).mean())
        assert clipped == pytest.approx(float(row["clipped"]), abs=2e-4)
        assert np.abs(change[(raw >= 0) & (raw <= 1)]).max() <= 0.5 / 255 + 1e-5  # rounding only, where unclipped
        bound = np.sqrt((np.abs(np.fft.fft2(change)) ** 2).sum())
        low_err = np.sqrt((np.abs(fs - fa)[:, inside] ** 2).sum())
        high_err = np.sqrt((np.abs(fs - fb)[:, outside] ** 2).sum())
        assert low_err <= bound + 1e-9 and high_err <= bound + 1e-9
        low_rel.append(low_err / np.sqrt((np.abs(fa)[:, inside] ** 2).sum()))
        high_rel.append(high_err / np.sqrt((np.abs(fb)[:, outside] ** 2).sum()))
    # ... and small against the bands themselves (measured on all 240: median 0.3 % of A's low band, 9 % of
    # B's weaker high band, which takes most of the 8-bit rounding noise; 0.2 % of pixel values clipped).
    assert np.median(low_rel) < 0.01 and np.median(high_rel) < 0.15


def test_pairs_cover_every_ordered_pair_and_balance_the_released_count():
    assert {gen.pair(k) for k in range(240)} == set(permutations(range(16), 2))
    pairs = [gen.pair(k) for k in range(1280)]
    assert all(lf != hf for lf, hf in pairs)
    assert np.bincount([lf for lf, _ in pairs]).tolist() == [80] * 16
    counts = np.unique(pairs, axis=0, return_counts=True)[1]
    assert len(counts) == 240 and set(counts.tolist()) == {5, 6}


def test_manifest_names_both_sources_of_every_stimulus(generated, stylized):
    rows = gen.read_manifest(generated / gen.MANIFEST)
    files = sorted(p.relative_to(generated).as_posix() for p in generated.rglob("*.png"))
    assert sorted(r["file"] for r in rows) == files and len(files) == 240
    assert {(r["lf_category"], r["hf_category"]) for r in rows} == set(permutations(CATEGORIES, 2))
    for r in rows:
        assert fcc.parse_name(r["file"]) == (r["lf_category"], r["hf_category"])
        assert f"_{r['lf_category']}_" in r["lf_source"] and f"_{r['hf_category']}_" in r["hf_source"]
        assert (stylized / r["lf_source"]).is_file() and (stylized / r["hf_source"]).is_file()
        assert (r["cutoff"], r["seed"]) == (str(CUT), "3")
    # Both images of every category are used, as low and as high band.
    assert {r["lf_source"] for r in rows} | {r["hf_source"] for r in rows} == {
        p.relative_to(stylized).as_posix() for p in stylized.rglob("*.png")}
    images = fcc.read(generated)  # the manifest's count is the check
    assert len(images) == 240 and images.preprocess == "as-is-224"


def test_generation_is_seeded(stylized, generated, tmp_path):
    again = gen.generate(stylized, tmp_path / "a", n=40, seed=3)  # the first 40 of the 240: the same draws
    other = gen.generate(stylized, tmp_path / "b", n=40, seed=4)
    assert gen.read_manifest(again / gen.MANIFEST) == gen.read_manifest(generated / gen.MANIFEST)[:40]
    assert gen.read_manifest(other / gen.MANIFEST) != gen.read_manifest(generated / gen.MANIFEST)[:40]
    first = gen.read_manifest(again / gen.MANIFEST)[0]["file"]
    assert (again / first).read_bytes() == (generated / first).read_bytes()
    with pytest.raises(UserError, match="not empty"):
        gen.generate(stylized, again, n=4)


def test_generation_from_imagenet_val_uses_member_classes(tmp_path):
    val = tmp_path / "val"
    for c, members in CATEGORY_INDICES.items():
        from biasbench.data.synsets import imagenet_wnids
        wnid = imagenet_wnids()[members[-1]]
        (val / wnid).mkdir(parents=True)
        Image.fromarray(np.full((40, 50, 3), CATEGORIES.index(c) * 10, np.uint8)).save(val / wnid / "x.JPEG")
    (val / imagenet_wnids()[0]).mkdir()  # tench: no category
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(val / imagenet_wnids()[0] / "y.JPEG")
    out = gen.generate(tmp_path, tmp_path / "out", n=16)
    rows = gen.read_manifest(out / gen.MANIFEST)
    assert [r["lf_source"].split("/")[0] for r in rows] == [imagenet_wnids()[CATEGORY_INDICES[c][-1]]
                                                            for c in CATEGORIES]
    # Flat images: the stimulus is A's mean (the DC term) plus nothing from B.
    px = np.asarray(Image.open(out / rows[2]["file"]))
    assert np.abs(px.astype(int) - 20).max() <= 1
    oven = val / imagenet_wnids()[CATEGORY_INDICES["oven"][-1]]
    for p in oven.iterdir():
        p.unlink()
    oven.rmdir()
    with pytest.raises(DatasetError, match="no image of oven"):
        gen.sources(tmp_path)


# ---------------------------------------------------------------------------- the bias

def test_frequency_bias_equals_a_hand_count():
    lf = [0, 1, 2, 3, 4, 5, 0, 7]
    hf = [1, 2, 3, 4, 5, 5, 2, 8]
    d = [0, 2, 3, 9, -1, 5, 0, 8]  # L, H, H, neither, unread, same-category (dropped), L, H
    r = frequency_bias(d, lf, hf)
    assert (r.low_hits, r.high_hits, r.n_conflict) == (2, 3, 6)
    assert r.bias == pytest.approx(2 / 5)
    assert (r.low_fraction, r.high_fraction, r.cue_accuracy) == pytest.approx((2 / 6, 3 / 6, 500 / 6))
    # by low-frequency category: airplane L, L; bear H; bicycle H; bird neither (undefined); cat H
    assert np.isnan(r.per_category.pop("bird"))
    assert r.per_category == {"airplane": 1.0, "bear": 0.0, "bicycle": 0.0, "cat": 0.0}
    assert np.isnan(frequency_bias([9, 9], [0, 1], [1, 0]).bias)


class Oracle(torch.nn.Module):
    """Puts the chosen category on top for each image (keyed by its pixels): its ImageNet classes get
    logit 20, every other class -30."""

    def __init__(self, choice: dict[str, str]):
        super().__init__()
        self.choice = choice

    def forward(self, x):
        out = torch.full((len(x), 1000), -30.0)
        for i, key in enumerate(pixel_keys(x)):
            out[i, list(CATEGORY_INDICES[self.choice[key]])] = 20.0
        return out


def test_benchmark_through_the_runner_matches_a_hand_count(generated, tmp_path):
    torch.set_num_threads(1)
    images = fcc.read(generated)
    bench = FreqCueConflict(images)
    rng = np.random.default_rng(0)
    choice, low, high = {}, 0, 0
    for f in images.files:
        lf, hf = fcc.parse_name(f)
        kind = rng.integers(3)
        pick = (lf, hf, next(c for c in CATEGORIES if c not in (lf, hf)))[kind]
        low, high = low + (kind == 0), high + (kind == 1)
        choice[file_key(generated / f)] = pick
    store = ResultsStore(tmp_path / "b.csv")
    out = run([bench], ["oracle"], store, RunOptions(device="cpu", num_workers=0, progress=False, batch_size=64),
              load=lambda name, device: Oracle(choice))["oracle"]
    assert out["frequency-bias"] == pytest.approx(low / (low + high))
    assert out["frequency-bias/low-decisions"] == pytest.approx(low / 240)
    assert out["frequency-bias/high-decisions"] == pytest.approx(high / 240)
    assert out["top1_acc/freq-cue-conflict"] == pytest.approx(100 * (low + high) / 240)
    # The interval over stimuli, from the log's record alone, is the paired bootstrap of the hit indicators.
    ci = model_intervals(store, "oracle", n_resamples=300, seed=1).set_index("column")
    assert ci.loc["frequency-bias", "value"] == pytest.approx(low / (low + high))
    hits = np.array([[choice[file_key(generated / f)] == fcc.parse_name(f)[k] for f in images.files]
                     for k in (0, 1)], dtype=float)
    ref = paired_bootstrap(hits, lambda m: {"b": m[0] / (m[0] + m[1])}, n_resamples=300, seed=1)["b"]
    assert (ci.loc["frequency-bias", "low"], ci.loc["frequency-bias", "high"]) == pytest.approx((ref.low, ref.high))
    assert ci.loc["frequency-bias", "low"] < low / (low + high) < ci.loc["frequency-bias", "high"]
    assert "top1_acc/freq-cue-conflict" in ci.index  # either-cue accuracy, not agreement with the low band


def test_zero_shot_decision_gets_its_own_bias(generated):
    bench = FreqCueConflict(fcc.read(generated))
    lf, hf = bench.lf[:4].tolist(), bench.hf[:4].tolist()
    result = {"n": 4, "decisions": [lf[0], hf[1], hf[2], hf[3]], "decisions_zeroshot16": [lf[0], lf[1], lf[2], hf[3]],
              "lf": lf, "hf": hf}
    cols = bench.columns(bench.conditions()[0], result)
    assert cols["frequency-bias"] == pytest.approx(1 / 4) and cols["frequency-bias/zeroshot16"] == pytest.approx(3 / 4)
    assert "frequency-bias/zeroshot16" not in bench.columns(bench.conditions()[0], {**result,
                                                                                      "decisions_zeroshot16": None})


def test_interval_needs_conflict_trials():
    with pytest.raises(UserError, match="no decided trial"):
        frequency_bias_interval([0, -1], [0, 1], [0, 2])


def test_registry_columns_and_config(generated):
    spec = REGISTRY["freq-cue-conflict"]
    names = [c.name for c in spec.columns()]
    assert names[0] == "frequency-bias" and "top1_acc/freq-cue-conflict" in names
    assert spec.build(Config()) is None  # no data given: skipped
    bench = spec.build(Config(freq_cue_conflict=generated, n_samples=32, check_dataset=False))
    assert len(bench.conditions()[0].images) == 32


# ---------------------------------------------------------------------------- the released layout

def jpeg(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((224, 224, 3), value, np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def released_parquet(path: Path, names: bool = True) -> list[tuple[str, str]]:
    """1,280 rows in the released schema (image {bytes, path}, lf_label, hf_label), as
    datasets.push_to_hub writes an imagefolder split whose labels came from the file names."""
    pairs = [tuple(CATEGORIES[i] for i in gen.pair(k)) for k in range(fcc.N_RELEASED)]
    blobs = {v: jpeg(v) for v in range(0, 256, 51)}
    images = [{"bytes": blobs[51 * (k % 6)], "path": f"{lf}{k // 16 + 1}-{hf}{k % 7 + 1}.JPEG" if names else None}
              for k, (lf, hf) in enumerate(pairs)]
    table = pa.table({"image": images, "lf_label": [p[0] for p in pairs], "hf_label": [p[1] for p in pairs]})
    pq.write_table(table, path)
    return pairs


@pytest.mark.parametrize("names", [True, False])
def test_released_parquet_is_extracted_into_the_layout_the_reader_accepts(tmp_path, names):
    pairs = released_parquet(tmp_path / "test-00000-of-00001.parquet", names)
    assert gen.extract(tmp_path / "test-00000-of-00001.parquet", tmp_path / "fcc") == 1280
    images = fcc.read(tmp_path / "fcc")  # no manifest: the released count is the check
    assert len(images) == 1280 and images.preprocess == "as-is-224"
    got = sorted((s.lf, s.hf) for s in fcc.stimuli(images))
    assert got == sorted(pairs)
    assert all(f.endswith(".JPEG") for f in images.files)
    if names:
        assert "airplane/airplane1-bear1.JPEG" in images.files


def test_reader_rejects_other_layouts(tmp_path, generated):
    with pytest.raises(DatasetError, match="does not exist"):
        fcc.read(tmp_path / "nothing")
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(flat / "airplane1-bear1.png")
    with pytest.raises(DatasetError, match="top level"):
        fcc.read(flat)
    wrong = tmp_path / "wrong" / "bear"
    wrong.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(wrong / "airplane1-bear1.png")
    with pytest.raises(DatasetError, match="lies in bear/"):
        fcc.read(wrong.parent, check=False)
    with pytest.raises(DatasetError, match="the released set has 1280"):
        fcc.read(_released_subset(tmp_path))
    only_parquet = tmp_path / "pq"
    only_parquet.mkdir()
    (only_parquet / "test-00000-of-00001.parquet").write_bytes(b"PAR1")
    with pytest.raises(DatasetError, match="extract it with prepare_data.py"):
        fcc.read(only_parquet)
    with pytest.raises(DatasetError, match="expected a frequency cue-conflict name"):
        fcc.parse_name("airplane1-zebra2.png")


def _released_subset(tmp_path: Path) -> Path:
    root = tmp_path / "subset" / "airplane"
    root.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.zeros((224, 224, 3), np.uint8)).save(root / f"airplane{i}-bear1.png")
    return root.parent


def test_extract_refuses_a_parquet_without_the_released_columns(tmp_path):
    pq.write_table(pa.table({"image": [{"bytes": jpeg(0), "path": "a.JPEG"}], "label": [0]}), tmp_path / "x.parquet")
    with pytest.raises(DatasetError, match="lf_label"):
        gen.extract(tmp_path / "x.parquet", tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- prepare_data.py

def test_prepare_data_downloads_and_extracts_the_released_split(tmp_path, http_server, monkeypatch):
    from test_prepare_data import main, serve

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    released_parquet(tmp_path / "blob.parquet")
    serve(monkeypatch, http_server, "freq-cue-conflict",
          {"test-00000-of-00001.parquet": (tmp_path / "blob.parquet").read_bytes()})
    root = tmp_path / "data"
    assert main(root, "--datasets", "freq-cue-conflict") == 0
    assert len(fcc.read(root / "freq-cue-conflict")) == 1280
    assert not (root / ".downloads" / "test-00000-of-00001.parquet").exists()  # archive not kept
    assert main(root, "--datasets", "freq-cue-conflict") == 0  # in place: nothing to do


def test_prepare_data_respects_the_hub_offline_mode(tmp_path, monkeypatch, capsys):
    from test_prepare_data import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(tmp_path, "--datasets", "freq-cue-conflict") == 1
    out = capsys.readouterr().out
    assert "missing (offline)" in out and "huggingface.co/datasets/paulgavrikov/frequency-cue-conflict" in out


def test_prepare_data_generates_from_a_16_class_folder(tmp_path, stylized, capsys, monkeypatch):
    from test_prepare_data import main

    monkeypatch.setattr(gen, "DEFAULT_N", 48)  # the count prepare_data generates; 1,280 takes a minute
    assert main(tmp_path, "--datasets", "freq-cue-conflict", "--generate-from", str(stylized)) == 0
    assert "48 images found, 48 expected, OK (generated from" in capsys.readouterr().out
    with open(tmp_path / "freq-cue-conflict" / gen.MANIFEST, newline="") as f:
        assert len(list(csv.DictReader(f))) == 48
    assert prepare_run.main(["--root", str(tmp_path), "--datasets", "real", "--generate-from", str(stylized)]) == 2
