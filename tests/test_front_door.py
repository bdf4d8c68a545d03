"""The front door (biasbench.suite) and the declared options: the parser, the Config, the listing and
biasbench.evaluate's keywords all come from each benchmark module's OPTIONS; one request makes both the
Config and the RunOptions; one comma-list parser."""

import dataclasses
import re
from pathlib import Path

import pytest

from biasbench import suite
from biasbench.benchmarks import REGISTRY, Config, options_of
from biasbench.benchmarks.config import CORE
from biasbench.benchmarks.listing import data_folder
from biasbench.cli import make_parser, to_request
from biasbench.errors import ConfigError
from biasbench.flags import Option, comma_list
from biasbench.runner import RunOptions

CODE = Path(__file__).resolve().parents[1] / "code"


def test_every_registered_module_is_a_benchmark_module():
    from biasbench.benchmarks import BenchmarkModule

    for spec in REGISTRY.values():
        assert isinstance(spec.load(), BenchmarkModule), spec.module
        assert all(isinstance(o, Option) for o in spec.load().OPTIONS)
        assert any(spec.data_flag in o.flags for o in spec.load().OPTIONS), spec.name


def test_config_fields_are_the_core_and_every_declared_option():
    declared = options_of()
    assert [f.name for f in dataclasses.fields(Config)] == [n for n, _, _ in CORE] + [o.dest for o in declared]
    config = Config()
    for option in declared:
        assert getattr(config, option.dest) == option.default
    # the paper's protocol by default, as declared
    assert config.attacks == ("PGD",) and config.steps == 40 and len(config.corruptions) == 19


def test_the_parser_takes_exactly_the_declared_flags_of_its_benchmarks():
    for name in REGISTRY:
        parser = make_parser([name])
        flags = {s for a in parser._actions for s in a.option_strings}
        for option in options_of([name]):
            assert set(option.flags) | set(option.switches) <= flags, (name, option.dest)
    # --corruptions is ImageNet-C's; the spectral script accepts it only as a reference flag without effect
    spectral = make_parser(["spectral"]).parse_args(["--model", "m", "--corruptions", "fog"])
    assert spectral.unused_corruptions == "fog" and not hasattr(spectral, "corruptions")


def test_flags_become_the_declared_typed_values():
    parser = make_parser(list(REGISTRY), require_data=False)
    args = parser.parse_args(["--model", "m", "--corruptions", "fog, snow", "--severities", "3,1", "--fgsm",
                              "--pgd", "false", "--eps", "1/255,4/255", "--steps", "7", "--mvh-datasets", "all",
                              "--seed", "5", "--n_samples", "9"])
    request = to_request(args, list(REGISTRY), require_data=False)
    c = request.config
    assert c.corruptions == ("snow", "fog") and c.severities == (1, 3)  # canonical order
    assert c.attacks == ("FGSM",) and c.eps == pytest.approx((1 / 255, 4 / 255)) and c.steps == 7
    assert len(c.mvh_datasets) == 17
    # one source: the benchmarks' seed and subset are the records' labels
    assert (c.seed, c.n_samples) == (request.options.seed, request.options.n_samples) == (5, 9)
    with pytest.raises(ConfigError, match="--steps: expected an integer, got 'x'"):
        to_request(parser.parse_args(["--model", "m", "--steps", "x"]), list(REGISTRY), require_data=False)


def test_data_folders_come_from_the_declarations(tmp_path):
    assert data_folder("imagenet-c") == "imagenet-c" and data_folder("model-vs-human") == "model-vs-human"
    (tmp_path / "imagenet-sketch").mkdir()
    request = suite.make_request("m", ["imagenet-sketch"], {"data_root": tmp_path})
    assert request.config.imagenet_sketch == tmp_path / "imagenet-sketch" and request.config.imagenet is None
    given = suite.make_request("m", ["imagenet-sketch"], {"data_root": tmp_path, "imagenet_sketch": "/x/y"})
    assert given.config.imagenet_sketch == Path("/x/y")


def test_a_request_whose_config_and_options_disagree_is_refused():
    with pytest.raises(ConfigError, match="Config.seed = 1 but RunOptions.seed = 0"):
        suite.Request("m", ("imagenet",), Config(seed=1), RunOptions(seed=0))
    with pytest.raises(ConfigError, match="n_samples"):
        suite.Request("m", ("imagenet",), Config(n_samples=4), RunOptions())
    made = suite.make_request("m", ["adversarial"], {"seed": 3, "n_samples": 4, "fgsm": True})
    assert (made.config.seed, made.options.seed, made.config.n_samples, made.options.n_samples) == (3, 3, 4, 4)
    assert made.config.attacks == ("FGSM",)


def test_evaluate_keywords_are_the_declared_options_and_run_settings():
    from biasbench.api import _settings

    got = _settings(["adversarial", "imagenet-c"], {"batch_size": 4, "imagenet-c": "/c", "pgd": True,
                                                   "step-size": "1/255", "check_dataset": False})
    assert got == {"batch_size": 4, "imagenet_c": "/c", "pgd": True, "step_size": "1/255", "check_dataset": False}
    with pytest.raises(ConfigError, match="unknown option corruption="):
        _settings(["imagenet-c"], {"corruption": "fog"})
    with pytest.raises(ConfigError, match="unknown option results="):
        _settings(["imagenet"], {"results": "x.csv"})


def test_options_shared_by_two_modules_must_be_one_declaration(monkeypatch):
    from biasbench.benchmarks import registry

    other = Option("imagenet", ("--imagenet",), "another ImageNet")
    monkeypatch.setattr(registry.BenchmarkSpec, "options",
                        lambda self: [other] if self.name == "spectral" else list(self.load().OPTIONS))
    with pytest.raises(ConfigError, match="declares option 'imagenet' differently"):
        options_of(["imagenet", "spectral"])


@pytest.mark.parametrize("text, expected", [("a,b", ["a", "b"]), (" a , b ,", ["a", "b"]), ("", []), (None, []),
                                            (("x ", "y"), ["x", "y"]), ("a,,b", ["a", "b"])])
def test_comma_list(text, expected):
    assert comma_list(text) == expected


def test_comma_list_keeps_empty_items_for_parsers_that_name_them():
    assert comma_list("1,,3", keep_empty=True) == ["1", "", "3"]


def test_one_comma_list_parser():
    """Every comma-separated flag value is split by flags.comma_list: no other `.split(",")` in the code."""
    hits = [f"{p.relative_to(CODE)}:{i}" for p in CODE.rglob("*.py") if p.name != "flags.py"
            for i, line in enumerate(p.read_text().splitlines(), 1) if re.search(r"""\.split\((","|',')\)""", line)]
    assert hits == []


def test_benchmarks_do_not_import_the_command_line():
    bench = CODE / "biasbench" / "benchmarks"
    for p in bench.glob("*.py"):
        text = p.read_text()
        assert "..cli" not in text and "biasbench.cli" not in text, p.name
        assert "add_argument" not in text or p.name == "listing.py", p.name


def test_api_and_sweep_jobs_do_not_go_through_the_parser():
    for rel in ("api.py", "sweep/job.py"):
        text = (CODE / "biasbench" / rel).read_text()
        assert "parse_args" not in text and "_option_string_actions" not in text and "make_parser" not in text, rel
