"""Imports put off until first use: a stand-in module in ``sys.modules``.

Some modules are imported by others for something credproc's run never does
(keyring's dependencies: credproc/keychain.py lists them; urllib.parse's
``ipaddress``, for URLs with an ``[IPv6]`` host). :func:`defer` puts a
stand-in in their place, so that ``import name`` finds it and runs nothing;
the first read of any attribute (``ipaddress.ip_address``, ``from
urllib.request import urlopen``) drops the stand-in, imports the real module
the ordinary way (its locks, its errors, its parent's attribute) and returns
the real attribute. From then on the stand-in only forwards reads, for
whoever bound it by name meanwhile.

A module that is used while its importer is being imported gains nothing
(the first read imports it at once). Code that reads attributes cannot tell
the stand-in from the module; only a look at ``sys.modules`` itself (``is``,
``vars()``, ``dir()``) before the first read can.

Standard library only, and only what the interpreter has loaded at start-up
(answers.py, the fast path, reaches this through keychain.py).
"""

from __future__ import annotations

import _thread
import sys


def defer(name: str) -> None:
    """Put a stand-in for the module ``name`` in ``sys.modules`` (unless it is
    loaded already, or not installed) that imports the real one on the first
    attribute read."""
    if name in sys.modules:
        return
    import importlib
    import importlib.util
    import types

    spec = importlib.util.find_spec(name)  # imports the parent package, if any
    if spec is None:
        return  # not installed: `import name` must fail as it would have
    stand_in = types.ModuleType(name, f"{name}, imported on first use (credproc.deferred)")
    stand_in.__spec__ = spec  # read by every `import name` (is it still initialising?)
    lock = _thread.allocate_lock()  # not threading's: its import would cost more than some deferrals save

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
