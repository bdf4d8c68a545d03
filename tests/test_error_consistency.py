"""Error consistency (Geirhos et al. 2020): kappa on a hand-computed table, every pair of models
from stored decisions on the images both decided, and a model against a human on the toolbox's
own response files (counts checked against a cross-tabulation of the raw files)."""

import numpy as np
import pandas as pd
import pytest

from biasbench.analysis.error_consistency import (
    between_models,
    error_consistency,
    human_tables,
    main,
    stimulus,
    versus_humans,
)
from biasbench.errors import ResultsError
from biasbench.results import Record
from biasbench.results.decisions import Decisions


def test_kappa_on_a_hand_computed_table():
    # 10 trials: both right 4, only a right 2, only b right 1, both wrong 3
    a = [1] * 4 + [1] * 2 + [0] * 1 + [0] * 3
    b = [1] * 4 + [0] * 2 + [1] * 1 + [0] * 3
    ec = error_consistency(a, b)
    # c_obs = 7/10; p_a = 0.6, p_b = 0.5: c_exp = 0.3 + 0.2 = 0.5; kappa = 0.2 / 0.5 = 0.4
    assert (ec.n, ec.c_obs, ec.c_exp, ec.kappa) == (10, pytest.approx(0.7), pytest.approx(0.5), pytest.approx(0.4))
    assert error_consistency([1, 0, 1], [1, 0, 1]).kappa == 1.0  # identical
    assert error_consistency([1, 1], [1, 1]).kappa == 1.0  # c_exp = 1: the toolbox's convention
    assert error_consistency([1, 0, 1, 0], [0, 1, 0, 1]).kappa == pytest.approx(-1.0)
    with pytest.raises(ResultsError, match="equally long"):
        error_consistency([1, 0], [1])


def _decisions(model, condition, index, pred, label, fingerprint="ab"):
    record = Record(model=model, benchmark="imagenet-c", condition=condition, values={"x": 1.0}, n_images=len(index),
                    fingerprint=fingerprint)
    return Decisions(record, np.asarray(index), np.asarray(pred), np.asarray(label), "imagenet-1k")


def test_every_pair_of_models_on_the_images_both_decided():
    label = np.array([0, 1, 2, 3, 4, 5])
    latest = {}
    preds = {"a": [0, 1, 9, 3, 9, 5], "b": [0, 9, 2, 3, 9, 9], "c": [9, 1, 2, 3, 4, 5]}
    for m, p in preds.items():
        latest[(m, "imagenet-c", "fog/1", "ab")] = _decisions(m, "fog/1", range(6), p, label)
    # model c left image 0 out (unreadable) on another condition: only the shared images count
    latest[("a", "imagenet-c", "fog/2", "cd")] = _decisions("a", "fog/2", range(6), preds["a"], label, "cd")
    latest[("c", "imagenet-c", "fog/2", "cd")] = _decisions("c", "fog/2", range(1, 6), preds["c"][1:], label[1:], "cd")
    table = between_models(latest)
    assert list(zip(table["condition"], table["model_a"], table["model_b"])) == [
        ("fog/1", "a", "b"), ("fog/1", "a", "c"), ("fog/1", "b", "c"), ("fog/2", "a", "c")]
    # a = 1 1 0 1 0 1, b = 1 0 1 1 0 0: agree on 0, 3, 4 -> c_obs 0.5; p 4/6, 3/6 -> c_exp 0.5; kappa 0
    ab = table.iloc[0]
    assert (ab.n, ab.c_obs, ab.c_exp, ab.kappa) == (6, pytest.approx(0.5), pytest.approx(0.5), pytest.approx(0.0))
    # fog/2, images 1..5: a = 1 0 1 0 1, c = 1 1 1 1 1 -> c_obs 3/5, c_exp 3/5 * 1 = 0.6, kappa 0
    ac2 = table.iloc[3]
    assert (ac2.n, ac2.c_obs, ac2.c_exp) == (5, pytest.approx(0.6), pytest.approx(0.6))


