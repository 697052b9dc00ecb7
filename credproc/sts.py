"""The STS calls (I/O). boto3 is imported here only, and only when a call is
really needed, so cache hits never pay for it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import TYPE_CHECKING, Any

from . import rules
from .credentials import Credentials
from .errors import AuthError, ConfigError, CredprocError, MfaError, RecursionGuardError, UnavailableError
from .log import Log
from .plan import Hop, MfaSession
from .source import Source

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config as BotoConfig

_AUTH_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "RegionDisabledException",
    "IDPRejectedClaim",
}
_THROTTLE_CODES = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}


def timeouts(env: Mapping[str, str]) -> tuple[float, float, int]:
    """Connect timeout, read timeout (seconds) and attempts per call.

    ``CREDPROC_STS_TIMEOUT`` (seconds, for both) exists for CI and for tests of
    unresponsive servers.
    """
    try:
        timeout = rules.timeout_seconds(env.get("CREDPROC_STS_TIMEOUT", "10"), zero_ok=False)
    except ValueError as exc:
        # A typo such as "2m" must not silently become another timeout.
        raise ConfigError(
            f"CREDPROC_STS_TIMEOUT: {exc}", "unset it, or give seconds, e.g. CREDPROC_STS_TIMEOUT=10"
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
        import boto3

        self._boto3 = boto3
        self.source = source
        self.region = region
        self.log = log
        self._config = client_config(os.environ if env is None else env, region)
        self._session: boto3.Session | None = None
        self._source_credentials: Credentials | None = None
        # Entered around every botocore session made here: botocore reads
        # os.environ, and may start the source's credential_process.
        self._environment = environment

    def _source_session(self) -> boto3.Session:
        if self._session is None:
            try:
                self._session = self._boto3.Session(profile_name=self.source.profile, region_name=self.region)
            except Exception as exc:  # ProfileNotFound and friends
                from botocore.exceptions import ProfileNotFound

                if isinstance(exc, ProfileNotFound) and not self.source.profile:
                    # botocore follows AWS_PROFILE even when keys are in the environment.
                    raise ConfigError(
                        f"AWS_PROFILE / AWS_DEFAULT_PROFILE: {exc}",
                        "unset AWS_PROFILE, or name a profile that exists in ~/.aws/config",
                    ) from exc
                raise _translate(exc, "reading the source profile", self.source.label) from exc
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
            if _is_sso_token_error(exc):
                raise self._sso_token_error(exc) from exc
            raise _translate(exc, "getting the source credentials", self.source.label) from exc
        if frozen is None or not frozen.access_key or not frozen.secret_key:
            from botocore.exceptions import NoCredentialsError

            raise _translate(NoCredentialsError(), "getting the source credentials", self.source.label)
        self._source_credentials = Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def _sso_token_error(self, exc: Exception) -> AuthError:
        """No usable IAM Identity Center token: the exact ``aws sso login`` that fixes it."""
        from botocore.exceptions import UnauthorizedSSOTokenError

        from .source import AwsFiles, sso_login_command

        profile = self._source_session().profile_name  # as botocore chose it
        command = sso_login_command(AwsFiles(os.environ), profile) or f"aws sso login --profile {profile}"
        # botocore's own text for an expired token only says to run aws sso login.
        detail = "" if isinstance(exc, UnauthorizedSSOTokenError) else f": {exc}"
        return AuthError(
            f"the source ({self.source.label}) has no valid IAM Identity Center (SSO) sign-in" + detail,
            f"run {command}, then retry",
        )

    def client(self, credentials: Credentials | None) -> Any:
        """An STS client acting as ``credentials`` (None: the source identity)."""
        if credentials is None:
            self.prepare_source()
            credentials = self._source_credentials
            assert credentials is not None
        with self._environment():
            return self._boto3.Session(region_name=self.region).client(
                "sts",
                config=self._config,
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
                    raise _translate(
                        retry_exc, f"assuming {hop.role_arn}", self._who(caller, credentials)
                    ) from retry_exc
            else:
                raise _translate(exc, f"assuming {hop.role_arn}", self._who(caller, credentials)) from exc
        return _credentials(response, hop.account_id)

    def get_session_token(self, mfa: MfaSession, code: str) -> Credentials:
        """GetSessionToken with an MFA code, as the source identity (an IAM user)."""
        client = self.client(None)
        try:
            response = client.get_session_token(SerialNumber=mfa.serial, TokenCode=code, DurationSeconds=mfa.duration)
        except Exception as exc:
            code_name, message = _code_and_message(exc)
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
            raise _translate(exc, f"GetSessionToken with MFA device {mfa.serial}", self.source.label) from exc
        return _credentials(response, None)

    def caller_identity(self, credentials: Credentials | None) -> str:
        """The ARN STS reports for these credentials."""
        try:
            return str(self.client(credentials).get_caller_identity()["Arn"])
        except Exception as exc:
            raise _translate(exc, "GetCallerIdentity", self.source.label) from exc

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
            raise _translate(exc, "GetCallerIdentity", self.source.label) from exc
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


def _is_sso_token_error(exc: Exception) -> bool:
    """botocore found no IAM Identity Center token, an expired one, or the portal refused it."""
    from botocore import exceptions as bce

    if isinstance(exc, bce.SSOTokenLoadError | bce.UnauthorizedSSOTokenError):
        return True
    # An sso-session token past its expiry that botocore could not refresh.
    return isinstance(exc, bce.TokenRetrievalError) and getattr(exc, "kwargs", {}).get("provider") == "sso"


def _is_chaining_limit(exc: Exception) -> bool:
    code, message = _code_and_message(exc)
    return code == "ValidationError" and "chaining" in message.lower()


def _code_and_message(exc: Exception) -> tuple[str, str]:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return str(error.get("Code", "")), str(error.get("Message", ""))
    return "", str(exc)


def _translate(exc: Exception, action: str, identity: str) -> CredprocError:
    """A botocore exception as one clear credproc error."""
    from botocore import exceptions as bce

    name = type(exc).__name__
    if isinstance(exc, CredprocError):
        return exc
    if isinstance(exc, bce.NoCredentialsError):
        return AuthError(
            f"no source credentials found ({identity})",
            "set [source] profile in the credproc config, or configure the default AWS credentials "
            "(aws configure, aws sso login, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
        )
    if isinstance(exc, bce.ProfileNotFound):
        return ConfigError(
            f"[source] profile: {exc}",
            "name a profile that exists in ~/.aws/config or ~/.aws/credentials",
        )
    if isinstance(exc, bce.ConfigParseError):
        # Not the source's fault: botocore cannot read the AWS config files at all.
        return ConfigError(f"{exc}", "fix that file's INI syntax (every AWS tool reads it)")
    if isinstance(exc, bce.ClientError):
        code, message = _code_and_message(exc)
        if code in _THROTTLE_CODES:
            return UnavailableError(
                f"STS kept throttling while {action} as {identity}: {message}", "wait a little and retry"
            )
        if code in _AUTH_CODES:
            hint = {
                "AccessDenied": "check the role's trust policy allows this identity, and the identity may call sts:AssumeRole on it",
                "ExpiredToken": "the source credentials have expired: refresh them (e.g. aws sso login) and retry",
                "ExpiredTokenException": "the source credentials have expired: refresh them (e.g. aws sso login) and retry",
                "RegionDisabledException": "activate STS in that region (IAM console, account settings) or set [source] region",
            }.get(code, "check the source credentials are current and correct")
            return AuthError(f"{code} while {action} as {identity}: {message}", hint)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if isinstance(status, int) and status >= 500:
            return UnavailableError(f"STS failed ({code}, HTTP {status}) while {action}: {message}", "retry later")
        return AuthError(
            f"STS refused {action} as {identity}: {code}: {message}", "check the role ARN and its settings"
        )
    if isinstance(
        exc, (bce.EndpointConnectionError, bce.ConnectionError, bce.ConnectTimeoutError, bce.ReadTimeoutError)
    ):
        return UnavailableError(
            f"could not reach STS while {action}: {exc}",
            "check the network, proxy or AWS_ENDPOINT_URL_STS, then retry",
        )
    if isinstance(exc, bce.CredentialRetrievalError | bce.InvalidConfigError | bce.SSOError | bce.TokenRetrievalError):
        if RecursionGuardError.LOOP in str(exc):
            # A nested credproc stopped a loop: one clear line and exit 7, not its
            # message wrapped once per level of nesting.
            return RecursionGuardError(
                f"{RecursionGuardError.LOOP}: the source ({identity}) runs a credential_process "
                "that runs credproc again",
                "point [source] profile at a profile with its own credentials (keys, SSO or a role), "
                "not at a profile whose credential_process is credproc",
            )
        # A nested credproc already said what to fix; do not say it twice.
        nested_hint = "(fix: " in str(exc)
        return AuthError(
            f"could not get the source credentials ({identity}): {exc}",
            None if nested_hint else "fix the source profile, e.g. run aws sso login",
        )
    if isinstance(exc, bce.BotoCoreError):
        return AuthError(
            f"{name} while {action} as {identity}: {exc}", "check the source profile and the AWS config files"
        )
    raise exc


def unavailable(exc: Exception) -> bool:
    """Whether a botocore error says AWS could not answer (unreachable, timed
    out, throttling, a 5xx), as opposed to refusing the call."""
    from botocore import exceptions as bce

    if isinstance(exc, bce.ClientError):
        code, _message = _code_and_message(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in _THROTTLE_CODES or (isinstance(status, int) and status >= 500)
    return isinstance(
        exc, (bce.EndpointConnectionError, bce.ConnectionError, bce.ConnectTimeoutError, bce.ReadTimeoutError)
    )
