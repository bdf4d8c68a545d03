"""Analysis: aggregates, Spearman tables, highlights, paper-table download, CLI, figures, notebook."""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analyze as analyze_cli
from biasbench.analysis import (
    AGGREGATES,
    BIASES,
    analyze,
    check_table,
    fetch_paper_table,
    load_results,
    read_results,
    spearman,
    summary_markdown,
)
from biasbench.analysis import paper_table as paper_table_module
from biasbench.analysis.figures import bandpass_figure, scatter_figure
from biasbench.analysis.tables import merge_tables
from biasbench.errors import ResultsError
from biasbench.zoo.paper_models import MODEL_CATEGORY, PAPER_CATEGORIES, PAPER_MODELS

REPO = Path(__file__).resolve().parents[1]
CUTOFFS = ["0.01", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "0.99"]
FIGURE_STEMS = ["scatter_shape_bias", "scatter_LPP", "scatter_HPP", "scatter_bw_norm", "scatter_cf_norm",
                "scatter_pns_norm", "bandpass_curves", "correlations", "bias_correlations"]


def synthetic_table(extra: dict | None = None) -> pd.DataFrame:
    """The 48 paper models (model i in registry order) with known monotone structure:
    ID = 78.667 - 0.3 i (falls), shape-bias = 0.1 + 0.01 i and PGD = 10 + i (rise); the rest random."""
    rng = np.random.default_rng(0)
    i = np.arange(len(PAPER_MODELS), dtype=float)
    n = len(i)
    cols = {
        "model": PAPER_MODELS,
        "top1_acc/imagenet": 80 - 0.3 * i, "top1_acc/imagenet-v2": 68 - 0.3 * i,
        "top1_acc/imagenet-real": 88 - 0.3 * i,
        "top1_acc/imagenet-a": rng.uniform(0, 20, n), "top1_acc/imagenet-c": rng.uniform(30, 60, n),
        "top1_acc/imagenet-cbar": rng.uniform(30, 60, n),
        "top1_acc/imagenet-sketch": rng.uniform(15, 35, n), "top1_acc/imagenet-r": rng.uniform(30, 50, n),
        "top1_acc/stylized": rng.uniform(30, 90, n), "top1_acc/PGD-40/low": 10 + i,
        "shape-bias": 0.1 + 0.01 * i,
        "metric/criticalband/bw_norm": rng.uniform(3, 10, n), "metric/criticalband/cf_norm": rng.uniform(20, 110, n),
        "metric/criticalband/pns_norm": rng.uniform(0.5, 1, n),
    }
    for kind in ("LFC", "HFC"):
        base = np.sort(rng.uniform(0, 1, (n, len(CUTOFFS))), axis=1)
        for j, c in enumerate(CUTOFFS):
            cols[f"metric/bandpass/{kind}/{c}"] = base[:, j]
    df = pd.DataFrame(cols)
    if extra:
        df = pd.concat([df, pd.DataFrame([{"model": k, **v} for k, v in extra.items()])], ignore_index=True)
    return df


def my_model(**overrides) -> dict:
    row = {c: 50.0 for c in synthetic_table().columns if c.startswith("top1_acc/")}
    row.update({"top1_acc/imagenet": 90.0, "top1_acc/imagenet-v2": 90.0, "top1_acc/imagenet-real": 90.0,
                "shape-bias": 0.105, "metric/criticalband/bw_norm": 5.0, "metric/criticalband/cf_norm": 40.0,
                "metric/criticalband/pns_norm": 0.9})
    row.update({f"metric/bandpass/{k}/{c}": 0.5 for k in ("LFC", "HFC") for c in CUTOFFS})
    row.update(overrides)
    return row


def _write(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False)
    return path


# ---------------------------------------------------------------- categories, aggregates, correlations


def test_registry_categories_agree_with_the_papers_json(reference_dir):
    ref = json.loads((reference_dir / "paper" / "r50_categories.json").read_text())
    assert {c: sorted(v) for c, v in ref.items()} == {c: sorted(v) for c, v in PAPER_CATEGORIES.items()}


@pytest.fixture(scope="module")
def paper_analysis(request):
    ref = request.getfixturevalue("reference_dir")
    table, prov, sources = load_results(ref / "paper" / "benchmark.csv")
    return analyze(table, prov, [], sources)


