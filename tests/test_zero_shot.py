"""Zero-shot image-text models (docs/models.md, "Zero-shot vision-language models"), offline: open_clip builds a
tiny real CLIP architecture with random weights (its BPE tokenizer ships with the package), served from a
Hugging Face cache in the hub layout under HF_HUB_OFFLINE. SigLIP's own tokenizer needs a hub download (and the
transformers package), so its head arithmetic (the logit bias) is tested with open_clip's BPE tokenizer standing in.
"""

import json
import math
import re

import huggingface_hub
import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from open_clip.pretrained import _PRETRAINED, _pcfg
from safetensors.torch import save_file

from biasbench.errors import ConfigError, ModelError
from biasbench.metrics.accuracy import TopK
from biasbench.metrics.sixteen_class import CATEGORIES
from biasbench.zoo import load_model, resolve_models
from biasbench.zoo import open_clip_models as ocm
from biasbench.zoo import zero_shot as zs

TINY = "tiny-clip-test"
TINY_CFG = {"embed_dim": 16,
            "vision_cfg": {"image_size": 224, "layers": 1, "width": 32, "patch_size": 32, "head_width": 16},
            "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
SHA = "0123456789abcdef0123456789abcdef01234567"
X = torch.rand(3, 3, 224, 224, generator=torch.Generator().manual_seed(1))


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_arch(tmp_path_factory):
    """The tiny architecture registered with open_clip (a config file, as open_clip's own), with a pretrained tag
    ``test`` whose weights live in the hub repo ``someone/tiny-clip``."""
    path = tmp_path_factory.mktemp("cfg") / f"{TINY}.json"
    path.write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(path)
    _PRETRAINED[TINY] = {"test": _pcfg(hf_hub="someone/tiny-clip/", quick_gelu=False)}
    yield TINY
    _PRETRAINED.pop(TINY, None)


def _tiny(seed=0, **kw):
    torch.manual_seed(seed)
    model = open_clip.create_model(TINY, load_weights=False, pretrained_text=False, **kw).eval()
    with torch.no_grad():
        model.logit_scale.fill_(math.log(30.0))
    return model


def _hub(root, repo, filename, content):
    folder = root / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(SHA)
    snap = folder / "snapshots" / SHA
    snap.mkdir(parents=True, exist_ok=True)
    if isinstance(content, dict):
        save_file({k: v.contiguous() for k, v in content.items()}, str(snap / filename))
    else:
        (snap / filename).write_text(content)


@pytest.fixture
def served(tiny_arch, tmp_path, monkeypatch):
    """A random tiny CLIP's weights in the hub cache as ``someone/tiny-clip`` (tag and hf-hub repo alike)."""
    model = _tiny(seed=3)
    _hub(tmp_path / "hf", "someone/tiny-clip", "open_clip_model.safetensors", model.state_dict())
    _hub(tmp_path / "hf", "someone/tiny-clip", "open_clip_config.json",
         json.dumps({"model_cfg": TINY_CFG, "preprocess_cfg": {"mean": [0.4, 0.45, 0.5], "std": [0.2, 0.25, 0.3],
                                                               "interpolation": "bicubic", "resize_mode": "squash"}}))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.delenv("BIASBENCH_OFFLINE")  # the suite's cache is filled from the (offline) hub cache
    ocm.open_clip_entry.cache_clear(), ocm.hub_config.cache_clear(), ocm.tokenizer_for.cache_clear()
    yield model
    ocm.open_clip_entry.cache_clear(), ocm.hub_config.cache_clear(), ocm.tokenizer_for.cache_clear()


def _templates(tmp_path, *lines, name="two.txt"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _independent_head(model, tokenizer, classnames, templates):
    """Each prompt encoded alone, normalised; per class the mean, normalised."""
    rows = []
    with torch.no_grad():
        for c in classnames:
            embs = [F.normalize(model.encode_text(tokenizer([t.format(c)])), dim=-1)[0] for t in templates]
            rows.append(F.normalize(torch.stack(embs).mean(0), dim=0))
    return torch.stack(rows)


def test_head_equals_an_independent_computation_and_open_clips_own(tiny_arch, tmp_path):
    model, tok = _tiny(), open_clip.get_tokenizer(TINY)
    prompts = zs.prompt_set(_templates(tmp_path, "a photo of a {}.", "a drawing of the {}!", "itap of a {}."))
    head = zs.class_embeddings(model, tok, prompts)
    assert head.shape == (1000, 16)
    picked = [0, 1, 2, 417, 999]
    want = _independent_head(model, tok, [prompts.classnames[i] for i in picked], prompts.templates)
    assert torch.allclose(head[picked], want, atol=1e-5)
    peer = open_clip.build_zero_shot_classifier(model, tok, prompts.classnames, prompts.templates)  # [dim, classes]
    assert torch.allclose(head, peer.T, atol=1e-5)
    assert prompts.classnames == tuple(open_clip.IMAGENET_CLASSNAMES)

    # logits = logit_scale.exp() x normalised image features @ class embeddings, through the [0,1] wrapper
    wrapped = ocm.zero_shot_model(model, tok, (0.4, 0.45, 0.5), (0.2, 0.25, 0.3), name="tiny", prompts=prompts)
    mean, std = torch.tensor([0.4, 0.45, 0.5]).view(1, 3, 1, 1), torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    with torch.no_grad():
        f = F.normalize(model.encode_image((X - mean) / std), dim=-1)
        assert torch.allclose(wrapped(X), 30.0 * f @ head.T, atol=1e-4)


def test_the_openai_templates_are_open_clips_80():
    templates = zs.prompt_set("openai").templates
    assert len(templates) == 80 == len(open_clip.OPENAI_IMAGENET_TEMPLATES)
    assert [t.format("fox") for t in templates] == [t("fox") for t in open_clip.OPENAI_IMAGENET_TEMPLATES]
    assert zs.prompt_set("openai").label is None and zs.prompt_set("simple").label == "simple"
    assert zs.prompt_set("simple").templates == ("a photo of a {}.",)


def test_siglip_head_adds_the_logit_bias(tiny_arch):
    # SigLIP models carry a logit bias (init_logit_bias builds one); its tokenizer is a hub download, so open_clip's
    # BPE tokenizer stands in: the arithmetic under test is the head's, not the tokenizer's.
    model, tok = _tiny(init_logit_bias=-10.0), open_clip.get_tokenizer(TINY)
    with torch.no_grad():
        model.logit_bias.fill_(-2.5)
    prompts = zs.prompt_set("simple")
    wrapped = ocm.zero_shot_model(model, tok, (0.5,) * 3, (0.5,) * 3, name="siglip-like", prompts=prompts)
    head = _independent_head(model, tok, [prompts.classnames[i] for i in (3, 500)], prompts.templates)
    with torch.no_grad():
        f = F.normalize(model.encode_image((X - 0.5) / 0.5), dim=-1)
        assert torch.allclose(wrapped(X)[:, [3, 500]], 30.0 * f @ head.T - 2.5, atol=1e-4)


def test_a_cached_head_is_read_not_recomputed(tiny_arch, tmp_path):
    model, tok = _tiny(), open_clip.get_tokenizer(TINY)
    calls = []
    encode = model.encode_text
    model.encode_text = lambda t, **kw: calls.append(len(t)) or encode(t, **kw)
    prompts = zs.prompt_set("simple")
    first = ocm.zero_shot_model(model, tok, (0.5,) * 3, (0.5,) * 3, name="m", prompts=prompts, cache_dir=tmp_path)
    assert sum(calls) == 1000 + 16  # the 1000 classes and the 16 categories, once each
    calls.clear()
    again = ocm.zero_shot_model(model, tok, (0.5,) * 3, (0.5,) * 3, name="m", prompts=prompts, cache_dir=tmp_path)
    assert calls == [] and torch.equal(first.model.class_emb, again.model.class_emb)
    other = zs.prompt_set(_templates(tmp_path, "art of the {}."))
    ocm.zero_shot_model(model, tok, (0.5,) * 3, (0.5,) * 3, name="m", prompts=other, cache_dir=tmp_path)
    assert sum(calls) == 1016  # another prompt set has its own head
    calls.clear()
    with torch.no_grad():
        model.logit_scale.fill_(1.0)  # other text-side weights: another head too
    ocm.zero_shot_model(model, tok, (0.5,) * 3, (0.5,) * 3, name="m", prompts=prompts, cache_dir=tmp_path)
    assert sum(calls) == 1016


def test_restricting_to_a_subset_equals_a_head_of_those_classes(tiny_arch):
    # ImageNet-A/R restrict the 1000 logits to their 200 classes: the same decision as a zero-shot head built
    # from those 200 class names alone
    from biasbench.data.synsets import subset_indices

    model, tok = _tiny(seed=1), open_clip.get_tokenizer(TINY)
    prompts = zs.prompt_set("simple")
    classes = subset_indices("r")
    wrapped = ocm.zero_shot_model(model, tok, (0.5,) * 3, (0.5,) * 3, name="m", prompts=prompts)
    x = torch.rand(8, 3, 224, 224, generator=torch.Generator().manual_seed(4))
    sub_head = open_clip.build_zero_shot_classifier(model, tok, [prompts.classnames[i] for i in classes],
                                                   prompts.templates)
    with torch.no_grad():
        own = (F.normalize(model.encode_image((x - 0.5) / 0.5), dim=-1) @ sub_head).argmax(1)
        logits = wrapped(x)
    want = torch.as_tensor(classes)[own]
    labels = want.clone()
    labels[::2] = (labels[::2] + 1) % 1000  # half of them wrong
    acc = TopK(classes)
    acc.update(logits, labels, torch.arange(8), torch.ones(8, dtype=torch.bool))
    assert acc.result()["top1"] == pytest.approx(50.0)


def test_open_clip_tag_loads_from_the_hub_cache_offline(served):
    names = resolve_models(f"open_clip:{TINY}/test")
    assert names == [f"open_clip:{TINY}/test"]
    prompts = zs.prompt_set("simple")  # OpenAI's 80 templates would encode 80,000 prompts: slow for a test
    model = load_model(names[0], prompts=prompts)
    tok = open_clip.get_tokenizer(TINY)
    head = zs.class_embeddings(served, tok, prompts)
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        f = F.normalize(served.encode_image((X - mean) / std), dim=-1)
        assert torch.allclose(model(X), 30.0 * f @ head.T, atol=1e-4)
    config = ocm.input_config(ocm.open_clip_entry(names[0]))  # open_clip's own transform for --preprocess model
    assert (config.size, config.interpolation, config.crop_pct, config.crop_mode) == ((224, 224), "bicubic", 1.0,
                                                                                      "center")


def test_open_clip_hf_hub_repo_loads_like_open_clip_itself(served):
    name = "open_clip:hf-hub:someone/tiny-clip"
    assert resolve_models(name) == [name]
    ours = load_model(name, prompts=zs.prompt_set("simple"))
    peer = open_clip.create_model("hf-hub:someone/tiny-clip").eval()  # open_clip reads the same hub cache
    head = zs.class_embeddings(peer, open_clip.get_tokenizer(TINY), zs.prompt_set("simple"))
    mean, std = torch.tensor([0.4, 0.45, 0.5]).view(1, 3, 1, 1), torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    with torch.no_grad():
        f = F.normalize(peer.encode_image((X - mean) / std), dim=-1)
        assert torch.allclose(ours(X), peer.logit_scale.exp() * f @ head.T, atol=1e-4)
    config = ocm.input_config(ocm.open_clip_entry(name))
    assert (config.crop_mode, config.interpolation) == ("squash", "bicubic")


@pytest.mark.parametrize("spec, expected", [
    ("open_clip:ViT-B-32/laion2b_s34b_b79", r"ViT-B-32 has no pretrained tag 'laion2b_s34b_b79' \(did you mean "
                                             r"laion2b_s34b_b79k"),
    ("open_clip:ViT-B-32x/openai", r"'ViT-B-32x' is not an open_clip architecture \(did you mean ViT-B-32"),
    ("open_clip:ViT-B-32", "expected open_clip:<ARCH>/<PRETRAINED>"),
    ("open_clip:hf-hub:just-one-part", "expected open_clip:hf-hub:<org>/<repo>"),
])
def test_unknown_names_get_close_matches(spec, expected):
    with pytest.raises(ModelError, match=expected):
        resolve_models(spec)


def test_a_hub_tokenizer_offline_stops_at_resolve_naming_the_model(monkeypatch):
    # SigLIP's tokenizer is a Hugging Face tokenizer: without transformers (or offline without the files) the name
    # stops when resolved, before any data is read
    import importlib.util

    real_find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "transformers" else real_find(n, *a))
    ocm.open_clip_entry.cache_clear(), ocm.tokenizer_for.cache_clear()
    with pytest.raises(ModelError, match=r"open_clip:ViT-B-16-SigLIP/webli: its tokenizer .* pip install transformers"):
        resolve_models("open_clip:ViT-B-16-SigLIP/webli")
    ocm.open_clip_entry.cache_clear(), ocm.tokenizer_for.cache_clear()


def test_bad_prompt_and_classname_files(tmp_path):
    with pytest.raises(ConfigError, match=r"--prompts .*none.txt: no templates in it"):
        zs.prompt_set(_templates(tmp_path, "", "  ", name="none.txt"))
    with pytest.raises(ConfigError, match=r"--prompts .*nobrace.txt: template 2 'a photo' needs exactly one '\{\}'"):
        zs.prompt_set(_templates(tmp_path, "a {}", "a photo", name="nobrace.txt"))
    with pytest.raises(ConfigError, match=r"--prompts missing.txt: expected openai, simple or a file"):
        zs.prompt_set("missing.txt")
    short = _templates(tmp_path, *[f"class {i}" for i in range(999)], name="names.txt")
    with pytest.raises(ConfigError, match=r"--classnames .*names.txt: 999 non-empty lines; expected 1000"):
        zs.prompt_set("simple", short)
    full = _templates(tmp_path, *[f"class {i}" for i in range(1000)], name="names.txt")
    ps = zs.prompt_set("simple", full)
    assert ps.classnames[7] == "class 7" and ps.label.startswith("simple.names-")
    assert zs.prompt_set(_templates(tmp_path, "art of the {}.", name="my prompts.txt")).label.startswith("my_prompts-")


# --- through the runner: two prompt sets, two rows; the 16-way decision ---------------------------------------

class FakeCLIP(torch.nn.Module):
    """open_clip's interface with answers chosen per image: a stand-in tokenizer gives each of the 16 category
    names its own token; the image of pixel key k embeds as the category chosen for it, so its zero-shot 16-way
    decision is that category."""

    def __init__(self, answers: dict[str, int]):
        super().__init__()
        self.answers = answers
        g = torch.Generator().manual_seed(0)
        self.table = torch.nn.Parameter(torch.cat([torch.eye(32)[:16], torch.randn(2000, 32, generator=g)]),
                                        requires_grad=False)
        self.logit_scale = torch.nn.Parameter(torch.tensor(math.log(10.0)))

    def encode_text(self, tokens, normalize=False):
        return self.table[tokens]

    def encode_image(self, x, normalize=False):
        from helpers import pixel_keys

        out = torch.zeros(len(x), 32)
        for i, key in enumerate(pixel_keys(x * 0.5 + 0.5)):  # undo the wrapper's (x - 0.5) / 0.5
            out[i, self.answers.get(key, 0)] = 1.0
        return out


def fake_tokenizer(texts):
    """Token 0..15: 'a photo of a <category>.'; any other text 16 + a stable number."""
    import zlib

    names = {f"a photo of a {c}.": i for i, c in enumerate(CATEGORIES)}
    return torch.tensor([names.get(t, 16 + zlib.crc32(t.encode()) % 2000) for t in texts])


def test_zero_shot_16_way_decision_and_shape_bias(tmp_path):
    from biasbench.benchmarks.model_vs_human import ModelVsHuman
    from biasbench.data.model_vs_human import read_dataset
    from biasbench.results import ResultsStore
    from biasbench.runner import RunOptions, run
    from biasbench.synthetic import write_datasets

    from helpers import file_key

    root = write_datasets(tmp_path / "mvh", which="cue-conflict", mvh_per_category=1)["cue-conflict"]
    answers, s_hits, t_hits, correct, n = {}, 0, 0, 0, 0
    for k, path in enumerate(sorted(root.rglob("*.png"))):
        shape, texture = re.fullmatch(r"([a-z]+)\d+-([a-z]+)\d+\.png", path.name).groups()
        answer = (shape, texture, CATEGORIES[(CATEGORIES.index(shape) + 3) % 16])[k % 3]
        answers[file_key(path)] = CATEGORIES.index(answer)
        n += 1
        correct += answer == shape
        if shape != texture:
            s_hits += answer == shape
            t_hits += answer == texture
    assert s_hits and t_hits
    wrapped = ocm.zero_shot_model(FakeCLIP(answers), fake_tokenizer, (0.5,) * 3, (0.5,) * 3, name="fake",
                                  prompts=zs.prompt_set("simple"), cache_dir=tmp_path / "cache")
    bench = ModelVsHuman({"cue-conflict": read_dataset(root, "cue-conflict", check=False)})
    out = run([bench], ["fake"], ResultsStore(tmp_path / "b.csv"),
              RunOptions(device="cpu", num_workers=0, progress=False, prompts="simple"),
              load=lambda _n, _d: wrapped, input_config=lambda _n: None)["fake"]
    assert out["shape-bias/zeroshot16"] == pytest.approx(s_hits / (s_hits + t_hits))
    assert out["top1_acc/cue-conflict/zeroshot16"] == pytest.approx(100 * correct / n)
    assert "shape-bias" in out  # the mapped decision beside it


def test_two_prompt_sets_give_two_labelled_rows(served, tmp_path, val, capsys):
    from biasbench.benchmarks.imagenet import ImageNetClean
    from biasbench.results import ResultsStore
    from biasbench.runner import RunOptions, run

    name = f"open_clip:{TINY}/test"
    store = ResultsStore(tmp_path / "benchmark.csv")
    files = _templates(tmp_path, "art of the {}.", "a {} in the wild.", name="wild.txt")
    for prompts, loaded in (("simple", [name]), (files, [name]), ("simple", [])):  # a rerun has nothing to do
        ps = zs.prompt_set(prompts)
        loads = []
        run([ImageNetClean(val)], [name], store, RunOptions(device="cpu", num_workers=0, progress=False,
                                                           prompts=ps.label),
            load=lambda n, d, ps=ps: loads.append(n) or load_model(n, d, prompts=ps))
        assert loads == loaded
    import pandas as pd

    table = pd.read_csv(tmp_path / "benchmark.csv").set_index("model")
    label = zs.prompt_set(files).label
    assert set(table.index) == {f"{name}@prompts=simple", f"{name}@prompts={label}"}
    assert {r.prompts for r in store.records()} == {"simple", label}


# --- analysis: a family of their own ------------------------------------------------------------------------

def test_zero_shot_models_are_a_family_with_their_own_correlations(tmp_path):
    from biasbench.analysis import analyze, check_table, load_results, summary_markdown
    from biasbench.analysis.correlations import spearman
    from test_analysis import my_model, synthetic_table

    base = analyze(check_table(synthetic_table()))
    zs_rows = {f"open_clip:M{i}/t": my_model(**{"shape-bias": 0.2 + 0.1 * i, "top1_acc/imagenet": 60 + 5 * i})
               for i in range(4)}
    zs_rows["open_clip:M0/t@prompts=simple"] = my_model(**{"shape-bias": 0.9, "top1_acc/imagenet": 50.0})
    path = tmp_path / "benchmark.csv"
    synthetic_table(zs_rows).to_csv(path, index=False)
    table, provenance, _ = load_results(path)  # the prompt-set row is kept beside the default one
    a = analyze(table, provenance)
    assert "open_clip:M0/t@prompts=simple" in a.analysed
    assert set(a.metrics.values.loc[list(zs_rows), "category"]) == {"zero_shot_vlm"}
    s = a.correlations.set_index(["group", "bias", "aggregate"])
    ids = [a.metrics.values.at[m, "ID"] for m in zs_rows]
    rho = spearman([r["shape-bias"] for r in zs_rows.values()], ids)[0]
    assert s.loc[("zero_shot_vlm", "shape-bias", "ID"), "rho"] == pytest.approx(rho)
    assert s.loc[("zero_shot_vlm", "shape-bias", "ID"), "n"] == 5
    assert s.loc[("paper48+zero_shot_vlm", "shape-bias", "ID"), "n"] == 53
    # the paper's groups are untouched by them
    pd_base = base.correlations.set_index(["group", "bias", "aggregate"])
    assert s.loc[("all", "shape-bias", "ID"), "rho"] == pytest.approx(pd_base.loc[("all", "shape-bias", "ID"), "rho"])
    assert "### zero_shot_vlm (n = " in summary_markdown(a)


# --- front doors: biasbench.evaluate with a tokenizer; the command line's one-line errors ---------------------

def test_evaluate_takes_an_open_clip_model_with_its_tokenizer(tiny_arch, tmp_path):
    import biasbench

    from helpers import write_val_tree

    root = write_val_tree(tmp_path / "imagenet", [0, 1, 2, 999], per_class=1)
    model, tok = _tiny(seed=2), open_clip.get_tokenizer(TINY)
    common = dict(name="my_clip", benchmarks=["imagenet"], mean=(0.5,) * 3, std=(0.5,) * 3,
                  results=tmp_path / "b.csv", imagenet=str(root), check_dataset=False, device="cpu",
                  num_workers=0, progress=False, cache_dir=str(tmp_path / "cache"))
    table = biasbench.evaluate(model, tokenizer=tok, prompts="simple", **common)
    assert set(table["setup"]) == {"prompts=simple"}
    head = zs.class_embeddings(model, tok, zs.prompt_set("simple"))
    from biasbench.data.imagenet import imagenet_val

    from helpers import paper_batch

    images = imagenet_val(root, check=False)
    with torch.no_grad():
        f = F.normalize(model.encode_image((paper_batch(images) - 0.5) / 0.5), dim=-1)
        pred = (f @ head.T).argmax(1)
    want = 100.0 * float((pred == torch.as_tensor(images.labels)).float().mean())
    got = table.set_index("column").at["top1_acc/imagenet", "value"]
    assert got == pytest.approx(want)
    with pytest.raises(ConfigError, match="not one: run it in a command of its own"):
        biasbench.evaluate(torch.nn.Linear(3, 1000), prompts="simple", **common)


def test_command_line_stops_before_any_data_naming_the_flag(tiny_arch, tmp_path, capsys):
    from biasbench.cli import main

    missing = str(tmp_path / "no-data")
    assert main(["imagenet"], ["--model", "tv_resnet50", "--prompts", "simple", "--imagenet", missing]) == 2
    assert "tv_resnet50 is not one" in capsys.readouterr().err
    empty = _templates(tmp_path, "", name="empty.txt")
    assert main(["imagenet"], ["--model", f"open_clip:{TINY}/test", "--prompts", str(empty), "--imagenet",
                               missing]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "empty.txt: no templates in it" in err[0]


def test_a_tower_of_another_size_needs_preprocess_model(tiny_arch, tmp_path):
    cfg = json.loads(json.dumps(TINY_CFG))
    cfg["vision_cfg"]["image_size"] = 64
    path = tmp_path / "tiny-clip-64.json"
    path.write_text(json.dumps(cfg))
    open_clip.add_model_config(path)
    _PRETRAINED["tiny-clip-64"] = {"test": _pcfg(hf_hub="someone/tiny-clip-64/")}
    try:
        with pytest.raises(ModelError, match=r"open_clip:tiny-clip-64/test: its image tower takes 64x64 inputs only.*"
                                             r"--preprocess model"):
            ocm.check_input_size(["tv_resnet50", "open_clip:tiny-clip-64/test"], "paper")
        ocm.check_input_size(["open_clip:tiny-clip-64/test"], "model")
        ocm.check_input_size([f"open_clip:{TINY}/test"], "paper")
    finally:
        _PRETRAINED.pop("tiny-clip-64", None)


@pytest.mark.parametrize("resize_mode", ["shortest", "squash"])
def test_preprocess_model_makes_open_clips_own_pixels(resize_mode):
    # --preprocess model feeds open_clip's eval transform: the same pixels as open_clip.image_transform
    from PIL import Image
    from torchvision.transforms import functional as TF

    from biasbench.data.imagelist import RESIZE_CROP
    from biasbench.data.model_input import _steps
    from biasbench.zoo.registry import ModelEntry, Source

    entry = ModelEntry("open_clip:ViT-B-32/x", "zero_shot_vlm", "open_clip:ViT-B-32", (Source("url", "http://x"),),
                       lambda sd: sd, (0.5,) * 3, (0.5,) * 3, "test",
                       arch_kwargs={"preprocess": {"interpolation": "bicubic", "resize_mode": resize_mode}})
    mi = ocm.input_config(entry)
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 410, 3), dtype=np.uint8))
    ours = img
    for step in _steps(RESIZE_CROP, mi):
        ours = step(ours)
    theirs = open_clip.image_transform(224, is_train=False, mean=(0, 0, 0), std=(1, 1, 1), resize_mode=resize_mode)
    assert torch.equal(TF.pil_to_tensor(ours).float() / 255, theirs(img))


def test_biasbench_models_lists_open_clips_tags_and_their_cache_state(tmp_path):
    from biasbench.command import models_table
    from biasbench.zoo import download

    rows = {name: (cat, state) for name, cat, state in models_table("zero_shot_vlm", tmp_path)}
    assert len(rows) == len(open_clip.list_pretrained()) - sum(
        not (c.get("hf_hub") or c.get("url")) for c in (open_clip.get_pretrained_cfg(*t) for t in open_clip.list_pretrained()))
    assert rows["open_clip:ViT-B-32/laion2b_s34b_b79k"] == ("zero_shot_vlm", "no")
    files = dict(ocm.listing())["open_clip:ViT-B-32/laion2b_s34b_b79k"]
    path = download.cache_root(tmp_path) / download.relpath(files[0])
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x")
    assert dict((n, s) for n, _, s in models_table("zero_shot_vlm", tmp_path))["open_clip:ViT-B-32/laion2b_s34b_b79k"] == "yes"
    assert files[0].filename == "open_clip_model.safetensors"  # the file open_clip prefers comes first
