"""``credproc exec TARGET [options] -- COMMAND...``: run a command with an
account's credentials in its environment."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from ..errors import UsageError
from ..log import Log
from . import Result
from .options import Subparsers, add_common, add_target_options, obtain_target
from .serve import add_endpoint_options, reject_without_server, start_endpoint

if TYPE_CHECKING:
    from ..obtain import Obtained


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
        usage="credproc exec TARGET [--server] [options] -- COMMAND [ARGS...]",
        description="Run COMMAND with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, "
        "AWS_CREDENTIAL_EXPIRATION, AWS_REGION and AWS_DEFAULT_REGION set and AWS_PROFILE / "
        "AWS_DEFAULT_PROFILE removed; with --server, AWS_CONTAINER_CREDENTIALS_FULL_URI and "
        "AWS_CONTAINER_AUTHORIZATION_TOKEN instead, pointing at a local endpoint that keeps the credentials fresh "
        "while COMMAND runs. Its exit code is credproc's (128+N when it died of signal N with --server); "
        "127: command not found, 126: not executable.",
    )
    add_target_options(parser)
    parser.add_argument(
        "--server",
        action="store_true",
        help="serve the credentials from a local endpoint that refreshes them (for commands that outlive a session)",
    )
    add_endpoint_options(parser)
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
    if args.server:
        return _run_with_server(args, log)
    reject_without_server(args)
    result = fresh_for_a_command(args, log)
    env = execute.command_environment(os.environ, result.outcome.credentials, result.plan.region)
    log.flush()  # exec replaces this process: say what there is to say now
    return Result(exit_code=execute.run(args.exec_command, env))


def start_margin(duration: int) -> int:
    """A command is started with a session that has at least half of its duration left."""
    return duration // 2


def fresh_for_a_command(args: argparse.Namespace, log: Log) -> Obtained:
    """The target's credentials with at least half the session left, when a fresh one can be had.

    The cache hands out anything past its margin (15 min), which for a command
    that runs on without refreshing may be far too little.
    """
    from ..obtain import utc_now

    result = obtain_target(args, log)
    needed = start_margin(result.plan.hops[-1].duration)
    left = result.outcome.credentials.remaining(utc_now())
    if result.outcome.stale or left is None or left > needed:
        return result
    log.step(f"the cached session has {int(left // 60)} min left, less than half of it: fetching a new one")
    return obtain_target(args, log, min_remaining=needed)


def _run_with_server(args: argparse.Namespace, log: Log) -> Result:
    from .. import child, execute
    from ..serving import shadowing_profile

    running = start_endpoint(args, log)
    try:
        values, remove = running.variables()
        env = execute.with_variables(os.environ, values, remove)
        shadow = shadowing_profile(env)
        if shadow is not None:
            log.warn(shadow)
        log.flush()
        return Result(exit_code=child.run(args.exec_command, env))
    finally:
        running.stop()