def test_aggregates_of_known_models_match_hand_computed_values(paper_analysis):
    v = paper_analysis.metrics.values
    # tv_resnet50 cells: imagenet 76.14600, v2 63.14000, real 86.50307 -> ID 225.78907 / 3
    # a 0.02667, c 41.12162, cbar 39.70232 -> 80.85061 / 3; sketch 24.09165, r 36.15667, stylized 37.125
    # LFC 0.1..0.5: .17758 .53035 .72695 .82983 .89996 -> 3.16466 / 5; HFC: .00192 .00336 .00517 .00898 .01500
    expected = {
        ("tv_resnet50", "ID"): 75.26302, ("tv_resnet50", "Robustness"): 26.95020,
        ("tv_resnet50", "Concepts"): 32.45777, ("tv_resnet50", "Adversarial"): 18.39035,
        ("tv_resnet50", "LPP"): 0.632932, ("tv_resnet50", "HPP"): 0.0068868,
        ("tv_resnet50", "shape-bias"): 0.214646, ("tv_resnet50", "bw_norm"): 5.666261,
        # SIN: imagenet 60.18000, v2 48.61000, real 73.31288 -> 182.10288 / 3;
        # sketch 30.09491, r 40.16667, stylized 90.875 -> 161.13658 / 3
        ("resnet50_trained_on_SIN", "ID"): 60.70096, ("resnet50_trained_on_SIN", "Concepts"): 53.71219,
        ("resnet50_trained_on_SIN", "shape-bias"): 0.813922,
    }
    for (model, metric), want in expected.items():
        assert v.at[model, metric] == pytest.approx(want, abs=2e-5), (model, metric)
    assert v.loc["tv_resnet50", "category"] == "baseline"
    assert (v.loc[PAPER_MODELS, "category"] == [MODEL_CATEGORY[m] for m in PAPER_MODELS]).all()


def test_reference_correlation_table_shape_and_sign_pattern(paper_analysis):
    corr = paper_analysis.correlations
    assert list(corr.columns) == ["group", "bias", "aggregate", "rho", "p", "shown", "n", "rho_lo", "rho_hi"]
    assert len(corr) == 3 * len(BIASES) * len(AGGREGATES)
    # The paper's table has no low-frequency bias (the follow-up's): its rows rest on no model and are n/a.
    freq = corr["bias"] == "frequency-bias"
    assert (corr.loc[freq, "n"] == 0).all() and corr.loc[freq, ["rho", "p", "shown"]].isna().all().all()
    corr = corr[~freq]
    assert corr.groupby("group")["n"].unique().map(list).to_dict() == {
        "all": [48], "adversarial": [15], "non_adversarial": [33]}
    sig = corr["p"] < 0.05
    assert (corr.loc[sig, "shown"] == corr.loc[sig, "rho"]).all() and (corr.loc[~sig, "shown"] == 0).all()
    s = corr.set_index(["group", "bias", "aggregate"])["shown"]
    # the paper's headline pattern: shape bias trades ID and robustness for adversarial robustness
    assert s["all", "shape-bias", "ID"] < -0.7 and s["all", "shape-bias", "Robustness"] < 0
    assert s["all", "shape-bias", "Adversarial"] > 0 and s["all", "shape-bias", "Concepts"] == 0
    assert s["all", "HPP", "Robustness"] > 0.7 and s["all", "bw_norm", "ID"] < 0
    assert s["adversarial", "shape-bias", "ID"] < -0.9 and s["non_adversarial", "shape-bias", "ID"] < 0
    assert all(s["all", "cf_norm", a] == 0 for a in AGGREGATES)
    # rho agrees with pandas' own Spearman implementation on the same 48 values
    v = paper_analysis.metrics.values.loc[PAPER_MODELS]
    ours = corr[corr["group"] == "all"].set_index(["bias", "aggregate"])["rho"]
    for (b, a), rho in ours.items():
        assert rho == pytest.approx(v[b].corr(v[a], method="spearman"), abs=1e-12)


