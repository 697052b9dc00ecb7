"""``credproc accounts``: the configured accounts, with the role each resolves to
(``accounts discover`` lives in discover.py)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from ..log import Log
from . import CommandOutput, discover
from .options import Subparsers, add_common

if TYPE_CHECKING:
    from ..config import Config


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


def run(args: argparse.Namespace, log: Log) -> CommandOutput:
    from .. import config as config_module

    rows = account_rows(config_module.load(args.config))
    return CommandOutput(json.dumps(rows, indent=2) + "\n" if args.json else render_accounts(rows))


def account_rows(config: Config) -> list[dict[str, Any]]:
    """One row per configured account (validates every account table).

    The JSON form is a contract with the CDK plugin: a list of objects with
    ``alias``, ``id``, ``role`` (name or ARN, or null), ``region`` and ``via``
    (and ``labels``, which the plugin ignores).
    """
    from ..config import DEFAULT_REGION

    rows = []
    for account in config.validate_all():
        settings = account.settings
        rows.append(
            {
                "alias": account.alias,
                "id": account.id,
                "role": settings.role or config.defaults.role,
                "region": settings.region or config.defaults.region or config.source_region or DEFAULT_REGION,
                "via": [
                    entry.role_arn
                    for entry in (settings.via if settings.via is not None else config.defaults.via or ())
                ],
                "labels": list(account.labels),
            }
        )
    return rows


def render_accounts(rows: list[dict[str, Any]]) -> str:
    """A plain table for people."""
    from ..output import table

    if not rows:
        return "no accounts configured\n"
    return table(
        ("ALIAS", "ACCOUNT", "ROLE", "REGION", "HOPS", "LABELS"),
        (
            (
                row["alias"],
                row["id"],
                row["role"] or "-",
                row["region"],
                str(len(row["via"]) + 1),
                ",".join(row["labels"]),
            )
            for row in rows
        ),
    )
