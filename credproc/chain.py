"""Walk the hop plan: cached hops first, then one AssumeRole per missing hop,
each under its cache entry's lock (single flight across processes).

A process that finds a hop's lock held waits for it, then finds that hop in
the cache: it never loads botocore nor resolves the source credentials. So
the lock of the first hop is held while the source is resolved, except in a
nested credproc (a source profile whose credential_process is credproc): it
resolves its source before taking any lock. That keeps the chain of waits
acyclic: a nested credproc whose source is credproc once more stops at once
(the recursion guard), and any other source of a nested credproc resolves
without credproc, so it never waits on a lock its parent holds."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import NamedTuple, Protocol

from . import freshness
from .aws_credentials import Credentials, format_time
from .cache import Cache, entry_name
from .errors import CredentialsRefusedError, CredprocError, MfaError
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


class FinalCredentials(NamedTuple):
    """The final credentials and how they were obtained."""

    credentials: Credentials
    sts_calls: int
    from_cache: bool
    stale: bool = False  # a refresh failed and still-valid cached credentials were used
    failure: CredprocError | None = None  # why the refresh failed, when stale
    entry: str = ""  # the final hop's cache entry name (not when stale)
    valid_until: float | None = None  # until when the cache hands these credentials out (freshness.fresh_until)


def hop_names(source: Source, plan: Plan, endpoint: str) -> list[str]:
    """The cache entry name of every hop, from the source fingerprint and STS endpoint down."""
    names: list[str] = []
    parent = root_name(source, plan, endpoint)
    for hop in plan.hops:
        parent = entry_name(parent, hop.cache_fields())
        names.append(parent)
    return names


def root_name(source: Source, plan: Plan, endpoint: str) -> str:
    """What the first hop's entry hangs off: the source at this STS endpoint, or its MFA session.

    ``endpoint`` is the URL STS calls go to (credproc.sts_url): sessions from
    a local or test STS are never handed out for the real one, and the other
    way round.
    """
    root = entry_name(source.fingerprint, {"sts_endpoint": endpoint})
    if plan.mfa is None:
        return root
    return entry_name(root, plan.mfa.cache_fields())


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
    endpoint: str,
    mfa_code: MfaCode | None = None,
    min_remaining: int = 0,
    refreshed: set[str] | None = None,
    nested: bool = False,
) -> FinalCredentials:
    """Credentials for the plan's last hop, from the cache where fresh enough.

    ``endpoint``: the STS URL in effect, part of every cache key. ``nested``:
    this credproc runs as another one's source (see the module's docstring).
    ``min_remaining`` raises the last hop's margin above the cache's own rule.
    ``refreshed``: with ``force_refresh``, the entries this run (shared by
    its threads) refreshed already; reused, and added to when this walk refreshes one.
    """
    handed_margin = freshness.final_margin(refresh_margin, plan.hops[-1].duration)
    final_margin = max(handed_margin, min_remaining)
    names = hop_names(source, plan, endpoint)
    walk = _Walk(plan, source, names, endpoint, cache, clock, final_margin, log, caller_factory, mfa_code, nested)
    walk.usual_margin = handed_margin  # below final_margin when min_remaining raised it
    if refreshed is not None:
        walk.refreshed = refreshed  # shared with the run's other walks

    def final(credentials: Credentials, calls: int) -> FinalCredentials:
        until = freshness.fresh_until(credentials, handed_margin)
        return FinalCredentials(credentials, calls, calls == 0, entry=names[-1], valid_until=until)

    start, credentials = (0, None) if cache is None or force_refresh else walk.cached_start()
    if start > walk.last and credentials is not None:
        return final(credentials, 0)

    for note in plan.notes:
        log.step(note)
    log.step(f"source identity: {source.label}; STS region {plan.sts_region}")
    try:
        try:
            for index in range(start, walk.last + 1):
                credentials = walk.fetch(index, credentials, reuse=not force_refresh)
        finally:
            walk.held.close()
    except CredprocError as error:
        return walk.stale(error)
    assert credentials is not None
    return final(credentials, walk.calls)


class _Walk:
    """One walk down a plan's hops, and the STS caller once one is needed."""

    def __init__(
        self,
        plan: Plan,
        source: Source,
        names: list[str],  # the cache entry of each hop
        endpoint: str,
        cache: Cache | None,
        clock: Callable[[], datetime],
        final_margin: int,
        log: Log,
        caller_factory: Callable[[], HopCaller],
        mfa_code: MfaCode | None,
        nested: bool,  # resolve the source before taking any lock
    ) -> None:
        self.plan = plan
        self.source = source
        self.names = names
        self.endpoint = endpoint
        self.cache = cache
        self.clock = clock
        self.final_margin = final_margin
        self.log = log
        self.caller_factory = caller_factory
        self.mfa_code = mfa_code
        self.nested = nested
        # The last hop's margin without min_remaining: an entry fresh by it but not
        # by final_margin is set aside, and --verbose says why (cached_start).
        self.usual_margin = final_margin
        self.calls = 0  # STS calls made so far
        self.refreshed: set[str] = set()  # entries this run refreshed (resolve's ``refreshed``)
        self.sts: HopCaller | None = None
        # The lock of the hop this process just fetched, let go once the next hop's is held.
        self.held = contextlib.ExitStack()

    @property
    def last(self) -> int:
        return len(self.plan.hops) - 1

    def margin(self, index: int) -> int:
        return self.final_margin if index == self.last else freshness.INTERMEDIATE_MARGIN

    def caller(self) -> HopCaller:
        if self.sts is None:
            self.sts = self.caller_factory()
        return self.sts

    def fresh_entry(self, index: int) -> Credentials | None:
        """Hop ``index``'s cached credentials if fresh enough for its place in the chain."""
        entry = self.cache.get(self.names[index]) if self.cache is not None else None
        if entry is not None and freshness.is_fresh(entry.credentials, self.clock(), self.margin(index)):
            return entry.credentials
        return None

    def cached_start(self) -> tuple[int, Credentials | None]:
        """The hop to start fetching at, after the deepest fresh cached hop, and its credentials."""
        for index in range(self.last, -1, -1):
            credentials = self.fresh_entry(index)
            if credentials is not None:
                hop = self.plan.hops[index]
                self.log.step(
                    f"cache hit for hop {index + 1} ({hop.role_arn}), {_left(credentials, self.clock())} left"
                )
                return index + 1, credentials
            if index == self.last and self.final_margin > self.usual_margin:
                self._say_if_set_aside()
        return 0, None

    def _say_if_set_aside(self) -> None:
        """--verbose: the last hop's cached session would be handed out by the
        cache's own margin, but has less left than this request asks for."""
        entry = self.cache.get(self.names[self.last]) if self.cache is not None else None
        if entry is not None and freshness.is_fresh(entry.credentials, self.clock(), self.usual_margin):
            left = _left(entry.credentials, self.clock())
            self.log.step(
                f"hop {self.last + 1}: the cached session has {left} left, less than the "
                f"{self.final_margin // 60} min this run needs: fetching a new one"
            )

    def fetch(self, index: int, credentials: Credentials | None, *, reuse: bool) -> Credentials:
        """Hop ``index``'s credentials, assumed with ``credentials`` (None: the source), under its lock.

        What another process fetched meanwhile is taken from the cache before
        botocore is loaded or the source resolved. A hop fetched here keeps
        its lock until the next hop's is held, so a process that waited for
        it finds the next hop locked too and waits again rather than fetching.
        """
        hop = self.plan.hops[index]
        caller = self.source.label if index == 0 else _assumed_arn(self.plan.hops[index - 1])
        if index == 0 and self.nested:
            with self._forgotten_if_refused(index):
                self.caller().prepare_source()
        lock = contextlib.ExitStack()
        lock.enter_context(self._lock(self.names[index]))
        self.held.close()
        self.held = lock
        # Checked under the lock: a thread of this run that refreshed it let go after adding it.
        again = self.names[index] in self.refreshed
        fetched = self.fresh_entry(index) if reuse or again else None
        if fetched is not None:
            lock.close()
            by = "this run" if again else "another credproc"
            self.log.step(f"hop {index + 1}: {hop.role_arn} fetched meanwhile by {by}")
            return fetched
        with self._forgotten_if_refused(index):
            sts = self.caller()
            if index == 0:
                sts.prepare_source()
                if self.plan.mfa is not None:
                    credentials = self.mfa_session(self.plan.mfa)
                    caller = f"the MFA session of {self.source.label}"
            self.log.step(f"hop {index + 1}/{self.last + 1}: AssumeRole {hop.role_arn} as {caller}, {hop.duration} s")
            credentials = sts.assume_role(hop, credentials, caller)
        self.calls += 1
        if self.cache is not None:
            self.cache.put(self.names[index], credentials, _meta(self.plan, self.source, index, self.endpoint))
            self.refreshed.add(self.names[index])
        return credentials

    def mfa_session(self, mfa: MfaSession) -> Credentials:
        """The MFA session the first hop is assumed from.

        Prompting and GetSessionToken happen under the session's own lock, so
        every account, hop and concurrent process shares one code. ``--refresh``
        does not discard it: it is not what the caller is handed. A rejected code
        raises before anything is cached; the lock is released on the way out.
        """
        name = root_name(self.source, self.plan, self.endpoint)
        with self._lock(name):
            entry = self.cache.get(name) if self.cache is not None else None
            if entry is not None and freshness.is_fresh(entry.credentials, self.clock(), freshness.INTERMEDIATE_MARGIN):
                self.log.step(
                    f"MFA session for {mfa.serial} from the cache, {_left(entry.credentials, self.clock())} left"
                )
                return entry.credentials
            if self.mfa_code is None:
                raise MfaError(f"an MFA code for {mfa.serial} is needed but none can be asked for", "run credproc get")
            self.log.step(f"asking for an MFA code for {mfa.serial}")
            code = self.mfa_code(mfa, self.plan.target)
            self.log.step(f"GetSessionToken with MFA device {mfa.serial}, {mfa.duration} s")
            credentials = self.caller().get_session_token(mfa, code)
            self.calls += 1
            if self.cache is not None:
                self.cache.put(name, credentials, _mfa_meta(self.plan, self.source, mfa, self.endpoint))
            return credentials

    @contextlib.contextmanager
    def _forgotten_if_refused(self, index: int) -> Iterator[None]:
        """When STS refuses outright, drop the cached sessions of hop ``index`` and
        every hop after it (assumed through it), inside its lock: neither this
        run nor a waiting one hands them out."""
        try:
            yield
        except CredprocError as error:
            if self.cache is not None and freshness.revokes(error):
                names = self.names[index:]
                if isinstance(error, CredentialsRefusedError):
                    # The session the call was signed with is no good either
                    # (e.g. expired early by AWS's clock): fetch it anew too.
                    names.insert(
                        0, self.names[index - 1] if index else root_name(self.source, self.plan, self.endpoint)
                    )
                for name in names:
                    self.cache.remove(name)
                self.log.step(f"STS refused: dropped {len(names)} cached session(s) that depend on the refused call")
            raise

    def stale(self, error: CredprocError) -> FinalCredentials:
        """After a failed refresh: the last hop's cached credentials while still
        usable, if the failure allows it (credproc.freshness), else ``error``."""
        if not freshness.stale_allowed(error):
            raise error
        fallback = self.cache.get(self.names[self.last]) if self.cache is not None else None
        if fallback is None or not freshness.is_usable(fallback.credentials, self.clock()):
            raise error
        expiration = fallback.credentials.expiration
        self.log.warn(
            f"{error.message}; handing out cached credentials that expire at "
            f"{format_time(expiration) if expiration else 'never'}"
        )
        return FinalCredentials(fallback.credentials, self.calls, True, stale=True, failure=error)

    def _lock(self, name: str) -> contextlib.AbstractContextManager[None]:
        return self.cache.lock(name) if self.cache is not None else contextlib.nullcontext()


def _mfa_meta(plan: Plan, source: Source, mfa: MfaSession, endpoint: str) -> dict[str, object]:
    account = mfa.serial.split(":")[4] if mfa.serial.startswith("arn:") else None
    return {
        "sts_endpoint": endpoint,
        "role_arn": None,
        "account_id": account,
        "alias": None,
        "hop": 0,
        "hops": len(plan.hops),
        "mfa_serial": mfa.serial,
        "source": source.label,
    }


def _meta(plan: Plan, source: Source, index: int, endpoint: str) -> dict[str, object]:
    hop = plan.hops[index]
    return {
        "sts_endpoint": endpoint,
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