def test_bias_matrix_is_symmetric_with_unit_diagonal(paper_analysis):
    bc = paper_analysis.bias_correlations
    assert list(bc.columns) == ["bias_a", "bias_b", "rho", "p", "shown", "n", "rho_lo", "rho_hi"] and len(bc) == len(BIASES) ** 2
    freq = (bc["bias_a"] == "frequency-bias") | (bc["bias_b"] == "frequency-bias")
    assert (bc.loc[freq, "n"] == 0).all() and bc.loc[freq, "rho"].isna().all()
    bc = bc[~freq]
    m = bc.pivot(index="bias_a", columns="bias_b", values="rho")
    np.testing.assert_allclose(m.to_numpy(), m.T.to_numpy())
    np.testing.assert_allclose(np.diag(m.to_numpy()), 1.0)
    assert (bc["n"] == 48).all()


def test_spearman_hand_cases():
    assert spearman([1, 2, 3, 4, 5], [10, 8, 6, 4, 2]) == pytest.approx((-1.0, 0.0, -1.0, 5))
    # d = -1, -2, 2, 1: sum d^2 = 10 = n(n^2-1)/6 for n = 4, so rho = 0 and p = 1
    rho, p, shown, n = spearman([1, 2, 3, 4], [2, 4, 1, 3])
    assert (rho, shown, n) == (0.0, 0.0, 4) and p == pytest.approx(1.0)
    # pairs with a missing value drop out: this is the 4-pair case again
    assert spearman([1, 2, np.nan, 3, 4], [2, 4, 7, 1, 3])[3] == 4
    assert all(np.isnan(spearman([1, 2], [2, 1])[:3]))
    assert all(np.isnan(spearman([1, 2, 3], [5, 5, 5])[:3]))
    # no ties: rho = 1 - 6 sum d^2 / (n (n^2 - 1)); d = 0, 1, -1, 0, 0, 0 -> 1 - 12/210
    assert spearman([1, 2, 3, 4, 5, 6], [1, 3, 2, 4, 5, 6])[0] == pytest.approx(1 - 12 / 210)


def test_synthetic_structure_gives_exact_coefficients():
    a = analyze(check_table(synthetic_table()))
    s = a.correlations.set_index(["group", "bias", "aggregate"])
    for group in ("all", "adversarial", "non_adversarial"):
        assert s.loc[(group, "shape-bias", "ID"), "rho"] == pytest.approx(-1)
        assert s.loc[(group, "shape-bias", "Adversarial"), "rho"] == pytest.approx(1)
        assert s.loc[(group, "shape-bias", "ID"), "shown"] == pytest.approx(-1)


# ---------------------------------------------------------------- missing data, units, bad tables


def test_missing_column_is_reported_never_averaged_over_what_exists():
    a = analyze(check_table(synthetic_table().drop(columns=["top1_acc/imagenet-cbar"])))
    assert a.metrics.values["Robustness"].isna().all()
    assert a.metrics.values["ID"].notna().all()
    rob = a.correlations[a.correlations["aggregate"] == "Robustness"]
    assert rob["rho"].isna().all() and (rob["n"] == 0).all()
    assert any("Robustness not computed" in n and "top1_acc/imagenet-cbar" in n for n in a.notes)
    assert "Robustness not computed" in summary_markdown(a)


def test_model_missing_a_cell_drops_out_of_that_metric_only():
    df = synthetic_table()
    df.loc[df["model"] == "tv_resnet50", "metric/bandpass/HFC/0.3"] = np.nan
    df = df[df["model"] != "resnet50_swav"]
    a = analyze(check_table(df))
    c = a.correlations.set_index(["group", "bias", "aggregate"])["n"]
    assert c["all", "HPP", "ID"] == 46 and c["all", "LPP", "ID"] == 47 and c["non_adversarial", "HPP", "ID"] == 31
    assert np.isnan(a.metrics.values.at["tv_resnet50", "HPP"])
    assert a.metrics.missing["tv_resnet50"] == {"HPP": ["metric/bandpass/HFC/0.3"]}
    text = summary_markdown(a)
    assert "resnet50_swav" in text and "HPP left empty" in text


