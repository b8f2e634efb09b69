"""``python -m studio``: the app. Until the GUI lands it runs the headless demo."""

import sys

from studio.cli.main import main

sys.exit(main(sys.argv[1:] or ["demo"]))
