"""``python -m biasbench``: the ``biasbench`` command without installing its entry point."""

import sys

from biasbench.command import main

sys.exit(main())
