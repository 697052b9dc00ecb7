"""Retrying AWS calls that failed for want of availability (throttling, 5xx,
no connection), within one time budget per credproc run.

- Full jitter: before retry n, sleep a random time between 0 and
  ``min(MAX_DELAY, BASE_DELAY * 2**n)``, so processes throttled together
  spread out instead of retrying in lock step.
- One budget (``CREDPROC_STS_BUDGET``, default 30 s) for every call of the
  run, counted from its first call: no retry starts, and no sleep ends, after
  it. The single-flight leader that other processes wait for keeps retrying
  as long as the budget lasts (a burst that the others survive does not fail
  it), and endless throttling still ends: after the budget, a call gets one
  attempt, which its connect and read timeouts bound.
- No answer at all (refused connection, timeout) is tried
  ``UNREACHABLE_ATTEMPTS`` times at most: each attempt may cost a whole
  timeout, and a cached session can be handed out meanwhile.

The clock, the sleep and the random draw are parameters, so tests drive the
schedule without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import NamedTuple, TypeVar

from . import rules
from .log import Log

T = TypeVar("T")

TIMEOUT_VARIABLE = "CREDPROC_STS_TIMEOUT"
BUDGET_VARIABLE = "CREDPROC_STS_BUDGET"
DEFAULT_TIMEOUT = 10.0
MAX_CONNECT_TIMEOUT = 5.0
DEFAULT_BUDGET = 30.0
BASE_DELAY = 0.5
MAX_DELAY = 10.0
UNREACHABLE_ATTEMPTS = 4
# Bounds the loop whatever the clock does (a frozen clock in a test).
MAX_ATTEMPTS = 100
# Calls one process makes while holding one cache lock: a hop's AssumeRole and
# its 1 h retry for a role source, or GetSessionToken and the first AssumeRole.
CALLS_PER_LOCK = 2


class Limits(NamedTuple):
    """How long STS calls may take: per attempt, and retries in all."""

    connect: float
    read: float
    budget: float

    @property
    def longest_hold(self) -> float:
        """The longest a process can hold a cache lock while calling STS.

        The budget, then one last attempt (connect + read) for each call made
        under that lock. Processes waiting for the lock must wait longer than
        this, or they give up on a leader that would have succeeded.
        """
        return self.budget + CALLS_PER_LOCK * (self.connect + self.read)


def limits(env: Mapping[str, str]) -> Limits:
    """``CREDPROC_STS_TIMEOUT`` (seconds per attempt, default 10; connecting
    at most 5) and ``CREDPROC_STS_BUDGET`` (seconds of retries, default 30;
    0: no retries)."""
    timeout = rules.seconds_setting(env, TIMEOUT_VARIABLE, DEFAULT_TIMEOUT, zero_ok=False)
    budget = rules.seconds_setting(env, BUDGET_VARIABLE, DEFAULT_BUDGET, zero_ok=True)
    return Limits(min(timeout, MAX_CONNECT_TIMEOUT), timeout, budget)


class Transient(NamedTuple):
    """Why a failed attempt is worth another one."""

    reason: str  # for --verbose: "Throttling", "HTTP 503", "EndpointConnectionError"
    unreachable: bool  # no answer at all: each attempt may cost a whole timeout


class Retrying:
    """Runs calls, retrying transient failures within one budget (see the module docstring)."""

    def __init__(
        self,
        budget: float,
        log: Log,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] | None = None,
    ) -> None:
        self.budget = budget
        self._log = log
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._deadline: float | None = None
        self._slept = 0.0  # counted too: the budget holds even if the clock stands still

    def call(self, attempt: Callable[[], T], transient: Callable[[Exception], Transient | None], what: str) -> T:
        """``attempt()``'s result; its last exception once retrying is over or pointless."""
        if self._deadline is None:
            self._deadline = self._clock() + self.budget
        unreachable = 0
        for number in range(MAX_ATTEMPTS):
            try:
                return attempt()
            except Exception as exc:
                why = transient(exc)
                if why is None or number == MAX_ATTEMPTS - 1:
                    raise
                unreachable += why.unreachable
                delay = self._delay(number)
                if delay is None or unreachable >= UNREACHABLE_ATTEMPTS:
                    raise
                self._log.step(f"{what}: {why.reason}; retrying in {delay:.1f} s")
                self._sleep(delay)
                self._slept += delay
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _delay(self, number: int) -> float | None:
        """How long to wait before the next attempt; None when the budget is spent."""
        assert self._deadline is not None
        left = min(self._deadline - self._clock(), self.budget - self._slept)
        if left <= 0:
            return None
        if self._jitter is None:
            import random  # only once a call failed

            self._jitter = random.random
        return min(self._jitter() * min(MAX_DELAY, BASE_DELAY * 2.0**number), left)
