"""``credproc exec TARGET [options] -- COMMAND...``: run a command with an
account's credentials in its environment."""

from __future__ import annotations

import argparse
import os

from ..errors import UsageError
from ..log import Log
from . import Result
from .options import Subparsers, add_common, add_target_options, obtain_target


def split_command(arguments: list[str]) -> tuple[list[str], list[str] | None]:
    """``exec TARGET [options] -- COMMAND...``: everything after the first ``--`` is the command.

    Split before argparse sees it, because argparse cannot tell the command's
    options from ours.
    """
    if arguments[:1] == ["exec"] and "--" in arguments:
        cut = arguments.index("--")
        return arguments[:cut], arguments[cut + 1 :]
    return arguments, None


def register(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "exec",
        help="run a command with an account's credentials in its environment",
        usage="credproc exec TARGET [options] -- COMMAND [ARGS...]",
        description="Run COMMAND with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, "
        "AWS_CREDENTIAL_EXPIRATION, AWS_REGION and AWS_DEFAULT_REGION set and AWS_PROFILE / "
        "AWS_DEFAULT_PROFILE removed. Its exit code is credproc's; 127: command not found, 126: not executable.",
    )
    add_target_options(parser)
    # Words after TARGET without a "--" before them: caught to say where the command goes.
    parser.add_argument("stray", nargs="*", default=[], help=argparse.SUPPRESS)
    add_common(parser)
    parser.set_defaults(run=run, exec_command=None)


def run(args: argparse.Namespace, log: Log) -> Result:
    from .. import execute

    if args.stray:
        raise UsageError(
            f"exec: {' '.join(args.stray)!r} must come after --",
            f"credproc exec {args.target} -- {' '.join(args.stray)}",
        )
    execute.check_command(args.exec_command)
    result = obtain_target(args, log)
    env = execute.command_environment(os.environ, result.outcome.credentials, result.plan.region)
    log.flush()  # exec replaces this process: say what there is to say now
    return Result(exit_code=execute.run(args.exec_command, env))
