"""The AWS calls of ``credproc source rotate`` (rotation.Aws), through botocore:
STS GetCallerIdentity and GetSessionToken, IAM CreateAccessKey, ListAccessKeys
and DeleteAccessKey, each signed with the keys it is given (never botocore's
credential chain), retried like every STS call (credproc.retry), failures
told by credproc.aws_errors. AWS_ENDPOINT_URL_IAM / _STS point them elsewhere."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from . import retry, sts
from .aws_credentials import format_time
from .aws_errors import STS, Service, code_and_message, throttled, transient, translate
from .errors import CredprocError
from .log import Log
from .plan import MfaSession
from .rotation import KeyLimitError, NewKey, Pair

if TYPE_CHECKING:
    from botocore.session import Session as BotocoreSession

IAM = Service(
    "IAM",
    "AWS_ENDPOINT_URL_IAM",
    "the user must be allowed iam:CreateAccessKey, iam:ListAccessKeys and iam:DeleteAccessKey on itself "
    "(often only with MFA: set [source] mfa_serial)",
)
MFA_DURATION = 900  # the shortest session GetSessionToken gives: a rotation takes seconds


class BotocoreAws:
    """rotation.Aws with botocore clients made from one session."""

    def __init__(
        self,
        env: Mapping[str, str],
        region: str,
        log: Log,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._region = region
        self._config = sts.client_config(env, region)
        # The retries of throttled or failing calls wait on ``clock`` and ``sleep`` (tests pass their own).
        self._retrying = retry.Retrying(retry.limits(env).budget, log, clock=clock, sleep=sleep)
        self._session: BotocoreSession | None = None

    def _client(self, service: str, keys: Pair) -> Any:
        if self._session is None:
            import botocore.session

            # No profile: AWS_PROFILE may name a credproc profile (or none that
            # exists), and the keys are given anyway. The default profile's
            # settings and the endpoint variables still count.
            self._session = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
            self._session.set_config_variable("region", self._region)
        return self._session.create_client(
            service,
            region_name=self._region,
            config=self._config,
            aws_access_key_id=keys.access_key_id,
            aws_secret_access_key=keys.secret_access_key,
            aws_session_token=keys.session_token,
        )

    def _call(self, what: str, attempt: Callable[[], dict[str, Any]], action: str, who: str, service: Service) -> Any:
        try:
            return self._retrying.call(attempt, transient, what)
        except CredprocError:
            raise
        except Exception as exc:
            raise translate(exc, action, who, service) from exc

    def caller_arn(self, keys: Pair) -> str:
        client = self._client("sts", keys)
        who = _key(keys.access_key_id)
        response = self._call("GetCallerIdentity", client.get_caller_identity, "GetCallerIdentity", who, STS)
        return str(response["Arn"])

    def session(self, keys: Pair, serial: str, code: str) -> Pair:
        client = self._client("sts", keys)
        try:
            response = self._retrying.call(
                lambda: client.get_session_token(SerialNumber=serial, TokenCode=code, DurationSeconds=MFA_DURATION),
                transient,
                f"GetSessionToken {serial}",
            )
        except CredprocError:
            raise
        except Exception as exc:
            raise sts.mfa_refused(exc, MfaSession(serial, MFA_DURATION), _key(keys.access_key_id)) from exc
        raw = response["Credentials"]
        return Pair(raw["AccessKeyId"], raw["SecretAccessKey"], raw["SessionToken"])

    def create_key(self, signer: Pair, user: str | None) -> NewKey:
        client = self._client("iam", signer)
        kwargs = {"UserName": user} if user else {}
        try:
            # Retried only when throttled: a failed or unreadable answer may hide a key IAM
            # created, and another attempt would create one more (rotation.py looks for it).
            response = self._retrying.call(lambda: client.create_access_key(**kwargs), throttled, "CreateAccessKey")
        except CredprocError:
            raise
        except Exception as exc:
            code, message = code_and_message(exc)
            if code == "LimitExceeded":
                raise KeyLimitError(message, None) from exc
            raise translate(exc, "creating an access key", _who(user), IAM) from exc
        key = response["AccessKey"]
        return NewKey(key["AccessKeyId"], key["SecretAccessKey"], format_time(key["CreateDate"]))

    def delete_key(self, signer: Pair, user: str | None, access_key_id: str) -> None:
        client = self._client("iam", signer)
        kwargs = {"AccessKeyId": access_key_id, **({"UserName": user} if user else {})}
        try:
            self._retrying.call(lambda: client.delete_access_key(**kwargs), transient, "DeleteAccessKey")
        except CredprocError:
            raise
        except Exception as exc:
            code, message = code_and_message(exc)
            if code == "NoSuchEntity" and access_key_id in message:
                return  # gone already: an earlier attempt whose answer was lost deleted it
            raise translate(exc, f"deleting the access key {access_key_id}", _who(user), IAM) from exc

    def key_ids(self, signer: Pair, user: str | None) -> list[str]:
        client = self._client("iam", signer)
        kwargs = {"UserName": user} if user else {}
        response = self._call(
            "ListAccessKeys", lambda: client.list_access_keys(**kwargs), "listing access keys", _who(user), IAM
        )
        return [str(key["AccessKeyId"]) for key in response.get("AccessKeyMetadata", [])]


def _who(user: str | None) -> str:
    return f"the IAM user {user}" if user else "the root user"


def _key(access_key_id: str) -> str:
    """An access key as messages name it: masked, as ``credproc source list`` shows it."""
    from .stored_key import mask

    return f"the access key {mask(access_key_id)}"
