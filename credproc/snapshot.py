"""A parsed copy of the config file, so that a run that finds its answer in
the cache does not parse TOML again: tomllib's import alone costs ~2.5 ms of a
~35 ms full-path run (``credproc exec``, ``env``, ``get --verbose``), and its
parse ~110 ms for 5,000 accounts; the snapshot loads in well under 1 ms for a
small file and ~3 ms for 5,000 accounts.

- Keyed by a digest of the file's text (storage.digest), so any edit (even within the same
  mtime tick, or a file of the same size) makes the snapshot a miss; the
  snapshot holds the parse result only, so validation and error messages
  (``file:line: key``) are exactly those of a fresh parse.
- JSON (not marshal or pickle: the file is read back, and JSON cannot run or
  crash anything); a config holding TOML dates, which JSON cannot hold, simply
  gets no snapshot.
- Lives in ``<cache dir>/config-snapshots/``, 0600 in 0700 directories, written
  atomically; one file per config path. The config holds no secrets, but
  ``external_id`` may be treated as sensitive, hence the modes. A snapshot
  that is not ours or readable by others is ignored (storage.read_private). Nothing is written when
  ``[cache] enabled = false``: the user asked for no files in the cache dir.
- Any problem reading or writing it is silent: the file is parsed as before.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import storage

FORMAT = 1
DIRECTORY = "config-snapshots"


def read(config_path: Path, text: str, env: Mapping[str, str]) -> dict[str, Any] | None:
    """The parsed TOML of ``text`` from its snapshot, or None (a miss, unreadable)."""
    blob = storage.read_private(_location(config_path, env))
    if blob is None:
        return None
    try:
        stored = json.loads(blob)
    except ValueError:
        return None
    if not isinstance(stored, dict) or stored.get("format") != FORMAT or stored.get("digest") != _digest(text):
        return None
    data = stored.get("data")
    return data if isinstance(data, dict) else None


def write(config_path: Path, text: str, data: dict[str, Any], env: Mapping[str, str]) -> None:
    """Store the parse result of a config (best effort, atomic, 0600)."""
    cache_table = data.get("cache")
    if isinstance(cache_table, dict) and cache_table.get("enabled") is False:
        return
    try:
        blob = json.dumps({"format": FORMAT, "digest": _digest(text), "data": data}, allow_nan=True)
    except (TypeError, ValueError):  # TOML dates and times: no snapshot
        return
    target = _location(config_path, env)
    if storage.distrust(target.parent.parent) is not None:
        return  # a cache directory that is not the user's alone is not used (obtain.open_cache says so)
    try:
        storage.make_private_dirs(target.parent)
        storage.write_atomic(target, blob.encode())
    except OSError:
        pass


def _location(config_path: Path, env: Mapping[str, str]) -> Path:
    name = storage.digest(os.path.abspath(config_path).encode())[:32]
    return storage.cache_dir(env) / DIRECTORY / f"{name}.json"


def _digest(text: str) -> str:
    return storage.digest(text.encode())
