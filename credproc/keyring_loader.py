"""The OS keychain through the ``keyring`` package: the one place credproc imports it.

keyring picks the backend by its own rules (``PYTHON_KEYRING_BACKEND``, then
keyringrc.cfg, then the best one it detects), and every call asks that backend:
nothing it returns is kept anywhere by credproc. What this module changes is
only what the import costs: :func:`load` puts off the modules keyring's
import loads for what no keychain call does (credproc/shortcuts.py,
``defer_keyring_imports``). Importing the backend's module directly instead
of ``keyring`` would save nothing: every backend subclasses keyring.backend,
which is where the cost is (benchmarks/RESULTS.md).

Not done, on purpose: keeping the key anywhere (a file, a variable, a
remembered answer) would make the keychain a key file with extra steps; and
remembering which backend keyring detected would spare its probing of every
backend when neither ``PYTHON_KEYRING_BACKEND`` nor keyringrc.cfg
names one, but a backend installed or chosen since would not be asked until
the remembered answer expired.

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
