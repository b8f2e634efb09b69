"""``python -m studio.worker JOB.json [--run-dir DIR]``: run one job (see runner)."""

from studio.worker.runner import exit_now, main

exit_now(main())
