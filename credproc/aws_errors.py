"""AWS errors as credproc errors: one table says, for each error code STS or
another AWS service answers with, and for each botocore exception, which
credproc error it is (so which exit code), its message and its fix.

botocore is imported only once a call has failed."""

from __future__ import annotations

from typing import NamedTuple

from .errors import (
    AuthError,
    ConfigError,
    CredentialsRefusedError,
    CredprocError,
    RecursionGuardError,
    RefusedError,
    UnavailableError,
)
from .retry import Transient


def code_and_message(exc: Exception) -> tuple[str, str]:
    """The error code and message of an AWS answer (("", "") for other
    exceptions: their text is never shown)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return str(error.get("Code", "")), str(error.get("Message", ""))
    return "", ""


class Service(NamedTuple):
    """The AWS service a call went to, as error messages name it."""

    name: str  # "STS", "Organizations"
    endpoint_variable: str  # where a user points it elsewhere
    refusal_hint: str | None = None  # replaces the STS-specific hints of refusals


STS = Service("STS", "AWS_ENDPOINT_URL_STS")


class Rule(NamedTuple):
    """How one kind of AWS error is told: the error class, and message and hint
    templates (``str.format`` fields: see _fields; never the exception's text)."""

    error: type[CredprocError]
    message: str
    hint: str | None


_REFUSED = "{code} while {action} as {identity}: {message}"
_CHECK_SOURCE = "check the source credentials are current and correct"
_SOURCE_EXPIRED = "the source credentials have expired: refresh them (e.g. aws sso login) and retry"
_THROTTLED = Rule(
    UnavailableError, "{service} kept throttling while {action} as {identity}: {message}", "wait a little and retry"
)

_SERVER_FAILED = Rule(
    UnavailableError, "{service} failed ({code}, HTTP {status}) while {action}: {message}", "retry later"
)
_TRUST = "check the role's trust policy allows this identity, and the identity may call sts:AssumeRole on it"
_REGION = "activate STS in that region (IAM console, account settings) or set [source] region"

# Error codes in an AWS answer. Codes not listed: HTTP 429 is throttling, a
# 5xx status the service failing, anything else a refusal of this request
# (_OTHER_REFUSAL). Throttling and failures are retried (credproc.retry).
ERROR_CODES: dict[str, Rule] = {
    **dict.fromkeys(
        (
            "Throttling",
            "ThrottlingException",
            "ThrottledException",
            "RequestThrottled",
            "RequestThrottledException",
            "RequestLimitExceeded",
            "TooManyRequestsException",
            "SlowDown",
            "PriorRequestNotComplete",
        ),
        _THROTTLED,
    ),
    **dict.fromkeys(
        (
            "InternalError",
            "InternalFailure",
            "ServiceUnavailable",
            "RequestTimeout",
            "RequestTimeoutException",
            "IDPCommunicationError",
        ),
        _SERVER_FAILED,
    ),
    # Refusals: STS knows the caller and says no (RefusedError: no cached
    # session is handed out instead, see credproc.freshness).
    "AccessDenied": Rule(RefusedError, _REFUSED, _TRUST),
    **dict.fromkeys(("AccessDeniedException", "IDPRejectedClaim"), Rule(RefusedError, _REFUSED, _CHECK_SOURCE)),
    # The caller's own credentials are refused (CredentialsRefusedError).
    **dict.fromkeys(
        ("InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException"),
        Rule(CredentialsRefusedError, _REFUSED, _CHECK_SOURCE),
    ),
    **dict.fromkeys(
        ("ExpiredToken", "ExpiredTokenException"), Rule(CredentialsRefusedError, _REFUSED, _SOURCE_EXPIRED)
    ),
    "RegionDisabledException": Rule(RefusedError, _REFUSED, _REGION),
}
_OTHER_REFUSAL = Rule(
    AuthError, "{service} refused {action} as {identity}: {code}: {message}", "check the role ARN and its settings"
)

_UNREACHABLE = Rule(
    UnavailableError,
    "could not reach {service} while {action} ({detail})",
    "check the network, proxy or {variable}, then retry",
)
# An answer botocore could not parse (cut off, not XML/JSON): a failing
# service, retried like one. Its text is never shown: botocore's message
# quotes the raw body, which holds the secrets of a cut-off AssumeRole answer.
_UNREADABLE = Rule(
    UnavailableError,
    "{service} sent an answer that could not be read ({name}) while {action}",
    "retry later; if it persists, check {variable} and any proxy between you and {service}",
)
# The source's own provider failed (credential_process, SSO, ...): see _source_failed.
# Its text is never shown: for a credential_process it is that program's
# stderr, which may hold anything.
_SOURCE_FAILED = Rule(
    AuthError,
    "could not get the source credentials ({identity}): {provider} failed ({name})",
    "run {check} to see the source's own error, then fix the source profile (e.g. aws sso login)",
)

# botocore exceptions without an AWS answer, by class name (so that botocore
# is imported only once a call failed); the first match wins. Messages are
# made of the fields botocore keeps (exc.kwargs), never of the exception's
# text: a third-party message may quote anything it was handed.
EXCEPTIONS: tuple[tuple[tuple[str, ...], Rule], ...] = (
    (
        ("NoCredentialsError",),
        Rule(
            AuthError,
            "no source credentials found ({identity})",
            "set [source] profile in the credproc config, or configure the default AWS credentials "
            "(aws configure, aws sso login, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
        ),
    ),
    (
        ("ProfileNotFound",),
        Rule(
            ConfigError,
            "[source] profile: the AWS profile {profile} does not exist",
            "name a profile that exists in ~/.aws/config or ~/.aws/credentials",
        ),
    ),
    # Not the source's fault: botocore cannot read the AWS config files at all.
    (
        ("ConfigParseError",),
        Rule(
            ConfigError,
            "{path}: not a valid AWS config file ({name})",
            "fix that file's INI syntax (every AWS tool reads it)",
        ),
    ),
    # No answer (retried, fewer times): refused or dropped connections, timeouts.
    (("EndpointConnectionError", "ConnectionError", "ConnectTimeoutError", "HTTPClientError"), _UNREACHABLE),
    (("CredentialRetrievalError", "InvalidConfigError", "SSOError", "TokenRetrievalError"), _SOURCE_FAILED),
    (
        ("BotoCoreError",),
        Rule(
            AuthError,
            "{name} while {action} as {identity}",
            "check the source profile and the AWS config files (rerun with --verbose to see where it failed)",
        ),
    ),
)

# What a source provider is called in messages, by botocore's name for it.
_PROVIDERS = {
    "custom-process": "its credential_process",
    "sso": "its IAM Identity Center (SSO) sign-in",
    "assume-role": "its role assumption",
    "assume-role-with-web-identity": "its web identity role assumption",
    "container-role": "the container credentials",
    "iam-role": "the instance metadata credentials",
    "login": "its aws login session",
}


def describe(exc: BaseException) -> str:
    """A botocore exception told by type and the fields botocore keeps: the
    endpoint or proxy it could not reach, and the OS's reason. Never its
    text, which may quote a server's answer or a program's output."""
    kwargs = _kwargs(exc)
    text = type(exc).__name__
    endpoint, proxy = kwargs.get("endpoint_url"), kwargs.get("proxy_url")
    if isinstance(endpoint, str):
        text += f" at {_without_userinfo(endpoint)}"
    elif isinstance(proxy, str):
        text += f" through the proxy {_without_userinfo(proxy)}"
    reason = _os_reason(kwargs.get("error"))
    return f"{text}: {reason}" if reason else text


def _kwargs(exc: BaseException) -> dict[str, object]:
    kwargs = getattr(exc, "kwargs", None)
    return kwargs if isinstance(kwargs, dict) else {}


def _without_userinfo(url: str) -> str:
    """A URL without any user:password@ (a proxy URL may hold one, and a
    password may hold a slash): everything up to the last @ goes."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}" if sep else url


def _os_reason(error: object) -> str:
    """The OS's words (strerror) for why a connection failed, found in the
    exception botocore wraps or what caused it; "" when there are none."""
    seen = 0
    while isinstance(error, BaseException) and seen < 8:
        if isinstance(error, OSError) and error.strerror:
            return str(error.strerror)
        if isinstance(error, TimeoutError) or type(error).__name__.endswith("TimeoutError"):
            return "timed out"
        error, seen = error.__cause__ or error.__context__, seen + 1
    return ""


def _fields(exc: Exception, service: Service, action: str, identity: str) -> dict[str, object]:
    """The fields of the rules' templates: all told from the exception's type and kwargs."""
    code, message = code_and_message(exc)
    kwargs = _kwargs(exc)
    profile, path, provider = kwargs.get("profile"), kwargs.get("path"), kwargs.get("provider")
    named = identity.removeprefix("profile ") if identity.startswith("profile ") else ""
    return {
        "service": service.name,
        "action": action,
        "identity": identity,
        "name": type(exc).__name__,
        "detail": describe(exc),
        "profile": repr(profile) if isinstance(profile, str) else "named there",
        "path": path if isinstance(path, str) else "an AWS config file",
        "provider": _PROVIDERS.get(provider, f"its {provider} provider")
        if isinstance(provider, str)
        else "its provider",
        "check": f"aws sts get-caller-identity --profile {named}" if named else "aws sts get-caller-identity",
        "variable": service.endpoint_variable,
        "code": code,
        "message": message,
        "status": _status(exc),
    }


def translate(exc: Exception, action: str, identity: str, service: Service = STS) -> CredprocError:
    """A botocore exception as one clear credproc error (other exceptions are re-raised).

    ``action`` says what was being done ("assuming ARN"), ``identity`` as whom.
    """
    if isinstance(exc, CredprocError):
        return exc
    rule = _rule_of(exc)
    if rule is None:
        unreadable_process = _process_output_error(exc, identity)
        if unreadable_process is not None:
            return unreadable_process
        raise exc
    fields = _fields(exc, service, action, identity)
    if rule is _SOURCE_FAILED:
        return _source_failed(exc, identity, fields)
    if service.refusal_hint and issubclass(rule.error, AuthError):
        rule = Rule(rule.error, rule.message, service.refusal_hint)
    return _apply(rule, fields)


def transient(exc: Exception) -> Transient | None:
    """Whether a failed call is worth another attempt (credproc.retry): throttling,
    the service failing, or no answer at all."""
    if isinstance(exc, CredprocError):
        return None
    rule = _rule_of(exc)
    if rule is _UNREADABLE:
        return Transient(f"unreadable answer ({type(exc).__name__})", unreachable=False)
    if rule is _THROTTLED or rule is _SERVER_FAILED:
        code = code_and_message(exc)[0]
        return Transient(f"{code or 'error'} (HTTP {_status(exc)})", unreachable=False)
    if rule is _UNREACHABLE:
        return Transient(type(exc).__name__, unreachable=True)
    return None


def throttled(exc: Exception) -> Transient | None:
    """:func:`transient`, for throttling only: the one failure that certainly did
    nothing, so the only one to retry a call that must not run twice (IAM CreateAccessKey)."""
    if isinstance(exc, CredprocError) or _rule_of(exc) is not _THROTTLED:
        return None
    return transient(exc)


def unreadable(exc: Exception) -> bool:
    """botocore could not parse the answer (its message quotes the raw body: never show it)."""
    from botocore.parsers import ResponseParserError

    return isinstance(exc, ResponseParserError)


def _rule_of(exc: Exception) -> Rule | None:
    from botocore import exceptions as bce

    if unreadable(exc):
        return _UNREADABLE

    if isinstance(exc, bce.ClientError):
        status = _status(exc)
        return ERROR_CODES.get(code_and_message(exc)[0]) or (
            _THROTTLED if status == 429 else _SERVER_FAILED if status >= 500 else _OTHER_REFUSAL
        )
    for names, rule in EXCEPTIONS:
        if isinstance(exc, tuple(getattr(bce, name) for name in names)):
            return rule
    return None


def _status(exc: Exception) -> int:
    """The HTTP status of an AWS answer (0 without one)."""
    response = getattr(exc, "response", None)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) if isinstance(response, dict) else 0
    return status if isinstance(status, int) else 0


def _source_failed(exc: Exception, identity: str, fields: dict[str, object]) -> CredprocError:
    if RecursionGuardError.LOOP in str(exc):
        # A nested credproc stopped a loop: one clear line and exit 7, not its
        # message wrapped once per level of nesting.
        return RecursionGuardError(
            f"{RecursionGuardError.LOOP}: the source ({identity}) runs a credential_process that runs credproc again",
            "point [source] profile at a profile with its own credentials (keys, SSO or a role), "
            "not at a profile whose credential_process is credproc",
        )
    return _apply(_SOURCE_FAILED, fields)


def _process_output_error(exc: Exception, identity: str) -> CredprocError | None:
    """botocore's ProcessProvider hands the program's stdout to json.loads and
    reads fields of what it got, so a banner line, bytes that are not UTF-8 or
    JSON that is no object come out as json's, the codec's or an
    AttributeError, raw; an ``Expiration`` that is no time, or one without a
    time zone, as dateutil's error or a TypeError once compared. Told as that
    profile's credential_process printing no JSON object, or no usable
    Expiration (never what it printed: it may be the credentials); None for
    an exception raised anywhere else."""
    if not isinstance(exc, (ValueError, AttributeError, TypeError)):
        return None
    from botocore.credentials import ProcessProvider, RefreshableCredentials

    found: tuple[object, str] | None = None  # (the ProcessProvider's profile, the frame's function)
    traceback = exc.__traceback__
    while traceback is not None:
        frame = traceback.tb_frame
        owner = frame.f_locals.get("self")
        if isinstance(owner, ProcessProvider):
            found = (getattr(owner, "_profile_name", None), frame.f_code.co_name)
        elif isinstance(owner, RefreshableCredentials) and found is None:
            if getattr(owner, "method", None) == ProcessProvider.METHOD:
                found = (None, "expiry")  # its Expiration, compared with an aware now
        traceback = traceback.tb_next
    if found is None:
        return None
    profile, function = found
    named = f"the credential_process of profile {profile!r}" if isinstance(profile, str) else "its credential_process"
    if function == "_retrieve_credentials_using":
        return AuthError(
            f"could not get the source credentials ({identity}): {named} "
            f"printed something that is not a JSON object ({type(exc).__name__})",
            "make that command print only the JSON object AWS expects on stdout (Version 1, AccessKeyId, "
            "SecretAccessKey...), anything else on stderr; run it by hand to see what it prints",
        )
    return AuthError(
        f"could not get the source credentials ({identity}): {named} printed an Expiration that is not "
        f"a date and time with a time zone ({type(exc).__name__})",
        'make it print Expiration in RFC 3339 with the zone, e.g. "2030-01-01T00:00:00Z"',
    )


def _apply(rule: Rule, fields: dict[str, object]) -> CredprocError:
    return rule.error(rule.message.format(**fields), rule.hint.format(**fields) if rule.hint else None)
