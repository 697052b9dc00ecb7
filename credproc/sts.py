"""The STS calls (I/O), through botocore. botocore is imported here only, and
only when a call is really needed, so cache hits never pay for it.

botocore, not boto3: boto3 adds resources and s3transfer, which credproc never
uses, on top of the same botocore (the AWS CLI is built on botocore too). One
botocore session per caller, so per run: the source credentials resolve through
its provider chain, and every hop's client and the MFA call come from it, so
botocore reads its endpoint data and the STS model once."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import TYPE_CHECKING, Any

from . import rules
from .aws_errors import code_and_message, translate
from .credentials import Credentials
from .errors import ConfigError, CredprocError, MfaError
from .log import Log
from .plan import Hop, MfaSession
from .source import Source

if TYPE_CHECKING:
    from botocore.config import Config as BotoConfig
    from botocore.session import Session as BotocoreSession

TIMEOUT_VARIABLE = "CREDPROC_STS_TIMEOUT"


def timeouts(env: Mapping[str, str]) -> tuple[float, float, int]:
    """Connect timeout, read timeout (seconds) and retries per call.

    ``CREDPROC_STS_TIMEOUT`` (seconds, for both) exists for CI and for tests of
    unresponsive servers.
    """
    try:
        timeout = rules.timeout_seconds(env.get(TIMEOUT_VARIABLE, "10"), zero_ok=False)
    except ValueError as exc:
        # A typo such as "2m" must not silently become another timeout.
        raise ConfigError(
            f"{TIMEOUT_VARIABLE}: {exc}", f"unset it, or give seconds, e.g. {TIMEOUT_VARIABLE}=10"
        ) from None
    return min(timeout, 5.0), timeout, 3


def client_config(env: Mapping[str, str], region: str | None = None) -> BotoConfig:
    """The botocore client config of every call credproc makes (STS, Organizations):
    bounded timeouts and retries."""
    from botocore.config import Config

    connect, read, retries = timeouts(env)
    return Config(
        region_name=region,
        connect_timeout=connect,
        read_timeout=read,
        retries={"mode": "standard", "max_attempts": retries},
    )


class StsCaller:
    """Makes AssumeRole calls, from the source identity or from a hop's credentials."""

    def __init__(
        self,
        source: Source,
        region: str,
        log: Log,
        env: Mapping[str, str] | None = None,
        *,
        environment: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext,
    ) -> None:
        self.source = source
        self.region = region
        self.log = log
        self._config = client_config(os.environ if env is None else env, region)
        self._session: BotocoreSession | None = None
        self._source_credentials: Credentials | None = None
        # Entered around every botocore session made here: botocore reads
        # os.environ, and may start the source's credential_process.
        self._environment = environment

    def _source_session(self) -> BotocoreSession:
        """The one botocore session: the source profile's settings and provider chain."""
        if self._session is None:
            try:
                with self._environment():
                    self._session = new_session(self.source.profile, self.region)
            except Exception as exc:  # ProfileNotFound and friends
                from botocore.exceptions import ProfileNotFound

                if isinstance(exc, ProfileNotFound) and not self.source.profile:
                    # botocore follows AWS_PROFILE even when keys are in the environment.
                    raise ConfigError(
                        f"AWS_PROFILE / AWS_DEFAULT_PROFILE: {exc}",
                        "unset AWS_PROFILE, or name a profile that exists in ~/.aws/config",
                    ) from exc
                raise translate(exc, "reading the source profile", self.source.label) from exc
        return self._session

    def prepare_source(self) -> None:
        """Resolve and freeze the source credentials once."""
        if self._source_credentials is not None:
            return
        try:
            with self._environment():
                found = self._source_session().get_credentials()
                frozen = found.get_frozen_credentials() if found is not None else None
        except Exception as exc:
            raise translate(exc, "getting the source credentials", self.source.label) from exc
        if frozen is None or not frozen.access_key or not frozen.secret_key:
            from botocore.exceptions import NoCredentialsError

            raise translate(NoCredentialsError(), "getting the source credentials", self.source.label)
        self._source_credentials = Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def client(self, credentials: Credentials | None) -> Any:
        """An STS client acting as ``credentials`` (None: the source identity)."""
        return self.service_client("sts", credentials, self.region, self._config)

    def service_client(self, service: str, credentials: Credentials | None, region: str, config: BotoConfig) -> Any:
        """A botocore client of this caller's session acting as ``credentials`` (None: the source identity)."""
        if credentials is None:
            self.prepare_source()
            credentials = self._source_credentials
            assert credentials is not None
        session = self._source_session()
        with self._environment():
            return session.create_client(
                service,
                region_name=region,
                config=config,
                aws_access_key_id=credentials.access_key_id,
                aws_secret_access_key=credentials.secret_access_key,
                aws_session_token=credentials.session_token,
            )

    def assume_role(self, hop: Hop, credentials: Credentials | None, caller: str) -> Credentials:
        """One AssumeRole call; ``caller`` names the identity for error messages."""
        kwargs: dict[str, Any] = {
            "RoleArn": hop.role_arn,
            "RoleSessionName": hop.session_name,
            "DurationSeconds": hop.duration,
        }
        kwargs.update(assume_role_options(hop))
        client = self.client(credentials)
        try:
            response = client.assume_role(**kwargs)
        except Exception as exc:
            if hop.duration > rules.ROLE_CHAINING_MAX and _is_chaining_limit(exc):
                # The source itself was a role (e.g. a CI runner's role): this
                # first hop is role chaining too, and STS caps it at 1 h.
                self.log.step(f"{hop.role_arn}: the source is a role, so STS allows 1 h at most; asking for 3600 s")
                kwargs["DurationSeconds"] = rules.ROLE_CHAINING_MAX
                try:
                    response = client.assume_role(**kwargs)
                except Exception as retry_exc:
                    raise translate(
                        retry_exc, f"assuming {hop.role_arn}", self._who(caller, credentials)
                    ) from retry_exc
            else:
                raise translate(exc, f"assuming {hop.role_arn}", self._who(caller, credentials)) from exc
        return _credentials(response, hop.account_id)

    def get_session_token(self, mfa: MfaSession, code: str) -> Credentials:
        """GetSessionToken with an MFA code, as the source identity (an IAM user)."""
        client = self.client(None)
        try:
            response = client.get_session_token(SerialNumber=mfa.serial, TokenCode=code, DurationSeconds=mfa.duration)
        except Exception as exc:
            code_name, message = code_and_message(exc)
            if code_name == "AccessDenied" and "session credentials" in message.lower():
                raise MfaError(
                    f"GetSessionToken refused: the source ({self.source.label}) has temporary credentials: {message}",
                    "MFA via mfa_serial needs an IAM user's access keys as the source; "
                    "remove mfa_serial if the source already signed in with MFA (e.g. SSO)",
                ) from exc
            if code_name == "AccessDenied":
                raise MfaError(
                    f"STS rejected the MFA code for {mfa.serial} ({self.source.label}): {message}",
                    "wait for the next code and retry; check that mfa_serial is the device of the source user "
                    "and that the device's clock is right",
                ) from exc
            raise translate(exc, f"GetSessionToken with MFA device {mfa.serial}", self.source.label) from exc
        return _credentials(response, None)

    def caller_identity(self, credentials: Credentials | None) -> str:
        """The ARN STS reports for these credentials."""
        try:
            return str(self.client(credentials).get_caller_identity()["Arn"])
        except Exception as exc:
            raise translate(exc, "GetCallerIdentity", self.source.label) from exc

    def source_credentials(self) -> Credentials:
        """The source identity's own credentials (for calls other than STS, e.g. Organizations)."""
        self.prepare_source()
        assert self._source_credentials is not None
        return self._source_credentials

    def source_identity(self) -> tuple[str, str | None]:
        """GetCallerIdentity as the source: its ARN, and the HTTP Date of STS's answer (for clock skew)."""
        try:
            response = self.client(None).get_caller_identity()
        except Exception as exc:
            raise translate(exc, "GetCallerIdentity", self.source.label) from exc
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        return str(response["Arn"]), headers.get("date")

    def _who(self, caller: str, credentials: Credentials | None) -> str:
        if credentials is not None:
            return caller
        # Only on the error path: find out who the source really is.
        try:
            return f"{self.caller_identity(None)} ({caller})"
        except CredprocError:
            return caller


