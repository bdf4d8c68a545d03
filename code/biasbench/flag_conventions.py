"""The field's flag spellings: timm ``validate.py``'s names for the suite's flags, and the suite flag to
use for the timm flags whose meaning differs (docs/running.md, "Flags from timm").

A spelling is accepted only where it means the same thing here; every other known timm flag is refused
with the suite flag that does the job. The suite's own parsers never match flag prefixes
(``allow_abbrev=False``): ``--models`` is a flag of its own, not an abbreviation of ``--models_per_pass``.
"""

from __future__ import annotations

import argparse
import difflib
import re

# Extra option strings of a suite flag: the same meaning under timm's (or a plural) spelling.
SPELLINGS: dict[str, tuple[str, ...]] = {
    "--model": ("--models",),
    "--batch_size": ("-b",),
    "--num_workers": ("--workers", "-j"),
    "--results": ("--results-file", "--results_file"),
}

# timm's --amp is autocast with --amp-dtype, float16 unless told otherwise; the suite's --precision names.
AMP_DTYPES = {"float16": "fp16", "bfloat16": "bf16"}

# timm validate.py flags with another meaning (or none) here: what to use instead.
INSTEAD: dict[str, str] = {
    "--data-dir": "--imagenet DIR (or --data-root DIR for every dataset)",
    "--data": "--imagenet DIR (or --data-root DIR for every dataset)",
    "--dataset": "--imagenet DIR; each benchmark has its own dataset flag (see --help)",
    "--split": "--imagenet DIR (the folder holding val/)",
    "--img-size": "--preprocess model (each model's own input size; the paper feeds 224x224)",
    "--input-size": "--preprocess model (each model's own input size; the paper feeds 224x224)",
    "--crop-pct": "--preprocess model (each model's own crop; the paper's is Resize(256)/CenterCrop(224))",
    "--interpolation": "--preprocess model (each model's own interpolation; the paper's is bilinear)",
    "--mean": "file://PATH?mean=R,G,B&std=R,G,B (a model's normalisation belongs to the model)",
    "--std": "file://PATH?mean=R,G,B&std=R,G,B (a model's normalisation belongs to the model)",
    "--num-classes": "nothing: every benchmark scores the 1000 ImageNet-1k classes",
    "--model-dtype": "--precision fp32|tf32|bf16|fp16",
    "--amp-impl": "--amp (native torch autocast) or --precision",
    "--torchscript": "--compile (torch.compile)",
    "--torchcompile": "--compile (torch.compile)",
    "--num-gpu": "--device cuda:N for one GPU; several GPUs: python code/sweep.py --executor local",
    "--log-freq": "nothing: progress bars show throughput (--no-progress hides them)",
    "--valid-labels": "--n_samples N for a class-balanced subset",
    "--class-map": "nothing: class folders are ImageNet WordNet ids",
    "--pin-mem": "nothing: batches are pinned when the device is a GPU",
    "--no-prefetcher": "nothing: the suite has no prefetcher to turn off",
    "--tf-preprocessing": "--preprocess model",
    "--use-train-size": "--preprocess model",
    "--test-pool": "nothing: models run as built",
    "--fuser": "--compile",
    "--retry": "nothing: a failed run resumes from its results log when rerun",
    "--initial-checkpoint": "--checkpoint PATH",
    "--resume": "--model file://PATH (a rerun resumes from the results log by itself)",
}


def add_timm_flags(parser: argparse.ArgumentParser) -> None:
    """timm's ``--amp``, ``--amp-dtype``, ``--pretrained`` and ``--checkpoint``; ``resolve`` applies them."""
    parser.add_argument("--amp", action="store_true",
                        help="timm's spelling: float16 autocast, i.e. --precision fp16 (bf16 with --amp-dtype bfloat16)")
    parser.add_argument("--amp-dtype", "--amp_dtype", choices=tuple(AMP_DTYPES), default="float16",
                        help="timm's autocast dtype for --amp")
    parser.add_argument("--pretrained", action="store_true",
                        help="timm's spelling; every model is always evaluated with its released weights")
    parser.add_argument("--checkpoint", default=None, metavar="PATH",
                        help="timm's spelling: weights from PATH for the timm architecture --model names "
                             "(= --model file://PATH?arch=ARCH; without --model a ResNet-50)")


def resolve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Turn timm's spellings into the suite's flags (``--amp`` -> ``--precision``, ``--checkpoint`` ->
    ``--model file://``); a contradiction is a one-line flag error."""
    if args.amp:
        wanted = AMP_DTYPES[args.amp_dtype]
        if args.precision not in ("fp32", wanted):
            parser.error(f"--amp (= --precision {wanted}) contradicts --precision {args.precision}")
        args.precision = wanted
    if args.checkpoint:
        arch = args.model
        if arch and (":" in arch or "," in arch):
            parser.error(f"--checkpoint takes the timm architecture in --model (e.g. resnet50), got {arch!r}")
        args.model = f"file://{args.checkpoint}" + (f"?arch={arch}" if arch else "")
    if not args.model:
        parser.error("the following arguments are required: --model (or --checkpoint)")
    return args


def suggestion(message: str, options) -> str:
    """What to type instead, for an argparse "unrecognized arguments" ``message``; "" when nothing fits."""
    if not message.startswith("unrecognized arguments"):
        return ""
    hints = []
    for token in re.findall(r"(?<!\S)(--?[A-Za-z][\w-]*)", message.split(":", 1)[1]):
        flag = token.split("=", 1)[0]
        if flag in INSTEAD:
            hints.append(f"{flag}: use {INSTEAD[flag]}")
        else:
            close = difflib.get_close_matches(flag, [o for o in options if o.startswith("--")], n=2, cutoff=0.75)
            if close:
                hints.append(f"{flag}: did you mean {' or '.join(close)}?")
    return "; ".join(hints)