def test_frequency_bias_measured_for_some_models_is_a_seventh_bias():
    """The paper's table lacks the low-frequency bias: measured for 10 of the 48 models, each of its
    coefficients rests on those 10, equal to scipy's Spearman over them; the other biases keep all 48."""
    from scipy import stats

    df = synthetic_table()
    measured = PAPER_MODELS[::5][:10]
    rng = np.random.default_rng(1)
    freq = dict(zip(measured, rng.uniform(0.2, 0.9, len(measured))))
    df["frequency-bias"] = df["model"].map(freq)
    a = analyze(check_table(df))
    v = a.metrics.values
    corr = a.correlations.set_index(["group", "bias", "aggregate"])
    row = corr.loc["all", "frequency-bias", "ID"]
    assert row["n"] == 10 and corr.loc["all", "shape-bias", "ID"]["n"] == 48
    assert row["rho"] == pytest.approx(stats.spearmanr(v.loc[measured, "frequency-bias"],
                                                       v.loc[measured, "ID"]).statistic, abs=1e-12)
    bc = a.bias_correlations.set_index(["bias_a", "bias_b"])
    for other in ("LPP", "HPP"):  # does the cue-conflict version agree with the filtering one?
        assert bc.loc[("frequency-bias", other), "n"] == 10
        assert bc.loc[("frequency-bias", other), "rho"] == pytest.approx(stats.spearmanr(
            v.loc[measured, "frequency-bias"], v.loc[measured, other]).statistic, abs=1e-12)
    assert (a.prediction.loc[a.prediction["predictor"] == "biases", "n"] == 48).all()  # the paper's six
    assert any("frequency-bias left empty" in n for n in a.notes)
    assert "frequency-bias" in summary_markdown(a)
    with pytest.raises(ResultsError, match="frequency-bias holds .*expected a fraction"):
        check_table(df.assign(**{"frequency-bias": df["frequency-bias"] * 100}))


def test_table_without_frequency_bias_gets_one_note_and_no_scatter(tmp_path):
    a = analyze(check_table(synthetic_table()))
    assert "frequency-bias" not in {b for m in a.metrics.missing.values() for b in m}
    assert sum("frequency-bias" in n for n in a.notes) == 1
    from biasbench.analysis.figures import all_figures
    figs = all_figures(a.metrics.values, a.table, a.correlations, a.bias_correlations)
    assert sorted(figs) == sorted(FIGURE_STEMS)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.assign(**{c: d[c] / 100 for c in d.columns if c.startswith("top1_acc/")}), "look like fractions"),
    (lambda d: d.assign(**{"shape-bias": d["shape-bias"] * 100}), "expected a fraction"),
    (lambda d: d.assign(**{"top1_acc/imagenet": 150.0}), "0 to 100"),
    (lambda d: d.assign(**{"top1_acc/imagenet-a": "n.a."}), "holds 'n.a.'"),
    (lambda d: d.rename(columns={"model": "name"}), "no 'model' column"),
    (lambda d: pd.concat([d, d.iloc[:1]]), "more than once: tv_resnet50"),
])
def test_bad_tables_are_refused_naming_the_file(tmp_path, mutate, message):
    path = _write(mutate(synthetic_table()), tmp_path / "bad.csv")
    with pytest.raises(ResultsError, match=message) as e:
        read_results(path)
    assert "bad.csv" in str(e.value)


def test_no_input_and_no_paper_model_are_clear_errors(tmp_path):
    with pytest.raises(ResultsError, match="--paper-results"):
        load_results(None, None, default_results=tmp_path / "absent.csv")
    _write(synthetic_table().iloc[:0], tmp_path / "empty.csv")
    with pytest.raises(ResultsError, match="no rows"):
        load_results(None, None, default_results=tmp_path / "empty.csv")
    only_mine = check_table(pd.DataFrame([{"model": "mine", **my_model()}]))
    with pytest.raises(ResultsError, match="none of the paper's 48.*--paper-results"):
        analyze(only_mine, highlights=["mine"])
    with pytest.raises(ResultsError, match="--highlight nope: not in the results table"):
        analyze(check_table(synthetic_table()), highlights=["nope"])


# ---------------------------------------------------------------- merging and highlights


def test_merge_ours_wins_per_cell_and_records_provenance():
    paper = check_table(synthetic_table())
    ours = check_table(pd.DataFrame([{"model": "mine", **my_model()},
                                     {"model": "tv_resnet50", "top1_acc/imagenet": 99.0}]))
    merged, prov = merge_tables(ours, paper)
    assert merged.at["tv_resnet50", "top1_acc/imagenet"] == 99.0
    assert merged.at["tv_resnet50", "top1_acc/imagenet-v2"] == 68.0  # from the paper's table (i = 0)
    assert prov.loc["tv_resnet50"].tolist() == ["ours+paper", len(paper.columns) - 1]
    assert prov.at["mine", "source"] == "ours" and prov.at["tv2_resnet50", "source"] == "paper"
    a = analyze(merged, prov, ["mine"])
    assert a.metrics.values.at["tv_resnet50", "ID"] == pytest.approx((99 + 68 + 88) / 3)
    assert "tv_resnet50 (" in summary_markdown(a)


