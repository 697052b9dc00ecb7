"""Rendering for the caller (pure: returns strings): credentials, and the
plain tables people read (``accounts``, ``cache list``).

Credentials come in three forms: the credential_process document (``get``'s default), a pretty
JSON document with the region (``get --format json``), and environment
variable assignments for a shell (``env``, ``get --format env``, and the
environment ``exec`` gives its command).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from .aws_credentials import Credentials, format_time

SHELLS = ("sh", "fish", "powershell")

# Removed from the environment the credentials go into: a profile variable
# would make SDKs prefer that profile over the variables we set, and the
# legacy AWS_SECURITY_TOKEN (still read by old boto) would pair a stale token
# with the new keys.
PROFILE_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")
STALE_VARIABLES = ("AWS_SECURITY_TOKEN",)


def process_json(credentials: Credentials, account_id: str) -> str:
    """The credential_process document every AWS SDK accepts (Version 1)."""
    return json.dumps(_document(credentials, account_id))


def pretty_json(credentials: Credentials, account_id: str, region: str) -> str:
    """The credential_process fields plus ``Region``, indented for people and jq."""
    return json.dumps({**_document(credentials, account_id), "Region": region}, indent=2)


def _document(credentials: Credentials, account_id: str) -> dict[str, object]:
    document: dict[str, object] = {
        "Version": 1,
        "AccessKeyId": credentials.access_key_id,
        "SecretAccessKey": credentials.secret_access_key,
    }
    if credentials.session_token:
        document["SessionToken"] = credentials.session_token
    if credentials.expiration:
        document["Expiration"] = format_time(credentials.expiration)
    document["AccountId"] = account_id
    return document


def credential_variables(credentials: Credentials, region: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """The variables to set, and those to remove, to hand ``credentials`` to a process."""
    values = {
        "AWS_ACCESS_KEY_ID": credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
    }
    remove = [*PROFILE_VARIABLES, *STALE_VARIABLES]
    if credentials.session_token:
        values["AWS_SESSION_TOKEN"] = credentials.session_token
    else:
        remove.append("AWS_SESSION_TOKEN")
    if credentials.expiration:
        values["AWS_CREDENTIAL_EXPIRATION"] = format_time(credentials.expiration)
    else:
        remove.append("AWS_CREDENTIAL_EXPIRATION")
    values["AWS_REGION"] = region
    values["AWS_DEFAULT_REGION"] = region
    return values, tuple(remove)


def shell_lines(values: Mapping[str, str], remove: tuple[str, ...], shell: str) -> str:
    """Lines for ``eval`` in ``shell`` that set ``values`` and unset ``remove``."""
    if shell == "sh":
        import shlex  # only for sh lines: the credential_process JSON is every get's

        lines = [f"export {name}={shlex.quote(value)}" for name, value in values.items()]
        lines += [f"unset {name}" for name in remove]
    elif shell == "fish":
        lines = [f"set -gx {name} {_fish_quote(value)}" for name, value in values.items()]
        lines += [f"set -e {name}" for name in remove]
    elif shell == "powershell":
        lines = [f"$Env:{name} = {_powershell_quote(value)}" for name, value in values.items()]
        lines += [f"Remove-Item -ErrorAction SilentlyContinue Env:{name}" for name in remove]
    else:
        raise ValueError(f"unknown shell {shell!r}")
    return "".join(line + "\n" for line in lines)


def _fish_quote(value: str) -> str:
    # Inside fish single quotes only \\ and \' are special.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _powershell_quote(value: str) -> str:
    # PowerShell single-quoted strings: a quote is doubled, nothing else expands.
    # The typographic single quotes count as quotes too, so they are doubled as well.
    for quote in ("'", "\u2018", "\u2019", "\u201a", "\u201b"):
        value = value.replace(quote, quote * 2)
    return "'" + value + "'"


def render(fmt: str, credentials: Credentials, account_id: str, region: str) -> str:
    """``get --format``: the chosen form, newline-terminated."""
    if fmt == "process":
        return process_json(credentials, account_id) + "\n"
    if fmt == "json":
        return pretty_json(credentials, account_id, region) + "\n"
    if fmt == "env":
        values, remove = credential_variables(credentials, region)
        return shell_lines(values, remove, "sh")
    raise ValueError(f"unknown format {fmt!r}")


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart under ``header``, one line per row."""
    lines = [tuple(header), *(tuple(row) for row in rows)]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() + "\n" for line in lines
    )
