"""The Python API, ``import credproc``: the accounts of the config, and their
credentials exactly as ``credproc get`` obtains them, as values or as
botocore / boto3 sessions that refresh through credproc before they expire.

Everything goes through one engine per config and environment
(credproc.batch.Batch): the config is read, the cache opened and each source
resolved once, and a new engine is made when the config file, the AWS files
or credproc's and AWS's environment variables change (the request digest of
memo.py, as ``get`` keys its memos). Errors are credproc's own (errors.py:
message, hint, exit code); nothing is printed (steps and warnings go to the
``credproc`` logger) and nothing exits. Safe to call from many threads.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, NamedTuple

from .aws_credentials import Credentials
from .batch import Batch, Options
from .errors import UsageError

if TYPE_CHECKING:
    import boto3
    from botocore.session import Session as BotocoreSession
    from typing_extensions import Unpack

    from .batch import GetOptions


class Account(NamedTuple):
    """A configured account, as ``get`` would assume into it."""

    alias: str
    id: str
    region: str  #: the account's region
    role: str  #: the ARN of the role ``get`` assumes in it
    labels: tuple[str, ...]  #: its ``labels = [...]``


class MissingDependencyError(UsageError, ImportError):
    """boto3 is asked for but not installed (also an ImportError)."""


_engine_lock = threading.Lock()
_engine: tuple[str, Batch] | None = None  # the digests it was made for (request, stored keys), and the engine


def engine() -> Batch:
    """The engine for the current config and environment (see the module's docstring)."""
    global _engine
    from . import memo, source, source_keys, storage

    env = source.environ_copy()
    inputs = memo.inputs_for(env, None)
    # The stored keys' index too: keys stored anew under a name (rotate, remove
    # and add) are another source identity, whose first call must not get
    # the old key's cached sessions, nor the old engine's "changed" error forever.
    index = storage.digest(storage.digest_part(os.fspath(source_keys.index_path(env))))
    digest = f"{inputs.digest}/{index}"
    with _engine_lock:
        if _engine is None or _engine[0] != digest:
            from . import config as config_module

            batch = Batch(config=config_module.load(None, env, inputs=inputs), env=env)
            _engine = (digest, batch)
        return _engine[1]


def accounts(*selectors: str, labels: tuple[str, ...] | list[str] = ()) -> list[Account]:
    """The configured accounts that ``selectors`` (aliases, account ids, globs
    such as ``"prod-*"``) and ``labels`` (each one required) pick, as
    ``credproc each`` picks them; every account when neither is given.
    Raises ConfigError for a selector or label that names no account."""
    from .obtain import Request, plan_for
    from .selection import select

    batch = engine()
    found = select(batch.config, selectors, tuple(labels), all_accounts=not selectors and not labels)
    listed = []
    for account in found:  # an account id not in the config has it for alias
        plan = plan_for(batch.config, Request(account.alias), batch.env)
        listed.append(Account(account.alias, account.id, plan.region, plan.hops[-1].role_arn, tuple(account.labels)))
    return listed


def credentials(target: str, **options: Unpack[Options]) -> Credentials:
    """The credentials of ``target`` (an alias or a 12-digit account id), with
    ``get``'s options as keywords (``role``, ``via``, ``region``, ``duration``,
    ``session_name``, ``external_id``, ``refresh``, ``no_cache``): their
    ``access_key_id``, ``secret_access_key``, ``session_token``,
    ``expiration`` (aware UTC) and ``account_id``."""
    return engine().credentials(target, **options).credentials


def botocore_session(target: str, region: str | None = None, **options: Unpack[GetOptions]) -> BotocoreSession:
    """A botocore session acting as ``target``, in ``region`` (default: the
    account's), whose credentials refresh through credproc before they expire
    (botocore's RefreshableCredentials). The first credentials are obtained
    now: a failure raises here, not at the first call."""
    from .sessions import refreshing_session

    # Refreshes go through the engine of their time: a script that runs for
    # hours outlives a rotation of the stored keys, or an edit of the config.
    return refreshing_session(engine, target, region, options)


def boto3_session(target: str, region: str | None = None, **options: Unpack[GetOptions]) -> boto3.Session:
    """:func:`botocore_session` as a ``boto3.Session``; raises
    MissingDependencyError (a UsageError and an ImportError) without boto3."""
    try:
        import boto3
    except ImportError:
        raise MissingDependencyError("boto3 is not installed in this Python environment", "pip install boto3") from None
    session = botocore_session(target, region, **options)
    return boto3.Session(botocore_session=session)
