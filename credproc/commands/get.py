"""``credproc get TARGET``: the credential_process JSON for an account."""

from __future__ import annotations

import argparse
import os

from .. import grammar
from ..log import Log
from . import CommandOutput
from .options import Subparsers, add_options, obtain_target, run_inputs


def register(commands: Subparsers) -> None:
    parser = commands.add_parser("get", help="print credentials for an account (credential_process JSON)")
    add_options(parser, grammar.GET)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, log: Log) -> CommandOutput:
    from .. import remembered
    from ..output import render

    # The run's request digest (the console script's, or computed now, before
    # the config is read, which is parsed from the very bytes it hashed); a
    # rememberable `get` (remembered.py decides, for the fast path too) is
    # remembered under it for the console script's fast path.
    inputs = run_inputs(args)
    request = remembered.request(args.command_line, os.environ, inputs)
    # Without a cache (disabled, or its key store unusable) nothing will be
    # remembered for the processes waiting on this one's claim to read back:
    # let them go as soon as that is known, to fetch their own (single_flight.py).
    release = None if args.claim is None else args.claim.release
    result = obtain_target(args, log, inputs=inputs, without_cache=release)
    output = render(args.format, result.final.credentials, result.plan.account_id, result.plan.region)
    # Not remembered: stale credentials (a failed refresh: the next run tries
    # STS again), nor an answer to inputs that changed during the run (memo.Inputs.changed).
    if request is not None and result.ticket is not None and not result.final.stale and not inputs.changed:
        remembered.remember(request[1], result.ticket, output)
    return CommandOutput(output)
