"""One stored pair of source keys (source_keys.py keeps them): the forms its
name and keys must have, and the record the keychain item, the sealed file and
the index hold of it. Pure: no file, keychain or clock.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from .errors import UsageError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+=-]{0,63}")
_KEY_ID = re.compile(r"[A-Za-z0-9]{16,128}")  # IAM's AccessKeyId: 16-128 word characters
_SECRET = re.compile(r"[\x21-\x7e]{16,256}")  # printable ASCII, no spaces (an IAM secret is 40 characters)
NAME_RULE = "1-64 letters, digits and ._@+=- , starting with a letter or digit"


class StoredKey(NamedTuple):
    """One stored pair of long-term keys and what is known about them (never printed whole)."""

    name: str
    access_key_id: str
    secret_access_key: str  # "" in :func:`stored`'s listing: read it with :func:`load`
    arn: str | None  # the identity's ARN, when GetCallerIdentity said it
    created: str  # ISO-8601 UTC: when IAM created the key if known, else when it was stored
    where: str  # "keychain" or "file"

    def __repr__(self) -> str:
        return (
            f"StoredKey(name={self.name!r}, access_key_id={self.access_key_id!r}, arn={self.arn!r}, "
            f"created={self.created!r}, where={self.where!r})"
        )

    def masked(self) -> str:
        """The access key id as ``AKIA…WXYZ``."""
        return mask(self.access_key_id)


def mask(access_key_id: str) -> str:
    """An access key id as ``AKIA…WXYZ``: enough to tell keys apart, never the whole id."""
    return f"{access_key_id[:4]}…{access_key_id[-4:]}"


# -- checks -------------------------------------------------------------------------------------


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name stored keys, or None."""
    return None if _NAME.fullmatch(name) else f"{name[:70]!a} is not a name for stored keys ({NAME_RULE})"


def key_id_problem(access_key_id: str) -> str | None:
    if _KEY_ID.fullmatch(access_key_id):
        return None
    return "the access key id must be 16-128 letters and digits (like AKIAIOSFODNN7EXAMPLE)"


def secret_problem(secret: str) -> str | None:
    # Never quotes the value: it is a secret.
    if _SECRET.fullmatch(secret):
        return None
    return "the secret access key must be 16-256 printable characters without spaces"


def check_name(name: str) -> str:
    problem = name_problem(name)
    if problem:
        raise UsageError(problem, "choose a name such as default or work")
    return name


def check_keys(access_key_id: str, secret: str) -> None:
    """UsageError for a key id or secret that is not of IAM's form (where both are stored and where add reads them)."""
    for problem in (key_id_problem(access_key_id), secret_problem(secret)):
        if problem:
            raise UsageError(problem, "paste the key exactly as IAM showed it")


def record(key: StoredKey) -> dict[str, Any]:
    """The whole record, as the keychain item or sealed file holds it."""
    return {"version": 1, **{field: getattr(key, field) for field in StoredKey._fields if field != "where"}}


def from_record(data: Any, where: str) -> StoredKey | None:
    """The StoredKey of a record, or None for anything but one."""
    if not isinstance(data, dict) or data.get("version") != 1:
        return None
    name, key_id, secret, arn, created = (data.get(field) for field in StoredKey._fields[:-1])
    if not all(isinstance(value, str) for value in (name, key_id, secret, created)) or not isinstance(arn, str | None):
        return None
    return StoredKey(str(name), str(key_id), str(secret), arn, str(created), where)


def index_entry(key: StoredKey) -> dict[str, Any]:
    """What the index keeps of ``key``: everything but the name (its key there) and the secret."""
    return {"access_key_id": key.access_key_id, "arn": key.arn, "created": key.created, "where": key.where}


def from_index(name: str, entry: Any) -> StoredKey | None:
    """The StoredKey an index entry describes (secret blank), or None for anything but one."""
    if not isinstance(entry, dict):
        return None
    return from_record({"version": 1, "name": name, "secret_access_key": "", **entry}, str(entry.get("where")))
