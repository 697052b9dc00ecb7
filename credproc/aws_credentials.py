"""Credentials as credproc passes them around: secrets never in a repr."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


class Credentials:
    """A set of AWS credentials; ``expiration`` is timezone-aware UTC or None.

    A plain class, not a tuple: it cannot be iterated, indexed or turned into
    JSON whole, so the secret key and the session token leave only through
    their named fields, and the repr shows neither.
    """

    __slots__ = ("access_key_id", "account_id", "expiration", "secret_access_key", "session_token")

    def __init__(
        self,
        access_key_id: str,
        secret_access_key: str,
        session_token: str | None = None,
        expiration: datetime | None = None,
        account_id: str | None = None,
    ) -> None:
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.session_token = session_token
        self.expiration = expiration
        self.account_id = account_id

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credentials):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # compared by value, never a key

    def __repr__(self) -> str:
        return (
            f"Credentials(access_key_id={self.access_key_id!r}, expiration={self.expiration!r}, "
            f"account_id={self.account_id!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for the encrypted cache (never for logs)."""
        return {
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "SessionToken": self.session_token,
            "Expiration": format_time(self.expiration) if self.expiration else None,
            "AccountId": self.account_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Credentials:
        expiration = data.get("Expiration")
        return cls(
            access_key_id=data["AccessKeyId"],
            secret_access_key=data["SecretAccessKey"],
            session_token=data.get("SessionToken"),
            expiration=parse_time(expiration) if expiration else None,
            account_id=data.get("AccountId"),
        )

    def remaining(self, now: datetime) -> float | None:
        """Seconds left before expiry (None when they do not expire)."""
        if self.expiration is None:
            return None
        return (self.expiration - now).total_seconds()


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC ending in Z, whole seconds (rounded down: never later than STS said)."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 timestamp into aware UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
