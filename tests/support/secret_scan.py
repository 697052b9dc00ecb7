"""Every secret the test session knows of, and the check that output which
must hold none (a failing credproc run, an endpoint's log) holds none.

Known secrets: what the local STS handed out (its answers, read as the front
server relays them, and moto's STS backend, which keeps every role session it
issued), what the fake servers of the tests register (:func:`known`), and
what a run's environment and AWS files hold (source keys, session tokens, the
cache key). A hit fails the test naming the secret's kind, never the secret.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping

MIN_LENGTH = 8  # shorter values (a unit test's "secret") would match ordinary words

_known: dict[str, str] = {}  # secret -> its kind
# The known secrets by their first MIN_LENGTH characters: a scan looks up each
# window of the text once, so its cost does not grow with the thousands of
# sessions a suite issues.
_by_prefix: dict[str, list[str]] = {}
_moto_read: dict[int, int] = {}  # id of a moto backend's list of sessions -> how many are known
_lock = threading.Lock()

_ANSWER_FIELDS = re.compile(
    rb"<(SecretAccessKey|SessionToken)>([^<]+)<"  # STS (query protocol, XML)
    rb'|"(SecretAccessKey|SessionToken|secretAccessKey|sessionToken)"\s*:\s*"([^"]+)"'  # JSON services
)
_ENV_SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "source secret key (environment)",
    "AWS_SESSION_TOKEN": "source session token (environment)",
    "AWS_SECURITY_TOKEN": "source session token (environment)",
    "CREDPROC_CACHE_KEY": "cache key (environment)",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN": "endpoint token (environment)",
}
_FILE_SECRETS = re.compile(r"^\s*(aws_secret_access_key|aws_session_token)\s*=\s*(\S+)", re.MULTILINE)


def known(value: str, kind: str) -> None:
    """Remember ``value`` as a secret of ``kind`` ("STS SessionToken", ...) for the whole session."""
    if len(value) >= MIN_LENGTH:
        with _lock:
            if value not in _known:
                _known[value] = kind
                _by_prefix.setdefault(value[:MIN_LENGTH], []).append(value)


def note_answer(body: bytes, server: str = "STS") -> None:
    """Remember the secrets in an answer a fake or local server sends (whole or cut off)."""
    if b"ecret" not in body and b"oken" not in body:
        return
    for match in _ANSWER_FIELDS.finditer(body):
        name = match.group(1) or match.group(3)
        value = match.group(2) or match.group(4)
        known(value.decode("utf-8", "replace"), f"{server}-issued {name.decode()}")


def _note_moto() -> None:
    """Remember the role sessions moto's STS backend issued since last asked (it keeps them all)."""
    try:
        from moto.sts.models import sts_backends
    except ImportError:
        return
    for account in list(sts_backends.values()):
        for backend in list(account.values()):
            roles = list(backend.assumed_roles)
            for role in roles[_moto_read.get(id(backend.assumed_roles), 0) :]:
                known(role.secret_access_key, "STS-issued SecretAccessKey")
                known(role.session_token, "STS-issued SessionToken")
            _moto_read[id(backend.assumed_roles)] = len(roles)


def _of_environment(env: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """The secrets a run was given: variables, the AWS files' keys, the test keyring's cache key."""
    for name, kind in _ENV_SECRETS.items():
        yield env.get(name, ""), kind
    for name in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        for match in _FILE_SECRETS.finditer(_read(env.get(name))):
            yield match.group(2), f"{match.group(1)} of {name}"
    try:
        stored = json.loads(_read(env.get("CREDPROC_TEST_KEYRING")) or "{}")
    except ValueError:
        stored = {}
    for value in stored.values() if isinstance(stored, dict) else ():
        yield str(value), "cache key (test keyring)"


def _read(path: str | None) -> str:
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read(1 << 20)
    except OSError:
        return ""


def leaks(text: str, env: Mapping[str, str] | None = None) -> list[str]:
    """The kinds of the known secrets found in ``text`` (sorted, each once)."""
    if not text:
        return []
    _note_moto()
    found = {kind for value, kind in _of_environment(os.environ if env is None else env) if _in(value, text)}
    with _lock:
        for start in range(len(text) - MIN_LENGTH + 1):
            for value in _by_prefix.get(text[start : start + MIN_LENGTH], ()):
                if text.startswith(value, start):
                    found.add(_known[value])
    return sorted(found)


def _in(value: str, text: str) -> bool:
    return len(value) >= MIN_LENGTH and value in text


def failure(what: str, outputs: Iterable[str], env: Mapping[str, str] | None = None) -> str | None:
    """Why ``what``'s ``outputs`` are unacceptable (the kinds of secrets they hold), or None."""
    kinds = leaks("\n".join(outputs), env)
    return f"{what} holds a secret: {', '.join(kinds)} (the value is not shown)" if kinds else None
