"""`credproc cache list` and `credproc cache clear`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from . import keystore, paths
from .cache import Cache
from .config import Config
from .credentials import format_time
from .errors import UsageError
from .log import Log
from .obtain import open_cache, utc_now
from .plan import find_account


def cache_rows(config: Config, env: Mapping[str, str], log: Log, now: datetime | None = None) -> list[dict[str, Any]]:
    """One row per readable entry: who, which role, through which source, how long left.

    Never a secret: only the entry's metadata and its expiry. A key store
    that cannot be used is an error here (exit 6), not an empty list.
    """
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
    if not rows:
        return "the cache is empty\n"
    header = ("ACCOUNT", "ALIAS", "ROLE", "HOP", "SOURCE", "EXPIRES IN")
    table = [header] + [
        (
            row["account_id"] or "",
            row["alias"] or "-",
            (row["role_arn"] or "").split(":role/")[-1] or f"(MFA {str(row['mfa_serial']).split('/')[-1]})",
            row["hop"],
            row["source"] or "",
            _human(row["expires_in_seconds"]),
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(len(header))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() + "\n" for line in table
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
    from .answers import forget_all

    forget_all(env)  # remembered answers only repeat entries: drop them all
    if target is None:
        removed = Cache.clear_directory(paths.cache_dir(env))
        if forget_key:
            keystore.delete_key(config.key_store, env)
        return removed
    if forget_key:
        raise UsageError("--key clears everything; it cannot be combined with a TARGET", "drop the TARGET or --key")
    # Exit code 3, as `get` says the same of the same target.
    account = find_account(config, target, see_also="credproc cache list shows what is cached")
    cache = open_cache(config, env, log, required=True)
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
