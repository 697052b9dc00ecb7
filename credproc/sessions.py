"""botocore sessions whose credentials refresh through credproc (the Python
API's ``botocore_session`` and ``boto3_session``).

botocore's RefreshableCredentials decides when to refresh (15 minutes before
expiry, "advisory": a failure keeps the old credentials; 10 minutes before,
"mandatory": a failure is raised by the call that needed them) and calls back
into the engine, which hands out what ``get`` would: the cache's session
while the cache's own margin allows, else a new one from STS. The session's
only credential provider is credproc's: nothing falls back to the
environment's keys or a profile.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from .aws_credentials import Credentials, format_time
from .batch import Batch, GetOptions, Options, request

if TYPE_CHECKING:
    from botocore.session import Session as BotocoreSession


def refreshing_session(
    engine: Callable[[], Batch], target: str, region: str | None, options: GetOptions
) -> BotocoreSession:
    """A botocore session acting as ``target`` in ``region`` (None: the account's),
    credentials from the batch ``engine()`` gives: the first ones obtained now
    (errors raise here), each refresh through the engine current then (the
    API's is made anew when the config or the stored keys change)."""
    import botocore.credentials
    import botocore.session

    wanted = request(target, cast(Options, options))  # no region: it is the session's, below
    batch = engine()
    first = batch.obtain(wanted)
    # A refresh is not --refresh: the cache's session is taken while it is fresh enough.
    again = wanted._replace(force_refresh=False)

    def refresh() -> Mapping[str, Any]:
        return _metadata(engine().obtain(again).credentials)

    data = _metadata(first.credentials)
    credentials = botocore.credentials.RefreshableCredentials(
        data["access_key"],
        data["secret_key"],
        data["token"],
        first.credentials.expiration,
        refresh,
        "credproc",
        time_fetcher=batch.clock,  # the engine's clock: tests drive both
    )
    session = botocore.session.Session()
    session.register_component("credential_provider", botocore.credentials.CredentialResolver([_Fixed(credentials)]))
    session.set_config_variable("region", region or first.region)
    return session


class _Fixed:
    """A botocore credential provider handing out one (refreshing) credentials object."""

    METHOD = "credproc"
    CANONICAL_NAME = "credproc"

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials

    def load(self) -> Any:
        return self._credentials


def _metadata(credentials: Credentials) -> dict[str, Any]:
    """What RefreshableCredentials reads from a refresh (its ``expiry_time`` an RFC 3339 string)."""
    return {
        "access_key": credentials.access_key_id,
        "secret_key": credentials.secret_access_key,
        "token": credentials.session_token,
        "expiry_time": format_time(credentials.expiration) if credentials.expiration else None,
        "account_id": credentials.account_id,
    }
