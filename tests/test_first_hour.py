"""A researcher's first hour (docs/running.md): the commands the docs show run as written, timm's flag
spellings, the run record beside the results table, a quiet analysis, and the dependency lists."""

import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
import torch

from biasbench import flag_conventions
from biasbench.cli import make_parser
from biasbench.suite import missing_headline_reasons

REPO = Path(__file__).resolve().parents[1]
DOC_PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_COMMAND = re.compile(r"^(?:\.venv/bin/)?(?:python3? (?:code/\S+|-m biasbench\S*)|biasbench \S+)")


def documented_commands() -> list[tuple[str, str]]:
    """(page, command line) of every shell command in a code block of the README and docs/ pages."""
    found = []
    for page in DOC_PAGES:
        for block in re.findall(r"```(?:bash|sh|shell|console)?\n(.*?)```", page.read_text(), re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split(" #", 1)[0].strip()
                if _COMMAND.match(line):
                    found.append((page.name, line))
    return found


def _argv(line: str) -> list[str]:
    """The command as the docs write it, run by this test's Python (the one `make demo` installs into .venv);
    placeholders (<...>, [...]) are left out."""
    line = re.sub(r"<[^>]*>|\[[^\]]*\]", " ", line)
    words = shlex.split(line)
    if words[0] == "biasbench":
        return [sys.executable, "-m", "biasbench", *words[1:]]
    return [sys.executable, *words[1:]]


COMMANDS = documented_commands()


def test_the_docs_show_commands():
    assert len(COMMANDS) >= 15
    assert {"README.md", "running.md", "datasets.md", "sweeps.md"} <= {page for page, _ in COMMANDS}


def _program(line: str) -> tuple[str, ...]:
    """The program a command runs: its words before the first flag (a subcommand stays: ``-m biasbench.results
    show``, ``-m biasbench run spectral``)."""
    words = _argv(line)[1:]
    cut = next((i for i, w in enumerate(words) if w.startswith("-") and w != "-m"), len(words))
    return tuple(words[:cut])


@pytest.mark.parametrize("program", sorted({_program(line) for _, line in COMMANDS}), ids=" ".join)
def test_each_documented_program_answers_help(program):
    """Every program a documented command runs answers --help as written, from the repository root, and every
    flag the documented commands pass it is one its help lists."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "code")}
    proc = subprocess.run([sys.executable, *program, "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, f"{' '.join(program)} --help: {proc.stderr[-500:]}"
    assert "usage:" in proc.stdout
    for _, line in COMMANDS:
        if _program(line) == program:
            for flag in (w.split("=", 1)[0] for w in _argv(line)[1:] if w.startswith("-") and w != "-m"):
                assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", proc.stdout), \
                    f"{line}: {flag} is not in the help of {' '.join(program)}"


def test_readme_says_how_to_use_the_virtualenv():
    text = (REPO / "README.md").read_text()
    assert "source .venv/bin/activate" in text


# --------------------------------------------------------------------------- flags


def _parse(argv, benchmarks=("imagenet",)):
    parser = make_parser(list(benchmarks))
    return parser.parse_args(argv)


def test_timm_spellings_mean_the_suite_flags():
    a = _parse(["--model", "resnet18", "--checkpoint", "w.pth", "-b", "3", "-j", "1", "--results-file", "r.csv",
                "--amp"])
    assert (a.model, a.batch_size, a.num_workers, a.results, a.precision) == \
        ("file://w.pth?arch=resnet18", 3, 1, "r.csv", "fp16")
    assert _parse(["--models", "a,b", "--workers", "2", "--amp", "--amp-dtype", "bfloat16"]).precision == "bf16"
    assert _parse(["--checkpoint", "w.pth"]).model == "file://w.pth"  # timm's default architecture: ResNet-50


@pytest.mark.parametrize("argv, message", [
    (["--model", "m", "--img-size", "160"], "--img-size: use --preprocess model"),
    (["--model", "m", "--data-dir", "/x"], "--data-dir: use --imagenet DIR"),
    (["--model", "m", "--batchsize", "3"], "did you mean --batch_size"),
    (["--model", "m", "--models_per", "1"], "did you mean --models_per_pass"),  # never a prefix match
    (["--model", "m", "--amp", "--precision", "bf16"], "contradicts --precision bf16"),
    (["--model", "timm:resnet50", "--checkpoint", "w.pth"], "--checkpoint takes the timm architecture"),
    ([], "required: --model"),
])
def test_flag_errors_name_the_flag_to_use(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        _parse(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_models_is_not_an_abbreviation_in_any_entry_point():
    from biasbench.benchmarks import REGISTRY
    from biasbench.sweep.main import _parser as sweep_parser

    assert _parse(["--models", "tv_resnet50"], list(REGISTRY)).model == "tv_resnet50"
    assert sweep_parser().parse_known_args(["--model", "a,b"])[0].models == "a,b"


def test_help_lists_no_unused_reference_flags():
    parser = make_parser(["spectral"])
    text = parser.format_help()
    assert "UNUSED" not in text and "unused_" not in text
    assert _parse(["--model", "m", "--pgd", "True", "--eps", "0.1"], ["spectral"]).unused_pgd is True  # still accepted


def test_default_workers_never_exceed_the_cpus():
    import os

    assert 0 < _parse(["--model", "m"]).num_workers <= min(4, len(os.sched_getaffinity(0)))


def test_every_instead_entry_names_a_real_suite_flag():
    from biasbench.benchmarks import REGISTRY
    from biasbench.sweep.main import _parser as sweep_parser

    parser = make_parser(list(REGISTRY), require_data=False)
    known = set(parser._option_string_actions) | set(sweep_parser()._option_string_actions)
    for flag, text in flag_conventions.INSTEAD.items():
        assert flag not in known, f"{flag} is a suite flag; it needs no suggestion"
        named = re.findall(r"--[a-z][\w-]*", text)
        assert all(n in known for n in named), f"{flag}: {text} names an unknown flag"


# --------------------------------------------------------------------------- the summary


def test_missing_lpp_hpp_is_explained():
    weak = {"top1_acc/spectral/clean": 0.0, "top1_acc/spectral/LFC/0.1": 0.0}
    (why,) = missing_headline_reasons(weak)
    assert "LPP/HPP not written" in why and "top1_acc/spectral/clean is 0" in why
    assert missing_headline_reasons({**weak, "top1_acc/spectral/clean": 12.5}) == []
    assert missing_headline_reasons({"top1_acc/imagenet": 0.0}) == []


# --------------------------------------------------------------------------- the run record


@pytest.fixture(scope="module")
def one_run(tmp_path_factory):
    import timm

    from biasbench.synthetic import write_preset

    root = tmp_path_factory.mktemp("runrecord")
    data = write_preset(root / "data", "test", which=["imagenet"])["imagenet"]
    torch.manual_seed(0)
    torch.save(timm.create_model("resnet18", num_classes=1000).state_dict(), root / "mine.pth")
    argv = ["--checkpoint", str(root / "mine.pth"), "--model", "resnet18", "--imagenet", str(data),
            "--check_dataset", "false", "--device", "cpu", "-j", "0", "--no-progress", "--decoded_cache", "off",
            "--results-file", str(root / "out" / "benchmark.csv")]
    return root, argv


def test_each_run_writes_a_record_beside_the_table(one_run, capsys, monkeypatch):
    import timm

    from biasbench.cli import main
    from biasbench.results import ResultsStore
    from biasbench.results.__main__ import main as results_main

    root, argv = one_run
    monkeypatch.setattr(sys, "argv", ["eval_imagenet.py", *argv])
    assert main(["imagenet"], argv) == 0
    runs = sorted((root / "out" / "benchmark.runs").glob("*.json"))
    assert len(runs) == 1 and "run record (command" in capsys.readouterr().out
    rec = json.loads(runs[0].read_text())
    store = ResultsStore(root / "out" / "benchmark.csv")
    records = store.records()
    assert rec["command"] == [sys.executable, "eval_imagenet.py", *argv]
    assert rec["config"]["models"] == f"file://{root / 'mine.pth'}?arch=resnet18"
    assert rec["config"]["batch_size"] == 64 and rec["run_options"]["num_workers"] == 0
    assert rec["versions"]["torch"] == torch.__version__ and rec["versions"]["timm"] == timm.__version__
    assert rec["versions"]["cuda"] == torch.version.cuda and rec["device"]["device"] == "cpu"
    (src,) = rec["models"]["mine"]["sources"]
    assert src["sha256"] == hashlib.sha256((root / "mine.pth").read_bytes()).hexdigest()
    assert rec["datasets"]["benchmarks"]["imagenet"]["fingerprints"] == sorted({r.fingerprint for r in records})
    assert rec["values"] == {"mine": store.latest_values("mine")}
    assert rec["records_written"] == len(records) and rec["setups"] == ["reference"]
    assert 0 < rec["timing"]["seconds"] < 600

    # a rerun that finds everything in the log writes its own record; the first stays as it was
    first = runs[0].read_bytes()
    assert main(["imagenet"], argv) == 0
    runs = sorted((root / "out" / "benchmark.runs").glob("*.json"))
    assert len(runs) == 2 and runs[0].read_bytes() == first
    assert json.loads(runs[1].read_text())["records_written"] == 0

    capsys.readouterr()
    assert results_main(["show", "--run", "--results", str(root / "out" / "benchmark.csv")]) == 0
    shown = capsys.readouterr().out
    assert runs[1].name in shown and f"torch {torch.__version__}" in shown
    assert results_main(["show", "--run", runs[0].name, "--json", "--results",
                         str(root / "out" / "benchmark.csv")]) == 0
    assert json.loads(capsys.readouterr().out) == rec


def test_show_run_without_records_is_one_line(tmp_path, capsys):
    from biasbench.results.__main__ import main as results_main

    assert results_main(["show", "--run", "--results", str(tmp_path / "b.csv")]) == 2
    assert "no run records in" in capsys.readouterr().err


# --------------------------------------------------------------------------- a quiet analysis


def test_place_prints_no_library_warnings(tmp_path):
    import biasbench

    pd.DataFrame({"model": ["mine"], "top1_acc/imagenet": [50.0], "metric/bandpass/LPP": [0.5]}).to_csv(
        tmp_path / "m.csv", index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        analysis = biasbench.place(tmp_path / "m.csv")
    assert not [str(w.message)[:80] for w in caught]
    assert "mine" in set(analysis.ranks["model"]) if "model" in analysis.ranks else len(analysis.ranks)


# --------------------------------------------------------------------------- dependencies


def _pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (REPO / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            pkg, version = line.split("==")
            pins[pkg.lower().replace("_", "-")] = version
    return pins


def test_dependency_lists_are_split_by_use_and_within_pyproject_bounds():
    import tomllib
    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lists = {"requirements.txt": project["dependencies"],
             "requirements-test.txt": project["optional-dependencies"]["test"],
             "requirements-robustbench.txt": project["optional-dependencies"]["robustbench"]}
    for name, bounds in lists.items():
        pins = _pins(name)
        reqs = {Requirement(b).name.lower().replace("_", "-"): Requirement(b) for b in bounds}
        assert set(pins) == set(reqs), f"{name} and pyproject.toml list different packages"
        for pkg, version in pins.items():
            assert reqs[pkg].specifier.contains(version), f"{name}: {pkg}=={version} outside {reqs[pkg].specifier}"
    runtime = _pins("requirements.txt")
    assert "torchattacks" in runtime and not {"pytest", "nbclient", "ipykernel"} & set(runtime)
    assert "-r requirements.txt" in (REPO / "requirements-test.txt").read_text()
    makefile = (REPO / "Makefile").read_text()
    assert "-r requirements-test.txt" in makefile and "--no-deps -r requirements-robustbench.txt" in makefile


def test_evaluate_writes_a_run_record_naming_the_module(tmp_path):
    import biasbench
    from biasbench.synthetic import write_preset

    write_preset(tmp_path / "data", "test", which=["imagenet"])
    torch.manual_seed(0)
    tiny = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(48, 1000))
    results = tmp_path / "api" / "benchmark.csv"
    table = biasbench.evaluate(tiny, name="tiny", benchmarks=["imagenet"], data_root=tmp_path / "data",
                               mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), results=results,
                               check_dataset=False, num_workers=0, progress=False, decoded_cache="off")
    (run,) = (tmp_path / "api" / "benchmark.runs").glob("*.json")
    rec = json.loads(run.read_text())
    assert rec["models"] == {"tiny": {"source": "in-memory Sequential (biasbench.evaluate)",
                                      "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}}
    assert rec["values"]["tiny"] == dict(zip(table.column, table.value))
    assert rec["datasets"]["folders"]["imagenet"] == str(tmp_path / "data" / "imagenet")
