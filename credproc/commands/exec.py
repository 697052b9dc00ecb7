"""``credproc exec TARGET [options] -- COMMAND...``: run a command with an
account's credentials in its environment.

On POSIX credproc replaces itself with the command (``os.execvpe``): the
command gets the terminal's signals (Ctrl-C, SIGTERM from a supervisor)
directly, its exit status - including death by a signal - is what the caller
sees, and no credproc process lingers. Windows has no exec: there the command
runs as a child and its exit code is returned; Ctrl-C reaches both through the
console, so credproc ignores it while waiting.

With ``--server`` credproc stays the parent instead: it serves the command's
credentials from a local endpoint that refreshes them (serving.py) and runs
the command as a child that gets its signals (child.py).

Credentials travel only in the environment, never on a command line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, NoReturn

from ..errors import CommandError, ExitCode, UsageError
from ..log import Log
from . import CommandOutput
from .options import Subparsers, add_common, add_target_options, obtain_target
from .serve import add_endpoint_options, reject_without_server, start_endpoint

if TYPE_CHECKING:
    import subprocess

    from ..aws_credentials import Credentials


def split_command(arguments: list[str]) -> tuple[list[str], list[str] | None]:
    """``exec TARGET [options] -- COMMAND...`` (and ``each``): everything after the first ``--`` is the command.

    Split before argparse sees it, because argparse cannot tell the command's
    options from ours.
    """
    if arguments[:1] in (["exec"], ["each"]) and "--" in arguments:
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
        "while COMMAND runs. Its exit code is credproc's (128+N when it died of signal N, with --server); "
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


def run(args: argparse.Namespace, log: Log) -> CommandOutput:
    if args.stray:
        raise UsageError(
            f"exec: {' '.join(args.stray)!r} must come after --",
            f"credproc exec {args.target} -- {' '.join(args.stray)}",
        )
    check_command(args.exec_command)
    if args.server:
        return _run_with_server(args, log)
    reject_without_server(args)
    # Never the second half of a session: the command cannot refresh what it is started with.
    result = obtain_target(args, log, for_a_command=True)
    env = command_environment(os.environ, result.final.credentials, result.plan.region)
    log.flush()  # exec replaces this process: say what there is to say now
    return CommandOutput(exit_code=run_command(args.exec_command, env))


def _run_with_server(args: argparse.Namespace, log: Log) -> CommandOutput:
    from .. import child
    from ..serving import shadowing_profile

    if not args.exec_command[0]:
        raise _start_error("''", FileNotFoundError())
    running = start_endpoint(args, log)
    try:
        env = with_variables(os.environ, *running.variables())
        shadow = shadowing_profile(env)
        if shadow is not None:
            log.warn(shadow)
        log.flush()
        try:
            return CommandOutput(exit_code=child.run(args.exec_command, env))
        except OSError as exc:
            raise _start_error(args.exec_command[0], exc) from None
    finally:
        running.stop()


def command_environment(base: Mapping[str, str], credentials: Credentials, region: str) -> dict[str, str]:
    """``base`` with the credentials and region set, profile variables removed."""
    from ..output import credential_variables

    return with_variables(base, *credential_variables(credentials, region))


def with_variables(base: Mapping[str, str], values: Mapping[str, str], remove: Sequence[str]) -> dict[str, str]:
    """``base`` with ``values`` set and ``remove`` removed.

    CREDPROC_DEPTH goes too: the command is a fresh start, so a credproc it
    runs (directly or through a profile) gets the full recursion budget.
    """
    from ..source import DEPTH_VARIABLE

    env = {name: value for name, value in base.items() if name not in remove and name != DEPTH_VARIABLE}
    env.update(values)
    return env


def check_command(command: Sequence[str] | None) -> None:
    """``exec`` needs a command after ``--``: say so before any credentials are fetched."""
    if not command:
        raise UsageError("exec: no command given", "put the command after --, e.g. credproc exec dev -- aws s3 ls")


Execvpe = Callable[[str, Sequence[str], Mapping[str, str]], NoReturn]


def run_command(
    command: Sequence[str],
    env: Mapping[str, str],
    *,
    execvpe: Execvpe = os.execvpe,  # type: ignore[assignment]
    windows: bool = os.name == "nt",
    popen: Callable[..., subprocess.Popen[bytes]] | None = None,
) -> int:
    """Run ``command`` with ``env``; on POSIX this does not return on success.
    On Windows, which has no exec, as a child (child.py; ``popen``: its Popen)."""
    check_command(command)
    if not command[0]:
        # execve refuses an empty program name with ValueError; a shell says "not found".
        raise _start_error("''", FileNotFoundError())
    if windows:
        from .. import child

        try:
            return child.run_on_windows(command, env, popen)
        except OSError as exc:
            raise _start_error(command[0], exc) from None
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:  # None: closed by the caller (>&-), which the command inherits as it is
            stream.flush()
    restore_default_signals()
    try:
        execvpe(command[0], list(command), dict(env))
    except OSError as exc:
        raise _start_error(command[0], exc) from None


def restore_default_signals() -> None:
    """Undo the signals Python ignores (SIGPIPE, SIGXFSZ): an ignored signal stays
    ignored across exec, and `yes | head` in the command would then complain of
    broken pipes instead of ending quietly (subprocess does the same for children)."""
    import signal  # here: only the start of the command needs it

    for name in ("SIGPIPE", "SIGXFSZ"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, signal.SIG_DFL)


def _start_error(name: str, exc: OSError) -> CommandError:
    if isinstance(exc, FileNotFoundError):
        return CommandError(
            f"exec: command not found: {name}",
            "check the spelling, or give the full path of the program",
            ExitCode.COMMAND_NOT_FOUND,
        )
    if isinstance(exc, PermissionError):
        return CommandError(
            f"exec: cannot run {name}: permission denied",
            f"make it executable (chmod +x {name})",
            ExitCode.COMMAND_NOT_EXECUTABLE,
        )
    return CommandError(
        f"exec: cannot run {name}: {exc.strerror or exc}",
        "check the program and its interpreter",
        ExitCode.COMMAND_NOT_EXECUTABLE,
    )
