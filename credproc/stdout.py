"""credproc's stdout: how its own output is written (a remembered answer,
every command's CommandOutput, serve's variables, the completion words) and
the one error when it cannot be. (``exec`` and ``each`` hand fd 1 to their
commands; ``demo`` prints its walk-through.)

Standard library only at import: the console script's fast path writes
through it; errors.py is loaded on a failure only.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's: the fast path does without it
if TYPE_CHECKING:
    from typing import NoReturn


def write(output: str) -> bool:
    """Write ``output`` to stdout now, flushed; False when its reader has gone
    away (not an error: whoever asked is no longer listening). errors.OutputError
    (exit 9) when stdout is closed or cannot be written (a full device, an I/O error)."""
    if sys.stdout is None:  # Python's stand-in for a closed fd 1
        fail(None)
    try:
        sys.stdout.write(output)
        sys.stdout.flush()
    except OSError as exc:
        # What is left in the buffer would fail again at exit, with Python's
        # "Exception ignored" report and exit 120: let it go to /dev/null.
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, sys.stdout.fileno())
            os.close(null)
        except OSError:
            pass
        if isinstance(exc, BrokenPipeError):
            return False
        fail(exc.strerror or type(exc).__name__)
    return True


def fail(reason: str | None) -> NoReturn:
    """Raise the OutputError for stdout: closed (``reason`` None), or not writable for ``reason``."""
    from .errors import OUTPUT_HINT, STDOUT_CLOSED, OutputError

    message = STDOUT_CLOSED if reason is None else f"cannot write to stdout ({reason})"
    raise OutputError(message, OUTPUT_HINT) from None
