"""Shape bias and 16-class accuracy against the model-vs-human reference response files."""

import csv

import pandas as pd
import pytest
import torch

from biasbench.errors import ResultsError
from biasbench.metrics.shape_bias import (
    RESPONSE_COLUMNS,
    accuracy16,
    read_responses,
    responses_filename,
    responses_frame,
    shape_bias,
    texture_category,
    write_responses,
)
from biasbench.metrics.sixteen_class import CATEGORIES

# reference/modelvshuman/README.md: file -> (S, T, shape bias, acc16 over all 1280)
CUE_CONFLICT = {
    "cue-conflict_resnet50_session-1.csv": (169, 620, 0.2142, 0.1820),
    "cue-conflict_bagnet33_session-1.csv": (50, 929, 0.0511, 0.0961),
    "cue-conflict_simclr-resnet50x1_session-1.csv": (249, 393, 0.3879, 0.2422),
    "cue-conflict_resnet50-trained-on-SIN_session-1.csv": (607, 139, 0.8137, 0.5242),
    "cue-conflict_resnet50-trained-on-SIN-and-IN_session-1.csv": (263, 496, 0.3465, 0.2578),
    "cue-conflict_resnet50-trained-on-SIN-and-IN-then-finetuned-on-IN_session-1.csv": (159, 615, 0.2054, 0.1734),
    "cue-conflict_subject-01_session_1.csv": (829, 33, 0.9617, 0.6930),
}
STYLIZED = {
    "stylized_resnet50_session-1.csv": 0.3713,
    "stylized_bagnet33_session-1.csv": 0.2362,
    "stylized_simclr-resnet50x1_session-1.csv": 0.4050,
    "stylized_resnet50-trained-on-SIN_session-1.csv": 0.9100,
    "stylized_subject-01_session_1.csv": 0.5150,
}


def test_texture_category():
    assert texture_category("airplane1-bicycle2.png") == "bicycle"
    assert texture_category("bicycle8-bear2.png") == "bear"
    assert texture_category("XXX_dog10-bird2.png") == "bird"
    assert texture_category("0001_cc_s01_0_knife_00_knife3-elephant10.png") == "elephant"


@pytest.mark.parametrize("name", sorted(CUE_CONFLICT))
def test_cue_conflict_reference_files(reference_dir, name):
    s, t, bias, acc = CUE_CONFLICT[name]
    r = shape_bias(read_responses(reference_dir / "modelvshuman" / "cue-conflict" / name))
    assert (r.shape_hits, r.texture_hits, r.n, r.n_conflict) == (s, t, 1280, 1200)
    assert round(r.shape_bias, 4) == bias and r.shape_bias == s / (s + t)
    assert round(r.acc16, 4) == acc
    assert sorted(r.per_category) == list(CATEGORIES)


def _per_category_by_hand(path):
    counts = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            shape, resp = row["category"], row["object_response"]
            texture = "".join(ch for ch in row["imagename"].split("_")[-1].split(".")[0].split("-")[-1]
                              if not ch.isdigit())
            if shape == texture:
                continue
            s, t = counts.get(shape, (0, 0))
            counts[shape] = (s + (resp == shape), t + (resp == texture))
    return {c: (s / (s + t) if s + t else None) for c, (s, t) in counts.items()}


def test_per_category_shape_bias(reference_dir):
    path = reference_dir / "modelvshuman" / "cue-conflict" / "cue-conflict_resnet50-trained-on-SIN_session-1.csv"
    got = shape_bias(read_responses(path)).per_category
    expected = _per_category_by_hand(path)
    assert got.keys() == expected.keys()
    for c, v in expected.items():
        assert got[c] == pytest.approx(v) if v is not None else pd.isna(got[c])


