"""``credproc cache list|clear``: inspect or clear the encrypted cache."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..log import Log
from . import CommandOutput
from .options import Parser, Subparsers, add_common

if TYPE_CHECKING:
    from datetime import datetime

    from ..config import Config


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


def run_list(args: argparse.Namespace, log: Log) -> CommandOutput:
    from .. import config as config_module

    rows = cache_rows(config_module.load(args.config), os.environ, log)
    return CommandOutput(json.dumps(rows, indent=2) + "\n" if args.json else render_rows(rows))


def run_clear(args: argparse.Namespace, log: Log) -> CommandOutput:
    from .. import config as config_module

    removed = clear(config_module.load(args.config), args.target, os.environ, log, forget_key=args.key)
    log.notice(f"removed {removed} cached session(s)")
    return CommandOutput()


def cache_rows(config: Config, env: Mapping[str, str], log: Log, now: datetime | None = None) -> list[dict[str, Any]]:
    """One row per readable entry: who, which role, through which source, how long left.

    Never a secret: only the entry's metadata and its expiry. A key store
    that cannot be used is an error here (exit 6), not an empty list.
    """
    from ..aws_credentials import format_time
    from ..obtain import open_cache, utc_now

    cache = open_cache(config, env, log, required=True)
    if cache is None:
        log.notice("the cache is disabled ([cache] enabled = false)")
        return []
    now = now or utc_now()
    rows = []
    unreadable = len(cache.names())
    for name, entry in cache.entries():
        unreadable -= 1
        creds = entry.credentials
        remaining = creds.remaining(now)
        meta = entry.meta
        rows.append(
            {
                "alias": meta.get("alias"),
                "account_id": meta.get("account_id"),
                "role_arn": meta.get("role_arn"),
                "mfa_serial": meta.get("mfa_serial"),
                # the MFA session is the chain's root, before hop 1
                "hop": "mfa" if meta.get("mfa_serial") else f"{meta.get('hop')}/{meta.get('hops')}",
                "source": meta.get("source"),
                "expires": format_time(creds.expiration) if creds.expiration else None,
                "expires_in_seconds": int(remaining) if remaining is not None else None,
                "entry": name[:12],
            }
        )
    rows.sort(key=lambda row: (row["account_id"] or "", row["hop"]))
    if unreadable > 0:
        log.notice(
            f"{unreadable} cache file(s) could not be read (damaged, or written under another key); "
            "they are replaced when used, and `credproc cache clear` removes them"
        )
    return rows


def render_rows(rows: list[dict[str, Any]]) -> str:
    """A plain table for people."""
    from ..output import table

    if not rows:
        return "the cache is empty\n"
    return table(
        ("ACCOUNT", "ALIAS", "ROLE", "HOP", "SOURCE", "EXPIRES IN"),
        (
            (
                row["account_id"] or "",
                row["alias"] or "-",
                (row["role_arn"] or "").split(":role/")[-1] or f"(MFA {str(row['mfa_serial']).split('/')[-1]})",
                row["hop"],
                row["source"] or "",
                _human(row["expires_in_seconds"]),
            )
            for row in rows
        ),
    )


def _human(seconds: int | None) -> str:
    if seconds is None:
        return "never"
    if seconds <= 0:
        return "expired"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def clear(config: Config, target: str | None, env: Mapping[str, str], log: Log, *, forget_key: bool = False) -> int:
    """Delete all entries (no key needed), or those of one alias / account id
    (any hop in that account); returns the count. ``forget_key`` also deletes
    the stored cache key, so the next use creates a new one."""
    from .. import keystore, locations, memo, trust
    from ..cache import Cache
    from ..obtain import open_cache
    from ..plan import find_account

    refused = trust.cache_error(env)  # nothing is deleted in a directory another user can change
    if refused is not None:
        raise refused
    if target is None:
        if forget_key:  # first: a key store that fails (exit 6) leaves the cache as it was
            keystore.delete_key(config.key_store, env)
        # Every memo (answers repeat entries; the rest is made again on use), never a lock file.
        memo.forget_all(os.fspath(locations.cache_dir(env)))
        return Cache.clear_directory(locations.cache_dir(env))
    if forget_key:
        raise UsageError("--key clears everything; it cannot be combined with a TARGET", "drop the TARGET or --key")
    # Exit code 3, as `get` says the same of the same target; 6 without the cache: nothing deleted then.
    account = find_account(config, target, see_also="credproc cache list shows what is cached")
    cache = open_cache(config, env, log, required=True)
    memo.forget_all(os.fspath(locations.cache_dir(env)))  # answers of that target among them
    if cache is None:
        return 0
    removed = 0
    for name, entry in list(cache.entries()):
        meta = entry.meta
        if (
            meta.get("alias") == target
            or meta.get("account_id") == target
            or (account and meta.get("account_id") == account.id)
        ):
            cache.remove(name)
            removed += 1
    return removed
