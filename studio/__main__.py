"""``python -m studio``: the same as ``lora-studio`` (the app, or a CLI command)."""

import sys

from studio.launcher import main

sys.exit(main())