def test_fork_rerun_differs_in_one_trial(reference_dir):
    """README: the fork's resnet50 answered 'bear' on bicycle8-bear2.png: 169 / (169 + 621) = 0.2139."""
    df = read_responses(reference_dir / "modelvshuman" / "cue-conflict" / "cue-conflict_resnet50_session-1.csv")
    assert (df["imagename"] == "bicycle8-bear2.png").sum() == 1
    df.loc[df["imagename"] == "bicycle8-bear2.png", "object_response"] = "bear"
    r = shape_bias(df)
    assert (r.shape_hits, r.texture_hits, round(r.shape_bias, 4)) == (169, 621, 0.2139)


@pytest.mark.parametrize("name", sorted(STYLIZED))
def test_stylized_reference_files(reference_dir, name):
    df = read_responses(reference_dir / "modelvshuman" / "stylized" / name)
    assert len(df) == 800 and round(accuracy16(df), 4) == STYLIZED[name]
    # no cue conflict in the file names: the formula gives the README's meaningless 1.0
    assert shape_bias(df).shape_bias == 1.0


def test_performance_files_equal_acc16(reference_dir):
    mvh = reference_dir / "modelvshuman"
    for model, file_subj in (("resnet50", "resnet50"), ("resnet50_trained_on_SIN", "resnet50-trained-on-SIN")):
        perf = pd.read_csv(mvh / "performances" / f"{model}.csv")
        top1 = perf[perf.metric_name == "accuracy (top-1)"].set_index("dataset_name")["performance"]
        for dataset in ("cue-conflict", "stylized"):
            df = read_responses(mvh / dataset / f"{dataset}_{file_subj}_session-1.csv")
            assert accuracy16(df) == top1[dataset]


@pytest.mark.parametrize("dataset,name,condition", [
    ("cue-conflict", "cue-conflict_resnet50_session-1.csv", "NaN"),
    ("cue-conflict", "cue-conflict_resnet50-trained-on-SIN_session-1.csv", "NaN"),
    ("stylized", "stylized_simclr-resnet50x1_session-1.csv", 0),
])
def test_written_responses_are_byte_identical_to_the_toolbox(reference_dir, tmp_path, dataset, name, condition):
    ref_path = reference_dir / "modelvshuman" / dataset / name
    ref = read_responses(ref_path)
    subj = ref["subj"].iloc[0]
    decided = torch.tensor([CATEGORIES.index(r) for r in ref["object_response"]])
    frame = responses_frame(decided, list(ref["category"]), [f"/data/{dataset}/{c}/{n}" for c, n in
                                                             zip(ref["category"], ref["imagename"])],
                            subj=subj, condition=condition)
    assert responses_filename(dataset, subj) == name
    out = tmp_path / name
    write_responses(frame, out)
    assert out.read_bytes() == ref_path.read_bytes()
    assert shape_bias(frame).shape_hits == shape_bias(ref).shape_hits


def test_responses_frame_columns_and_names():
    frame = responses_frame([0, 15], ["airplane", "truck"], ["a/airplane1-truck2.png", "truck3-cat1.png"], "m_x")
    assert tuple(frame.columns) == RESPONSE_COLUMNS
    assert frame["object_response"].tolist() == ["airplane", "truck"]
    assert frame["trial"].tolist() == [1, 2] and frame["imagename"].tolist()[0] == "airplane1-truck2.png"
    r = shape_bias(frame)
    assert (r.shape_hits, r.texture_hits, r.shape_bias, r.acc16) == (2, 0, 1.0, 1.0)


def test_bad_input_raises_results_error(tmp_path):
    with pytest.raises(ResultsError, match="object_response"):
        shape_bias(pd.DataFrame({"category": ["cat"], "imagename": ["cat1-dog2.png"]}))
    with pytest.raises(ResultsError, match="empty"):
        accuracy16(pd.DataFrame(columns=list(RESPONSE_COLUMNS)))
    with pytest.raises(ResultsError):
        read_responses(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ResultsError, match="bad.csv"):
        read_responses(bad)
    with pytest.raises(ResultsError, match="one of each"):
        responses_frame([0, 1], ["cat"], ["x.png"], "m")
    with pytest.raises(ResultsError, match="16-class"):
        responses_frame(["tench"], ["cat"], ["x.png"], "m")
