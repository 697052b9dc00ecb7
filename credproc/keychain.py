"""The OS keychain through the ``keyring`` package: the one place credproc imports it.

keyring picks the backend by its own rules (``PYTHON_KEYRING_BACKEND``, then
keyringrc.cfg, then the best one it detects), and every call asks that backend:
nothing it returns is kept anywhere by credproc. What this module changes is
only what the import costs. ``import keyring`` takes ~50 ms of CPU on the
2-core box (about six bare interpreters) even with the backend named, and
~20 ms of that is ``urllib.request`` (http.client, email, ssl, socket), which
keyring's dependency jaraco.context imports at its top for a tarball download
helper that keyring never calls. So :func:`load` imports keyring with
``urllib.request`` deferred: a stand-in module that runs the real import the
first time anything reads an attribute of it (botocore does on a cache miss;
``credproc console`` does), and then hands out the real module's attributes.
The rest of keyring's import (jaraco.functools, importlib_metadata,
logging, configparser) is what it runs at import time, so it stays; a
backend's own module imports keyring.backend, so naming the backend
directly saves nothing either (benchmarks/RESULTS.md has the numbers).

Standard library only at the top: answers.py (the fast path) calls this.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's: the fast path imports this module
if TYPE_CHECKING:
    from types import ModuleType

# Imported by keyring's dependencies at import time, used by none of what credproc calls.
DEFERRED = ("urllib.request",)


def load() -> ModuleType:
    """The ``keyring`` package, imported with :data:`DEFERRED` put off until first used."""
    if "keyring" not in sys.modules:
        for name in DEFERRED:
            _defer(name)
    import keyring

    return keyring


def _defer(name: str) -> None:
    """Put a stand-in for the module ``name`` in ``sys.modules`` (unless it is
    loaded already) that imports the real one on the first attribute read.

    ``import name`` finds the stand-in and runs nothing. The first read of an
    attribute (``urllib.request.urlopen``, ``from urllib.request import X``)
    drops the stand-in and imports the real module the ordinary way (its
    locks, its errors, its parent's attribute), and returns the real
    attribute; from then on the stand-in only forwards reads, for whoever bound
    it by name meanwhile.
    """
    if name in sys.modules:
        return
    import importlib
    import threading
    import types

    parent_name, _, child = name.rpartition(".")
    parent = importlib.import_module(parent_name) if parent_name else None
    stand_in = types.ModuleType(name, f"{name}, imported on first use (credproc.keychain)")
    lock = threading.Lock()

    def __getattr__(attribute: str) -> object:
        with lock:
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]  # the import below puts the real one here and on the parent
        return getattr(importlib.import_module(name), attribute)

    stand_in.__dict__["__getattr__"] = __getattr__  # PEP 562: asked only for names the module lacks
    sys.modules[name] = stand_in
    if parent is not None:
        setattr(parent, child, stand_in)
