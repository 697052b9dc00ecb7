"""``credproc completion SHELL``: a shell completion script for credproc."""

from __future__ import annotations

import argparse

from ..completion import SHELLS
from ..log import Log
from . import CommandOutput
from .options import Subparsers


def register(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh, fish, powershell)",
        description="Print a completion script for SHELL: commands, options, and the config's aliases "
        "and account ids where a TARGET goes. The README says where to put it.",
    )
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    parser.add_argument("-v", "--verbose", action="store_true", help="add a traceback to an unexpected error")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, log: Log) -> CommandOutput:
    from ..cli import build_parser
    from ..completion import script

    # The whole parser as this credproc builds it: every command is in the script.
    return CommandOutput(script(build_parser(), args.shell))
