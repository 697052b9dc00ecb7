"""The source identity: which AWS profile (or the default chain) starts the
chain, its fingerprint for the cache key, and the recursion guard.

Which of botocore's providers would hand out the source credentials, and what
identifies them, is decided by credproc/providers.py, one table in botocore's
own order; aws_profiles.py reads the AWS files as botocore does. This
module chooses the profile as botocore would (credproc's ``[source] profile``,
else AWS_DEFAULT_PROFILE, AWS_PROFILE, ``default``) and remembers the decision.

With the cache in use, :func:`resolve_remembered` keeps what was decided from
the AWS files as a ``source`` memo (memo.py: sealed with the cache key, as the
identity holds an access key id), named by the run's request digest, the
profile asked for and the AWS files' paths and bytes as this run parses them
(the request digest holds them too, but as read at the run's start). Any edit
of either file is a new name, and the files are parsed from the very bytes
that were hashed. The token files an identity depends on
(providers.Identity.files) are read on every run, never remembered.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, NamedTuple

from . import ancestry, memo, providers, storage
from .aws_profiles import AwsFiles, signing_profile
from .errors import RecursionGuardError

if TYPE_CHECKING:
    from pathlib import Path

    from .cache import Cache
    from .memo import Inputs

DEPTH_VARIABLE = "CREDPROC_DEPTH"
# credproc inside credproc is legitimate once ([source] profile may itself be a
# credproc profile); a second nesting can only be a loop.
MAX_DEPTH = 1
# The backstop when the variable was stripped on the way (ancestry.py): the
# deepest legitimate nesting has two credprocs above the innermost one (an
# `exec --server` or `serve` parent, whose command runs credproc, whose source
# runs credproc once more); one more for slack, so a loop stops at the fifth.
MAX_ANCESTORS = 3
_DEPTH_DIGITS = 3  # CREDPROC_DEPTH holds what credproc set: str(depth), a small number

MEMO_KIND = "source"  # memo.py


class Source(NamedTuple):
    """How to get the source credentials, and what identifies them."""

    profile: str | None  # the profile to hand to botocore; None: botocore's own choice
    ignore_env_profile: bool  # AWS_PROFILE names a credproc profile: do not follow it
    fingerprint: str
    label: str  # for messages and `cache list`; never a secret
    access_key: str | None = None  # the access key id, when the source is static keys
    # Each file the fingerprint read (a token), with the digest of its bytes then (storage.digest_part).
    files: tuple[tuple[str, str], ...] = ()
    stored: str | None = None  # [source] stored: the name of keys kept by `credproc source` (source_keys.py)


class Decision(NamedTuple):
    """What the environment and the AWS files decide; the fingerprint also reads
    the identity's token files, on every run."""

    profile: str | None
    ignore_env_profile: bool
    label: str
    identity: providers.Identity


def check_depth(env: Mapping[str, str], ancestors: Callable[[], int] = ancestry.credproc_ancestors) -> int:
    """The current nesting depth; raises when credproc is looping into itself.

    A CREDPROC_DEPTH that is not what credproc sets (a small non-negative
    number) counts as too deep: failing safe. ``ancestors`` counts the
    credprocs above this process (ancestry.py), which bounds a loop whose
    credential_process strips the variable.
    """
    text = env.get(DEPTH_VARIABLE, "")
    if text and not (text.isascii() and text.isdigit() and len(text) <= _DEPTH_DIGITS):
        raise RecursionGuardError(
            f"{DEPTH_VARIABLE}={text[:20]!a} is not a depth credproc set (0 to {MAX_DEPTH}); "
            f"to be safe it is taken to mean: {RecursionGuardError.LOOP}",
            f"unset {DEPTH_VARIABLE}: credproc sets it itself for the programs it starts",
        )
    depth = int(text or "0")
    if depth > MAX_DEPTH:
        raise RecursionGuardError(
            f"{RecursionGuardError.LOOP}: getting the source credentials ran a credential_process "
            "that runs credproc again",
            _LOOP_HINT,
        )
    above = ancestors()
    if above > MAX_ANCESTORS:
        raise RecursionGuardError(
            f"{RecursionGuardError.LOOP}: {above} credproc processes run above this one "
            f"({DEPTH_VARIABLE} did not reach it: a credential_process that clears the environment?)",
            _LOOP_HINT,
        )
    return depth


_LOOP_HINT = (
    "point [source] profile at a profile with its own credentials (keys, SSO or a role), "
    "not at a profile whose credential_process is credproc"
)


