"""``credproc exec TARGET [options] -- COMMAND...``: run a command with an
account's credentials in its environment.

On POSIX credproc replaces itself with the command (``os.execvpe``): the
command gets the terminal's signals (Ctrl-C, SIGTERM from a supervisor)
directly, its exit status - including death by a signal - is what the caller
sees, and no credproc process lingers. Windows has no exec: there the command
runs as a child and its exit code is returned; Ctrl-C reaches both through the
console, so credproc ignores it while waiting.

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
from . import Result
from .options import Subparsers, add_common, add_target_options, obtain_target

if TYPE_CHECKING:
    import subprocess

    from ..credentials import Credentials


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
    if args.stray:
        raise UsageError(
            f"exec: {' '.join(args.stray)!r} must come after --",
            f"credproc exec {args.target} -- {' '.join(args.stray)}",
        )
    check_command(args.exec_command)
    result = obtain_target(args, log)
    env = command_environment(os.environ, result.outcome.credentials, result.plan.region)
    log.flush()  # exec replaces this process: say what there is to say now
    return Result(exit_code=run_command(args.exec_command, env))


def command_environment(base: Mapping[str, str], credentials: Credentials, region: str) -> dict[str, str]:
    """``base`` with the credentials and region set, profile variables removed.

    CREDPROC_DEPTH goes too: the command is a fresh start, so a credproc it
    runs (directly or through a profile) gets the full recursion budget.
    """
    from ..output import credential_variables
    from ..source import DEPTH_VARIABLE

    values, remove = credential_variables(credentials, region)
    env = {name: value for name, value in base.items() if name not in remove and name != DEPTH_VARIABLE}
    env.update(values)
    return env


def check_command(command: Sequence[str] | None) -> None:
    """``exec`` needs a command after ``--``: say so before any credentials are fetched."""
    if not command:
        raise UsageError("exec: no command given", "put the command after --, e.g. credproc exec dev -- aws s3 ls")


Execvpe = Callable[[str, Sequence[str], Mapping[str, str]], NoReturn]
Spawn = Callable[..., "subprocess.CompletedProcess[bytes]"]


def run_command(
    command: Sequence[str],
    env: Mapping[str, str],
    *,
    execvpe: Execvpe = os.execvpe,  # type: ignore[assignment]
    windows: bool = os.name == "nt",
    spawn: Spawn | None = None,
) -> int:
    """Run ``command`` with ``env``; on POSIX this does not return on success."""
    check_command(command)
    if not command[0]:
        # execve refuses an empty program name with ValueError; a shell says "not found".
        raise _start_error("''", FileNotFoundError())
    if windows:
        return _run_child(command, env, spawn)
    sys.stdout.flush()
    sys.stderr.flush()
    restore_default_signals()
    try:
        execvpe(command[0], list(command), dict(env))
    except OSError as exc:
        raise _start_error(command[0], exc) from None


def restore_default_signals() -> None:
    """Undo the signals Python ignores (SIGPIPE, SIGXFSZ): an ignored signal stays
    ignored across exec, and `yes | head` in the command would then complain of
    broken pipes instead of ending quietly (subprocess does the same for children)."""
    import signal  # here: cli imports this module for split_command on every run

    for name in ("SIGPIPE", "SIGXFSZ"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, signal.SIG_DFL)


def _run_child(command: Sequence[str], env: Mapping[str, str], spawn: Spawn | None = None) -> int:
    import shutil
    import signal
    import subprocess

    # CreateProcess finds only .exe files on PATH; a shell also finds aws.cmd,
    # cdk.cmd and npm's other .cmd shims through PATHEXT, and so does which().
    program = shutil.which(command[0], path=env.get("PATH")) or command[0]
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return (spawn or subprocess.run)([program, *command[1:]], env=dict(env), check=False).returncode
    except OSError as exc:
        raise _start_error(command[0], exc) from None
    finally:
        signal.signal(signal.SIGINT, previous)


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
