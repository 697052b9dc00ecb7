"""Messages on stderr: steps under --verbose, warnings always. Callers never
pass a secret here; credentials' reprs hide theirs anyway."""

from __future__ import annotations

import sys
from typing import TextIO


class Log:
    """Writes ``credproc: ...`` lines to stderr."""

    def __init__(self, verbose: bool = False, stream: TextIO | None = None) -> None:
        self.verbose = verbose
        self._stream = stream

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr

    def step(self, message: str) -> None:
        """Explain a step (only with --verbose)."""
        if self.verbose:
            print(f"credproc: {message}", file=self.stream, flush=True)

    def warn(self, message: str) -> None:
        """Something the user should know even without --verbose."""
        print(f"credproc: warning: {message}", file=self.stream, flush=True)

    def notice(self, message: str) -> None:
        """A one-off piece of information (e.g. a key file was created)."""
        print(f"credproc: {message}", file=self.stream, flush=True)