def resolve(
    profile: str | None, env: Mapping[str, str], aws: AwsFiles | None = None, *, stored: str | None = None
) -> Source:
    """Decide the source profile and fingerprint it (files and env only, no network);
    ``stored``: ``[source] stored``, which replaces botocore's chain (:func:`stored_source`)."""
    if stored:
        return stored_source(stored, env)
    return _source(decide(profile, env, AwsFiles(env) if aws is None else aws))


def stored_source(name: str, env: Mapping[str, str]) -> Source:
    """The source when ``[source] stored`` names keys kept by ``credproc source``.

    Its identity is the name and the access key id, read from source_keys'
    index (the keychain is opened only when STS is called, sts.py). The
    index is also one of the source's files: a remembered answer holds only
    while its bytes are the same, so a key stored anew under the name is
    another identity from the next run on, on the fast path too.
    """
    from . import source_keys

    key_id = source_keys.indexed_key_id(name, env)
    inputs = storage.digest(json.dumps(["stored", name, key_id]).encode())
    fingerprint, _ = providers.fingerprint(providers.Identity("stored", inputs, (), key_id), storage.read_file)
    index = os.fspath(source_keys.index_path(env))
    files = ((index, storage.digest(storage.digest_part(index))),)
    return Source(None, False, fingerprint, f"stored keys {name}", key_id, files, stored=name)


def decide(profile: str | None, env: Mapping[str, str], aws: AwsFiles) -> Decision:
    """Which profile botocore is to use, and whose credentials its chain would hand out (providers.py)."""
    chosen, ignore = choose_profile(profile, env, aws)
    identity = providers.identify(chosen, env, aws, profile_given=bool(profile))
    if identity.provider == "env":
        label = "environment variables"
    elif profile or identity.provider in _PROFILE_PROVIDER_NAMES or aws.merged(chosen):
        label = f"profile {chosen}"
    else:
        label = "default credential chain"
    return Decision(profile or None, ignore, label, identity)


# Providers that read the profile's own settings: the source is named after the profile then.
_PROFILE_PROVIDER_NAMES = frozenset(["assume-role", *(name for name, _ in providers.PROFILE_PROVIDERS)])


def _source(decision: Decision) -> Source:
    fingerprint, files = providers.fingerprint(decision.identity, storage.read_file)
    identity = decision.identity
    return Source(
        decision.profile, decision.ignore_env_profile, fingerprint, decision.label, identity.access_key, files
    )


def choose_profile(configured: str | None, env: Mapping[str, str], aws: AwsFiles) -> tuple[str, bool]:
    """The profile botocore uses for the source (its name even when keys in the
    environment win), and whether AWS_PROFILE was passed over because it runs credproc."""
    if configured:
        return configured, False
    # botocore's order: AWS_DEFAULT_PROFILE first (configprovider's "profile" variable).
    chosen = env.get("AWS_DEFAULT_PROFILE") or env.get("AWS_PROFILE") or "default"
    if chosen != "default" and not keys_in_environment(configured, env) and calls_credproc(aws.merged(chosen)):
        # AWS_PROFILE=dev where dev runs `credproc get dev`: following it would
        # start credproc inside itself. The user meant "my usual identity".
        return "default", True
    return chosen, False


def keys_in_environment(configured: str | None, env: Mapping[str, str]) -> bool:
    """Whether the source is the keys in the environment (providers.environment_keys;
    no AWS file is read then): they win over AWS_PROFILE, a configured profile over both."""
    return not configured and bool(env.get("AWS_ACCESS_KEY_ID"))


def resolve_remembered(
    profile: str | None,
    env: Mapping[str, str],
    cache: Cache | None,
    aws: AwsFiles,
    inputs: Inputs,
    *,
    stored: str | None = None,
) -> Source:
    """:func:`resolve`, its decision remembered in ``cache`` (see the module's
    docstring); without a cache, with keys in the environment (nothing to
    parse) or with stored keys (no AWS file counts), it is :func:`resolve`
    itself. ``aws``: the AWS files of ``env``, read once for every digest of
    them in this run; ``inputs``: the run's request digest."""
    if cache is None or stored or keys_in_environment(profile, env):
        return resolve(profile, env, aws, stored=stored)
    parsed = storage.hasher()
    aws.add_contents(parsed)
    name = memo.name(MEMO_KIND, inputs.digest, profile, parsed.hexdigest())
    directory = os.fspath(cache.directory)
    found = memo.read(directory, MEMO_KIND, name, env, unseal=cache.unseal)
    remembered = _recall(found[1]) if found is not None else None
    if remembered is not None:
        return _source(remembered)
    decision = decide(profile, env, aws)
    if not inputs.changed:  # best effort: the next run parses the files again
        body = json.dumps(_memo(decision)).encode()
        memo.write(directory, MEMO_KIND, name, body, cache.seal, keyring=cache.key_store == "keyring")
    return _source(decision)


