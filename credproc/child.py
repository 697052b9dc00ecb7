"""Running a command as credproc's child (``exec --server``): credproc stays
the parent because it serves the command's credentials while it runs.

Signals meant for the command reach it once: SIGTERM and SIGHUP sent to
credproc are passed on; SIGINT and SIGQUIT too, unless they came from the
terminal (Ctrl-C, Ctrl-\\), which sends them to the whole foreground process
group, the command included; passing them on again would make programs that
treat a second Ctrl-C as "quit now" (terraform) stop without cleaning up.
The exit status is the command's; 128+N when it died of signal N.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from types import FrameType

FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
# What a terminal sends to its foreground process group itself.
FROM_TERMINAL = ("SIGINT", "SIGQUIT")
WAIT_CHECK = 5.0

Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


def exit_status(returncode: int) -> int:
    """A shell's view of the child's end: its exit code, or 128+N for death by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def in_terminal_foreground() -> bool:
    """Whether credproc's process group is its terminal's foreground group:
    then the terminal's own signals reached the command as well."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return False  # no controlling terminal
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


def run(
    command: Sequence[str],
    env: Mapping[str, str],
    *,
    popen: Callable[..., subprocess.Popen[bytes]] = subprocess.Popen,
    from_terminal: Callable[[], bool] = in_terminal_foreground,
) -> int:
    """Run ``command`` with ``env`` as a child; returns its exit status.

    Raises OSError when the command cannot be started (not found, not executable).
    """
    if os.name == "nt":
        return run_on_windows(command, env, popen)
    child: subprocess.Popen[bytes] | None = None
    pending: list[int] = []
    terminal_signals = {getattr(signal, name) for name in FROM_TERMINAL if hasattr(signal, name)}

    def forward(number: int, _frame: FrameType | None) -> None:
        if number in terminal_signals and from_terminal():
            return
        if child is None:
            pending.append(number)  # arrived while the child was being started
        elif child.returncode is None:
            child.send_signal(number)

    previous: dict[int, Handler] = {}
    for name in FORWARDED:
        if hasattr(signal, name):
            number = getattr(signal, name)
            previous[number] = signal.signal(number, forward)
    try:
        # PATH is searched in the command's environment, as execvpe does for plain exec.
        child = popen(list(command), env=dict(env))
        for number in pending:
            child.send_signal(number)
        return exit_status(wait(child))
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def wait(child: subprocess.Popen[bytes]) -> int:
    """Wait for ``child`` while staying responsive to signals.

    Python runs signal handlers in the main thread only; a signal the kernel
    hands to one of the endpoint's threads would wait until a blocking
    ``waitpid`` returns, i.e. until the child has ended. So the main thread
    waits on the signal wakeup pipe instead, which every caught signal (and
    SIGCHLD, when the child ends) writes to, whichever thread it reached.
    """
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    previous_chld = signal.signal(signal.SIGCHLD, lambda _number, _frame: None)
    try:
        while (code := child.poll()) is None:
            # The timeout only bounds the wait should a wakeup ever be missed.
            select.select([read_fd], [], [], WAIT_CHECK)
            with contextlib.suppress(BlockingIOError):
                os.read(read_fd, 4096)
        return code
    finally:
        signal.signal(signal.SIGCHLD, previous_chld)
        signal.set_wakeup_fd(previous_fd)
        os.close(read_fd)
        os.close(write_fd)


def run_on_windows(
    command: Sequence[str], env: Mapping[str, str], popen: Callable[..., subprocess.Popen[bytes]] | None = None
) -> int:
    """Windows' one way to run a command (there is no exec): a child, waited
    for; returns its exit status. OSError when it cannot be started."""
    import shutil

    # CreateProcess finds only .exe files on PATH; a shell also finds aws.cmd,
    # cdk.cmd and npm's other .cmd shims through PATHEXT, and so does which().
    program = shutil.which(command[0], path=env.get("PATH")) or command[0]
    # Ctrl-C reaches both through the console: credproc ignores it and waits.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return (popen or subprocess.Popen)([program, *command[1:]], env=dict(env)).wait()
    finally:
        signal.signal(signal.SIGINT, previous)
