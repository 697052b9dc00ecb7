"""``credproc cache list|clear``: inspect or clear the encrypted cache."""

from __future__ import annotations

import argparse
import json

from ..log import Log
from . import Result
from .options import Parser, Subparsers, add_common


def register(commands: Subparsers) -> None:
    parser = commands.add_parser("cache", help="inspect or clear the encrypted cache")
    actions = parser.add_subparsers(dest="cache_command", metavar="ACTION", parser_class=Parser)
    actions.required = True
    listing = actions.add_parser("list", help="list cached sessions (never secrets)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_common(listing)
    listing.set_defaults(run=run_list)
    clear = actions.add_parser("clear", help="delete cached sessions (all, or one target's)")
    clear.add_argument("target", nargs="?", help="alias or account id; default: everything")
    clear.add_argument("--key", action="store_true", help="also forget the cache key (a new one is made on next use)")
    add_common(clear)
    clear.set_defaults(run=run_clear)


def run_list(args: argparse.Namespace, log: Log) -> Result:
    import os

    from .. import config as config_module
    from ..cache_commands import cache_rows, render_rows

    rows = cache_rows(config_module.load(args.config), os.environ, log)
    return Result(json.dumps(rows, indent=2) + "\n" if args.json else render_rows(rows))


def run_clear(args: argparse.Namespace, log: Log) -> Result:
    import os

    from .. import config as config_module
    from ..cache_commands import clear

    removed = clear(config_module.load(args.config), args.target, os.environ, log, forget_key=args.key)
    log.notice(f"removed {removed} cached session(s)")
    return Result()
