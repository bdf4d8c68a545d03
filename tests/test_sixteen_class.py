"""16-class mapping: the index lists against the toolbox's WordNet ids, and decisions on hand-made logits."""

import numpy as np
import pytest
import torch

from biasbench.data.synsets import imagenet_wnids
from biasbench.errors import ModelError
from biasbench.metrics.sixteen_class import (
    CATEGORIES,
    CATEGORY_INDICES,
    category_probabilities,
    decision_names,
    decisions,
)

# The model-vs-human toolbox's WordNet ids per category (helper/human_categories.py, HumanCategories);
# some are not ImageNet-1k classes. Its index lists are these ids' positions in the 1k synset order.
TOOLBOX_WNIDS = {
    "knife": ["n03041632"],
    "keyboard": ["n03085013", "n04505470"],
    "elephant": ["n02504013", "n02504458"],
    "bicycle": ["n02835271", "n03792782"],
    "airplane": ["n02690373", "n03955296", "n13861050", "n13941806"],
    "clock": ["n02708093", "n03196217", "n04548280"],
    "oven": ["n03259401", "n04111414", "n04111531"],
    "chair": ["n02791124", "n03376595", "n04099969", "n00605023", "n04429376"],
    "bear": ["n02132136", "n02133161", "n02134084", "n02134418"],
    "boat": ["n02951358", "n03344393", "n03662601", "n04273569", "n04612373", "n04612504"],
    "cat": ["n02122878", "n02123045", "n02123159", "n02126465", "n02123394", "n02123597", "n02124075",
            "n02125311"],
    "bottle": ["n02823428", "n03937543", "n03983396", "n04557648", "n04560804", "n04579145", "n04591713"],
    "truck": ["n03345487", "n03417042", "n03770679", "n03796401", "n00319176", "n01016201", "n03930630",
              "n03930777", "n05061003", "n06547832", "n10432053", "n03977966", "n04461696", "n04467665"],
    "car": ["n02814533", "n03100240", "n03100346", "n13419325", "n04285008"],
    "bird": ["n01321123", "n01514859", "n01792640", "n07646067", "n01530575", "n01531178", "n01532829",
             "n01534433", "n01537544", "n01558993", "n01562265", "n01560419", "n01582220", "n10281276",
             "n01592084", "n01601694", "n01614925", "n01616318", "n01622779", "n01795545", "n01796340",
             "n01797886", "n01798484", "n01817953", "n01818515", "n01819313", "n01820546", "n01824575",
             "n01828970", "n01829413", "n01833805", "n01843065", "n01843383", "n01855032", "n01855672",
             "n07646821", "n01860187", "n02002556", "n02002724", "n02006656", "n02007558", "n02009229",
             "n02009912", "n02011460", "n02013706", "n02017213", "n02018207", "n02018795", "n02025239",
             "n02027492", "n02028035", "n02033041", "n02037110", "n02051845", "n02056570"],
    "dog": ["n02085782", "n02085936", "n02086079", "n02086240", "n02086646", "n02086910", "n02087046", "n02087394",
            "n02088094", "n02088238", "n02088364", "n02088466", "n02088632", "n02089078", "n02089867", "n02089973",
            "n02090379", "n02090622", "n02090721", "n02091032", "n02091134", "n02091244", "n02091467", "n02091635",
            "n02091831", "n02092002", "n02092339", "n02093256", "n02093428", "n02093647", "n02093754", "n02093859",
            "n02093991", "n02094114", "n02094258", "n02094433", "n02095314", "n02095570", "n02095889", "n02096051",
            "n02096294", "n02096437", "n02096585", "n02097047", "n02097130", "n02097209", "n02097298", "n02097474",
            "n02097658", "n02098105", "n02098286", "n02099267", "n02099429", "n02099601", "n02099712", "n02099849",
            "n02100236", "n02100583", "n02100735", "n02100877", "n02101006", "n02101388", "n02101556", "n02102040",
            "n02102177", "n02102318", "n02102480", "n02102973", "n02104029", "n02104365", "n02105056", "n02105162",
            "n02105251", "n02105505", "n02105641", "n02105855", "n02106030", "n02106166", "n02106382", "n02106550",
            "n02106662", "n02107142", "n02107312", "n02107574", "n02107683", "n02107908", "n02108000", "n02108422",
            "n02108551", "n02108915", "n02109047", "n02109525", "n02109961", "n02110063", "n02110185", "n02110627",
            "n02110806", "n02110958", "n02111129", "n02111277", "n08825211", "n02111500", "n02112018", "n02112350",
            "n02112706", "n02113023", "n02113624", "n02113712", "n02113799", "n02113978"],
}


def test_counts_order_and_disjointness():
    assert CATEGORIES == ("airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat", "chair",
                          "clock", "dog", "elephant", "keyboard", "knife", "oven", "truck")
    sizes = {c: len(v) for c, v in CATEGORY_INDICES.items()}
    assert sum(sizes.values()) == 207 and sizes["bird"] == 49 and sizes["dog"] == 109
    everything = [i for v in CATEGORY_INDICES.values() for i in v]
    assert len(set(everything)) == 207 and all(0 <= i < 1000 for i in everything)
    assert all(list(v) == sorted(v) for v in CATEGORY_INDICES.values())


def test_indices_follow_from_the_toolbox_wordnet_ids():
    wnids = imagenet_wnids()
    for category, ids in TOOLBOX_WNIDS.items():
        derived = tuple(i for i, w in enumerate(wnids) if w in ids)
        assert derived == CATEGORY_INDICES[category], category
    assert set(TOOLBOX_WNIDS) == set(CATEGORIES)


def test_mean_not_sum_not_max():
    logits = torch.zeros(1, 1000)
    logits[0, 152] = 5.0   # one dog class is the top-1 of all 1000 ...
    logits[0, 499] = 2.0   # ... but knife's single class beats the mean over 109 dog classes
    assert decisions(logits).tolist() == [CATEGORIES.index("knife")]
    p = torch.softmax(logits[0].double(), 0)
    probs = category_probabilities(logits)[0]
    assert probs[CATEGORIES.index("dog")].item() == pytest.approx(p[list(CATEGORY_INDICES["dog"])].mean().item())
    assert probs[CATEGORIES.index("knife")].item() == pytest.approx(p[499].item())


def test_decisions_against_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (64, 1000))
    logits[:16, [CATEGORY_INDICES[c][0] for c in CATEGORIES]] += 20 * np.eye(16)  # image k -> category k
    e = np.exp(logits - logits.max(1, keepdims=True))
    p = e / e.sum(1, keepdims=True)
    means = np.stack([p[:, list(CATEGORY_INDICES[c])].mean(1) for c in CATEGORIES], 1)
    got = category_probabilities(torch.from_numpy(logits).float())
    np.testing.assert_allclose(got.numpy(), means, rtol=1e-5, atol=1e-12)
    dec = decisions(torch.from_numpy(logits).float())
    assert dec.dtype == torch.int64
    np.testing.assert_array_equal(dec.numpy(), means.argmax(1))
    assert decision_names(dec[:16]) == list(CATEGORIES)
    assert decision_names([3, 10]) == ["bird", "dog"]


@pytest.mark.parametrize("shape", [(2, 999), (1000,), (2, 1000, 1)])
def test_wrong_logit_shape_raises_model_error(shape):
    with pytest.raises(ModelError):
        decisions(torch.zeros(shape))
