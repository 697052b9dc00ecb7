"""The console-script entry point: the only place that exits."""

import sys

from .cli import main


def run() -> None:
    sys.exit(main())
