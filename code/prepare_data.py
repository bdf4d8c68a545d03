"""Download, verify, arrange and check the datasets under one root (see biasbench/prepare/run.py):
python code/prepare_data.py --root /data --datasets all|a,r,v2,sketch,c,real,mvh,cbar [--dry-run] [--offline]
python code/prepare_data.py --root /data --imagenet-val-tar ILSVRC2012_img_val.tar --imagenet-devkit DEVKIT"""

import sys

from biasbench.prepare.run import main

if __name__ == "__main__":
    sys.exit(main())
