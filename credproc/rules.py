"""STS and IAM input rules, checked before any network call (pure functions).

Each checker raises :class:`ValueError` with a short reason; callers turn that
into a :class:`~credproc.errors.ConfigError` naming the setting it came from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

MIN_DURATION = 900
MAX_DURATION = 43200
ROLE_CHAINING_MAX = 3600
MFA_MAX_DURATION = 129600  # GetSessionToken for an IAM user: up to 36 h
MAX_TAGS = 50
MAX_POLICY_CHARS = 2048
MAX_POLICY_ARNS = 10

# Patterns as text, compiled on first use by re's own cache: a run compiles
# only those it checks, not all 12 at import. (?a): ASCII \w.
_ACCOUNT_ID = r"[0-9]{12}"
_SESSION_BAD = r"(?a)[^\w+=,.@-]"
_EXTERNAL_ID = r"(?a)[\w+=,.@:/-]*"
_ROLE_NAME = r"(?a)(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}"
_ROLE_ARN = (
    r"(?a)arn:(?P<partition>aws|aws-cn|aws-us-gov):iam::(?P<account>[0-9]{12}):role/"
    r"(?P<name>(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64})"
)
_MFA_SERIAL = r"(?a)[\w+=/:,.@-]{9,256}"
_MFA_ARN = r"(?a)arn:(?P<partition>aws|aws-cn|aws-us-gov):iam::[0-9]{12}:mfa/[\w+=,.@/-]+"
_MFA_CODE = r"[0-9]{6}"
# STS's tag pattern, [\p{L}\p{Z}\p{N}_.:/=+\-@]: re has no \p{..} classes, and \s
# would let in control characters STS refuses (\x1c-\x1f, \x85).
_TAG_CATEGORIES = frozenset("LZN")  # the first letter of the Unicode general category
_TAG_PUNCTUATION = frozenset("_.:/=+-@")
_POLICY_ARN = (
    r"(?a)arn:(?P<partition>aws|aws-cn|aws-us-gov):iam::(?:[0-9]{12}|aws):policy/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,128}"
)
_DURATION = r"(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s?)?"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}"


def account_id(value: object) -> str:
    """A 12-digit AWS account id."""
    if not isinstance(value, str) or not re.fullmatch(_ACCOUNT_ID, value):
        raise ValueError(f"{value!r} is not a 12-digit account id")
    return value


def region(value: object) -> str:
    """An AWS region name such as us-east-1."""
    if not isinstance(value, str) or not re.fullmatch(_REGION, value):
        raise ValueError(f"{value!r} is not an AWS region name (like us-east-1)")
    return value


def timeout_seconds(value: str, *, zero_ok: bool) -> float:
    """A timeout from an environment variable: a finite number of seconds."""
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number of seconds") from None
    if not (seconds >= 0 if zero_ok else seconds > 0) or seconds == float("inf"):
        raise ValueError(f"{value!r} is not a usable number of seconds (more than 0{', or 0' if zero_ok else ''})")
    return seconds


def seconds_setting(
    env: Mapping[str, str], variable: str, default: float, *, zero_ok: bool, example: float | None = None
) -> float:
    """A timeout or budget from the environment variable ``variable``, or ``default`` when unset.

    A typo such as "2m" must not silently become another timeout: it is a
    ConfigError naming the variable (``example``: the value the hint suggests).
    """
    from .errors import ConfigError

    text = env.get(variable, "")
    if not text:
        return default
    try:
        return timeout_seconds(text, zero_ok=zero_ok)
    except ValueError as exc:
        suggested = default if example is None else example
        raise ConfigError(f"{variable}: {exc}", f"unset it, or give seconds, e.g. {variable}={suggested:g}") from None


def partition_of(region_name: str) -> str:
    """The ARN partition a region belongs to."""
    if region_name.startswith("cn-"):
        return "aws-cn"
    if region_name.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def duration(value: object, maximum: int = MAX_DURATION) -> int:
    """Seconds, from an int or a string like "900", "15m", "1h", "1h30m"."""
    seconds = _seconds(value, "15m, 1h, 12h")
    if not MIN_DURATION <= seconds <= maximum:
        raise ValueError(f"{value!r} is {seconds} s; STS accepts 900 s (15m) to {maximum} s ({maximum // 3600}h)")
    return seconds


def mfa_duration(value: object) -> int:
    """A GetSessionToken duration: 900 s to 36 h."""
    return duration(value, MFA_MAX_DURATION)


def margin(value: object) -> int:
    """A refresh margin in seconds: 0 to 12 h, same notation as durations."""
    seconds = _seconds(value, "15m")
    if not 0 <= seconds <= MAX_DURATION:
        raise ValueError(f"{value!r} must be between 0 and 12h")
    return seconds


def _seconds(value: object, examples: str) -> int:
    """The duration notation: an int, or "900", "15m", "1h30m" (no bounds checked)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = re.fullmatch(_DURATION, value.strip()) if isinstance(value, str) else None
    if match is None or not any(match.groups()):
        raise ValueError(f"{value!r} is not a duration (use seconds or forms like {examples})")
    hours, minutes, secs = (int(group) if group else 0 for group in match.groups())
    return hours * 3600 + minutes * 60 + secs


