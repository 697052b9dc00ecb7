"""The console-script entry point: the only place that exits."""

import sys


def run() -> None:
    # A remembered answer first: it needs none of the modules cli loads.
    from .answers import print_remembered

    if print_remembered():
        sys.exit(0)
    from .cli import main

    sys.exit(main())
