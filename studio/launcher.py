"""``lora-studio``: with no command, the desktop app; with one, the headless CLI.

Kept outside both packages so the CLI never imports Qt and the GUI never imports
the CLI's terminal code.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] == "gui":
        from studio.gui.app import main as gui_main

        return gui_main(args[1:])
    from studio.cli.main import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