def role_arn(role: object, account: str, partition: str) -> str:
    """A role ARN from a role name (optionally with a path) or a full ARN.

    A full ARN must be in ``account`` and ``partition``: a role in another
    account would hand out credentials for the wrong account.
    """
    if not isinstance(role, str) or not role:
        raise ValueError(f"{role!r} is not a role name or ARN")
    if role.startswith("arn:"):
        match = re.fullmatch(_ROLE_ARN, role)
        if not match:
            raise ValueError(f"{role!r} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)")
        if match["partition"] != partition:
            raise ValueError(f"{role!r} is in partition {match['partition']}, the region's is {partition}")
        if match["account"] != account:
            raise ValueError(f"{role!r} is in account {match['account']}, not the target {account}")
        return role
    if not re.fullmatch(_ROLE_NAME, role.strip("/")):
        raise ValueError(f"{role!r} is not a role name (1-64 chars of letters, digits and +=,.@_-)")
    return f"arn:{partition}:iam::{account}:role/{role.strip('/')}"


def hop_role_arn(value: object, partition: str) -> str:
    """A full role ARN for an intermediate hop (any account, same partition)."""
    match = re.fullmatch(_ROLE_ARN, value) if isinstance(value, str) else None
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
    return _identifier(template, fields, "a session name")


def source_identity(template: object, fields: dict[str, str]) -> str:
    """Expand a SourceIdentity template (e.g. ``{user}``); same rules as session names."""
    return _identifier(template, fields, "a source identity")


def _identifier(template: object, fields: dict[str, str], what: str) -> str:
    # RoleSessionName and SourceIdentity share STS's rule: 2-64 of [\w+=,.@-].
    if not isinstance(template, str):
        raise ValueError(f"{template!r} is not a string")
    try:
        expanded = template.format_map(fields)
    except (KeyError, ValueError, IndexError) as exc:
        allowed = ", ".join("{" + key + "}" for key in sorted(fields))
        raise ValueError(f"{template!r} has an unknown placeholder ({exc}); allowed: {allowed}") from None
    cleaned = re.sub(_SESSION_BAD, "-", expanded)[:64]
    if len(cleaned.strip("-")) < 2:
        raise ValueError(f"{template!r} expands to {cleaned!r}; {what} needs 2-64 characters of [A-Za-z0-9+=,.@_-]")
    return cleaned


