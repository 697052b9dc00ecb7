"""The command line: assemble the parsers, dispatch, render results and errors.

Each command lives in ``credproc/commands/<name>.py`` (see commands/__init__.py).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from . import __version__, stdout
from .commands import NAMES, CommandOutput
from .commands.options import Parser
from .errors import CredprocError, ExitCode, UsageError
from .log import Log

if TYPE_CHECKING:
    from . import memo, single_flight

Run = Callable[[argparse.Namespace, Log], CommandOutput]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``credproc`` parser, one subparser per command module; only
    ``command``'s when it names one.

    A command line that starts with a command's name needs that command's
    parser only: its options, errors and ``--help`` are the same without the
    others, and their modules (discover, profiles, doctor, demo, ...) stay
    unloaded. Anything else (``--help``, ``--version``, a typo) gets them all.
    """
    parser = Parser(
        prog="credproc", description="AWS credential_process helper that chains AssumeRole across accounts."
    )
    parser.add_argument("--version", action="version", version=f"credproc {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    for name in (command,) if command in NAMES else NAMES:
        importlib.import_module(f"{__package__}.commands.{name}").register(commands)
    return parser


def main(
    argv: Sequence[str] | None = None, *, inputs: memo.Inputs | None = None, claim: single_flight.Claim | None = None
) -> int:
    """Run credproc; returns the exit code (only the console script exits).
    ``inputs``: the run's request digest, when the console script computed it
    already; ``claim``: its claim on a rememberable ``get``'s request (single_flight.py)."""
    arguments, command = list(sys.argv[1:] if argv is None else argv), None
    if arguments[:1] in (["exec"], ["each"]):  # the commands that run a command (and exec's module only then)
        from .commands.exec import split_command

        arguments, command = split_command(arguments)
    log = Log(defer=True)  # a bad command line is one error line, --verbose or not
    try:
        args = _parse(arguments)
        log = Log(verbose=getattr(args, "verbose", False), defer=True)
        args.exec_command = command
        args.command_line = arguments  # what commands/get.py remembers an answer under
        args.inputs = inputs  # memo.py's request digest: computed once per run (commands/options.py)
        args.claim = claim  # the console script's claim on this request, if any (commands/get.py)
        run: Run = args.run
        result = run(args, log)
        log.flush()
        stdout.write(result.stdout)  # now: a failure is an error of this run, not of the exit
        return result.exit_code
    except CredprocError as error:
        log.discard()
        if log.verbose and error.__cause__ is not None:
            log.traceback(error.__cause__)
        log.error(error.one_line())
        return error.exit_code
    except KeyboardInterrupt:
        log.error("credproc: interrupted")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        return ExitCode.OK
    except Exception as error:  # a bug: one line unless --verbose
        log.discard()
        if log.verbose:
            log.traceback(error)
        # The type only: a third-party exception's text may quote anything it
        # read (botocore quotes a whole unparsable answer, secrets included).
        log.error(f"credproc: internal error: {type(error).__name__} (fix: rerun with --verbose and report the output)")
        return ExitCode.INTERNAL


def _parse(arguments: list[str]) -> argparse.Namespace:
    args, unknown = build_parser(arguments[0] if arguments else None).parse_known_args(arguments)
    if unknown and args.command == "each" and not any(word.startswith("-") for word in unknown):
        # argparse fills a positional list from its first run of words only:
        # each's selectors after an option (`each dev --role X prod`) come back unknown.
        args.selectors = [*args.selectors, *unknown]
        unknown = []
    if unknown:
        # Name the subcommand whose options were wrong, not the top level.
        subcommand = getattr(args, "cache_command", None) or getattr(args, "source_command", None)
        where = " ".join(filter(None, [args.command, subcommand]))
        raise UsageError(f"{where}: unrecognized arguments: {' '.join(unknown)}", f"see credproc {where} --help")
    return args
