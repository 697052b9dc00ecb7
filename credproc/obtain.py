"""Getting credentials for a target: config, plan, source, cache and chain
wired together. Every command that hands out credentials comes through here."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

from . import aws_profiles, chain, freshness, keystore, locations, locking, memo, retry, source, sts_url, trust
from . import config as config_module
from .cache import Cache
from .config import DEFAULT_REGION, Config
from .errors import CacheError, ConfigError
from .log import Log
from .plan import MfaSession, Overrides, Plan, make_plan

if TYPE_CHECKING:
    from .sts import SourceSession, StsCaller


# Beyond the longest a lock holder may call STS: time to start, write the entry, release.
LOCK_SLACK = 30.0


class Request(NamedTuple):
    """What a command asks for."""

    target: str
    overrides: Overrides = Overrides()
    use_cache: bool = True
    force_refresh: bool = False
    # The final credentials must have more than this many seconds left, even
    # when the cache's own margin would hand out older ones (the credential
    # endpoint's refresh point).
    min_remaining: int = 0
    # For a command started with them (exec, each): the final credentials must
    # have half their session left too (freshness.command_margin), by the plan's duration.
    for_a_command: bool = False
    # With force_refresh, many requests of one run (each, Batch.many) share this
    # set of the cache entries refreshed so far, so a hop they share (the hub) is
    # refreshed once, not once per account (chain.resolve).
    refreshed: set[str] | None = None


class RememberTicket:
    """What remembering a ``get`` answer needs (remembered.remember): the cache
    that seals it (the key never leaves the cache), the final hop's entry
    file, until when the cache would still hand those credentials out, and the
    files the source's fingerprint read with the digests of their bytes then
    (a token: another one is another identity)."""

    __slots__ = ("cache", "entry", "source_files", "valid_until")

    def __init__(
        self, cache: Cache, entry: str, valid_until: float | None, source_files: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.cache = cache
        self.entry = entry
        self.valid_until = valid_until
        self.source_files = source_files


class Obtained(NamedTuple):
    """What :func:`obtain` hands back: the plan, the source, the final
    credentials and how they were got, and what remembering the answer needs."""

    plan: Plan
    source: source.Source  # the identity the chain started from
    final: chain.FinalCredentials
    ticket: RememberTicket | None = None


def utc_now() -> datetime:
    return datetime.now(UTC)


def machine_fields(env: Mapping[str, str]) -> dict[str, str]:
    """Session-name template values that come from this machine."""
    return {"user": locations.user_name(env) or "user", "host": locations.host_name().split(".")[0]}


def open_cache(config: Config, env: Mapping[str, str], log: Log, *, required: bool = False) -> Cache | None:
    """The cache, or None when disabled, its key store is unusable or one of
    its directories is not the user's alone (trust.py).

    Either is a warning, not a failure: the cache only saves STS calls, and
    a credential_process that fails breaks every AWS tool behind it. Commands
    that are about the cache itself pass ``required`` and get the CacheError
    (exit code 6).
    """
    if not config.cache_enabled:
        log.step("cache disabled in the config")
        return None
    try:
        # The directories first: no key is read or created for a cache that will not be used.
        refused = trust.cache_error(env)
        if refused is not None:
            raise refused
        # The keychain's key, if reading the config's memo asked for it already: asked once.
        key, store = keystore.load_key(config.key_store, env, log, keychain_key=config.keychain_key)
    except CacheError as error:
        if required:
            raise
        fix = f" (fix: {error.hint})" if error.hint else ""
        log.warn(f"{error.message}; continuing without the cache{fix}")
        return None
    log.step(f"cache key from the {store} key store")
    # Waiters outlast the process they wait for, however long its STS retries may take.
    try:
        wait = locking.wait_limit(env, max(locking.LOCK_TIMEOUT, retry.limits(env).longest_hold + LOCK_SLACK))
    except ValueError as bad:  # message and fix, naming the variable
        raise ConfigError(*bad.args) from None
    cache = Cache(locations.cache_dir(env), key, log, lock_timeout=wait, key_store=store)
    config_module.remember(config, cache)  # a fresh parse, sealed now that the key is read
    return cache


def obtain(
    request: Request,
    config: Config,
    *,
    log: Log,
    env: Mapping[str, str] | None = None,
    clock: Callable[[], datetime] = utc_now,
    inputs: memo.Inputs | None = None,
    plan: Plan | None = None,
    without_cache: Callable[[], None] | None = None,
) -> Obtained:
    """Credentials for ``request.target``: from the cache when fresh, else from STS.
    ``inputs``: the run's request digest (memo.py; computed here when not given);
    ``plan``: the request's (:func:`plan_for`), when the caller made it already;
    ``without_cache``: called as soon as the run is known to use no cache
    (disabled, unusable or ``--no-cache``), before any STS call.

    The steps are shared with credproc.batch, which takes each of them once
    for many requests: :func:`plan_for`, :func:`open_cache`, :func:`source_of`,
    :func:`sts_url_of` and :func:`walk`.
    """
    env = os.environ if env is None else env
    depth = source.check_depth(env)
    plan = plan_for(config, request, env) if plan is None else plan
    cache = open_cache(config, env, log) if request.use_cache else None
    if cache is None and without_cache is not None:
        without_cache()
    inputs = config.request_inputs(env) if inputs is None else inputs
    aws = aws_profiles.AwsFiles(env)  # each file read once, for the source's memo and the endpoint's
    src = source_of(plan.source_profile, env, cache, aws, inputs, log, stored=config.source_stored)
    caller = functools.cache(functools.partial(sts_caller, src, depth, plan.sts_region, log, env))
    endpoint_url = sts_url_of(cache, inputs, aws, src, plan.sts_region, lambda: caller().endpoint_url())
    return walk(
        request, plan, src, endpoint_url, caller, config=config, cache=cache, log=log, env=env, depth=depth, clock=clock
    )


def plan_for(config: Config, request: Request, env: Mapping[str, str]) -> Plan:
    """The request's plan (raises for a bad target or option before any key is read)."""
    return make_plan(config, request.target, request.overrides, machine_fields(env))


