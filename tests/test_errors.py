"""The one "did you mean" hint of every unknown-name message."""

import difflib

from biasbench.errors import did_you_mean


def test_did_you_mean_names_the_close_choices_in_difflib_order():
    choices = ["resnet50", "resnet18", "resnet101", "vit_base_patch16_224"]
    assert did_you_mean("resnet5O", choices) == " (did you mean resnet50, resnet18, resnet101?)"
    assert did_you_mean("resnet5O", choices, n=1) == " (did you mean resnet50?)"
    assert difflib.get_close_matches("resnet5O", choices, n=3) == ["resnet50", "resnet18", "resnet101"]
    assert did_you_mean("nothing_alike", choices) == ""
    assert did_you_mean("resnet5O", (c for c in choices), cutoff=0.99) == ""  # any iterable of choices
