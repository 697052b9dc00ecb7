"""What each table of the config file may hold: the checker of every key,
the validated values (``Settings``), and the fix for a bad value of each key.

config.py reads the file and names the file, line and key; plan.py checks what
needs the account or partition, and takes its fixes from :func:`hint_for`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from . import rules

KEY_STORES = ("auto", "keyring", "file", "env")

# Allowed keys per table, with the checker for each value. Unknown keys are an
# error: a typo such as `extrenal_id` would otherwise silently drop a setting
# an organisation relies on.
Checker = Callable[[Any], Any]


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{value!r} is not a non-empty string")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not true or false")
    return value


def _key_store(value: Any) -> str:
    if value not in KEY_STORES:
        raise ValueError(f"{value!r} is not one of {', '.join(KEY_STORES)}")
    return str(value)


def _stored(value: Any) -> str:
    from .stored_key import name_problem  # only when the key is set

    text = _string(value)
    problem = name_problem(text)
    if problem:
        raise ValueError(problem)
    return text


def _role(value: Any) -> str:
    # Fully checked once the account and partition are known (plan.py).
    return _string(value)


def _template(value: Any) -> str:
    return _string(value)


def _command(value: Any) -> str:
    # Split like the command will be run (no shell), so a quoting mistake is
    # reported at load time with the key's line, not when a code is needed.
    import shlex

    text = _string(value)
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} cannot be split into a command line ({exc})") from None
    if not words:
        raise ValueError(f"{text!r} holds no command")
    return text


LABEL_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}"
MAX_LABELS = 50


def _labels(value: Any) -> tuple[str, ...]:
    """``labels = ["prod", "eu"]``: short words that ``each --label`` selects by (order kept, repeats dropped)."""
    if not isinstance(value, list):
        raise ValueError(f"{value!r} is not a list of labels")
    if len(value) > MAX_LABELS:
        raise ValueError(f"lists {len(value)} labels; at most {MAX_LABELS} are allowed")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not re.fullmatch(LABEL_PATTERN, item):
            raise ValueError(f"item {index + 1} ({item!r}) is not a label of 1-64 letters, digits and _.:-")
    return tuple(dict.fromkeys(value))


class NestedValueError(ValueError):
    """A bad value inside a key's value (a ``via`` table): ``path`` extends the key."""

    def __init__(self, message: str, path: str, key: str) -> None:
        super().__init__(message)
        self.path = path
        self.key = key


class ViaEntry(NamedTuple):
    """One intermediate hop: a role ARN and the options of its own AssumeRole call."""

    role_arn: str
    options: Settings


def _via(value: Any) -> tuple[ViaEntry, ...]:
    if not isinstance(value, list):
        raise ValueError(f"{value!r} is not a list of role ARNs")
    entries: list[ViaEntry] = []
    for index, item in enumerate(value):
        if isinstance(item, str):
            entries.append(ViaEntry(item, Settings()))
        elif isinstance(item, dict):
            entries.append(_via_entry(index, item))
        else:
            raise ValueError(f"item {index + 1} ({item!r}) is neither a role ARN nor a table with role_arn")
    return tuple(entries)


def _via_entry(index: int, raw: dict[str, Any]) -> ViaEntry:
    values: dict[str, Any] = {}
    for key, value in raw.items():
        checker = VIA_KEYS.get(key)
        if checker is None:
            from difflib import get_close_matches

            close = get_close_matches(key, tuple(VIA_KEYS), n=1)
            message = "unknown setting" + (f" (did you mean {close[0]!r}?)" if close else "")
            raise NestedValueError(message, f"[{index}].{key}", "via_keys")
        try:
            values[key] = checker(value)
        except ValueError as exc:
            raise NestedValueError(str(exc), f"[{index}].{key}", key) from None
    if "role_arn" not in values:
        raise NestedValueError("a via table needs role_arn", f"[{index}]", "via")
    return ViaEntry(values.pop("role_arn"), Settings(**values))