def new_session(profile: str | None, region: str) -> BotocoreSession:
    """A botocore session for ``profile`` (None: botocore's default choice), as
    ``boto3.Session(profile_name=profile, region_name=region)`` makes it.

    A missing profile raises ProfileNotFound here, not at the first call.
    """
    import botocore.session

    session = botocore.session.Session(profile=profile)
    session.set_config_variable("region", region)
    session.get_scoped_config()
    return session


def assume_role_options(hop: Hop) -> dict[str, Any]:
    """The optional AssumeRole parameters of a hop, in botocore's shapes."""
    options: dict[str, Any] = {}
    if hop.external_id:
        options["ExternalId"] = hop.external_id
    if hop.source_identity:
        options["SourceIdentity"] = hop.source_identity
    if hop.tags:
        options["Tags"] = [{"Key": key, "Value": value} for key, value in hop.tags]
    if hop.transitive_tags:
        options["TransitiveTagKeys"] = list(hop.transitive_tags)
    if hop.policy:
        options["Policy"] = hop.policy
    if hop.policy_arns:
        options["PolicyArns"] = [{"arn": arn} for arn in hop.policy_arns]
    return options


def _credentials(response: dict[str, Any], account_id: str | None) -> Credentials:
    """The Credentials of an AssumeRole or GetSessionToken response."""
    raw = response["Credentials"]
    return Credentials(
        access_key_id=raw["AccessKeyId"],
        secret_access_key=raw["SecretAccessKey"],
        session_token=raw["SessionToken"],
        expiration=raw["Expiration"].astimezone(UTC),
        account_id=account_id,
    )


def _is_chaining_limit(exc: Exception) -> bool:
    code, message = code_and_message(exc)
    return code == "ValidationError" and "chaining" in message.lower()
