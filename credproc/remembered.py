"""Remembered answers: a repeated ``credproc get TARGET [options]`` printed
without loading the rest of credproc (argparse, pathlib, json, the config
parser, botocore: most of a warm hit's time).

A rememberable ``get`` (grammar.pure_options: options that only select what
is asked for) that handed out cached credentials keeps its exact stdout as
an ``answer`` memo (memo.py), named by the run's request digest and command
line. The next run prints it only if it authenticates, the final hop's cache
entry still holds the same bytes (so ``cache clear``, ``--refresh`` or a
rewritten entry invalidate it), the token files the source depends on are
unchanged, and the credentials are still fresh (freshness.still_fresh).
Otherwise, on any error, and when a directory is not the user's alone
(memo.trusted), the full path runs as if this did not exist, handed the
request digest computed here, and says why if something is wrong. With the
keyring key store the key is read from the keychain on every call
(keyring_loader.py).
"""

from __future__ import annotations

import os

from . import freshness, grammar, locations, memo, stdout, storage

TYPE_CHECKING = False  # not typing's: the fast path does without it (benchmarks/RESULTS.md)
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from .obtain import RememberTicket

KIND = "answer"  # its memos' kind (memo.py)


def request(
    argv: Sequence[str], env: Mapping[str, str], inputs: memo.Inputs | None = None
) -> tuple[memo.Inputs, str] | None:
    """The run's request digest (memo.inputs; ``inputs``: the one computed
    already) and the name of its answer, for a rememberable ``get``; None for
    anything else, and on any error (the full path then explains it). The one
    place that decides, for the console script and commands/get.py alike."""
    try:
        options = grammar.pure_options(argv)
        # --config's file, relative to the working directory as config.load opens it
        config = None if options is None else memo.config_path(env, options.get("config"))
        if config is None or locations.cache_location(env) is None:
            return None  # off Linux without overrides: only platformdirs knows the paths
        inputs = memo.inputs(env, config) if inputs is None else inputs
        return inputs, memo.name(KIND, inputs.digest, list(argv))
    except Exception:
        return None


def answer_name(argv: Sequence[str], env: Mapping[str, str]) -> str | None:
    """The name of the answer to ``argv`` in ``env`` (its claim's too, single_flight.py), for tests and tools."""
    found = request(argv, env)
    return None if found is None else found[1]


def answer_for(name: str, env: Mapping[str, str], now: float) -> str | None:
    """The remembered stdout of the answer named ``name``, or None.

    What decides whether the answer still holds (its freshness, the entry's
    bytes) is read from the memo's clear header before anything is decrypted:
    a stale answer costs no key and no AES-GCM binding (a cold fan-out after
    expiry: 50 processes). The header is authenticated with the output.
    """

    def holds(header: bytes) -> bool:
        valid_until, entry_path, entry_digest, source_files = _parse_header(header)
        if not freshness.still_fresh(valid_until, now):
            return False
        entry = storage.read_private(entry_path)
        if entry is None or storage.digest(entry) != entry_digest:
            return False
        # The token files the source's identity depends on (providers.py): another one is another identity.
        return all(storage.digest(storage.digest_part(path)) == part for path, part in source_files)

    try:
        found = memo.read(locations.cache_location(env) or "", KIND, name, env, accept=holds)
        return None if found is None else found[1].decode()
    except Exception:  # anything unexpected: the full path decides
        return None


def remember(name: str, ticket: RememberTicket, output: str) -> None:
    """Keep ``output`` as the answer named ``name`` (best effort, atomic, 0600)."""
    entry_bytes = storage.read_private(ticket.entry)
    if entry_bytes is None:
        return
    header = _header(ticket.valid_until, ticket.entry, storage.digest(entry_bytes), ticket.source_files)
    cache = ticket.cache
    memo.write(
        str(cache.directory),
        KIND,
        name,
        output.encode(),
        cache.seal,
        keyring=cache.key_store == "keyring",
        header=header,
    )


# An answer's clear header: fields joined by NUL, which no path holds: until
# when it may be handed out, the final hop's entry file, that entry's digest,
# then a path and a digest for each file the source's fingerprint read.


def _header(valid_until: float | None, entry: str, entry_digest: str, files: Sequence[tuple[str, str]] = ()) -> bytes:
    until = "-" if valid_until is None else repr(valid_until)
    fields = [until, entry, entry_digest, *(field for pair in files for field in pair)]
    return "\0".join(fields).encode(errors="surrogateescape")


def _parse_header(header: bytes) -> tuple[float | None, str, str, list[tuple[str, str]]]:
    """:func:`_header`'s fields back: valid until, the entry's path and digest, the source's files."""
    until, entry, entry_digest, *files = header.decode(errors="surrogateescape").split("\0")
    pairs = list(zip(files[::2], files[1::2], strict=True))
    return (None if until == "-" else float(until)), entry, entry_digest, pairs


def print_remembered(name: str) -> str | None:
    """Console-script fast path: print the remembered answer named ``name``, if
    there is one; it is returned (None: nothing was printed). errors.OutputError
    when stdout cannot be written (stdout.write)."""
    import time

    output = answer_for(name, os.environ, time.time())
    if output is not None:
        stdout.write(output)
    return output
