"""``credproc accounts discover``: the organization's accounts, optionally added to the config."""

from __future__ import annotations

import argparse
import os

from ..log import Log
from . import Result
from .options import Parser, add_common


def register(accounts: argparse.ArgumentParser) -> None:
    actions = accounts.add_subparsers(dest="accounts_command", metavar="ACTION", parser_class=Parser)
    parser = actions.add_parser("discover", help="find the organization's accounts (AWS Organizations ListAccounts)")
    parser.add_argument(
        "--role-arn", help="role in the management account to list them with (default: [organizations] role_arn)"
    )
    parser.add_argument("--write", action="store_true", help="append the new accounts to the config file")
    add_common(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, log: Log) -> Result:
    from .. import config as config_module
    from .. import discover

    config = config_module.load(args.config)
    found = discover.list_organization_accounts(config, args.role_arn, log, os.environ)
    addition = discover.plan_additions(config, found)
    summary = discover.summary(addition)
    if not args.write:
        hint = "; run with --write to add them" if addition.new else ""
        log.notice(f"{summary}{hint}")
        stdout = discover.render_toml(addition.new)
    else:
        backup = discover.write(config, addition.new)
        saved = f"; added them to {config.path}" + (f" (previous version: {backup})" if backup else "")
        log.notice(summary + (saved if addition.new else ""))
        stdout = ""
    # After the work: a failure must stay the one stderr line.
    if addition.new and not config.defaults.role:
        log.warn("the new accounts have no role: set [defaults] role (or a role per account) before using them")
    return Result(stdout)