def test_resnet50_against_a_human_on_the_toolbox_files(reference_dir, tmp_path):
    ref = reference_dir / "modelvshuman"
    for dataset in ("cue-conflict", "stylized"):
        model = pd.read_csv(ref / dataset / f"{dataset}_resnet50_session-1.csv")
        humans = human_tables(ref, dataset)
        assert list(humans) == ["subject-01"]
        (row,) = versus_humans(model, humans).itertuples()
        # independent: the 2x2 table of the raw files, matched by stimulus
        human = humans["subject-01"]
        m = pd.Series((model.object_response == model.category).to_numpy(), index=model.imagename.map(stimulus))
        h = pd.Series((human.object_response == human.category).to_numpy(), index=human.imagename.map(stimulus))
        table = pd.crosstab(m, h.reindex(m.index))
        n = table.to_numpy().sum()
        obs = (table.loc[True, True] + table.loc[False, False]) / n
        pm, ph = table.loc[True].sum() / n, table[True].sum() / n
        exp = pm * ph + (1 - pm) * (1 - ph)
        assert n == len(model) == row.n
        assert (row.c_obs, row.c_exp, row.kappa) == (pytest.approx(obs), pytest.approx(exp),
                                                     pytest.approx((obs - exp) / (1 - exp)))
        if dataset == "stylized":  # accuracies from the reference README: 0.37125 and 0.515
            assert (pm, ph) == (pytest.approx(0.37125), pytest.approx(0.515))
    # the command line on the same files, laid out as a --responses-dir and the toolbox's raw-data
    (tmp_path / "mine" / "stylized").mkdir(parents=True)
    (tmp_path / "mine" / "stylized" / "a.csv").write_bytes((ref / "stylized" / "stylized_resnet50_session-1.csv")
                                                          .read_bytes())
    out = tmp_path / "ec.csv"
    assert main(["--model-responses", str(tmp_path / "mine"), "--humans", str(ref), "--out", str(out)]) == 0
    written = pd.read_csv(out)
    assert written[["dataset", "model", "subject"]].values.tolist() == [["stylized", "resnet50", "subject-01"]]


def test_missing_human_tables_say_what_was_expected(tmp_path, capsys):
    (tmp_path / "mine" / "colour").mkdir(parents=True)
    assert main(["--model-responses", str(tmp_path / "mine"), "--humans", str(tmp_path), "--out",
                 str(tmp_path / "o.csv")]) == 2
    assert "no human response tables colour_subject-NN_session_1.csv" in capsys.readouterr().err


def test_human_tables_are_downloaded_on_first_use(tmp_path, monkeypatch, http_server):
    import io
    import tarfile

    from biasbench.prepare import human_responses

    human = pd.DataFrame({"subj": "subject-03", "session": 1, "trial": [1, 2, 3, 4], "rt": 0.5,
                          "object_response": ["cat", "dog", "na", "bear"], "category": ["cat", "cat", "dog", "bear"],
                          "condition": 0, "imagename": [f"000{i}_sty_s03_0_x_00_img{i}.png" for i in range(4)]})
    model = human.assign(subj="m", object_response=["cat", "dog", "dog", "bear"],
                         imagename=[f"999{i}_sty_dnn_0_x_00_img{i}.png" for i in range(4)])
    www = http_server.root  # downloads go to this server on 127.0.0.1 only
    members = {"model-vs-human-master/raw-data/stylized/stylized_subject-03_session_1.csv": human.to_csv(index=False),
               "model-vs-human-master/raw-data/stylized/stylized_resnet50_session-1.csv": "not a human file",
               "model-vs-human-master/README.md": "x"}
    with tarfile.open(www / "master.tar.gz", "w:gz") as tar:
        for name, text in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    monkeypatch.setattr(human_responses, "ARCHIVE_URL", http_server.url("/master.tar.gz"))
    (tmp_path / "mine" / "stylized").mkdir(parents=True)
    model.to_csv(tmp_path / "mine" / "stylized" / "m.csv", index=False)
    args = ["--model-responses", str(tmp_path / "mine"), "--cache-dir", str(tmp_path / "cache"), "--out",
            str(tmp_path / "o.csv")]
    assert main(args) == 0 and main(args) == 0
    assert [p for c, p, _ in http_server.requests if c == "GET"] == ["/master.tar.gz"]  # the second run reads the cache
    kept = sorted(p.name for p in (tmp_path / "cache").rglob("*.csv"))
    assert kept == ["stylized_subject-03_session_1.csv"]
    (row,) = pd.read_csv(tmp_path / "o.csv").itertuples()
    # model right 1 0 1 1, human right 1 0 0 1 ('na' is wrong): c_obs 3/4; p 3/4, 1/2 -> c_exp 1/2, kappa 1/2
    assert (row.subject, row.n, row.c_obs, row.c_exp, row.kappa) == ("subject-03", 4, 0.75, 0.5, 0.5)


def test_offline_without_human_tables_says_what_to_fetch(tmp_path, capsys):
    (tmp_path / "mine" / "stylized").mkdir(parents=True)
    assert main(["--model-responses", str(tmp_path / "mine"), "--cache-dir", str(tmp_path / "c"), "--offline",
                 "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert "offline mode is on; download https://github.com/bethgelab/model-vs-human/archive" in err
