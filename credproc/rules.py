"""STS and IAM input rules, checked before any network call (pure functions).

Each checker raises :class:`ValueError` with a short reason; callers turn that
into a :class:`~credproc.errors.ConfigError` naming the setting it came from.
"""

from __future__ import annotations

import re

MIN_DURATION = 900
MAX_DURATION = 43200
ROLE_CHAINING_MAX = 3600

_ACCOUNT_ID = re.compile(r"[0-9]{12}")
_SESSION_BAD = re.compile(r"[^\w+=,.@-]", re.ASCII)
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]*", re.ASCII)
_ROLE_NAME = re.compile(r"(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}", re.ASCII)
_ROLE_ARN = re.compile(
    r"arn:(?P<partition>aws|aws-cn|aws-us-gov):iam::(?P<account>[0-9]{12}):role/"
    r"(?P<name>(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64})",
    re.ASCII,
)
_DURATION = re.compile(r"(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s?)?")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}")


def account_id(value: object) -> str:
    """A 12-digit AWS account id."""
    if not isinstance(value, str) or not _ACCOUNT_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a 12-digit account id")
    return value


def region(value: object) -> str:
    """An AWS region name such as us-east-1."""
    if not isinstance(value, str) or not _REGION.fullmatch(value):
        raise ValueError(f"{value!r} is not an AWS region name (like us-east-1)")
    return value


def partition_of(region_name: str) -> str:
    """The ARN partition a region belongs to."""
    if region_name.startswith("cn-"):
        return "aws-cn"
    if region_name.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def duration(value: object) -> int:
    """Seconds, from an int or a string like "900", "15m", "1h", "1h30m"."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and value.strip():
        match = _DURATION.fullmatch(value.strip())
        if not match or not any(match.groups()):
            raise ValueError(f"{value!r} is not a duration (use seconds or forms like 15m, 1h, 12h)")
        hours, minutes, secs = (int(g) if g else 0 for g in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    else:
        raise ValueError(f"{value!r} is not a duration (use seconds or forms like 15m, 1h, 12h)")
    if not MIN_DURATION <= seconds <= MAX_DURATION:
        raise ValueError(f"{value!r} is {seconds} s; STS accepts 900 s (15m) to 43200 s (12h)")
    return seconds


def margin(value: object) -> int:
    """A refresh margin in seconds: 0 to 12 h, same notation as durations."""
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value.strip())) and any(match.groups()):
        hours, minutes, secs = (int(g) if g else 0 for g in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    else:
        raise ValueError(f"{value!r} is not a duration (use seconds or forms like 15m)")
    if not 0 <= seconds <= MAX_DURATION:
        raise ValueError(f"{value!r} must be between 0 and 12h")
    return seconds


def role_arn(role: object, account: str, partition: str) -> str:
    """A role ARN from a role name (optionally with a path) or a full ARN.

    A full ARN must be in ``account`` and ``partition``: a role in another
    account would hand out credentials for the wrong account.
    """
    if not isinstance(role, str) or not role:
        raise ValueError(f"{role!r} is not a role name or ARN")
    if role.startswith("arn:"):
        match = _ROLE_ARN.fullmatch(role)
        if not match:
            raise ValueError(f"{role!r} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)")
        if match["partition"] != partition:
            raise ValueError(f"{role!r} is in partition {match['partition']}, the region's is {partition}")
        if match["account"] != account:
            raise ValueError(f"{role!r} is in account {match['account']}, not the target {account}")
        return role
    if not _ROLE_NAME.fullmatch(role.strip("/")):
        raise ValueError(f"{role!r} is not a role name (1-64 chars of letters, digits and +=,.@_-)")
    return f"arn:{partition}:iam::{account}:role/{role.strip('/')}"


def hop_role_arn(value: object, partition: str) -> str:
    """A full role ARN for an intermediate hop (any account, same partition)."""
    match = _ROLE_ARN.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"{value!r} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)")
    if match["partition"] != partition:
        raise ValueError(f"{value!r} is in partition {match['partition']}, the region's is {partition}")
    return str(value)


def account_of_arn(arn: str) -> str:
    """The account id inside a role ARN that :func:`hop_role_arn` accepted."""
    return arn.split(":")[4]


def session_name(template: object, fields: dict[str, str]) -> str:
    """Expand a session-name template and make it a valid RoleSessionName.

    Characters STS does not allow become ``-`` (user names with spaces or
    non-ASCII letters are common); the result is cut to 64 characters.
    """
    if not isinstance(template, str):
        raise ValueError(f"{template!r} is not a string")
    try:
        expanded = template.format_map(fields)
    except (KeyError, ValueError, IndexError) as exc:
        allowed = ", ".join("{" + key + "}" for key in sorted(fields))
        raise ValueError(f"{template!r} has an unknown placeholder ({exc}); allowed: {allowed}") from None
    cleaned = _SESSION_BAD.sub("-", expanded)[:64]
    if len(cleaned.strip("-")) < 2:
        raise ValueError(
            f"{template!r} expands to {cleaned!r}; a session name needs 2-64 characters of [A-Za-z0-9+=,.@_-]"
        )
    return cleaned


def external_id(value: object) -> str:
    """An ExternalId: 2-1224 characters of ``[\\w+=,.@:/-]``."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    if not 2 <= len(value) <= 1224:
        raise ValueError(f"is {len(value)} characters long; STS accepts 2 to 1224")
    if not _EXTERNAL_ID.fullmatch(value):
        raise ValueError("has characters STS does not accept (allowed: letters, digits and +=,.@:/_-)")
    return value
