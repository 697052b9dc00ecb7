"""When cached credentials may be handed out (pure: the caller passes the time).

The one rule: credentials are fresh while ``now`` is before their expiry minus
a margin. The full path applies it to cache entries (:func:`is_fresh`); a
remembered answer stores the moment it stops holding (:func:`fresh_until`) and
the fast path asks :func:`still_fresh`, so this module imports nothing at run
time (remembered.py loads it on every warm hit).
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: the fast path must not import typing
if TYPE_CHECKING:
    from datetime import datetime

    from .aws_credentials import Credentials
    from .errors import CredprocError

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


def command_margin(duration: int) -> int:
    """What the credentials a command is started with must have left (exec,
    each): half the session. The cache's own margin is far too little for a
    command that runs on with them and cannot refresh them."""
    return duration // 2


def fresh_until(credentials: Credentials, margin: int) -> float | None:
    """The POSIX time from which ``credentials`` are no longer fresh with
    ``margin`` (their expiry minus the margin); None when they never expire."""
    if credentials.expiration is None:
        return None
    return credentials.expiration.timestamp() - margin


def still_fresh(until: float | None, now: float) -> bool:
    """Whether ``now`` (POSIX time) is before ``until`` from :func:`fresh_until`."""
    return until is None or now < until


def is_fresh(credentials: Credentials, now: datetime, margin: int) -> bool:
    """More than ``margin`` seconds left (credentials without expiry are always fresh).

    Only the expiry STS gave and the local clock count: after the clock jumps
    forward entries look older and are refreshed; after it jumps back they
    look younger and are reused, which is what botocore will believe too.
    """
    return still_fresh(fresh_until(credentials, margin), now.timestamp())


def is_usable(credentials: Credentials, now: datetime) -> bool:
    """Still valid for at least a minute: good enough when a refresh failed."""
    return is_fresh(credentials, now, MIN_VALID)


def stale_allowed(error: CredprocError) -> bool:
    """Whether a refresh that failed this way may hand out still-usable cached credentials.

    Only when STS could not answer: unreachable, timed out, throttling or
    failing (UnavailableError), or another credproc held the lock too long
    (CacheError). A refusal, a bad config or a missing MFA code fails.
    """
    from .errors import CacheError, UnavailableError  # the failure path only: the fast path imports nothing

    return isinstance(error, UnavailableError | CacheError)


def revokes(error: CredprocError) -> bool:
    """Whether STS refused outright (access denied, invalid or expired token, a
    rejected MFA code): the cached sessions that depend on the refused call are
    then dropped, so no later run hands them out either."""
    from .errors import MfaRejectedError, RefusedError

    return isinstance(error, RefusedError | MfaRejectedError)
