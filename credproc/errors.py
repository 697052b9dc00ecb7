"""The one error hierarchy: every failure a user can meet carries a message,
a fix-it hint and an exit code from :class:`ExitCode`."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes, named once; the README lists them."""

    OK = 0
    INTERNAL = 1  #: a bug in credproc: rerun with --verbose and report it
    USAGE = 2  #: bad command line
    CONFIG = 3  #: bad config file or bad value for a setting
    AUTH = 4  #: STS refused: access denied, expired or missing source credentials
    UNAVAILABLE = 5  #: STS unreachable, timed out or throttled after retries
    CACHE = 6  #: cache or key store unusable where it was required, lock wait timed out
    RECURSION = 7  #: credproc ended up calling itself
    MFA = 8  #: no MFA code could be had, or STS rejected it
    OUTPUT = 9  #: stdout is closed or cannot be written
    COMMAND_NOT_EXECUTABLE = 126  #: `exec`: the command exists but cannot be run (as a shell says)
    COMMAND_NOT_FOUND = 127  #: `exec`: no such command (as a shell says)
    SOME_FAILED = 10  #: `each`: a command exited non-zero, or an account's credentials could not be had
    INTERRUPTED = 130  #: Ctrl-C
    TERMINATED = 143  #: `each`: SIGTERM (128 + 15, as a shell reports it)


class CredprocError(Exception):
    """Base class: a failure with a user-facing message, a hint and an exit code."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The single stderr line shown to the user."""
        text = f"credproc: {self.message}"
        if self.hint:
            text += f" (fix: {self.hint})"
        return " ".join(text.split())


class UsageError(CredprocError):
    """The command line is wrong."""

    exit_code = ExitCode.USAGE


class ConfigError(CredprocError):
    """The config file, or a value given for one of its settings, is wrong."""

    exit_code = ExitCode.CONFIG


class AuthError(CredprocError):
    """STS refused a call, or there are no usable source credentials."""

    exit_code = ExitCode.AUTH


class RefusedError(AuthError):
    """STS said no outright (access denied, invalid or expired token): cached sessions are not handed out instead."""


class CredentialsRefusedError(RefusedError):
    """STS did not accept the credentials the call was signed with (invalid or expired)."""


class UnavailableError(CredprocError):
    """STS could not be reached or kept throttling."""

    exit_code = ExitCode.UNAVAILABLE


class CacheError(CredprocError):
    """The cache or its key store failed where credproc could not do without it."""

    exit_code = ExitCode.CACHE


class RecursionGuardError(CredprocError):
    """credproc was asked to run inside itself beyond the allowed depth."""

    exit_code = ExitCode.RECURSION

    # Starts the message of the innermost credproc; the outer ones, which see it
    # only as text in botocore's error, recognise it and exit 7 too.
    LOOP = "credproc is calling itself in a loop"


class MfaError(CredprocError):
    """No MFA code could be obtained, or STS rejected it."""

    exit_code = ExitCode.MFA


class MfaRejectedError(MfaError):
    """STS rejected the MFA code."""


class OutputError(CredprocError):
    """stdout could not be written (a reader that went away is not this: see stdout.py)."""

    exit_code = ExitCode.OUTPUT


# What OutputError says (stdout.py), on the full path and the fast path alike.
STDOUT_CLOSED = "stdout is closed, so the output would go nowhere"
OUTPUT_HINT = "give credproc a stdout it can write: a pipe, a file on a device with room, or >/dev/null; not >&-"


class CommandError(CredprocError):
    """The command given to ``exec`` could not be started."""

    def __init__(self, message: str, hint: str, exit_code: ExitCode) -> None:
        super().__init__(message, hint)
        self.exit_code = exit_code
