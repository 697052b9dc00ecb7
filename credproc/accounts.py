"""`credproc accounts`: the configured accounts, with the role each resolves to."""

from __future__ import annotations

from typing import Any

from .config import DEFAULT_REGION, Config


def account_rows(config: Config) -> list[dict[str, Any]]:
    """One row per configured account (validates every account table).

    The JSON form is a contract with the CDK plugin: a list of objects with
    ``alias``, ``id``, ``role`` (name or ARN, or null), ``region`` and ``via``.
    """
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
            }
        )
    return rows


def render_accounts(rows: list[dict[str, Any]]) -> str:
    """A plain table for people."""
    if not rows:
        return "no accounts configured\n"
    table = [("ALIAS", "ACCOUNT", "ROLE", "REGION", "HOPS")] + [
        (row["alias"], row["id"], row["role"] or "-", row["region"], str(len(row["via"]) + 1)) for row in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(5)]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() + "\n" for line in table
    )
