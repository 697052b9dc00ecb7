"""What the credential endpoint hands out, and the thread that keeps it fresh.

Requests are answered from :class:`Current` (memory) only; STS is called by
the :class:`Refresher` thread, through ``credproc.obtain`` and so under the
cache's locks, shared with every other credproc. When to refresh is decided
by pure functions of the clock (:func:`refresh_point`, :func:`next_attempt`,
:func:`retry_delay`), so tests can drive them with a fake one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple

from . import freshness
from .aws_credentials import Credentials, format_time
from .errors import CredprocError, ExitCode
from .log import Log

# Start a refresh this long before the session falls inside the margin, so
# that a slow STS (three attempts with backoff) still finishes in time.
LEAD = 5 * 60
# A session STS issued already inside the margin is not asked for again more
# often than this; nor is any session sooner than MIN_GAP after the last one.
MIN_INTERVAL = 60
MIN_GAP = 1
# Failed refreshes are retried after 5, 10, 20, 40, then every 60 seconds.
FIRST_RETRY = 5
MAX_RETRY = 60
# A request finding nothing to hand out wakes the refresher, at most this often.
NUDGE_GAP = 2


class Session(NamedTuple):
    """Credentials as the endpoint hands them out."""

    credentials: Credentials
    account_id: str
    duration: int  # the session length the plan asked STS for (seconds)


class Failure(NamedTuple):
    """Why the last refresh failed: an HTTP status and a message (never a secret)."""

    status: int
    code: str
    message: str


def failure_of(error: CredprocError) -> Failure:
    """5xx when STS (or the cache lock) is unavailable, 4xx when something refused."""
    if error.exit_code in (ExitCode.UNAVAILABLE, ExitCode.CACHE):
        status, code = 503, "CredentialsUnavailable"
    elif error.exit_code in (ExitCode.AUTH, ExitCode.MFA, ExitCode.CONFIG, ExitCode.RECURSION):
        status, code = 403, "CredentialsRefused"
    else:
        status, code = 500, "CredentialsError"
    return Failure(status, code, error.one_line())


def refresh_point(refresh_margin: int, duration: int) -> int:
    """Seconds left at which a session is replaced: the cache's margin for it
    (``freshness.final_margin``) plus a lead of up to 5 minutes (at most half
    of what is left of the session after the margin)."""
    margin = freshness.final_margin(refresh_margin, duration)
    return margin + min(LEAD, max(duration - margin, 0) // 2)


def next_attempt(session: Session, obtained_at: datetime, refresh_margin: int) -> datetime:
    """When to ask for a new session after ``session`` was obtained at ``obtained_at``.

    Normally at the refresh point. A session that STS issued close to the
    margin is replaced as soon as it falls inside it (but not within a minute
    when it can wait that long); one issued already inside the margin is asked
    for again once a minute (STS is giving what it can).
    """
    expiration = session.credentials.expiration
    if expiration is None:
        return obtained_at + timedelta(days=365)
    margin = freshness.final_margin(refresh_margin, session.duration)
    soft = expiration - timedelta(seconds=refresh_point(refresh_margin, session.duration))
    hard = expiration - timedelta(seconds=margin)
    floor = obtained_at + timedelta(seconds=MIN_INTERVAL)
    when = max(soft, min(floor, hard)) if hard > obtained_at else floor
    return max(when, obtained_at + timedelta(seconds=MIN_GAP))


def retry_delay(failures: int) -> int:
    """Seconds before the next attempt after ``failures`` failed ones in a row."""
    return int(min(MAX_RETRY, FIRST_RETRY * 2 ** max(failures - 1, 0)))


class Current:
    """The session being handed out and the last refresh failure (thread-safe)."""

    def __init__(self, session: Session) -> None:
        self._lock = threading.Lock()
        self._session = session
        self._failure: Failure | None = None
        self._withdrawn = False

    def answer(self, now: datetime) -> Session | Failure:
        """The session while it is still usable (a minute or more left) and not
        withdrawn by a refusal, else why not."""
        with self._lock:
            session, failure, withdrawn = self._session, self._failure, self._withdrawn
        if failure is not None and withdrawn:
            return failure
        if freshness.is_usable(session.credentials, now):
            return session
        if failure is not None:
            return failure
        return Failure(503, "CredentialsRefreshing", "credproc: the session expired and a new one is being fetched")

    @property
    def session(self) -> Session:
        with self._lock:
            return self._session

    def replace(self, session: Session) -> None:
        with self._lock:
            self._session, self._failure, self._withdrawn = session, None, False

    def fail(self, failure: Failure, *, withdraw: bool) -> None:
        """Record a failed refresh; ``withdraw`` stops handing out the session at once."""
        with self._lock:
            self._failure, self._withdrawn = failure, withdraw


# Fetches a session that has more than the given seconds left (obtain() with
# Request.min_remaining), returning it and the refresh failure it papered
# over, if the cache handed out still-valid credentials instead.
Fetch = Callable[[int], tuple[Session, CredprocError | None]]


class Refresher:
    """Replaces the current session before it falls inside the refresh margin.

    One thread; :meth:`refresh_once` is one attempt and returns when the next
    is due, so tests can call it with a fake clock instead of running the loop.
    """

    def __init__(
        self,
        current: Current,
        fetch: Fetch,
        *,
        refresh_margin: int,
        clock: Callable[[], datetime],
        log: Log,
    ) -> None:
        self.current = current
        self._fetch = fetch
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._log = log
        self._failures = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._last_nudge: datetime | None = None
        self._nudged = False
        self._nudge_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="credproc-refresher", daemon=True)
        self.due = next_attempt(current.session, clock(), refresh_margin)

    def refresh_once(self) -> datetime:
        """One refresh attempt; returns when the next one is due."""
        now = self._clock()
        minimum = refresh_point(self._refresh_margin, self.current.session.duration)
        try:
            session, papered = self._fetch(minimum)
        except CredprocError as error:
            return self._failed(error, now)
        if papered is not None:
            # The cache handed out what it had: serve that, keep trying for better.
            self.current.replace(session)
            return self._failed(papered, now)
        if self._failures:
            self._log.notice(f"endpoint: refreshing works again after {self._failures} failed attempt(s)")
        self._failures = 0
        self.current.replace(session)
        expiration = session.credentials.expiration
        self._log.step(
            f"endpoint: new session for {session.account_id}"
            + (f", expires {format_time(expiration)}" if expiration is not None else "")
        )
        return next_attempt(session, self._clock(), self._refresh_margin)  # after the fetch: it took a while

    def _failed(self, error: CredprocError, now: datetime) -> datetime:
        self._failures += 1
        # The cache's rule (freshness.stale_allowed): only when STS could not
        # answer is a still-valid session handed out; a refusal ends it now.
        self.current.fail(failure_of(error), withdraw=not freshness.stale_allowed(error))
        delay = retry_delay(self._failures)
        # Once per outage without --verbose: the command's own output must stay readable.
        say = self._log.warn if self._failures == 1 else self._log.step
        say(f"endpoint: refreshing the session failed ({error.message}); trying again in {delay} s")
        return now + timedelta(seconds=delay)

    def nudge(self) -> None:
        """A request found nothing to hand out: try now, unless just tried."""
        now = self._clock()
        with self._nudge_lock:
            if self._last_nudge is not None and abs((now - self._last_nudge).total_seconds()) < NUDGE_GAP:
                return
            self._last_nudge = now
            self._nudged = True
        self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = (self.due - self._clock()).total_seconds()
            if wait > 0:
                # Capped: a clock that jumps forward (a laptop waking up) is noticed within a minute.
                self._wake.wait(timeout=min(wait, MAX_RETRY))
            self._wake.clear()
            with self._nudge_lock:
                nudged, self._nudged = self._nudged, False
            if self._stop.is_set():
                return
            if not nudged and self._clock() < self.due:
                continue
            try:
                self.due = self.refresh_once()
            except Exception as error:  # a bug: keep serving what there is, say so, retry later
                # The type only: a third-party exception's text may quote secrets (credproc/log.py).
                self._log.warn(f"endpoint: internal error while refreshing: {type(error).__name__}")
                self.due = self._clock() + timedelta(seconds=MAX_RETRY)
