"""The STS endpoint in effect, for the root of every cache key: sessions from
a local or test STS (``AWS_ENDPOINT_URL_STS``, LocalStack, moto) are never
handed out for the real one, and the other way round.

botocore decides the URL (``AWS_ENDPOINT_URL_STS``, ``AWS_ENDPOINT_URL``, the
config file's ``endpoint_url`` and ``services`` sections, regional endpoints,
FIPS, dual-stack), and asking it costs botocore's import and a client
(~120 ms), which a cache hit must not pay. So its answer is remembered in
``<cache dir>/endpoints/`` under a digest of everything it depends on:

- every ``AWS_*`` environment variable except the credentials themselves
  (they never move the endpoint, and rotating session tokens would make every
  run a miss);
- the source profile, and whether ``AWS_PROFILE`` is set aside (the profile
  whose settings botocore reads);
- the STS region;
- the bytes of the AWS config and credentials files (botocore merges both);
- the installed botocore (its endpoint rules change between releases).

A remembered URL is plain text (an endpoint is no secret), 0600 in a 0700
directory, written atomically and only read when it is ours and private
(credproc.storage). Anything unreadable is a miss: botocore is asked again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from . import storage
from .cache import Cache
from .source import AwsFiles, Source

DIRECTORY = "endpoints"
FORMAT = 1
# Credentials, not settings: they never change which URL botocore picks.
_CREDENTIAL_VARIABLES = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_CREDENTIAL_EXPIRATION",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    }
)


def current(
    cache: Cache, env: Mapping[str, str], source: Source, region: str, aws: AwsFiles, ask_botocore: Callable[[], str]
) -> str:
    """The STS URL for ``source`` in ``region``: remembered, or from ``ask_botocore()`` (then remembered).
    ``aws``: the AWS files of ``env``."""
    digest = inputs_digest(env, source, region, aws)
    location = cache.directory / DIRECTORY / f"{digest[:40]}.json"
    url = _read(location, digest)
    if url is None:
        url = ask_botocore()
        _write(cache, location, digest, url)
    return url


def inputs_digest(env: Mapping[str, str], source: Source, region: str, aws: AwsFiles) -> str:
    """A digest of everything botocore's choice of STS endpoint depends on."""
    variables = sorted(
        (name, value) for name, value in env.items() if name.startswith("AWS_") and name not in _CREDENTIAL_VARIABLES
    )
    digest = storage.hasher(
        json.dumps([FORMAT, variables, source.profile, source.ignore_env_profile, region, _botocore_release()]).encode()
    )
    aws.add_contents(digest)
    return digest.hexdigest()


def _botocore_release() -> list[int] | None:
    """Size and time of the installed botocore's ``__init__.py`` (found, not imported)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("botocore")
        status = os.stat(spec.origin) if spec is not None and spec.origin else None
    except (ImportError, ValueError, OSError):
        return None
    return [status.st_size, status.st_mtime_ns] if status is not None else None


def _read(location: Path, digest: str) -> str | None:
    blob = storage.read_private(location)
    try:
        stored = json.loads(blob) if blob is not None else None
    except ValueError:
        return None
    if not isinstance(stored, dict) or stored.get("format") != FORMAT or stored.get("digest") != digest:
        return None
    url = stored.get("url")
    return url if isinstance(url, str) and url else None


def _write(cache: Cache, location: Path, digest: str, url: str) -> None:
    """Remember ``url`` (best effort: without it the next run asks botocore again)."""
    try:
        cache.ensure_directory()
        storage.make_private_dirs(location.parent)
        storage.write_atomic(location, json.dumps({"format": FORMAT, "digest": digest, "url": url}).encode())
    except OSError:
        pass
