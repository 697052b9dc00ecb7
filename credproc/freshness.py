"""When cached credentials may be handed out (pure: the caller passes the time)."""

from __future__ import annotations

from datetime import datetime

from .credentials import Credentials
from .errors import CacheError, CredprocError, MfaRejectedError, RefusedError, UnavailableError

# An intermediate hop's credentials are only used to call AssumeRole for the
# next hop, right away; the session that call returns lasts on its own (STS
# does not cut a chained session at its parent's expiry). So they only need to
# outlive that call: 5 minutes covers its worst case (the 30 s retry budget of
# credproc.retry, then one last attempt of 5 s connect + 10 s read) and a few
# minutes of clock skew with AWS.
INTERMEDIATE_MARGIN = 5 * 60
# Below this, even "still valid" credentials are not worth handing out.
MIN_VALID = 60


def final_margin(refresh_margin: int, duration: int) -> int:
    """The margin for the credentials handed to the caller.

    ``refresh_margin`` (default 15 min) matches botocore, which re-runs the
    process on every use once 15 minutes or less remain. A margin as long as
    the session would make the cache useless (a 900 s session is inside that
    window from its first second); cap it at half the session so such
    sessions are still reused for a while (botocore then re-runs credproc
    often, but each run is a cache hit).
    """
    return min(refresh_margin, duration // 2)


def is_fresh(credentials: Credentials, now: datetime, margin: int) -> bool:
    """More than ``margin`` seconds left (credentials without expiry are always fresh).

    Only the expiry STS gave and the local clock count: after the clock jumps
    forward entries look older and are refreshed; after it jumps back they
    look younger and are reused, which is what botocore will believe too.
    """
    remaining = credentials.remaining(now)
    return remaining is None or remaining > margin


def is_usable(credentials: Credentials, now: datetime) -> bool:
    """Still valid for at least a minute: good enough when a refresh failed."""
    return is_fresh(credentials, now, MIN_VALID)


def stale_allowed(error: CredprocError) -> bool:
    """Whether a refresh that failed this way may hand out still-usable cached credentials.

    Only when STS could not answer: unreachable, timed out, throttling or
    failing (UnavailableError), or another credproc held the lock too long
    (CacheError). A refusal, a bad config or a missing MFA code fails.
    """
    return isinstance(error, UnavailableError | CacheError)


def revokes(error: CredprocError) -> bool:
    """Whether STS refused outright (access denied, invalid or expired token, a
    rejected MFA code): the cached sessions that depend on the refused call are
    then dropped, so no later run hands them out either."""
    return isinstance(error, RefusedError | MfaRejectedError)
