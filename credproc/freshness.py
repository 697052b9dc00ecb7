"""When cached credentials may be handed out (pure: the caller passes the time)."""

from __future__ import annotations

from datetime import datetime

from .credentials import Credentials

# An intermediate hop's credentials are only used to call AssumeRole for the
# next hop, whose session lasts on its own; a minute of validity is plenty.
INTERMEDIATE_MARGIN = 60
# Below this, even "still valid" credentials are not worth handing out.
MIN_VALID = 60


def final_margin(refresh_margin: int, duration: int) -> int:
    """The margin for the credentials handed to the caller.

    A margin as long as the session would make the cache useless (a 900 s
    session is always inside botocore's 15 min window); cap it at half the
    session so such sessions are still reused for a while.
    """
    return min(refresh_margin, duration // 2)


def is_fresh(credentials: Credentials, now: datetime, margin: int) -> bool:
    """More than ``margin`` seconds left (credentials without expiry are always fresh)."""
    remaining = credentials.remaining(now)
    return remaining is None or remaining > margin


def is_usable(credentials: Credentials, now: datetime) -> bool:
    """Still valid for at least a minute: good enough when a refresh failed."""
    return is_fresh(credentials, now, MIN_VALID)
