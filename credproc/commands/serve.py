"""``credproc serve TARGET``: a local credential endpoint in the foreground, for
containers, IDEs and other terminals (``exec --server`` runs one for a command)."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from .. import stdout
from ..errors import UsageError
from ..log import Log
from ..output import SHELLS
from . import CommandOutput
from .options import Subparsers, add_common, add_target_options, load_config, new_inputs, obtain_target

if TYPE_CHECKING:
    from ..obtain import Obtained
    from ..serving import Running

STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


def add_endpoint_options(parser: argparse.ArgumentParser) -> None:
    """``--port`` and ``--token-file``: where the endpoint listens and how the token is handed over."""
    parser.add_argument("--port", type=_port, default=0, help="port on 127.0.0.1 (default: a random free one)")
    parser.add_argument(
        "--token-file",
        type=Path,
        metavar="PATH",
        help="write the token to this file (0600) and hand over AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE instead",
    )


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 .. 65535)")
    return int(text)


def start_endpoint(args: argparse.Namespace, log: Log) -> Running:
    """Obtain the target's credentials (failing as ``get`` does), then serve them."""
    from ..obtain import utc_now
    from ..serving import Running

    config = load_config(args)
    first = obtain_target(args, log, config=config)
    margin = config.refresh_margin
    # Later refreshes print as they happen: the command's run is not over.
    background = Log(verbose=log.verbose)

    def refresh(min_remaining: int) -> Obtained:
        # A new request digest each time: the files may have changed while it served.
        return obtain_target(args, background, min_remaining=min_remaining, refresh=False, inputs=new_inputs(args))

    return Running(
        first,
        refresh,
        refresh_margin=margin,
        port=args.port,
        token_file=args.token_file,
        clock=utc_now,
        log=background,
    )


def register(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "serve",
        help="serve an account's credentials on a local endpoint that keeps them fresh",
        description="Serve TARGET's credentials on 127.0.0.1 the way ECS does (AWS SDKs read them through "
        "AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN), refreshing them before "
        "they expire. Prints the lines that set those two variables, then serves until SIGINT or SIGTERM.",
    )
    add_target_options(parser)
    add_endpoint_options(parser)
    parser.add_argument(
        "--shell",
        choices=(*SHELLS, "json"),
        default="sh",
        help="how to print the two variables: sh (default), fish, powershell, or a json object",
    )
    add_common(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, log: Log) -> CommandOutput:
    from ..output import shell_lines

    running = start_endpoint(args, log)
    try:
        # Before the lines are printed: whoever reads them may stop us right away.
        with stop_signals() as stopped:
            values, _ = running.variables()
            handed = {name: value for name, value in values.items() if name.startswith("AWS_CONTAINER_")}
            text = json.dumps(handed, indent=2) + "\n" if args.shell == "json" else shell_lines(handed, (), args.shell)
            log.flush()
            if not stdout.write(text):
                return CommandOutput()  # the reader went before the variables came: nobody to serve
            log.notice(f"serving {args.target} at {running.url} until Ctrl-C or SIGTERM")
            log.flush()  # now, not when serving ends
            while not stopped.wait(timeout=1):
                pass
    finally:
        running.stop()
    return CommandOutput()


@contextlib.contextmanager
def stop_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT, SIGTERM or SIGHUP while inside the block."""
    stop = threading.Event()

    def handler(_number: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {}
    for name in STOP_SIGNALS:
        if hasattr(signal, name):
            number = getattr(signal, name)
            previous[number] = signal.signal(number, handler)
    try:
        yield stop
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def reject_without_server(args: argparse.Namespace) -> None:
    """``exec``'s endpoint options need ``--server``."""
    for flag, given in (("--port", args.port != 0), ("--token-file", args.token_file is not None)):
        if given:
            raise UsageError(
                f"exec: {flag} needs --server", f"credproc exec --server {args.target} {flag} ... -- COMMAND"
            )
