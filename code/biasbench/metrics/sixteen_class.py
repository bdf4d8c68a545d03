"""16-class decisions of ImageNet classifiers, as in model-vs-human (Geirhos et al., ICLR 2019 and
NeurIPS 2021; docs/benchmarks.md "Bias measurements").

Softmax over the 1000 logits; per category, the MEAN probability over its
ImageNet classes; the decision is the category with the highest mean. The
category -> class-index lists are the model-vs-human toolbox's (derived from
WordNet ids: 207 indices in all, disjoint; bird 49, dog 109).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..errors import ModelError

#: ImageNet-1k class indices per category; categories in the toolbox's (alphabetical) order.
CATEGORY_INDICES: dict[str, tuple[int, ...]] = {
    "airplane": (404,),
    "bear": (294, 295, 296, 297),
    "bicycle": (444, 671),
    "bird": (8, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 22, 23, 24, 80, 81, 82, 83, 87, 88, 89, 90, 91, 92,
             93, 94, 95, 96, 98, 99, 100, 127, 128, 129, 130, 131, 132, 133, 135, 136, 137, 138, 139, 140,
             141, 142, 143, 144, 145),
    "boat": (472, 554, 625, 814, 914),
    "bottle": (440, 720, 737, 898, 899, 901, 907),
    "car": (436, 511, 817),
    "cat": (281, 282, 283, 284, 285, 286),
    "chair": (423, 559, 765, 857),
    "clock": (409, 530, 892),
    "dog": (152, 153, 154, 155, 156, 157, 158, 159, 160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171,
            172, 173, 174, 175, 176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191,
            193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 205, 206, 207, 208, 209, 210, 211, 212, 213,
            214, 215, 216, 217, 218, 219, 220, 221, 222, 223, 224, 225, 226, 228, 229, 230, 231, 232, 233, 234,
            235, 236, 237, 238, 239, 240, 241, 243, 244, 245, 246, 247, 248, 249, 250, 252, 253, 254, 255, 256,
            257, 259, 261, 262, 263, 265, 266, 267, 268),
    "elephant": (385, 386),
    "keyboard": (508, 878),
    "knife": (499,),
    "oven": (766,),
    "truck": (555, 569, 656, 675, 717, 734, 864, 867),
}
CATEGORIES: tuple[str, ...] = tuple(CATEGORY_INDICES)

_AVERAGER: dict[tuple[str, torch.dtype], tuple[Tensor, Tensor]] = {}


def _averager(device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """(the 207 class indices, a [207, 16] matrix whose product with their probabilities is the category means)."""
    key = (str(device), dtype)
    if key not in _AVERAGER:
        index, weights = [], torch.zeros(sum(map(len, CATEGORY_INDICES.values())), len(CATEGORIES), dtype=dtype)
        for c, members in enumerate(CATEGORY_INDICES.values()):
            weights[len(index):len(index) + len(members), c] = 1.0 / len(members)
            index.extend(members)
        _AVERAGER[key] = (torch.tensor(index, device=device), weights.to(device))
    return _AVERAGER[key]


def category_probabilities(logits: Tensor) -> Tensor:
    """``[B, 16]`` mean softmax probability per category (CATEGORIES order) from ``[B, 1000]`` logits."""
    if logits.ndim != 2 or logits.shape[1] != 1000:
        raise ModelError(f"16-class decisions need ImageNet-1k logits [B, 1000]; got {tuple(logits.shape)}")
    probs = torch.softmax(logits.float(), dim=1).double()
    index, weights = _averager(probs.device, probs.dtype)
    return probs.index_select(1, index) @ weights


def decisions(logits: Tensor) -> Tensor:
    """``LongTensor[B]``: per image, the index into CATEGORIES of the highest mean probability."""
    return category_probabilities(logits).argmax(dim=1)


def zero_shot_decisions(sixteen_logits: Tensor) -> Tensor:
    """``LongTensor[B]``: the VLM-native 16-class decision, the argmax of a zero-shot head whose classes are the
    16 category names themselves (``[B, 16]`` logits in CATEGORIES order; docs/models.md, "Zero-shot
    vision-language models"), beside the mapped decision (``decisions``) every classifier gets."""
    if sixteen_logits.ndim != 2 or sixteen_logits.shape[1] != len(CATEGORIES):
        raise ModelError(f"zero-shot 16-class decisions need [B, 16] logits; got {tuple(sixteen_logits.shape)}")
    return sixteen_logits.float().argmax(dim=1)


def decision_names(decided: Tensor | Sequence[int]) -> list[str]:
    """Category names of decisions (indices into CATEGORIES)."""
    return [CATEGORIES[int(i)] for i in (decided.tolist() if isinstance(decided, Tensor) else decided)]
