"""``credproc demo``: credproc at work against a local STS (no AWS account needed)."""

from __future__ import annotations

import argparse
import sys

from ..log import Log
from . import Result
from .options import Subparsers


def register(commands: Subparsers) -> None:
    parser = commands.add_parser("demo", help="show credproc at work against a local STS (no AWS account needed)")
    parser.add_argument("-v", "--verbose", action="store_true", help="add a traceback to an unexpected error")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, log: Log) -> Result:
    from ..demo import run_demo

    # The demo is a story told as it happens: it streams to stdout itself.
    return Result(exit_code=run_demo(sys.stdout))
