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
        """An error's traceback (``--verbose``), each line prefixed like every other.

        Frames and exception types only: the text of an exception that is not
        credproc's own may quote what it read (botocore quotes an unparsable
        answer whole, secrets included), so it is left out."""
        for line in _traceback_lines(error):
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


class LoggingLog(Log):
    """A Log for the Python API (credproc.api), which never prints: steps and
    warnings go to the standard library's ``credproc`` logger instead, to be
    shown only where the program configures logging."""

    def __init__(self) -> None:
        import logging

        super().__init__()
        self._logger = logging.getLogger("credproc")
        # Without a handler of its own, logging's last resort would print warnings on stderr.
        if not self._logger.handlers:
            self._logger.addHandler(logging.NullHandler())

    def step(self, message: str) -> None:
        self._logger.debug(message)

    def warn(self, message: str) -> None:
        self._logger.warning(message)

    def notice(self, message: str) -> None:
        self._logger.info(message)

    def error(self, line: str) -> None:
        self._logger.error(line.removeprefix("credproc: "))

    def traceback(self, error: BaseException) -> None:
        pass  # the API raises the error itself

    def flush(self) -> None:
        pass


_CAUSE = "The above exception was the direct cause of the following exception:"
_CONTEXT = "During handling of the above exception, another exception occurred:"


def _traceback_lines(error: BaseException) -> list[str]:
    """Python's traceback of ``error`` and its chain, oldest first, with the
    messages of exceptions other than credproc's own left out."""
    import traceback  # only for errors: the warm hit must not pay for it

    from .errors import CredprocError

    chain: list[tuple[BaseException, str | None]] = []
    current: BaseException | None = error
    link: str | None = None
    while current is not None and all(current is not seen for seen, _ in chain):
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, _CONTEXT
        else:
            current = None
    lines: list[str] = []
    for exc, link in reversed(chain):
        lines += ["Traceback (most recent call last):", *"".join(traceback.format_tb(exc.__traceback__)).splitlines()]
        kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
        lines.append(f"{kind}: {exc}" if isinstance(exc, CredprocError) else f"{kind} (message not shown)")
        if link is not None:
            lines += ["", link, ""]
    return lines