SOURCE_KEYS: dict[str, Checker] = {
    "profile": _string,
    "stored": _stored,  # keys kept by `credproc source` (source_keys.py), instead of a profile
    "region": rules.region,
    "mfa_serial": rules.mfa_serial,
    "mfa_duration": rules.mfa_duration,
    "mfa_process": _command,
}
# Options of one AssumeRole call: allowed in [defaults], [accounts.X] and via tables.
SESSION_KEYS: dict[str, Checker] = {
    "duration": rules.duration,
    "session_name": _template,
    "external_id": rules.external_id,
    "tags": rules.tags,
    "transitive_tags": rules.transitive_tags,
    "policy": rules.session_policy,
    "policy_arns": rules.policy_arns,
}
DEFAULT_KEYS: dict[str, Checker] = {
    "role": _role,
    **SESSION_KEYS,
    "source_identity": _template,
    "region": rules.region,
    "via": _via,
}
ACCOUNT_KEYS: dict[str, Checker] = {
    "id": rules.account_id,
    **DEFAULT_KEYS,
    "mfa_serial": rules.mfa_serial,
    "labels": _labels,  # [accounts.X] only: what `each --label` selects by (Account.labels, not Settings)
}
VIA_KEYS: dict[str, Checker] = {"role_arn": _string, **SESSION_KEYS}
CACHE_KEYS: dict[str, Checker] = {
    "enabled": _boolean,
    "key_store": _key_store,
    "refresh_margin": rules.margin,
}
# Where `accounts discover` lists the organization from (the ARN is checked
# against the partition when used, like roles).
ORGANIZATIONS_KEYS: dict[str, Checker] = {"role_arn": _role}
TOP_LEVEL = ("source", "defaults", "accounts", "cache", "organizations")


class Settings(NamedTuple):
    """Validated values of one table (``[defaults]`` or ``[accounts.X]``)."""

    role: str | None = None
    duration: int | None = None
    session_name: str | None = None
    region: str | None = None
    external_id: str | None = None
    via: tuple[ViaEntry, ...] | None = None
    source_identity: str | None = None  # a template, like session_name
    tags: tuple[tuple[str, str], ...] | None = None
    transitive_tags: tuple[str, ...] | None = None
    policy: str | None = None  # compact JSON
    policy_arns: tuple[str, ...] | None = None
    mfa_serial: str | None = None  # [accounts.X] only: a device other than [source]'s


_HINTS = {
    "id": 'use the 12-digit account id as a string, e.g. id = "123456789012"',
    "role": "use a role name (Deployer) or a role ARN in the target account",
    "duration": 'use seconds or 15m .. 12h, e.g. duration = "1h"',
    "session_name": "use 2-64 characters of letters, digits and +=,.@_- ; placeholders {user} {host} {alias} {account}",
    "region": 'use a region name such as "us-east-1"',
    "external_id": "use 2-1224 characters of letters, digits and +=,.@:/_-",
    "via": 'list full role ARNs or tables, e.g. via = ["arn:aws:iam::222222222222:role/hub"] or '
    'via = [{ role_arn = "arn:aws:iam::222222222222:role/hub", external_id = "..." }]',
    "via_keys": "a via table may hold role_arn, " + ", ".join(SESSION_KEYS),
    "role_arn": 'use a full role ARN, e.g. role_arn = "arn:aws:iam::222222222222:role/hub"',
    "mfa_serial": 'use the MFA device ARN, e.g. mfa_serial = "arn:aws:iam::123456789012:mfa/me"',
    "mfa_duration": 'use 15m .. 36h, e.g. mfa_duration = "12h"',
    "mfa_process": 'give a command that prints the 6-digit code, e.g. mfa_process = "ykman oath accounts code --single AWS"',
    "source_identity": "use a template of 2-64 characters of letters, digits and +=,.@_- ; placeholders {user} {host} {alias} {account}",
    "tags": 'use a table of strings, e.g. tags = { team = "platform" } (at most 50; keys 1-128, values 0-256 characters)',
    "transitive_tags": 'list keys of tags, e.g. transitive_tags = ["team"]',
    "policy": "give a JSON policy document as a string of at most 2048 characters (whitespace not counted)",
    "policy_arns": 'list at most 10 policy ARNs, e.g. policy_arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]',
    "profile": 'name a profile from ~/.aws/config, e.g. profile = "shared"',
    "stored": 'name keys stored with credproc source add, e.g. stored = "default" (see credproc source list)',
    "enabled": "use enabled = true or enabled = false",
    "key_store": 'use one of "auto", "keyring", "file", "env"',
    "refresh_margin": 'use e.g. refresh_margin = "15m"',
    "labels": 'list short words, e.g. labels = ["prod", "eu"] (each 1-64 letters, digits and _.:-, starting with a letter or digit)',
}


# The same fixes for a command-line flag, where its syntax differs from TOML's.
_FLAG_HINTS = {
    "duration": "use seconds or 15m .. 12h, e.g. --duration 1h",
    "region": "use a region name such as us-east-1",
}


def hint_for(key: str, *, flag: bool = False) -> str:
    """The fix for a bad value of ``key``, given in the config file or (``flag``) on the command line."""
    return (_FLAG_HINTS.get(key) if flag else None) or _HINTS.get(key, "see the README's config section")
