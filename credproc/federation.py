"""Console sign-in: from a session's credentials to a sign-in URL, through
the AWS federation endpoint.

The rules, from the IAM User Guide ("Enable custom identity broker access to
the AWS console"):

- ``Action=getSigninToken`` with ``Session`` = JSON ``{"sessionId",
  "sessionKey", "sessionToken"}`` answers ``{"SigninToken": ...}``. It is
  sent as a POST form, so the session is in no URL (URLs end up in proxy
  and server logs).
- ``SessionDuration`` (900 to 43200 s) may be sent for a role session made
  with an IAM user's long-term keys; for any other session (role chaining,
  a role assumed with MFA session credentials) the endpoint refuses the
  call. Without it the console session lasts as long as the credentials.
- The login URL (``Action=login``, ``Issuer``, ``Destination``,
  ``SigninToken``) signs in whoever opens it for 15 minutes after it is made.

Everything here is pure except :func:`post_form`, the one HTTP exchange,
which :func:`sign_in_url` takes as a parameter. Only ``credproc console``
imports this module (urllib stays off the other commands' paths).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from . import __version__, rules
from .errors import AuthError, ConfigError, CredprocError, UnavailableError, UsageError

if TYPE_CHECKING:
    from .aws_credentials import Credentials
    from .plan import Plan

URL_VARIABLE = "CREDPROC_FEDERATION_URL"
TIMEOUT_VARIABLE = "CREDPROC_FEDERATION_TIMEOUT"
DEFAULT_TIMEOUT = 10.0
SIGNIN_URL_LIFETIME = 900  # seconds the login URL stays valid
MIN_SESSION_DURATION = 900
MAX_SESSION_DURATION = 43200
ISSUER = "credproc"
MAX_ANSWER_BYTES = 1 << 20  # a sign-in token is a few KiB

# partition -> (sign-in host, console host)
HOSTS = {
    "aws": ("signin.aws.amazon.com", "console.aws.amazon.com"),
    "aws-cn": ("signin.amazonaws.cn", "console.amazonaws.cn"),
    "aws-us-gov": ("signin.amazonaws-us-gov.com", "console.amazonaws-us-gov.com"),
}

_SERVICE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


class ExchangeError(Exception):
    """The HTTP exchange failed: an HTTP status, or no answer at all."""

    def __init__(self, status: int | None = None, reason: str = "", timed_out: bool = False) -> None:
        super().__init__(reason or f"HTTP {status}")
        self.status = status
        self.reason = reason
        self.timed_out = timed_out


# POSTs a form (url, body, timeout in seconds) and returns the answer's body;
# raises ExchangeError.
Exchange = Callable[[str, bytes, float], bytes]


def hosts(region: str) -> tuple[str, str]:
    """The sign-in host and the console host of the region's partition."""
    return HOSTS[rules.partition_of(region)]


def federation_url(region: str, env: Mapping[str, str]) -> str:
    """The federation endpoint: ``$CREDPROC_FEDERATION_URL``, else the partition's."""
    override = env.get(URL_VARIABLE, "")
    if not override:
        return f"https://{hosts(region)[0]}/federation"
    parts = urllib.parse.urlsplit(override)
    try:
        host, _ = parts.hostname or "", parts.port
    except ValueError:
        host = ""
    secure = parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host))
    if not host or not secure or parts.query or parts.fragment or parts.username or parts.password:
        # The session goes there: never in clear text over a network.
        raise ConfigError(
            f"{URL_VARIABLE}: {override!r} is not an https URL without query (plain http only to a loopback address)",
            f"unset it, or give the endpoint's URL, e.g. {URL_VARIABLE}=https://{HOSTS['aws'][0]}/federation",
        )
    return override


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def timeout(env: Mapping[str, str]) -> float:
    """Seconds to wait for the endpoint: ``$CREDPROC_FEDERATION_TIMEOUT`` or 10."""
    return rules.seconds_setting(env, TIMEOUT_VARIABLE, DEFAULT_TIMEOUT, zero_ok=False)


def destination(region: str, service: str | None = None, url: str | None = None) -> str:
    """The console page to land on: ``url`` (checked), a service's page, or the console home."""
    console = hosts(region)[1]
    if url is not None:
        return _checked_destination(url, region, console)
    if service is not None:
        if not _SERVICE.fullmatch(service):
            raise UsageError(
                f"--service: {service!r} is not a console service name (like s3, ec2, iam)",
                "give the first part of the console path, e.g. --service cloudformation, or use --destination URL",
            )
        return f"https://{console}/{service}/home?region={region}"
    return f"https://{console}/console/home?region={region}"


def _checked_destination(url: str, region: str, console: str) -> str:
    parts = urllib.parse.urlsplit(url)
    try:
        host, port = parts.hostname or "", parts.port
    except ValueError:
        host, port = "", None
    clean = not any(char.isspace() or ord(char) < 32 or char == "\\" for char in url)
    on_console = host == console or host.endswith("." + console)
    if not (clean and parts.scheme == "https" and on_console and port is None and parts.username is None):
        raise UsageError(
            f"--destination: {url!r} is not a console URL of partition {rules.partition_of(region)} "
            f"(the account's region is {region})",
            f"give an https://{console}/... or https://{region}.{console}/... URL, or use --service NAME",
        )
    return url


