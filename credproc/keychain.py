"""The OS keychain through the ``keyring`` package: the one place credproc imports it.

keyring picks the backend by its own rules (``PYTHON_KEYRING_BACKEND``, then
keyringrc.cfg, then the best one it detects), and every call asks that backend:
nothing it returns is kept anywhere by credproc. What this module changes is
only what the import costs. ``import keyring`` takes ~50 ms of CPU on the
2-core box (about six bare interpreters) even with the backend named, and
over half of it is modules that its import loads for things no keychain call does:

- ``urllib.request`` (http.client, email, ssl, socket: ~20 ms), ``subprocess``
  and ``tempfile``: jaraco.context, for its helpers that download tarballs,
  run commands and make temp dirs;
- ``inspect`` and ``more_itertools``: jaraco.functools, for decorators keyring
  does not use;
- ``importlib_metadata`` / ``importlib.metadata``: keyring, to find
  third-party backends (plugins) when it has to detect the backend;
- ``configparser``: keyring, to read ``keyringrc.cfg`` when
  ``PYTHON_KEYRING_BACKEND`` names no backend;
- ``traceback`` (linecache, tokenize, textwrap): logging, which keyring
  imports, for formatting an exception it is asked to log;
- ``zlib``, ``bz2`` and ``lzma``: shutil (jaraco.context), which imports them
  only to note that they are there; ``struct``, ``copy``, ``pwd`` and
  ``grp``: jaraco.context's tarfile, for reading and extracting archives.

So :func:`load` imports keyring with those deferred (credproc/deferred.py): a
stand-in module that runs the real import the first time anything reads an
attribute of it (keyring's plugin search when it detects the backend; a
backend that runs a command; botocore on a cache miss). What keyring's
modules use while they are imported (jaraco.context's shutil and tarfile,
logging, typing, pathlib) stays. Importing
the backend's module directly instead of ``keyring`` would save nothing:
every backend subclasses keyring.backend, which is where the cost is
(README "Speed" has the numbers).

Not done, on purpose: keeping the key anywhere (a file, a variable, a
remembered answer) would make the keychain a key file with extra steps; and
remembering which backend keyring detected would spare its probing of every
backend (~45 ms when neither ``PYTHON_KEYRING_BACKEND`` nor keyringrc.cfg
names one), but a backend installed or chosen since would not be asked until
the remembered answer expired.

Standard library only at the top: answers.py (the fast path) calls this.
"""

from __future__ import annotations

import sys

from . import deferred

TYPE_CHECKING = False  # not typing's: the fast path imports this module
if TYPE_CHECKING:
    from types import ModuleType

# Imported by keyring and its dependencies at import time, used by no keychain call (see above).
DEFERRED = (
    "urllib.request",
    "subprocess",
    "tempfile",
    "inspect",
    "more_itertools",
    "importlib_metadata",
    "importlib.metadata",
    "configparser",
    "traceback",
    "zlib",
    "bz2",
    "lzma",
    "struct",
    "copy",
    "pwd",
    "grp",
)


def load() -> ModuleType:
    """The ``keyring`` package, imported with :data:`DEFERRED` put off until first used."""
    if "keyring" not in sys.modules:
        for name in DEFERRED:
            deferred.defer(name)
    import keyring

    return keyring
