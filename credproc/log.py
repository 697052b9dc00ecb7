"""Messages on stderr: steps under --verbose, warnings always. Callers never
pass a secret here; credentials' reprs hide theirs anyway.

Without --verbose, warnings and notices are held until the command ends
(``flush``): when it fails, the one error line is all that is printed, and a
warning about, say, an unwritable cache does not bury it."""

from __future__ import annotations

import sys
from typing import TextIO


class Log:
    """Writes ``credproc: ...`` lines to stderr."""

    def __init__(self, verbose: bool = False, stream: TextIO | None = None, defer: bool = False) -> None:
        self.verbose = verbose
        self._stream = stream
        self._defer = defer and not verbose
        self._held: list[str] = []

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr

    def step(self, message: str) -> None:
        """Explain a step (only with --verbose)."""
        if self.verbose:
            print(f"credproc: {message}", file=self.stream, flush=True)

    def warn(self, message: str) -> None:
        """Something the user should know even without --verbose."""
        self._say(f"credproc: warning: {message}")

    def notice(self, message: str) -> None:
        """A one-off piece of information (e.g. a key file was created)."""
        self._say(f"credproc: {message}")

    def error(self, line: str) -> None:
        """The command's one error line (already ``credproc: ...``), printed at once."""
        print(line, file=self.stream, flush=True)

    def traceback(self, error: BaseException) -> None:
        """An error's traceback (``--verbose``), each line prefixed like every other."""
        import traceback  # only for errors: the warm hit must not pay for it

        for line in "".join(traceback.format_exception(error)).splitlines():
            print(f"credproc: {line}", file=self.stream, flush=True)

    def _say(self, line: str) -> None:
        if self._defer:
            self._held.append(line)
        else:
            print(line, file=self.stream, flush=True)

    def flush(self) -> None:
        """Print what was held (the command is succeeding, or about to exec)."""
        held, self._held = self._held, []
        for line in held:
            print(line, file=self.stream, flush=True)

    def discard(self) -> None:
        """Drop what was held (the command failed: its error line says it all)."""
        self._held = []
