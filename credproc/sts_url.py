"""The STS endpoint URL in effect, for the root of every cache key: sessions
from a local or test STS are never handed out for the real one, and the
other way round.

botocore decides the URL (``AWS_ENDPOINT_URL_STS``, the config file's
``services``, regional endpoints, FIPS...), which costs its import and a
client, so its answer is kept as an ``endpoint`` memo (memo.py) named by the
request digest (every ``AWS_*`` variable, the AWS files, the installed
botocore), the region, the source profile, whether ``AWS_PROFILE`` is set
aside, and the AWS files as this run parsed them. Sealed like every memo: a
planted URL would send the source's credentials elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from . import memo, storage
from .aws_profiles import AwsFiles
from .cache import Cache
from .source import Source

MEMO_KIND = "endpoint"


def current(
    cache: Cache, inputs: memo.Inputs, aws: AwsFiles, source: Source, region: str, ask_botocore: Callable[[], str]
) -> str:
    """The STS URL for ``source`` in ``region``: remembered, or from ``ask_botocore()`` (then remembered).
    ``inputs``: the run's request digest; ``aws``: the AWS files as this run
    reads them (botocore reads them after the digest was taken: an edit
    meanwhile is another name)."""
    parsed = storage.hasher()
    aws.add_contents(parsed)
    name = memo.name(MEMO_KIND, inputs.digest, region, source.profile, source.ignore_env_profile, parsed.hexdigest())
    directory = os.fspath(cache.directory)
    found = memo.read(directory, MEMO_KIND, name, {}, unseal=cache.unseal)
    url = found[1].decode(errors="replace") if found is not None else ""
    if not url:
        url = ask_botocore()
        if not inputs.changed:  # best effort: without it the next run asks botocore again
            memo.write(directory, MEMO_KIND, name, url.encode(), cache.seal, keyring=cache.key_store == "keyring")
    return url