def external_id(value: object) -> str:
    """An ExternalId: 2-1224 characters of ``[\\w+=,.@:/-]``."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    if not 2 <= len(value) <= 1224:
        raise ValueError(f"is {len(value)} characters long; STS accepts 2 to 1224")
    if not re.fullmatch(_EXTERNAL_ID, value):
        raise ValueError("has characters STS does not accept (allowed: letters, digits and +=,.@:/_-)")
    return value


def mfa_serial(value: object) -> str:
    """An MFA device: its ARN (arn:aws:iam::123456789012:mfa/NAME) or a hardware serial number."""
    if not isinstance(value, str) or not re.fullmatch(_MFA_SERIAL, value):
        raise ValueError(
            f"{value!r} is not an MFA device ARN (arn:aws:iam::123456789012:mfa/NAME) "
            "or serial number (9-256 characters of letters, digits and +=/:,.@_-)"
        )
    if value.startswith("arn:") and not re.fullmatch(_MFA_ARN, value):
        raise ValueError(f"{value!r} is not an MFA device ARN (arn:aws:iam::123456789012:mfa/NAME)")
    return value


def mfa_serial_partition(serial: str) -> str | None:
    """The partition of an MFA device ARN; None for a hardware serial number."""
    match = re.fullmatch(_MFA_ARN, serial)
    return match["partition"] if match else None


def mfa_code(value: str) -> str:
    """A one-time MFA code: exactly 6 digits (surrounding whitespace is dropped)."""
    code = value.strip()
    if not re.fullmatch(_MFA_CODE, code):
        # Never echo the value: it may be a secret printed by a misconfigured command.
        raise ValueError(f"is not a 6-digit code ({len(code)} characters)")
    return code


def tags(value: object) -> tuple[tuple[str, str], ...]:
    """Session tags from a table of strings, sorted by key (order does not matter to STS)."""
    if not isinstance(value, dict):
        raise ValueError(f"{value!r} is not a table of tag = value strings")
    if len(value) > MAX_TAGS:
        raise ValueError(f"has {len(value)} tags; STS accepts at most {MAX_TAGS}")
    seen: dict[str, str] = {}
    for key, text in value.items():
        if not 1 <= len(key) <= 128 or not _tag_text(key):
            raise ValueError(f"tag key {key!r} must be 1-128 letters, digits, spaces or _.:/=+-@")
        if key.lower().startswith("aws:"):
            raise ValueError(f"tag key {key!r}: the aws: prefix is reserved")
        if key.lower() in seen:
            raise ValueError(f"tag keys {seen[key.lower()]!r} and {key!r} differ only in case; STS refuses that")
        seen[key.lower()] = key
        if not isinstance(text, str) or len(text) > 256 or not _tag_text(text):
            raise ValueError(f"tag {key!r}: the value must be a string of 0-256 letters, digits, spaces or _.:/=+-@")
    return tuple(sorted((key, str(text)) for key, text in value.items()))


def _tag_text(text: str) -> bool:
    """Whether every character of ``text`` is one STS allows in a tag key or value:
    a Unicode letter, number or separator (categories L*, N*, Z*), or one of _.:/=+-@."""
    import unicodedata

    return all(char in _TAG_PUNCTUATION or unicodedata.category(char)[0] in _TAG_CATEGORIES for char in text)


def transitive_tags(value: object) -> tuple[str, ...]:
    """TransitiveTagKeys: a list of tag keys (checked against ``tags`` in the plan)."""
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValueError(f"{value!r} is not a list of tag keys")
    if len(value) > MAX_TAGS:
        raise ValueError(f"lists {len(value)} keys; STS accepts at most {MAX_TAGS}")
    return tuple(value)


def session_policy(value: object) -> str:
    """An inline session policy: a JSON object, sent compact, at most 2048 characters."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string holding a JSON policy document")
    try:
        document = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(document, dict):
        raise ValueError("is not a JSON object (a policy document is {...})")
    # Compact, so the layout of a readable multi-line TOML string does not count
    # against STS's size limit (and does not change the cache key).
    # json.dumps escapes non-ASCII as \uXXXX: valid JSON, and STS accepts only ASCII/Latin-1 here.
    compact = json.dumps(document, separators=(",", ":"))
    if len(compact) > MAX_POLICY_CHARS:
        raise ValueError(f"is {len(compact)} characters even without whitespace; STS accepts {MAX_POLICY_CHARS}")
    return compact


def policy_arns(value: object) -> tuple[str, ...]:
    """Managed session policies: at most 10 IAM policy ARNs."""
    if not isinstance(value, list):
        raise ValueError(f"{value!r} is not a list of IAM policy ARNs")
    if len(value) > MAX_POLICY_ARNS:
        raise ValueError(f"lists {len(value)} policies; STS accepts at most {MAX_POLICY_ARNS}")
    for item in value:
        if not isinstance(item, str) or not re.fullmatch(_POLICY_ARN, item):
            raise ValueError(f"{item!r} is not an IAM policy ARN (arn:aws:iam::aws:policy/ReadOnlyAccess)")
    return tuple(value)


def policy_arn_partition(arn: str) -> str:
    """The partition of a policy ARN that :func:`policy_arns` accepted."""
    return arn.split(":")[1]
