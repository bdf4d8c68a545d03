"""Fill the checkpoint cache on a machine with network (e.g. a cluster's login node).

    python code/prefetch.py --models tv_resnet50,robust_resnet50_l2_eps3 [--cache-dir DIR]
    python code/prefetch.py --category adversarial_training
    python code/prefetch.py --all

Prints one line per file: cached+verified, downloaded, or FAILED with the reason.
Exit status 1 when any file failed, 2 on a usage error.
"""

import argparse
import sys

from biasbench.errors import UserError, exit_status


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--models", "--model", help="comma-separated names, categories or paper48 (see checkpoints.md)")
    which.add_argument("--category", help="every model of one category, e.g. adversarial_training or extra")
    which.add_argument("--all", action="store_true", help="every model of the registry")
    p.add_argument("--cache-dir", "--cache_dir", default=None, help="checkpoint cache (default $BIASBENCH_CACHE)")
    p.add_argument("--relock", action="store_true",
                   help="forget the recorded SHA-256 of these files and fetch them again (accepts an upstream change)")
    p.add_argument("--check", action="store_true", help="also load each model once to confirm its checkpoint fits")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    args = p.parse_args(argv)
    try:
        from biasbench import zoo
        from biasbench.zoo.prefetch import prefetch_models

        local = zoo.LocalModels()  # the file:// checkpoints named by --models
        if args.all:
            names = zoo.list_models()
        elif args.category:
            names = zoo.list_models(args.category)
        else:
            names = zoo.resolve_models(args.models, local, cache_dir=args.cache_dir)
        failed = prefetch_models(names, local=local, cache_dir=args.cache_dir, relock=args.relock, check=args.check,
                                 progress=args.progress)
    except UserError as e:
        return exit_status(e)
    print(f"{len(names) - failed} of {len(names)} models ready" + (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
