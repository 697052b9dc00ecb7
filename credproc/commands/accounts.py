"""``credproc accounts``: the configured accounts (``accounts discover`` lives in discover.py)."""

from __future__ import annotations

import argparse
import json

from ..log import Log
from . import Result, discover
from .options import Subparsers, add_common


def register(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "accounts",
        help="list the configured accounts, or discover the organization's",
        usage="credproc accounts [--json] [-v] [--config CONFIG]\n"
        "       credproc accounts discover [--role-arn ARN] [--write] [-v] [--config CONFIG]",
    )
    parser.add_argument("--json", action="store_true", help="print JSON (used by the CDK plugin)")
    add_common(parser)
    parser.set_defaults(run=run)
    discover.register(parser)


def run(args: argparse.Namespace, log: Log) -> Result:
    from .. import config as config_module
    from ..accounts import account_rows, render_accounts

    rows = account_rows(config_module.load(args.config))
    return Result(json.dumps(rows, indent=2) + "\n" if args.json else render_accounts(rows))
