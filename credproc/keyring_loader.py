"""The OS keychain through the ``keyring`` package: the one place credproc imports it.

keyring picks the backend by its own rules and every call asks it; nothing
it returns is kept by credproc (keeping the key, or which backend was
detected, would make the keychain a key file with extra steps, or miss a
backend chosen since). :func:`load` only makes the import cheaper, by
putting off what no keychain call uses (shortcuts.defer_keyring_imports).

Standard library only at the top: remembered.py (the fast path) calls this.
"""

from __future__ import annotations

from . import shortcuts

TYPE_CHECKING = False  # not typing's: the fast path imports this module
if TYPE_CHECKING:
    from types import ModuleType


def load() -> ModuleType:
    """The ``keyring`` package, imported with what no keychain call uses put off until first used."""
    shortcuts.defer_keyring_imports()
    import keyring

    return keyring