def test_highlight_is_ranked_but_never_enters_the_correlations():
    base = analyze(check_table(synthetic_table()))
    a = analyze(check_table(synthetic_table({"mine": my_model()})), highlights=["mine"])
    pd.testing.assert_frame_equal(a.correlations, base.correlations)
    pd.testing.assert_frame_equal(a.bias_correlations, base.bias_correlations)
    r = a.ranks.set_index("metric")
    # ID 90 beats every paper model (at most 78.67); shape bias 0.105 beats only model 0 (0.100)
    assert (r.at["ID", "rank"], r.at["ID", "of"]) == (1, 49)
    assert (r.at["shape-bias", "rank"], r.at["shape-bias", "of"]) == (48, 49)
    assert r.at["Adversarial", "paper_median"] == pytest.approx(10 + 23.5)
    text = summary_markdown(a)
    assert "### mine (ours)" in text and "| ID | % top-1 | 90.000 | 1 of 49 |" in text


# ---------------------------------------------------------------- figures


def test_scatter_draws_every_paper_model_and_the_highlight_on_top():
    a = analyze(check_table(synthetic_table({"mine": my_model()})), highlights=["mine"])
    fig = scatter_figure(a.metrics.values, "shape-bias", ["mine"], a.correlations)
    axes = fig.axes
    assert len(axes) == 4
    for ax, agg in zip(axes, AGGREGATES):
        stars = [c for c in ax.collections if c.get_zorder() == 5]
        points = np.concatenate([c.get_offsets() for c in ax.collections if c.get_zorder() == 2])
        assert len(points) == 48
        np.testing.assert_allclose(stars[0].get_offsets(), [[0.105, a.metrics.values.at["mine", agg]]])
    assert "rho=-1.00" in axes[0].get_title()


def test_bandpass_curves_follow_cutoff_order():
    table = check_table(synthetic_table({"mine": my_model(**{"metric/bandpass/LFC/0.01": 0.01,
                                                              "metric/bandpass/LFC/0.99": 0.99})}))
    fig = bandpass_figure(table, PAPER_MODELS + ["mine"], ["mine"])
    low = fig.axes[0]
    assert len(low.lines) == 49
    mine = low.lines[-1]
    np.testing.assert_allclose(mine.get_xdata(), [float(c) for c in CUTOFFS])
    assert mine.get_ydata()[0] == 0.01 and mine.get_ydata()[-1] == 0.99
    assert bandpass_figure(table.drop(columns=[c for c in table.columns if "bandpass" in c]), PAPER_MODELS) is None


# ---------------------------------------------------------------- the paper table download (local server only)


@pytest.fixture
def served(http_server, monkeypatch):
    """The local server's folder, and point_url_at(name) pointing the paper table's URL at a file in it."""

    def point_at(name: str) -> None:
        monkeypatch.setattr(paper_table_module, "PAPER_TABLE_URL", http_server.url(f"/{name}"))

    return http_server.root, point_at


def test_paper_table_downloads_once_into_the_cache(tmp_path, served):
    www, point_at = served
    body = synthetic_table().to_csv(index=False).encode()
    (www / "benchmark.csv").write_bytes(body)
    point_at("benchmark.csv")
    path = fetch_paper_table(cache_dir=tmp_path / "cache")
    assert path == tmp_path / "cache" / "paper" / "benchmark.csv" and path.read_bytes() == body
    assert [p.name for p in path.parent.iterdir()] == ["benchmark.csv"]  # no temp file left behind
    (www / "benchmark.csv").unlink()  # served no more: the cached copy is used
    table, prov, sources = load_results(None, "download", default_results=tmp_path / "none.csv",
                                        cache_dir=tmp_path / "cache")
    assert len(table) == 48 and (prov["source"] == "paper").all() and str(path) in sources[0]


