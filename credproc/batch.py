"""Credentials for many targets in one process, each obtained exactly as
``credproc get`` obtains it (obtain.py's steps: the same plan, source, cache
entries and chain), with what ``get`` does once per run done once per batch:
the config read, the cache opened (its key read: one keychain prompt at most),
each source profile resolved, its STS endpoint found and its botocore session
made.

Safe to share between threads. Single flight holds between the threads of one
process as between processes: a hop's cache entry lock is an ``flock`` on a
file each taker opens anew (locking.py), and ``flock`` locks belong to the
open file description, so two threads exclude each other as two processes
do, and the one that finds the entry fetched meanwhile uses it without
calling STS (chain.py). N targets behind one hub make one hub AssumeRole. The
botocore session is shared under its own lock (sts.SourceSession); each
request has its own STS caller, so its own retry budget (retry.py), as a
``get`` run has.

Never the fast path's claim (single_flight.py): that is one process's one
request.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypedDict

from . import aws_profiles, source
from . import config as config_module
from .aws_credentials import Credentials
from .cache import Cache
from .errors import CredprocError, UsageError
from .log import Log, LoggingLog
from .obtain import Request, botocore_session, open_cache, plan_for, source_of, sts_caller, sts_url_of, utc_now, walk
from .plan import Overrides

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .config import Config
    from .sts import SourceSession, StsCaller

# Concurrent fetches of :meth:`Batch.many` unless told: enough to hide STS's
# latency, few enough not to be throttled.
DEFAULT_WORKERS = 16


class GetOptions(TypedDict, total=False):
    """``credproc get``'s target options, by the same names (``--session-name``: ``session_name``)."""

    role: str | None  #: role name or ARN in the target account
    via: Sequence[str] | None  #: intermediate role ARNs, in order
    duration: str | int | None  #: seconds, or 15m .. 12h
    session_name: str | None  #: RoleSessionName template ({user} {host} {alias} {account})
    external_id: str | None  #: ExternalId for the target role
    refresh: bool  #: ignore cached credentials and fetch new ones
    no_cache: bool  #: neither read nor write the cache


class Options(GetOptions, total=False):
    """:class:`GetOptions` and ``--region``: the STS region of the hops, and the region reported."""

    region: str | None


class Result(NamedTuple):
    """One target's credentials, and the account and region they are for."""

    target: str
    credentials: Credentials
    account_id: str
    region: str  #: the account's region (as ``get --format json`` reports it)
    alias: str | None  #: the account's alias, None for an account id not in the config
    from_cache: bool
    stale: bool = False  #: a refresh failed and still-valid cached credentials were handed out


def request(target: str, options: Options, *, min_remaining: int = 0) -> Request:
    """obtain's Request for ``target`` and ``get``'s options; raises UsageError
    for a value of the wrong type (make_plan checks the values themselves, as
    for the command line)."""
    unknown = set(options) - set(Options.__annotations__)
    if unknown:
        import difflib

        name = sorted(unknown)[0]
        close = difflib.get_close_matches(name, list(Options.__annotations__), n=1)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(f"unknown option {name!r}{guess}", f"use {', '.join(sorted(Options.__annotations__))}")
    for name in ("role", "region", "session_name", "external_id"):
        _check_type(options, name, str)
    for name in ("refresh", "no_cache"):  # a string such as "false" would be true
        flag = options.get(name)
        if flag is not None and not isinstance(flag, bool):
            raise UsageError(f"{name}: expected bool, got {type(flag).__name__}", f"pass {name}=True or False")
    _check_type(options, "duration", (str, int))
    via = options.get("via")
    if isinstance(via, str) or (via is not None and not all(isinstance(arn, str) for arn in via)):
        raise UsageError("via: expected a list of role ARNs", "pass via=[ARN, ...]")
    duration = options.get("duration")
    overrides = Overrides(
        role=options.get("role"),
        via=tuple(via) if via else None,
        region=options.get("region"),
        duration=str(duration) if duration is not None else None,
        session_name=options.get("session_name"),
        external_id=options.get("external_id"),
    )
    return Request(
        target,
        overrides,
        use_cache=not options.get("no_cache", False),
        force_refresh=bool(options.get("refresh", False)),
        min_remaining=min_remaining,
    )


def _check_type(options: Options, name: str, kind: type | tuple[type, ...]) -> None:
    value = options.get(name)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        expected = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise UsageError(f"{name}: expected {expected}, got {type(value).__name__}", f"pass {name} as {expected}")


class _Route(NamedTuple):
    """A source profile in an STS region: its identity, the STS endpoint of its
    cache keys, and the botocore session its STS callers share."""

    source: source.Source
    endpoint: str
    botocore: SourceSession


