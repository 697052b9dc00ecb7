"""Walk the hop plan: cached hops first, then one AssumeRole per missing hop,
each under its cache entry's lock (single flight across processes)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from . import freshness
from .cache import Cache, entry_name
from .credentials import Credentials, format_time
from .errors import CredprocError, MfaError
from .log import Log
from .plan import Hop, MfaSession, Plan
from .source import Source

# Gets a fresh MFA code for a session (the plan's target names it in messages).
MfaCode = Callable[[MfaSession, str], str]


class HopCaller(Protocol):
    """What the chain needs from STS (``credproc.sts.StsCaller`` in production)."""

    def prepare_source(self) -> None:
        """Resolve the source credentials (may run a credential_process)."""

    def assume_role(self, hop: Hop, credentials: Credentials | None, caller: str) -> Credentials: ...

    def get_session_token(self, mfa: MfaSession, code: str) -> Credentials: ...


@dataclass(frozen=True)
class Outcome:
    """The final credentials and how they were obtained."""

    credentials: Credentials
    sts_calls: int
    from_cache: bool
    stale: bool = False  # a refresh failed and still-valid cached credentials were used
    failure: CredprocError | None = None  # why the refresh failed, when stale


def hop_names(source: Source, plan: Plan) -> list[str]:
    """The cache entry name of every hop, from the source fingerprint down."""
    names: list[str] = []
    parent = root_name(source, plan)
    for hop in plan.hops:
        parent = entry_name(parent, hop.cache_fields())
        names.append(parent)
    return names


def root_name(source: Source, plan: Plan) -> str:
    """What the first hop's entry hangs off: the source, or its MFA session."""
    if plan.mfa is None:
        return source.fingerprint
    return entry_name(source.fingerprint, plan.mfa.cache_fields())


def resolve(
    plan: Plan,
    source: Source,
    *,
    caller_factory: Callable[[], HopCaller],
    cache: Cache | None,
    clock: Callable[[], datetime],
    refresh_margin: int,
    force_refresh: bool,
    log: Log,
    mfa_code: MfaCode | None = None,
    min_remaining: int = 0,
) -> Outcome:
    """Credentials for the plan's last hop, from the cache where fresh enough.

    ``min_remaining`` raises the last hop's margin above the cache's own rule.
    """
    names = hop_names(source, plan)
    last = len(plan.hops) - 1
    final_margin = max(freshness.final_margin(refresh_margin, plan.hops[-1].duration), min_remaining)

    def margin(index: int) -> int:
        return final_margin if index == last else freshness.INTERMEDIATE_MARGIN

    start, credentials = 0, None
    if cache is not None and not force_refresh:
        now = clock()
        for index in range(last, -1, -1):
            entry = cache.get(names[index])
            if entry is not None and freshness.is_fresh(entry.credentials, now, margin(index)):
                start, credentials = index + 1, entry.credentials
                log.step(
                    f"cache hit for hop {index + 1} ({plan.hops[index].role_arn}), {_left(entry.credentials, now)} left"
                )
                break
    if start > last and credentials is not None:
        return Outcome(credentials, 0, True)

    for note in plan.notes:
        log.step(note)
    log.step(f"source identity: {source.label}; STS region {plan.sts_region}")
    calls = 0
    sts: HopCaller | None = None
    try:
        for index in range(start, last + 1):
            hop = plan.hops[index]
            caller = source.label if index == 0 else _assumed_arn(plan.hops[index - 1])
            if index == 0:
                sts = sts or caller_factory()
                # Outside the lock: the source may be a credential_process that
                # is credproc again, which needs this very entry's lock.
                sts.prepare_source()
            with cache.lock(names[index]) if cache is not None else contextlib.nullcontext():
                entry = cache.get(names[index]) if cache is not None and not force_refresh else None
                if entry is not None and freshness.is_fresh(entry.credentials, clock(), margin(index)):
                    # Another process fetched it while we waited for the lock.
                    log.step(f"hop {index + 1}: {hop.role_arn} fetched meanwhile by another credproc")
                    credentials = entry.credentials
                    continue
                if sts is None:
                    sts = caller_factory()
                if index == 0 and plan.mfa is not None:
                    credentials, fetched = _mfa_session(plan, plan.mfa, source, sts, cache, clock, mfa_code, log)
                    calls += fetched
                    caller = f"the MFA session of {source.label}"
                log.step(f"hop {index + 1}/{last + 1}: AssumeRole {hop.role_arn} as {caller}, {hop.duration} s")
                credentials = sts.assume_role(hop, credentials, caller)
                calls += 1
                if cache is not None:
                    cache.put(names[index], credentials, _meta(plan, source, index))
    except CredprocError as error:
        fallback = cache.get(names[last]) if cache is not None else None
        if fallback is not None and freshness.is_usable(fallback.credentials, clock()):
            log.warn(
                f"{error.message}; handing out cached credentials that expire at "
                f"{format_time(fallback.credentials.expiration) if fallback.credentials.expiration else 'never'}"
            )
            return Outcome(fallback.credentials, calls, True, stale=True, failure=error)
        raise
    assert credentials is not None
    return Outcome(credentials, calls, calls == 0)