def session_duration(plan: Plan, long_term_source: bool) -> int | None:
    """The ``SessionDuration`` to ask for, or None (the console session then ends with the credentials).

    Only a role session made directly with an IAM user's long-term keys may
    ask for it: one hop, no MFA session in between, keys that are not
    themselves temporary. The endpoint refuses it for anything else.
    """
    if len(plan.hops) != 1 or plan.mfa is not None or not long_term_source:
        return None
    return min(max(plan.hops[0].duration, MIN_SESSION_DURATION), MAX_SESSION_DURATION)


def session_end(now: datetime, credentials: Credentials, duration: int | None) -> datetime | None:
    """When the console session will end (None: the credentials do not say)."""
    if duration is not None:
        return now + timedelta(seconds=duration)
    return credentials.expiration


def signin_token_request(credentials: Credentials, duration: int | None) -> bytes:
    """The getSigninToken form (a POST body: it holds the session's secrets)."""
    session = json.dumps(
        {
            "sessionId": credentials.access_key_id,
            "sessionKey": credentials.secret_access_key,
            "sessionToken": credentials.session_token or "",
        }
    )
    fields = [("Action", "getSigninToken")]
    if duration is not None:
        fields.append(("SessionDuration", str(duration)))
    fields.append(("Session", session))
    return urllib.parse.urlencode(fields).encode("ascii")


def read_signin_token(answer: bytes) -> str:
    """The SigninToken of the endpoint's JSON answer; ValueError when there is none."""
    try:
        data = json.loads(answer)
    except ValueError:  # UnicodeDecodeError included
        data = None
    token = data.get("SigninToken") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise ValueError("answered without a sign-in token")
    return token


def login_url(federation_endpoint: str, console_page: str, token: str) -> str:
    """The sign-in URL: a bearer credential for 15 minutes."""
    query = urllib.parse.urlencode(
        [("Action", "login"), ("Issuer", ISSUER), ("Destination", console_page), ("SigninToken", token)]
    )
    return f"{federation_endpoint}?{query}"


def sign_in_url(
    credentials: Credentials,
    *,
    federation_endpoint: str,
    console_page: str,
    duration: int | None,
    who: str,
    wait: float,
    exchange: Exchange | None = None,
) -> str:
    """Exchange the session for a sign-in token and build the login URL.

    ``who`` names the account and role in error messages; ``wait`` bounds
    the exchange (seconds).
    """
    body = signin_token_request(credentials, duration)
    try:
        answer = (exchange or post_form)(federation_endpoint, body, wait)
        token = read_signin_token(answer)
    except ExchangeError as error:
        raise _user_error(error, federation_endpoint, who, wait) from None
    except ValueError as error:
        raise UnavailableError(
            f"the federation endpoint {federation_endpoint} {error} for {who}",
            f"try again; if it persists, check {URL_VARIABLE} and your proxy settings",
        ) from None
    return login_url(federation_endpoint, console_page, token)


def _user_error(error: ExchangeError, where: str, who: str, wait: float) -> CredprocError:
    status = error.status
    if status is not None and 400 <= status < 500 and status != 429:
        return AuthError(
            f"the federation endpoint {where} refused to sign in {who} (HTTP {status})",
            "rerun with --refresh to sign in with a fresh session; if that is refused too, "
            "check that the role's sessions have not been revoked",
        )
    if status is not None:
        return UnavailableError(f"the federation endpoint {where} answered HTTP {status} for {who}", "try again later")
    if error.timed_out:
        return UnavailableError(
            f"the federation endpoint {where} did not answer within {wait:g} s",
            f"try again; on a slow network raise {TIMEOUT_VARIABLE} (seconds)",
        )
    return UnavailableError(
        f"cannot reach the federation endpoint {where}: {error.reason}",
        "check your network connection and proxy settings (HTTPS_PROXY)",
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect is unexpected here: following one could take the session elsewhere.
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def post_form(url: str, body: bytes, wait: float) -> bytes:
    """POST a form with urllib (certificates verified, no redirects) and
    return the answer, at most 1 MiB. https goes through the environment's
    proxies; plain http (loopback only, see :func:`federation_url`) never does: a
    proxy would see the session in clear text."""
    if not url.startswith(("https://", "http://")):  # federation_url() allows only these; never file: or others
        raise ExchangeError(reason=f"{url!r} is not an http(s) URL")
    request = urllib.request.Request(  # noqa: S310 - schemes checked just above
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "User-Agent": f"credproc/{__version__}",
        },
    )
    handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
    if url.startswith("http://"):
        handlers.append(urllib.request.ProxyHandler({}))  # replaces the default, which reads *_proxy
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=wait) as response:
            answer: bytes = response.read(MAX_ANSWER_BYTES)
            return answer
    except urllib.error.HTTPError as error:
        error.close()
        raise ExchangeError(status=error.code) from None
    except urllib.error.URLError as error:
        reason = error.reason
        raise ExchangeError(reason=_reason(reason), timed_out=isinstance(reason, TimeoutError)) from None
    except (OSError, http.client.HTTPException) as error:  # timed out, or a broken answer, after connecting
        raise ExchangeError(reason=_reason(error), timed_out=isinstance(error, TimeoutError)) from None


def _reason(error: object) -> str:
    """Why an exchange failed, by type: the OS's words for a socket error; for
    anything else (a broken status line, a cut-off answer) the type only, as
    its text may quote what the server sent."""
    if isinstance(error, ssl.SSLError):
        # OpenSSL's words (e.g. "certificate has expired"), not the server's.
        said = getattr(error, "verify_message", None) or error.reason or type(error).__name__
        return f"TLS failed ({said})"
    if isinstance(error, OSError) and error.strerror:
        return str(error.strerror)
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, str):  # urllib's own words (an unknown scheme, ...)
        return error
    return type(error).__name__
