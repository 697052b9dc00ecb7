"""The STS calls (I/O), through botocore. botocore is imported here only, and
only when a call is really needed, so cache hits never pay for it. botocore
makes one attempt per call; credproc.retry retries (one budget per run),
credproc.aws_errors says what a failure means.

botocore, not boto3: boto3 adds resources and s3transfer, which credproc never
uses, on top of the same botocore (the AWS CLI is built on botocore too). One
botocore session per caller, so per run: the source credentials resolve through
its provider chain, and every hop's client and the MFA call come from it, so
botocore reads its endpoint data and the STS model once."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import TYPE_CHECKING, Any

from . import retry, rules
from .aws_credentials import Credentials
from .aws_errors import code_and_message, transient, translate
from .errors import AuthError, ConfigError, CredprocError, MfaError, MfaRejectedError
from .log import Log
from .plan import Hop, MfaSession
from .source import Source

if TYPE_CHECKING:
    from botocore.config import Config as BotoConfig
    from botocore.session import Session as BotocoreSession

# Credentials for a client that only tells its endpoint (it never sends a request).
_PLACEHOLDER = Credentials("credproc-endpoint-probe", "-")


def client_config(env: Mapping[str, str], region: str | None = None) -> BotoConfig:
    """The botocore client config of credproc's AWS calls: bounded timeouts, and
    one attempt per call (:func:`retrying` retries, within one budget)."""
    from botocore.config import Config

    limits = retry.limits(env)
    return Config(
        region_name=region,
        connect_timeout=limits.connect,
        read_timeout=limits.read,
        retries={"mode": "standard", "total_max_attempts": 1},
    )


def retrying(env: Mapping[str, str], log: Log) -> retry.Retrying:
    """The retries of one run's AWS calls: ``retrying(env, log).call(attempt, transient, what)``."""
    return retry.Retrying(retry.limits(env).budget, log)


class SourceSession:
    """The botocore session of one source identity, and the credentials its
    provider chain finds: every STS client acting as the source, or as a hop
    assumed from it, comes from here.

    Safe to share between threads (a batch of requests in one process,
    credproc.batch): botocore clients are, botocore sessions are not, and
    ``environment`` changes ``os.environ`` while it is entered; so whatever
    touches the session holds one lock. Botocore's errors are raised as they
    are (:class:`StsCaller` says what they mean).
    """

    def __init__(
        self,
        source: Source,
        region: str,
        environment: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext,
    ) -> None:
        self.source = source
        self.region = region
        self._environment = environment
        self._lock = threading.RLock()
        self._session: BotocoreSession | None = None
        self._stored: Credentials | None = None

    def session(self) -> BotocoreSession:
        """The session: the source profile's settings and provider chain (made once)."""
        with self._lock:
            if self._session is None:
                with self._environment():
                    self._session = new_session(self.source.profile, self.region)
            return self._session

    def frozen_credentials(self) -> Credentials | None:
        """The source's credentials as they are now (botocore refreshes the
        ones that expire, e.g. an SSO role's); None when its chain found none."""
        with self._lock, self._environment():
            found = self.session().get_credentials()
            frozen = found.get_frozen_credentials() if found is not None else None
        if frozen is None or not frozen.access_key or not frozen.secret_key:
            return None
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def stored_credentials(self, load: Callable[[], Credentials]) -> Credentials:
        """The stored source keys (``[source] stored``), read by ``load`` once
        for every caller sharing this session: a batch over many accounts asks
        the keychain once, not once per account."""
        with self._lock:
            if self._stored is None:
                self._stored = load()
            return self._stored

    def client(self, config: BotoConfig, credentials: Credentials) -> Any:
        """An STS client of the session acting as ``credentials``."""
        with self._lock, self._environment():
            return self.session().create_client(
                "sts",
                region_name=self.region,
                config=config,
                aws_access_key_id=credentials.access_key_id,
                aws_secret_access_key=credentials.secret_access_key,
                aws_session_token=credentials.session_token,
            )


