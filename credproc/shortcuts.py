"""Every interpreter-level shortcut credproc takes for speed, in one place.

Each function below does what a plain, public way would do, only cheaper:
it reaches into a private part of another library, puts a stand-in in
``sys.modules``, turns the garbage collector off or ends the process without
tearing the interpreter down. What each one saves, and which goal in
benchmarks/ needs it, is in benchmarks/RESULTS.md ("Shortcuts").

``CREDPROC_NO_SHORTCUTS=1`` turns them all off, for debugging and coverage:
every function then takes the plain public way (tests/test_shortcuts.py).
Each private reach also falls back to the public way by itself when the
private thing is missing or no longer answers as expected.

Standard library only, and nothing imported at load but os and sys: the
fast path (script.py, remembered.py, storage.py) imports this module.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's: the fast path imports this module (benchmarks/RESULTS.md)
if TYPE_CHECKING:
    from collections.abc import Callable
    from hashlib import blake2b as Hash
    from typing import NoReturn

SWITCH = "CREDPROC_NO_SHORTCUTS"
STAND_IN_DOC = "imported on first use (credproc.shortcuts)"

# Imported by keyring and its dependencies while keyring is imported, used by
# no keychain call: jaraco.context's tarball download, command runner and temp
# dirs (urllib.request, subprocess, tempfile); jaraco.functools' decorators
# (inspect, more_itertools); keyring's plugin search when it detects a backend
# (importlib_metadata); keyringrc.cfg when PYTHON_KEYRING_BACKEND names no
# backend (configparser); logging's formatting of an exception (traceback);
# shutil's note of the compression modules (zlib, bz2, lzma); tarfile's
# archive reading (struct, copy, pwd, grp).
KEYRING_DEFERRED = tuple(
    "urllib.request subprocess tempfile inspect more_itertools importlib_metadata importlib.metadata"
    " configparser traceback zlib bz2 lzma struct copy pwd grp".split()
)


def enabled() -> bool:
    """Whether the shortcuts are taken: unless ``CREDPROC_NO_SHORTCUTS`` is set (to anything but 0)."""
    return os.environ.get(SWITCH, "") in ("", "0")


# -- the fast path: the hash and the cipher ----------------------------------------------------


def blake2b() -> Callable[..., Hash]:
    """The BLAKE2b constructor: CPython's own ``_blake2``, the very
    implementation ``hashlib.blake2b`` hands out, without ``import hashlib``
    (which also loads OpenSSL's libcrypto for algorithms credproc does not
    use). hashlib's where the module is missing or no longer takes
    ``digest_size``."""
    if enabled():
        try:
            from _blake2 import blake2b as own

            own(b"", digest_size=32).hexdigest()  # still the constructor credproc calls
            return own
        except (ImportError, AttributeError, TypeError, ValueError):
            pass
    from hashlib import blake2b as public

    return public


def aesgcm_class() -> type:
    """cryptography's AES-GCM class, taken from its Rust binding:
    ``cryptography.hazmat.primitives.ciphers.aead`` only re-exports this very
    class, but importing it loads the whole ``ciphers`` package (every
    algorithm and mode) first. The public module's class where the binding
    has moved or no longer looks like it."""
    if enabled():
        try:
            from cryptography.hazmat.bindings._rust import openssl

            found = openssl.aead.AESGCM
            if isinstance(found, type) and all(hasattr(found, name) for name in ("encrypt", "decrypt")):
                return found
        except (ImportError, AttributeError):
            pass
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM


# -- the end of a get --------------------------------------------------------------------------


def collector_off() -> None:
    """Turn Python's cyclic garbage collector off for the rest of a ``get``:
    one answer and the end of its process, whose garbage goes with it. The
    collector's passes over the modules the full path imports (keyring's and
    botocore's) are then not made."""
    if enabled():
        import gc

        gc.disable()


def end(code: int) -> NoReturn:
    """End the process with ``code`` once stdout and stderr are flushed: the
    exit handlers (``atexit``) run, then the process ends without freeing
    every module and object one by one (the kernel drops the OS locks with
    it). ``sys.exit`` with the switch off, when atexit no longer offers its
    handlers, or when a flush fails (a closed pipe is reported as usual)."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        sys.exit(code)
    if not enabled():
        sys.exit(code)
    import atexit

    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    if not callable(run_handlers):
        sys.exit(code)
    run_handlers()
    os._exit(code)


# -- imports put off until first use -----------------------------------------------------------


def defer_keyring_imports() -> None:
    """Before ``import keyring``: put off the modules of :data:`KEYRING_DEFERRED`
    (:func:`defer`), which keyring's import loads for what no keychain call
    does. What keyring's modules use while they are imported (jaraco.context's
    shutil and tarfile, logging, typing, pathlib) stays."""
    if enabled() and "keyring" not in sys.modules:
        for name in KEYRING_DEFERRED:
            defer(name)


def defer(name: str) -> None:
    """Put a stand-in for the module ``name`` in ``sys.modules`` (unless it is
    loaded already, or not installed), so that ``import name`` runs nothing.
    The first attribute read imports the real module the ordinary way and
    from then on the stand-in only forwards reads (for whoever bound it by
    name meanwhile): only a look at ``sys.modules`` itself can tell."""
    if name in sys.modules:
        return
    import _thread  # not threading's lock: its import would cost more than some deferrals save
    import importlib
    import importlib.util
    import types

    spec = importlib.util.find_spec(name)  # imports the parent package, if any
    if spec is None:
        return  # not installed: `import name` must fail as it would have
    stand_in = types.ModuleType(name, f"{name}, {STAND_IN_DOC}")
    stand_in.__spec__ = spec  # read by every `import name` (is it still initialising?)
    lock = _thread.allocate_lock()

    def __getattr__(attribute: str) -> object:
        with lock:
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]  # the import below puts the real one here and on the parent
        return getattr(importlib.import_module(name), attribute)

    stand_in.__dict__["__getattr__"] = __getattr__  # PEP 562: asked only for names the module lacks
    sys.modules[name] = stand_in
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, stand_in)
