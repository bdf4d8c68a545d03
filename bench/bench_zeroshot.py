"""Zero-shot image-text models (docs/models.md, "Zero-shot vision-language models"): (a) the head's one-off
cost, encoding every prompt of the prompt set, and reading it back from the on-disk cache; (b) a zero-shot
pass through the suite's runner (decode, normalise, image tower, head) against the image tower's own forward
rate on the same batches already on the device (the floor: no data path, no head).

An open_clip architecture with random weights (no download); OpenAI's 80 templates make 80,000 prompts,
which is minutes on a GPU and hours on a 2-core CPU: the default prompt set here is ``simple`` (1,000).

python bench/bench_zeroshot.py [--arch ViT-B-32] [--prompts simple|openai] [--n_model 64] [--device cuda] [--json PATH]
"""

from __future__ import annotations

import tempfile

import torch

import common


def _flags(p) -> None:
    p.add_argument("--arch", default="ViT-B-32", help="open_clip architecture (random weights)")
    p.add_argument("--prompts", default="simple", help="openai, simple or a template file (--prompts of the suite)")
    p.add_argument("--n_model", type=int, default=64, help="images of the zero-shot pass")


def main(argv=None) -> int:
    return common.main(__doc__, _flags, _run, argv)


def _run(env: common.Env) -> int:
    import open_clip

    from biasbench.benchmarks.imagenet import ImageNetClean
    from biasbench.zoo.open_clip_models import zero_shot_model
    from biasbench.zoo.zero_shot import class_embeddings, prompt_set

    args, dev = env.args, env.device
    torch.manual_seed(0)
    clip = open_clip.create_model(args.arch, load_weights=False, pretrained_text=False).to(dev).eval()
    tok = open_clip.get_tokenizer(args.arch)
    prompts = prompt_set(args.prompts)
    n_prompts = len(prompts.templates) * len(prompts.classnames)

    # (a) the head: encoded once, then read from the cache
    head_s, _ = common.timed(lambda: class_embeddings(clip, tok, prompts, device=dev), dev)
    with tempfile.TemporaryDirectory(dir=env.data) as cache:
        common.timed(lambda: zero_shot_model(clip, tok, (0.5,) * 3, (0.5,) * 3, name="zs", prompts=prompts,
                                             cache_dir=cache, device=dev), dev)
        cached_s, model = common.timed(lambda: zero_shot_model(clip, tok, (0.5,) * 3, (0.5,) * 3, name="zs",
                                                               prompts=prompts, cache_dir=cache, device=dev), dev)
    common.row(env, f"head: {n_prompts:,} prompts encoded vs read from the cache", "s", cached_s, head_s, False,
               prompts_per_s=n_prompts / head_s)

    # (b) a zero-shot pass vs the image tower's forward alone on device-resident batches
    _, images = common.val_images(env, args.n_model)
    images = common.cycled(images, args.n_model)
    suite_s, _ = common.suite_run(env, [ImageNetClean(images)], {"zs": model}, decoded_cache=False)
    size = clip.visual.image_size if isinstance(clip.visual.image_size, tuple) else (224, 224)
    x = torch.rand(args.batch_size, 3, *size, generator=torch.Generator().manual_seed(0)).to(dev)
    n_batches = -(-len(images) // args.batch_size)

    def tower():
        with torch.no_grad():
            for _ in range(n_batches):
                clip.encode_image(x)

    tower()  # warm-up (cuDNN autotuning, allocator)
    floor_s, _ = common.timed(tower, dev)
    common.row(env, f"zero-shot pass vs image tower alone ({len(images)} img)", "s", suite_s, floor_s, False,
               images_per_s_suite=len(images) / suite_s, images_per_s_tower=n_batches * args.batch_size / floor_s)
    common.report(env, f"Zero-shot {args.arch} (random weights), prompts {args.prompts}", notes=[
        "row 1: 'suite' = building the model from the cached head, 'reference' = encoding every prompt; "
        "speedup = how many times a rerun saves",
        "row 2: 'suite' = biasbench.runner.run of the zero-shot model on synthetic ImageNet val (decode, resize, "
        "crop, normalise, tower, head, accuracy); 'reference' = encode_image alone on a batch already on the device "
        "(the floor); speedup < 1: the ratio of the floor to the suite's pass"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