@pytest.mark.parametrize("name, content, message", [
    ("page.html", b"<html><body>Not the table</body></html>", "did not return the paper's results table"),
    ("absent.csv", None, "could not download"),
])
def test_bad_download_is_refused_and_not_cached(tmp_path, served, name, content, message):
    www, point_at = served
    if content is not None:
        (www / name).write_bytes(content)
    point_at(name)
    with pytest.raises(ResultsError, match=message):
        fetch_paper_table(cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache" / "paper").exists() or not any((tmp_path / "cache" / "paper").iterdir())


def test_paper_table_download_resumes_and_goes_through_the_ledger(tmp_path, served, http_server):
    www, point_at = served
    body = synthetic_table().to_csv(index=False).encode()
    (www / "benchmark.csv").write_bytes(body)
    point_at("benchmark.csv")
    http_server.drop_once.add("/benchmark.csv")  # the connection drops halfway: retried from there
    path = fetch_paper_table(cache_dir=tmp_path / "cache")
    assert path.read_bytes() == body and http_server.gets("/benchmark.csv") == [None, f"bytes={len(body) // 2}-"]
    ledger = json.loads((tmp_path / "cache" / "downloads" / "downloads.lock.json").read_text())["files"]
    assert ledger["paper/benchmark.csv"]["sha256"] == hashlib.sha256(body).hexdigest()
    path.write_bytes(body[:-10])  # a damaged cached copy is deleted and fetched again
    assert fetch_paper_table(cache_dir=tmp_path / "cache").read_bytes() == body
    assert len(http_server.gets("/benchmark.csv")) == 3
    path.unlink()
    (www / "benchmark.csv").write_bytes(body.replace(b"\n", b"\r\n"))  # upstream changed since it was recorded
    with pytest.raises(ResultsError, match="SHA-256 .* recorded in") as e:
        fetch_paper_table(cache_dir=tmp_path / "cache")
    assert hashlib.sha256(body).hexdigest()[:12] in str(e.value) and not path.exists()


def test_offline_without_cache_says_where_to_put_the_file(tmp_path):
    dest = tmp_path / "cache" / "paper" / "benchmark.csv"
    with pytest.raises(ResultsError, match="offline") as e:
        fetch_paper_table(cache_dir=tmp_path / "cache")
    assert str(dest) in str(e.value) and "--paper-results PATH" in str(e.value)


# ---------------------------------------------------------------- the command line


def test_cli_writes_tables_summary_and_figures(tmp_path, served, capsys):
    www, point_at = served
    (www / "benchmark.csv").write_text(synthetic_table().to_csv(index=False))
    point_at("benchmark.csv")
    monkeypatch_cache = tmp_path / "cache"
    ours = _write(pd.DataFrame([{"model": "mine", **my_model()},
                                {"model": "tv_resnet50", "top1_acc/imagenet": 99.0}]), tmp_path / "ours.csv")
    out = tmp_path / "out"
    rc = analyze_cli.main(["--results", str(ours), "--paper-results", "download", "--highlight", "mine", "--out", str(out),
                           "--cache-dir", str(monkeypatch_cache)])
    assert rc == 0, capsys.readouterr().err
    corr = pd.read_csv(out / "correlations.csv")
    assert list(corr.columns) == ["group", "bias", "aggregate", "rho", "p", "shown", "n", "rho_lo", "rho_hi"] and len(corr) == 3 * len(BIASES) * len(AGGREGATES)
    assert list(pd.read_csv(out / "bias_correlations.csv").columns) == ["bias_a", "bias_b", "rho", "p", "shown", "n", "rho_lo", "rho_hi"]
    metrics = pd.read_csv(out / "metrics.csv", index_col="model")
    assert metrics.at["tv_resnet50", "ID"] == pytest.approx((99 + 68 + 88) / 3)
    assert metrics.at["tv_resnet50", "source"] == "ours+paper" and metrics.at["mine", "source"] == "ours"
    ranks = pd.read_csv(out / "highlight_ranks.csv")
    assert ranks.loc[ranks["metric"] == "ID", "rank"].item() == 1
    summary = (out / "summary.md").read_text()
    assert "## Highlighted models" in summary and "raw.githubusercontent.com" in summary
    for stem in FIGURE_STEMS:
        png, pdf = (out / f"{stem}.png").read_bytes(), (out / f"{stem}.pdf").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000, stem
        assert pdf.startswith(b"%PDF") and len(pdf) > 5_000, stem
        assert f"{stem}.png" in summary


def test_shipped_paper_table_is_the_published_file(reference_dir):
    from biasbench.analysis.paper_table import SHIPPED_PAPER_TABLE
    assert SHIPPED_PAPER_TABLE == REPO / "raw-data" / "paper" / "benchmark.csv"
    assert SHIPPED_PAPER_TABLE.read_bytes() == (reference_dir / "paper" / "benchmark.csv").read_bytes()
    assert "CC BY-SA 4.0" in (REPO / "raw-data" / "paper" / "README.md").read_text()


def test_cli_paper_results_works_offline_from_the_shipped_copy(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BIASBENCH_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # no raw-data/benchmark.csv of ours here, an empty cache
    out = tmp_path / "out"
    rc = analyze_cli.main(["--paper-results", "--offline", "--no-figures", "--out", str(out),
                           "--cache-dir", str(tmp_path / "cache")])
    assert rc == 0, capsys.readouterr().err
    assert not (tmp_path / "cache").exists()
    shipped = read_results(REPO / "raw-data" / "paper" / "benchmark.csv")
    corr = pd.read_csv(out / "correlations.csv")
    row = corr[(corr["group"] == "all") & (corr["bias"] == "shape-bias") & (corr["aggregate"] == "ID")].iloc[0]
    # recomputed here from the shipped file with scipy, not copied out of it
    from scipy import stats
    models = [m for m in PAPER_MODELS if m in shipped.index]
    idv = shipped.loc[models, list(AGGREGATES["ID"])].mean(axis=1)
    assert row.rho == pytest.approx(stats.spearmanr(shipped.loc[models, "shape-bias"], idv).statistic)
    assert row.n == 48 and "shipped with biasbench" in (out / "summary.md").read_text()


def test_cli_user_error_exits_2_with_one_line(tmp_path, capsys):
    rc = analyze_cli.main(["--results", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: results table") and "missing.csv not found" in err
    assert err.count("\n") == 1


# ---------------------------------------------------------------- the notebook


def test_notebook_runs_top_to_bottom_with_the_same_results(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    # A kernel spec pinned to this interpreter: the stock "python3" spec may point at another Python.
    spec = tmp_path / "jupyter" / "kernels" / "biasbench-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "biasbench test", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    table = _write(synthetic_table({"mine": my_model()}), tmp_path / "table.csv")
    monkeypatch.setenv("BIASBENCH_RESULTS", str(table))
    monkeypatch.setenv("BIASBENCH_HIGHLIGHT", "mine")
    monkeypatch.delenv("BIASBENCH_ANALYSIS_OUT", raising=False)  # figure files are the CLI test's job
    monkeypatch.delenv("BIASBENCH_PAPER_RESULTS", raising=False)

    nb = nbformat.read(REPO / "code" / "plots.ipynb", as_version=4)
    nbclient.NotebookClient(nb, kernel_name="biasbench-test", timeout=180,
                            resources={"metadata": {"path": str(REPO / "code")}}).execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == len(FIGURE_STEMS)
    # the summary it shows is the library's, number for number, on the same table
    merged, provenance, sources = load_results(table)
    expected = analyze(merged, provenance, ["mine"], sources)
    shown = [o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    assert shown == [summary_markdown(expected)]
    assert "### mine (ours)" in shown[0] and "**-1.00** (p<0.001)" in shown[0]


# ---------------------------------------------------------------- bootstrap over models


def test_spearman_interval_is_scipys_paired_percentile_bootstrap_with_the_same_seed():
    from scipy import stats

    from biasbench.analysis.model_bootstrap import spearman_interval
    rng = np.random.default_rng(3)
    x = rng.normal(size=30)
    y = x + rng.normal(size=30)
    ours = spearman_interval(x, y, n_resamples=500, seed=7)
    ref = stats.bootstrap((x, y), lambda a, b: stats.spearmanr(a, b).statistic, paired=True, vectorized=False,
                          n_resamples=500, method="percentile", random_state=np.random.default_rng(7))
    assert ours == pytest.approx(tuple(ref.confidence_interval), abs=1e-12)
    assert spearman_interval(x, y, n_resamples=500, seed=7) == ours  # reproducible
    # a hand-written resampling (independent draws) lands near it
    idx = np.random.default_rng(11).integers(0, 30, (4000, 30))
    boot = [stats.spearmanr(x[i], y[i]).statistic for i in idx]
    assert ours == pytest.approx(tuple(np.percentile(boot, [2.5, 97.5])), abs=0.05)


def test_rank_interval_matches_a_hand_written_resampling():
    from biasbench.analysis.model_bootstrap import rank_interval
    ref = np.arange(1.0, 48.0)  # 47 models; value 40.5 has 7 above it -> rank 8
    lo, hi = rank_interval(40.5, ref, n_resamples=1000, seed=5)
    idx = np.random.default_rng(5).integers(0, 47, (1000, 47))
    ranks = [1 + int((ref[i] > 40.5).sum()) for i in idx]
    assert (lo, hi) == tuple(np.percentile(ranks, [2.5, 97.5]))
    assert lo < 8 < hi


def test_correlation_tables_carry_intervals_around_rho():
    values = analyze(check_table(synthetic_table())).correlations
    ok = values.dropna(subset=["rho"])
    assert (ok["rho_lo"] <= ok["rho"] + 1e-12).all() and (ok["rho"] <= ok["rho_hi"] + 1e-12).all()
    exact = ok[(ok["group"] == "all") & (ok["bias"] == "shape-bias") & (ok["aggregate"] == "ID")].iloc[0]
    assert exact.rho_lo == pytest.approx(-1.0) and exact.rho_hi == pytest.approx(-1.0)


# ---------------------------------------------------------------- leave-one-model-out prediction


def test_linear_leave_one_out_matches_numpy_least_squares():
    from biasbench.analysis.prediction import leave_one_out_predictions, r2_score
    rng = np.random.default_rng(4)
    X = rng.normal(size=(20, 3))
    y = X @ [1.0, -2.0, 0.5] + rng.normal(size=20)
    pred = leave_one_out_predictions(X, y)
    for i in (0, 7, 19):
        A = np.delete(np.column_stack([np.ones(20), X]), i, axis=0)
        coef = np.linalg.solve(A.T @ A, A.T @ np.delete(y, i))  # normal equations, independently of lstsq
        assert pred[i] == pytest.approx(np.r_[1.0, X[i]] @ coef)
    expect = 1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert r2_score(y, pred) == pytest.approx(expect)


def test_rank_variant_recovers_a_monotone_relation_and_intervals_are_hand_resampled():
    from scipy import stats

    from biasbench.analysis.prediction import bootstrap_scores, leave_one_out_predictions, r2_score
    x = np.linspace(0, 3, 25)[:, None]
    y = np.exp(x[:, 0])  # monotone, not linear
    pred = leave_one_out_predictions(x, y, "rank")
    assert stats.spearmanr(y[1:-1], pred[1:-1]).statistic == pytest.approx(1.0)
    r2_lo, r2_hi, rho_lo, rho_hi = bootstrap_scores(y, pred, n_resamples=300, seed=2)
    idx = np.random.default_rng(2).integers(0, 25, (300, 25))
    r2s = [r2_score(y[i], pred[i]) for i in idx]
    rhos = [stats.spearmanr(y[i], pred[i]).statistic for i in idx]
    assert (r2_lo, r2_hi) == pytest.approx(tuple(np.percentile(r2s, [2.5, 97.5])))
    assert (rho_lo, rho_hi) == pytest.approx(tuple(np.nanpercentile(rhos, [2.5, 97.5])))


def test_prediction_table_baseline_top1_predicts_id_exactly_in_the_synthetic_table(tmp_path):
    result = analyze(check_table(synthetic_table()))
    t = result.prediction.set_index(["aggregate", "predictor", "variant"])
    assert len(t) == 16 and (t["n"] == 48).all()
    # ID = top1 - 1.333 exactly in the synthetic table: the baseline is perfect out of sample
    assert t.loc[("ID", "top1", "linear"), "r2"] == pytest.approx(1.0)
    assert t.loc[("ID", "top1", "linear"), "spearman"] == pytest.approx(1.0)
    assert "leave one model out" in summary_markdown(result)


def test_pgd_compared_with_the_paper_says_how_the_scales_differ():
    df = synthetic_table(extra={"mine": my_model()})
    note = [n for n in analyze(check_table(df), highlights=["mine"]).notes if n.startswith("top1_acc/PGD-40/low")]
    assert len(note) == 1 and "(p x 500.48 - 48) / 500" in note[0] and "18.312" in note[0]
    assert not [n for n in analyze(check_table(df)).notes if n.startswith("top1_acc/PGD-40/low")]  # nothing compared
