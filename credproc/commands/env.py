"""``credproc env TARGET``: shell lines that export an account's credentials."""

from __future__ import annotations

import argparse

from ..log import Log
from ..output import SHELLS
from . import CommandOutput
from .options import Subparsers, add_common, add_target_options, obtain_target


def register(commands: Subparsers) -> None:
    parser = commands.add_parser("env", help="print shell lines that export an account's credentials")
    add_target_options(parser)
    parser.add_argument("--shell", choices=SHELLS, default="sh", help="the syntax to print (default: sh)")
    add_common(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, log: Log) -> CommandOutput:
    from ..output import credential_variables, shell_lines

    result = obtain_target(args, log)
    values, remove = credential_variables(result.final.credentials, result.plan.region)
    return CommandOutput(shell_lines(values, remove, args.shell))
