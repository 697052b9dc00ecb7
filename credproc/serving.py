"""A running credential endpoint for one target: the server, the refresher
behind it, and the variables that point a command at it (``exec --server``,
``serve``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .credential_server import CredentialServer, command_variables, new_token, write_token_file
from .errors import CredprocError
from .log import Log
from .refresher import Current, Refresher, Session

if TYPE_CHECKING:
    from .obtain import Obtained

# obtain() for the endpoint's target, with Request.min_remaining set.
Obtain = Callable[[int], "Obtained"]

# Settings of a profile that give it credentials of its own.
_CREDENTIAL_SETTINGS = (
    "aws_access_key_id",
    "credential_process",
    "role_arn",
    "sso_session",
    "sso_start_url",
    "web_identity_token_file",
)


def shadowing_profile(env: Mapping[str, str]) -> str | None:
    """Why SDKs run with ``env`` would not use the endpoint, or None.

    Every SDK's default chain looks at the default profile before the
    container endpoint, so credentials of its own there win.
    """
    from .aws_profiles import AwsFiles

    aws = AwsFiles(env)
    for where, section in (
        (aws.credentials_path, aws.credentials("default")),
        (aws.config_path, aws.profile("default")),
    ):
        found = [name for name in _CREDENTIAL_SETTINGS if (section or {}).get(name)]
        if found:
            return (
                f"the default profile in {where} has credentials of its own ({found[0]}): AWS SDKs in the command "
                "use them, not the endpoint (fix: move them to a named profile and name it in [source] profile, "
                "or run the command with plain credproc exec)"
            )
    return None


def session_of(result: Obtained) -> Session:
    return Session(result.final.credentials, result.plan.account_id, result.plan.hops[-1].duration)


class Running:
    """An endpoint serving one target until :meth:`stop`."""

    def __init__(
        self,
        first: Obtained,
        obtain: Obtain,
        *,
        refresh_margin: int,
        port: int,
        token_file: Path | None,
        clock: Callable[[], datetime],
        log: Log,
    ) -> None:
        self.region = first.plan.region
        self.token = new_token()
        self.token_file = token_file
        self._wrote_token_file = False

        def fetch(min_remaining: int) -> tuple[Session, CredprocError | None]:
            result = obtain(min_remaining)
            return session_of(result), result.final.failure if result.final.stale else None

        current = Current(session_of(first))
        self.refresher = Refresher(current, fetch, refresh_margin=refresh_margin, clock=clock, log=log)
        self.endpoint = CredentialServer(
            current, token=self.token, port=port, clock=clock, log=log, on_failure=self.refresher.nudge
        )
        try:
            if token_file is not None:
                write_token_file(token_file, self.token)
                self._wrote_token_file = True
            self.endpoint.start()
            self.refresher.start()
        except BaseException:
            self.stop()
            raise
        log.step(f"endpoint: serving {first.plan.account_id} at {self.endpoint.url}")

    @property
    def url(self) -> str:
        return self.endpoint.url

    def variables(self) -> tuple[dict[str, str], tuple[str, ...]]:
        """What a command needs in its environment to use the endpoint, and what it must not have."""
        return command_variables(self.url, self.token, self.token_file, self.region)

    def stop(self) -> None:
        """Stop refreshing and serving, close the port, remove the token file."""
        self.refresher.stop()
        self.endpoint.stop()
        if self.token_file is not None and self._wrote_token_file:
            with contextlib.suppress(OSError):
                self.token_file.unlink()