class Batch:
    """Obtains credentials for many targets, as ``credproc get`` does for one.

    ``config_path``: the config file (default: ``$CREDPROC_CONFIG`` or the
    user's, as for ``get``), read once, now; ``config``: one loaded already
    (config.load, with ``env``) instead; ``env``: the environment to read
    settings from (default: ``os.environ``; botocore reads ``os.environ``
    whatever this is); ``log``: where steps and warnings go (default: the
    ``credproc`` logger of the standard library: nothing is printed);
    ``clock``: the current time (tests).
    Raises credproc's errors (errors.py) for a bad config.
    """

    def __init__(
        self,
        config_path: str | os.PathLike[str] | None = None,
        *,
        config: Config | None = None,
        env: Mapping[str, str] | None = None,
        log: Log | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.env: Mapping[str, str] = source.environ_copy() if env is None else dict(env)
        self.log = LoggingLog() if log is None else log
        self.clock = clock
        self.depth = source.check_depth(self.env)
        if config is None:
            config = config_module.load(Path(config_path) if config_path else None, self.env)
        self.config = config
        # The request digest config.load computed (memo.py), naming the memos of the source and endpoint.
        self._inputs = config.request_inputs(self.env)
        self._aws = aws_profiles.AwsFiles(self.env)
        self._lock = threading.Lock()  # the cache's opening and the routes' making
        self._cache: Cache | None = None
        self._cache_opened = False
        self._routes: dict[tuple[str | None, str, bool], _Route] = {}

    def credentials(self, target: str, **options: Unpack[Options]) -> Result:
        """``target``'s credentials (alias or account id), with ``get``'s options."""
        return self.obtain(request(target, options))

    def obtain(self, request: Request) -> Result:
        """The credentials of an obtain.Request (``min_remaining`` and ``for_a_command`` included)."""
        plan = plan_for(self.config, request, self.env)
        cache = self.cache() if request.use_cache else None
        route = self._route(plan.source_profile, plan.sts_region, cache)
        log, env, depth = self.log, self.env, self.depth

        def caller() -> StsCaller:
            return sts_caller(route.source, depth, plan.sts_region, log, env, shared=route.botocore)

        obtained = walk(
            request,
            plan,
            route.source,
            route.endpoint,
            caller,
            config=self.config,
            cache=cache,
            log=log,
            env=env,
            depth=depth,
            clock=self.clock,
        )
        final = obtained.final
        return Result(
            request.target,
            final.credentials,
            plan.account_id,
            plan.region,
            plan.alias,
            final.from_cache,
            final.stale,
        )

    def many(
        self, targets: Iterable[str], *, workers: int = DEFAULT_WORKERS, **options: Unpack[Options]
    ) -> dict[str, Result | CredprocError]:
        """Each target's credentials, or the CredprocError that stopped them,
        fetched ``workers`` at a time; in the order given (each target once)."""
        wanted = list(dict.fromkeys(targets))
        found = dict(self.as_completed(wanted, workers=workers, **options))
        return {target: found[target] for target in wanted}

    def as_completed(
        self, targets: Iterable[str], *, workers: int = DEFAULT_WORKERS, **options: Unpack[Options]
    ) -> Iterator[tuple[str, Result | CredprocError]]:
        """``(target, Result or CredprocError)`` as each target's fetch ends,
        ``workers`` at a time. Another exception (a bug) is raised."""
        from concurrent.futures import ThreadPoolExecutor, as_completed

        if workers < 1:
            raise UsageError(f"workers: {workers} is not a positive number", "pass workers=1 or more")
        wanted = list(dict.fromkeys(targets))
        refreshed: set[str] = set()  # refresh=True: a hop the targets share is refreshed once per call
        requests = {target: request(target, options)._replace(refreshed=refreshed) for target in wanted}
        with ThreadPoolExecutor(max_workers=min(workers, len(wanted) or 1), thread_name_prefix="credproc") as pool:
            futures = {pool.submit(self._attempt, requests[target]): target for target in wanted}
            for future in as_completed(futures):
                yield futures[future], future.result()

    def _attempt(self, request: Request) -> Result | CredprocError:
        try:
            return self.obtain(request)
        except CredprocError as error:
            return error

    def cache(self) -> Cache | None:
        """The cache, opened (its key read) on first use; None when disabled or unusable (as for ``get``)."""
        with self._lock:
            if not self._cache_opened:
                self._cache = open_cache(self.config, self.env, self.log)
                self._cache_opened = True
            return self._cache

    def _route(self, profile: str | None, region: str, cache: Cache | None) -> _Route:
        key = (profile, region, cache is not None)
        with self._lock:
            route = self._routes.get(key)
            if route is None:
                stored = self.config.source_stored
                src = source_of(profile, self.env, cache, self._aws, self._inputs, self.log, stored=stored)
                shared = botocore_session(src, self.depth, region)

                def ask_botocore() -> str:
                    return sts_caller(src, self.depth, region, self.log, self.env, shared=shared).endpoint_url()

                endpoint = sts_url_of(cache, self._inputs, self._aws, src, region, ask_botocore)
                route = self._routes[key] = _Route(src, endpoint, shared)
            return route
