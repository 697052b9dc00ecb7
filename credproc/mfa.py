"""Where MFA codes come from: the ``mfa_process`` command, else a prompt on the
controlling terminal, else a clear error.

Never stdin, stdout or stderr: under credential_process the caller reads
stdout as JSON and captures stderr (shown only when credproc fails), so a
prompt there is never seen. ``/dev/tty`` is the terminal the user typed the
outer command in, even when every standard stream is a pipe.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable, Mapping
from typing import NamedTuple

from . import rules
from .errors import MfaError
from .plan import MfaSession

TTY_PATH = "/dev/tty"
# Touch-to-confirm keys and password managers wait for the user: be patient.
PROCESS_TIMEOUT = 120.0
PROMPT_ATTEMPTS = 3
SERIAL_VARIABLE = "CREDPROC_MFA_SERIAL"

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


class CodeSource(NamedTuple):
    """Gets one fresh MFA code per call (``mfa_process``, then the terminal).

    The command runner and the terminal's path are parameters so tests can
    drive both without patching.
    """

    process: str | None  # the mfa_process setting
    process_origin: str  # "file:line: source.mfa_process", for messages
    env: Mapping[str, str]
    tty_path: str = TTY_PATH
    run: Runner = subprocess.run
    windows: bool = os.name == "nt"

    def __call__(self, mfa: MfaSession, target: str) -> str:
        if self.process:
            return code_from_process(self.process, self.process_origin, mfa.serial, self.env, self.run, self.windows)
        code = code_from_terminal(mfa, self.tty_path)
        if code is None:
            raise MfaError(
                f"an MFA code for {mfa.serial} is needed, but there is no terminal to ask on "
                "(credential_process runs credproc without one) and [source] mfa_process is not set",
                "set mfa_process to a command that prints the code (e.g. ykman oath accounts code --single NAME), "
                f"or run `credproc get {target}` once in a terminal: the MFA session is then cached "
                f"for {_hours(mfa.duration)} for every account",
            )
        return code


def code_from_process(
    command: str, origin: str, serial: str, env: Mapping[str, str], run: Runner, windows: bool = os.name == "nt"
) -> str:
    """Run ``command`` without a shell; its stdout must be the 6-digit code."""
    # On Windows the program splits its own command line (MSVC rules); shell
    # rules would eat the backslashes of C:\tools\ykman.exe.
    argv: str | list[str] = command if windows else shlex.split(command)  # checked at config load
    program = shlex.split(command, posix=False)[0].strip('"') if windows else argv[0]
    try:
        result = run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",  # what a broken tool prints is no reason for a traceback
            timeout=PROCESS_TIMEOUT,
            env={**env, SERIAL_VARIABLE: serial},
            check=False,
        )
    except FileNotFoundError:
        raise MfaError(
            f"{origin}: {program!r} was not found", "install it, or give its full path in mfa_process"
        ) from None
    except subprocess.TimeoutExpired:
        raise MfaError(
            f"{origin}: {program} printed no code within {PROCESS_TIMEOUT:.0f} s",
            "run the command by itself and check it does not wait for input",
        ) from None
    except OSError as exc:
        raise MfaError(f"{origin}: could not run {program!r}: {exc.strerror or exc}", "check mfa_process") from None
    if result.returncode != 0:
        said = _last_line(result.stderr)
        raise MfaError(
            f"{origin}: {program} failed with exit code {result.returncode}" + (f": {said}" if said else ""),
            "run the command by itself to see what it needs (e.g. an unlocked vault or an inserted key)",
        )
    try:
        return rules.mfa_code(result.stdout)
    except ValueError as exc:
        raise MfaError(
            f"{origin}: the output of {program} {exc}",
            "mfa_process must print only the current 6-digit code (e.g. ykman's --single option)",
        ) from None


def code_from_terminal(mfa: MfaSession, tty_path: str = TTY_PATH) -> str | None:
    """Ask on the controlling terminal; None when there is none."""
    try:
        # O_NOCTTY: never make a terminal ours just by asking on it.
        fd = os.open(tty_path, os.O_RDWR | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return None
    try:
        prompt = f"credproc: MFA code for {mfa.serial} (session of {_hours(mfa.duration)} for every account): "
        for _ in range(PROMPT_ATTEMPTS):
            os.write(fd, prompt.encode())
            line = _read_line(fd)
            if line is None:
                raise MfaError(f"no MFA code was entered for {mfa.serial}", "run the command again and type the code")
            try:
                return rules.mfa_code(line)
            except ValueError:
                os.write(fd, b"credproc: an MFA code is 6 digits; try again\n")
        raise MfaError(
            f"no valid MFA code for {mfa.serial} after {PROMPT_ATTEMPTS} attempts",
            "type the 6 digits your device shows",
        )
    finally:
        os.close(fd)


def _read_line(fd: int) -> str | None:
    """One line from a terminal; None at end of input (Ctrl-D)."""
    data = b""
    while not data.endswith(b"\n") and len(data) < 1024:
        chunk = os.read(fd, 1024)
        if not chunk:
            return data.decode(errors="replace") if data.strip() else None
        data += chunk
    return data.decode(errors="replace")


# What a terminal would act on: CSI (ESC [ or its C1 form), OSC up to BEL or
# ST, and the two-character escapes (ESC and one more).
_ESCAPES = r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b.?"
SAID_LIMIT = 200  # characters of the command's last line shown in the error


def _last_line(text: str) -> str:
    """The last non-blank line of a command's stderr, as one printable line: the
    error line goes to a terminal or a log, so the command's escapes, control
    and format characters (bidi overrides) are dropped, and its length bounded."""
    import re
    import unicodedata

    plain = re.sub(_ESCAPES, "", text, flags=re.DOTALL)
    lines = [" ".join(line.split()) for line in plain.splitlines()]
    lines = ["".join(char for char in line if unicodedata.category(char)[0] != "C") for line in lines]
    lines = [line.strip() for line in lines if line.strip()]
    if not lines:
        return ""
    last = lines[-1]
    return last if len(last) <= SAID_LIMIT else last[: SAID_LIMIT - 1] + "…"


def _hours(seconds: int) -> str:
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds // 60}m"