def _memo(decision: Decision) -> list[object]:
    return [decision.profile, decision.ignore_env_profile, decision.label, list(decision.identity)]


def _recall(plain: bytes | None) -> Decision | None:
    """The Decision a memo holds, or None for anything but one."""
    try:
        profile, ignore, label, (provider, inputs, files, access_key) = json.loads(plain or b"null")
    except (ValueError, TypeError):  # not JSON, or not the right shape
        return None
    if not (isinstance(profile, str | None) and type(ignore) is bool and isinstance(label, str)):
        return None
    if not (isinstance(provider, str) and isinstance(inputs, str) and isinstance(access_key, str | None)):
        return None
    if not isinstance(files, list) or not all(isinstance(path, str) for path in files):
        return None
    return Decision(profile, ignore, label, providers.Identity(provider, inputs, tuple(files), access_key))


def calls_credproc(section: Mapping[str, str] | None) -> bool:
    """Whether a profile's credential_process runs credproc."""
    return bool(section) and "credproc" in (section or {}).get("credential_process", "")


def is_long_term_key(source: Source) -> bool:
    """Whether the source is an IAM user's long-term access key (``AKIA...``)
    in the environment or a profile of static keys.

    Temporary keys (``ASIA...``), roles, SSO and every other provider: False.
    """
    return bool(source.access_key) and (source.access_key or "").startswith("AKIA")


def plaintext_keys(configured: str | None, env: Mapping[str, str], aws: AwsFiles) -> tuple[str, Path] | None:
    """The profile and AWS file holding, in plaintext, the IAM user's long-term
    access key (``AKIA...``) the chain starts from: the source profile's own,
    or the one its role profiles' source_profile chain is signed with. None for
    any other source (environment keys, SSO, a process, temporary keys...)."""
    chosen, _passed_over = choose_profile(configured, env, aws)
    identity = providers.identify(chosen, env, aws, profile_given=bool(configured))
    provider, key = identity.provider, identity.access_key
    if provider == "assume-role":
        found = signing_profile(aws, chosen)
        if found is None:
            return None
        chosen = found
        walked = providers.walk(providers.PROFILE_PROVIDERS, providers.Lookup(chosen, env, aws, env_enabled=False))
        provider, key = walked.provider, walked.access_key
    if not (key or "").startswith("AKIA"):
        return None
    files = {"shared-credentials-file": aws.credentials_path, "config-file": aws.config_path}
    return (chosen, files[provider]) if provider in files else None


# botocore_environment changes os.environ, which every thread shares: it holds
# this while it does, and whoever copies os.environ meanwhile (credproc.batch,
# credproc.api) takes it too, so no copy holds the raised depth.
ENVIRON_LOCK = threading.RLock()


@contextlib.contextmanager
def botocore_environment(source: Source, depth: int) -> Iterator[None]:
    """``os.environ`` as botocore must see it for ``source``, restored on the way out.

    botocore reads the process's environment, not the one credproc is handed;
    what it starts meanwhile (a source profile's credential_process) inherits
    the raised depth, so a loop back into credproc stops.
    """
    changes = _child_changes(source, depth)
    with ENVIRON_LOCK:
        saved = {name: os.environ.get(name) for name in changes}
        _apply(os.environ, changes)
        try:
            yield
        finally:
            _apply(os.environ, saved)


def environ_copy() -> dict[str, str]:
    """``os.environ`` as it is outside :func:`botocore_environment`."""
    with ENVIRON_LOCK:
        return dict(os.environ)


def child_environment(env: Mapping[str, str], source: Source, depth: int) -> dict[str, str]:
    """``env`` for a program credproc itself starts while it resolves ``source`` (mfa_process)."""
    child = dict(env)
    _apply(child, _child_changes(source, depth))
    return child


def _child_changes(source: Source, depth: int) -> dict[str, str | None]:
    """The variables to set (None: to remove) for what runs on behalf of ``source``."""
    changes: dict[str, str | None] = {DEPTH_VARIABLE: str(depth + 1)}
    if source.ignore_env_profile:
        changes.update(dict.fromkeys(("AWS_PROFILE", "AWS_DEFAULT_PROFILE")))
    return changes


def _apply(env: MutableMapping[str, str], changes: Mapping[str, str | None]) -> None:
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