def _mfa_session(
    plan: Plan,
    mfa: MfaSession,
    source: Source,
    sts: HopCaller,
    cache: Cache | None,
    clock: Callable[[], datetime],
    mfa_code: MfaCode | None,
    log: Log,
) -> tuple[Credentials, int]:
    """The MFA session the first hop is assumed from, and how many STS calls it took.

    Prompting and GetSessionToken happen under the session's own lock, so
    every account, hop and concurrent process shares one code. ``--refresh``
    does not discard it: it is not what the caller is handed. A rejected code
    raises before anything is cached; the lock is released on the way out.
    """
    name = root_name(source, plan)
    with cache.lock(name) if cache is not None else contextlib.nullcontext():
        entry = cache.get(name) if cache is not None else None
        if entry is not None and freshness.is_fresh(entry.credentials, clock(), freshness.INTERMEDIATE_MARGIN):
            log.step(f"MFA session for {mfa.serial} from the cache, {_left(entry.credentials, clock())} left")
            return entry.credentials, 0
        if mfa_code is None:
            raise MfaError(f"an MFA code for {mfa.serial} is needed but none can be asked for", "run credproc get")
        log.step(f"asking for an MFA code for {mfa.serial}")
        code = mfa_code(mfa, plan.target)
        log.step(f"GetSessionToken with MFA device {mfa.serial}, {mfa.duration} s")
        credentials = sts.get_session_token(mfa, code)
        if cache is not None:
            account = mfa.serial.split(":")[4] if mfa.serial.startswith("arn:") else None
            meta = {"role_arn": None, "account_id": account, "alias": None, "hop": 0, "hops": len(plan.hops)}
            cache.put(name, credentials, {**meta, "mfa_serial": mfa.serial, "source": source.label})
        return credentials, 1


def _meta(plan: Plan, source: Source, index: int) -> dict[str, object]:
    hop = plan.hops[index]
    return {
        "role_arn": hop.role_arn,
        "account_id": hop.account_id,
        "alias": plan.alias if index == len(plan.hops) - 1 else None,
        "session_name": hop.session_name,
        "source": source.label,
        "hop": index + 1,
        "hops": len(plan.hops),
    }


def _assumed_arn(hop: Hop) -> str:
    name = hop.role_arn.split("/")[-1]
    partition = hop.role_arn.split(":")[1]
    return f"arn:{partition}:sts::{hop.account_id}:assumed-role/{name}/{hop.session_name}"


def _left(credentials: Credentials, now: datetime) -> str:
    remaining = credentials.remaining(now)
    if remaining is None:
        return "no expiry"
    return f"{int(remaining // 60)} min"
