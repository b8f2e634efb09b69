"""``lora-studio``: with no command, the desktop app; with one, the headless CLI.

Kept outside both packages so the CLI never imports Qt and the GUI never imports
the CLI's terminal code.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--run-module"] and len(args) >= 2:
        # The PyInstaller bundle starts its workers this way (studio/core/processes.py).
        import runpy

        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        return 0
    if not args or args[0] == "gui":
        from studio.gui.app import main as gui_main

        return gui_main(args[1:])
    from studio.cli.main import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
