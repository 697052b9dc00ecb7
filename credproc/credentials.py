"""Credentials as credproc passes them around: secrets never in a repr."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Credentials:
    """A set of AWS credentials; ``expiration`` is timezone-aware UTC or None."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    expiration: datetime | None = None
    account_id: str | None = None

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