class StsCaller:
    """Makes AssumeRole calls, from the source identity or from a hop's credentials.

    One per run (its retries share one budget); ``shared``: the source's
    botocore session to use (default: one of its own), which a batch's
    callers share.
    """

    def __init__(
        self,
        source: Source,
        region: str,
        log: Log,
        env: Mapping[str, str] | None = None,
        *,
        environment: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext,
        shared: SourceSession | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self.source = source
        self.region = region
        self.log = log
        self._env = env
        self._config = client_config(env, region)
        self._retrying = retrying(env, log)
        # ``environment`` is entered around everything botocore does with the
        # session: botocore reads os.environ, and may start the source's credential_process.
        self._botocore = shared if shared is not None else SourceSession(source, region, environment)
        self._source_credentials: Credentials | None = None

    def _source_session(self) -> BotocoreSession:
        """The botocore session, its errors said in credproc's terms."""
        try:
            return self._botocore.session()
        except Exception as exc:  # ProfileNotFound and friends
            from botocore.exceptions import ProfileNotFound

            if isinstance(exc, ProfileNotFound) and not self.source.profile:
                # botocore follows AWS_PROFILE even when keys are in the environment.
                profile = getattr(exc, "kwargs", {}).get("profile")
                raise ConfigError(
                    f"AWS_PROFILE / AWS_DEFAULT_PROFILE: the AWS profile {profile!r} does not exist",
                    "unset AWS_PROFILE, or name a profile that exists in ~/.aws/config",
                ) from exc
            raise translate(exc, "reading the source profile", self.source.label) from exc

    def prepare_source(self) -> None:
        """Resolve and freeze the source credentials once."""
        if self._source_credentials is not None:
            return
        if self.source.stored:
            name = self.source.stored
            self._source_credentials = self._botocore.stored_credentials(lambda: self._stored_credentials(name))
            return
        self._source_session()
        try:
            frozen = self._botocore.frozen_credentials()
        except Exception as exc:
            if _is_sso_token_error(exc):
                raise self._sso_token_error(exc) from exc
            login = self._login_error(exc)
            if login is not None:
                raise login from exc
            raise translate(exc, "getting the source credentials", self.source.label) from exc
        if frozen is None:
            from botocore.exceptions import NoCredentialsError

            raise translate(NoCredentialsError(), "getting the source credentials", self.source.label)
        self._source_credentials = frozen

    def _stored_credentials(self, name: str) -> Credentials:
        """The keys ``[source] stored`` names (source_keys.py): static credentials for
        botocore's clients, never in an environment or on a command line."""
        from . import source_keys

        key = source_keys.load(name, self._env, self.log)
        if self.source.access_key and key.access_key_id != self.source.access_key:
            # The fingerprint was made from another key: its cached sessions are not this key's.
            raise AuthError(
                f"the stored source keys {name!r} changed while credproc ran (now {key.masked()})", "run it again"
            )
        self.log.step(f"source keys {name!r} ({key.masked()}) from the {key.where}")
        return Credentials(key.access_key_id, key.secret_access_key)

    def _sso_token_error(self, exc: Exception) -> AuthError:
        """No usable IAM Identity Center token: the exact ``aws sso login`` that fixes it."""
        from botocore.exceptions import UnauthorizedSSOTokenError

        from .aws_profiles import AwsFiles, sso_login_command

        profile = self._source_session().profile or "default"  # as botocore chose it
        command = sso_login_command(AwsFiles(os.environ), profile) or f"aws sso login --profile {profile}"
        # botocore's own text for an expired token only says to run aws sso login;
        # other texts are never shown (a third-party message may quote anything).
        detail = "" if isinstance(exc, UnauthorizedSSOTokenError) else f" ({type(exc).__name__})"
        return AuthError(
            f"the source ({self.source.label}) has no valid IAM Identity Center (SSO) sign-in" + detail,
            f"run {command}, then retry",
        )

    def _login_error(self, exc: Exception) -> AuthError | None:
        """An ``aws login`` source botocore could not use: the exact command that fixes it (login.py)."""
        from . import login
        from .aws_profiles import AwsFiles, login_profile

        profile = login_profile(AwsFiles(os.environ), self._source_session().profile or "default")
        return None if profile is None else login.failure(exc, profile, self.source.label, os.environ)

    def client(self, credentials: Credentials | None) -> Any:
        """An STS client of this caller's session acting as ``credentials`` (None: the source identity)."""
        if credentials is None:
            self.prepare_source()
            credentials = self._source_credentials
            assert credentials is not None
        self._source_session()
        return self._botocore.client(self._config, credentials)

    def endpoint_url(self) -> str:
        """The URL botocore sends this caller's STS requests to (no request is made).

        The same client as for the calls, so every setting botocore weighs
        counts: AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, the config file's
        endpoint_url and services sections, regional endpoints, FIPS, dual-stack.
        """
        self._source_session()  # a missing AWS_PROFILE is named as such
        try:
            return str(self.client(_PLACEHOLDER).meta.endpoint_url)
        except Exception as exc:
            raise translate(exc, "finding the STS endpoint", self.source.label) from exc

    def _call(self, what: str, attempt: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """One STS request, retried while STS throttles, fails or cannot be reached (credproc.retry)."""
        return self._retrying.call(attempt, transient, what)

    def assume_role(self, hop: Hop, credentials: Credentials | None, caller: str) -> Credentials:
        """One AssumeRole call; ``caller`` names the identity for error messages."""
        kwargs: dict[str, Any] = {
            "RoleArn": hop.role_arn,
            "RoleSessionName": hop.session_name,
            "DurationSeconds": hop.duration,
        }
        kwargs.update(assume_role_options(hop))
        client = self.client(credentials)
        what = f"AssumeRole {hop.role_arn}"
        try:
            try:
                response = self._call(what, lambda: client.assume_role(**kwargs))
            except Exception as exc:
                if not (hop.duration > rules.ROLE_CHAINING_MAX and _is_chaining_limit(exc)):
                    raise
                # The source itself was a role (e.g. a CI runner's role): this
                # first hop is role chaining too, and STS caps it at 1 h.
                self.log.step(f"{hop.role_arn}: the source is a role, so STS allows 1 h at most; asking for 3600 s")
                kwargs["DurationSeconds"] = rules.ROLE_CHAINING_MAX
                response = self._call(what, lambda: client.assume_role(**kwargs))
        except Exception as exc:
            raise translate(exc, f"assuming {hop.role_arn}", self._who(caller, credentials)) from exc
        return _credentials(response, hop.account_id)

    def get_session_token(self, mfa: MfaSession, code: str) -> Credentials:
        """GetSessionToken with an MFA code, as the source identity (an IAM user)."""
        client = self.client(None)
        try:
            response = self._call(
                f"GetSessionToken {mfa.serial}",
                lambda: client.get_session_token(SerialNumber=mfa.serial, TokenCode=code, DurationSeconds=mfa.duration),
            )
        except Exception as exc:
            raise mfa_refused(exc, mfa, self.source.label) from exc
        return _credentials(response, None)

    def source_credentials(self) -> Credentials:
        """The source identity's own credentials (for calls other than STS, e.g. Organizations)."""
        self.prepare_source()
        assert self._source_credentials is not None
        return self._source_credentials

    def source_identity(self) -> tuple[str, str | None]:
        """GetCallerIdentity as the source: its ARN, and the HTTP Date of STS's answer (for clock skew)."""
        try:
            client = self.client(None)
            response = self._call("GetCallerIdentity", client.get_caller_identity)
        except Exception as exc:
            raise translate(exc, "GetCallerIdentity", self.source.label) from exc
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        return str(response["Arn"]), headers.get("date")

    def _who(self, caller: str, credentials: Credentials | None) -> str:
        if credentials is not None:
            return caller
        # Only on the error path: find out who the source really is, in one
        # attempt (a name for the message is not worth the retry budget).
        try:
            return f"{self.client(None).get_caller_identity()['Arn']} ({caller})"
        except Exception:
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


def mfa_refused(exc: Exception, mfa: MfaSession, source: str) -> CredprocError:
    """A failed GetSessionToken: MFA errors say what to do about the code or the source."""
    code_name, message = code_and_message(exc)
    if code_name == "AccessDenied" and "session credentials" in message.lower():
        return MfaError(
            f"GetSessionToken refused: the source ({source}) has temporary credentials: {message}",
            "MFA via mfa_serial needs an IAM user's access keys as the source; "
            "remove mfa_serial if the source already signed in with MFA (e.g. SSO)",
        )
    if code_name == "AccessDenied":
        return MfaRejectedError(
            f"STS rejected the MFA code for {mfa.serial} ({source}): {message}",
            "wait for the next code and retry; check that mfa_serial is the device of the source user "
            "and that the device's clock is right",
        )
    return translate(exc, f"GetSessionToken with MFA device {mfa.serial}", source)


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
    code, message = code_and_message(exc)
    return code == "ValidationError" and "chaining" in message.lower()
