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
    flight = args.flight  # the console script's, named after the answer (single_flight.py)
    if flight is None:  # a run without the console script: named now, claimed by nobody
        from ..single_flight import Flight

        found = remembered.request(args.command_line, os.environ, inputs)
        flight = None if found is None else Flight(found[1])
    result = obtain_target(args, log, inputs=inputs)
    output = render(args.format, result.final.credentials, result.plan.account_id, result.plan.region)
    if flight is not None and not result.final.stale and not inputs.changed:
        # First to the processes waiting for this one's claim, if it holds one
        # (they need not wait for the answer's file and its fsyncs), then
        # remembered if the cache is used. Handed over without the cache too
        # ([cache] enabled = false, an unusable key store): memory only, same
        # user, same request, so the waiters make no STS calls of their own
        # (single_flight.py). Stale credentials (a failed refresh) are not: each
        # waiter tries STS itself; nor is an answer to inputs that changed
        # during the run (memo.Inputs.changed).
        flight.hand_over(output)
        if result.ticket is not None:
            remembered.remember(flight.name, result.ticket, output)
    return CommandOutput(output)
