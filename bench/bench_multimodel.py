"""Several models per data pass: an N-model ImageNet-C-bar pass (50 cells, each its own image list)
against N single-model passes of the suite, and against the reference approach (a DataLoader per
cell and per model), on the same synthetic C-bar images.

python bench/bench_multimodel.py [--models 8] [--model mobilenet_v3_small] [--per_class 1] [--device cpu] [--json PATH]
"""

from __future__ import annotations

import common
import reference_approach as ref

PREFIX = "top1_acc/"


def _flags(p) -> None:
    p.add_argument("--models", type=int, default=8, help="number of models (N)")
    p.add_argument("--model", default="mobilenet_v3_small",
                   help="torchvision classifier, N copies with different random weights (e.g. resnet50)")
    p.add_argument("--per_class", type=int, default=1, help="images per class and cell (8 classes)")
    p.add_argument("--corruptions", default=None, help="comma-separated C-bar corruptions (default: all 10)")


def main(argv=None) -> int:
    return common.main(__doc__, _flags, _run, argv)


def _run(env: common.Env) -> int:
    args, dev = env.args, env.device
    cells = common.cbar_cells(env, args.per_class, args.corruptions.split(",") if args.corruptions else None)
    bench = common.cbar_benchmark(cells)
    n_images = sum(len(c.images) for c in bench.conditions())
    models = {f"{args.model}-{i}": common.model(args.model, dev, seed=i) for i in range(args.models)}
    n = len(models)

    together_s, together = common.suite_run(env, [bench], models)
    single_s, single = common.suite_run(env, [bench], models, models_per_pass=1)
    conditions = ref.folder_conditions(cells)
    ref_s, ref_acc = common.timed(lambda: {name: ref.run_conditions(
        net, conditions, batch_size=args.batch_size, num_workers=args.num_workers, device=dev)
        for name, net in models.items()}, dev)

    common.row(env, f"{n} models in one pass vs {n} single-model passes", "s", together_s, single_s, False,
               target=None)
    common.row(env, f"{n} models in one pass vs reference approach", "s", together_s, ref_s, False, target=None)
    common.row(env, f"one pass: {n} models vs 1 model (cost ratio)", "x", together_s / (single_s / n), n, False,
               target=None)
    same = all(common.top1_of(together, m, PREFIX) == common.top1_of(single, m, PREFIX) for m in models)
    same_ref = all({k.replace("/", "_"): v for k, v in ref_acc[m].items()} == common.top1_of(together, m, PREFIX)
                   for m in models)
    common.report(env, f"Multi-model pass on ImageNet-C-bar ({len(cells)} cells, {n_images} images, wall time)", notes=[
        f"suite: biasbench.runner.run with all {n} models sharing every pass, then with --models_per_pass 1; "
        "reference: per model, a new ImageFolder + DataLoader per cell",
        f"single-model pass alone: {single_s / n:.1f} s on average; the {n}-model pass costs "
        f"{together_s / (single_s / n):.2f} single-model passes",
        f"same top-1 per cell and model: shared vs single passes {'yes' if same else 'NO'}, "
        f"suite vs reference {'yes' if same_ref else 'NO'}",
        "speedup = other seconds / N-model-pass seconds"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