def source_of(
    profile: str | None,
    env: Mapping[str, str],
    cache: Cache | None,
    aws: aws_profiles.AwsFiles,
    inputs: memo.Inputs,
    log: Log,
    *,
    stored: str | None,
) -> source.Source:
    """The source identity of ``profile`` (the plan's source profile), or of the
    keys ``[source] stored`` names, remembered in the cache."""
    src = source.resolve_remembered(profile, env, cache, aws, inputs, stored=stored)
    if src.ignore_env_profile:
        log.step("AWS_PROFILE names a profile that runs credproc; using the default profile as the source instead")
    return src


def sts_url_of(
    cache: Cache | None,
    inputs: memo.Inputs,
    aws: aws_profiles.AwsFiles,
    src: source.Source,
    region: str,
    ask_botocore: Callable[[], str],
) -> str:
    """The STS endpoint URL in the cache keys of ``src`` in ``region`` (sts_url.py)."""
    # Without a cache there are no keys, so no endpoint to put in them.
    return sts_url.current(cache, inputs, aws, src, region, ask_botocore) if cache is not None else ""


def walk(
    request: Request,
    plan: Plan,
    src: source.Source,
    endpoint_url: str,
    caller: Callable[[], chain.HopCaller],
    *,
    config: Config,
    cache: Cache | None,
    log: Log,
    env: Mapping[str, str],
    depth: int,
    clock: Callable[[], datetime],
) -> Obtained:
    """Walk the plan's chain (chain.py) from ``src``; ``caller`` makes the STS
    caller when the walk first needs one."""

    def mfa_code(mfa: MfaSession, target: str) -> str:
        from .mfa import CodeSource  # only when a code is really needed

        # A loop back into credproc through mfa_process stops like one through the source.
        child_env = source.child_environment(env, src, depth)
        return CodeSource(config.mfa_process, config.where("source", "mfa_process"), child_env)(mfa, target)

    min_remaining = request.min_remaining
    if request.for_a_command:
        min_remaining = max(min_remaining, freshness.command_margin(plan.hops[-1].duration))
    final = chain.resolve(
        plan,
        src,
        caller_factory=caller,
        cache=cache,
        clock=clock,
        refresh_margin=config.refresh_margin,
        force_refresh=request.force_refresh,
        log=log,
        endpoint=endpoint_url,
        mfa_code=mfa_code,
        min_remaining=min_remaining,
        refreshed=request.refreshed,
        nested=depth > 0,  # another credproc's source: see chain.py
    )
    ticket = None
    if cache is not None and not final.stale:
        ticket = RememberTicket(cache, str(cache.path(final.entry)), final.valid_until, src.files)
    return Obtained(plan, src, final, ticket)


def source_caller(config: Config, log: Log, env: Mapping[str, str] | None = None) -> StsCaller:
    """STS as the source identity itself (doctor, account discovery), with the recursion guard."""
    env = os.environ if env is None else env
    depth = source.check_depth(env)
    src = source.resolve(config.source_profile, env, stored=config.source_stored)
    return sts_caller(src, depth, config.source_region or DEFAULT_REGION, log, env)


def sts_caller(
    src: source.Source, depth: int, region: str, log: Log, env: Mapping[str, str], shared: SourceSession | None = None
) -> StsCaller:
    """STS as ``src`` (and the hops assumed from it); ``shared``: the botocore
    session to make its clients with (default: one of its own)."""
    from .sts import StsCaller

    if shared is None:
        shared = botocore_session(src, depth, region)
    return StsCaller(src, region, log, env, shared=shared)


def botocore_session(src: source.Source, depth: int, region: str) -> SourceSession:
    """The botocore session of ``src`` (sts.SourceSession), made when first used."""
    from .sts import SourceSession

    # Whatever botocore starts (a source profile's credential_process) runs
    # one level deeper, so a loop back into credproc stops.
    return SourceSession(src, region, functools.partial(source.botocore_environment, src, depth))
