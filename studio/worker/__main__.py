"""``python -m studio.worker JOB.json [--run-dir DIR]``: run one job (see runner)."""

import sys

from studio.worker.runner import main

sys.exit(main())
