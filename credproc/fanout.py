"""Running one command per account, a bounded number at a time (``each``).

One loop in the main thread waits on every child's output pipes and on the
signal wakeup pipe (as child.py waits for its one child), so output is relayed
in whole lines by one writer and a signal is handled as soon as it arrives.

Signals: SIGTERM and SIGHUP sent to credproc are passed to every running
command once; SIGINT and SIGQUIT too, unless they came from the terminal,
which sent them to the commands already (they share credproc's process
group, as ``exec``'s command does). After a signal nothing new starts; the
running commands are waited for.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import NamedTuple

from . import child, lines, storage
from .errors import CredprocError, ExitCode

STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
READ_SIZE = 65536


class Stopped(Exception):
    """A stop signal arrived while :attr:`Runner.raising` was set."""


class Job(NamedTuple):
    """One account to run the command for; ``error``: why its credentials could not be had (then it is not run)."""

    alias: str
    account_id: str
    error: str | None = None


class Row(NamedTuple):
    """How one account's run went (``each``'s summary)."""

    alias: str
    account_id: str
    exit_code: int | None = None  # None: the command did not run
    error: str | None = None  # the credential error, or why the command could not start
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class Launched(NamedTuple):
    """What a command needs to start: its environment, and what to stop once it has ended (an endpoint)."""

    env: Mapping[str, str]
    stop: Callable[[], None]


Launch = Callable[[Job], Launched]


class Finished(NamedTuple):
    """How a run of the jobs ended: each job's row, in the jobs' order, and the first stop signal."""

    rows: list[Row]
    signal: int | None  # the first stop signal received


class Relay:
    """The one writer of the children's output to credproc's stdout and stderr, line by line."""

    def __init__(self, prefixes: Mapping[str, bytes] | None, fds: tuple[int, int] = (1, 2)) -> None:
        self.prefixes = prefixes  # None: --no-prefix
        self.fds = fds
        self._closed = [False, False]

    def write(self, alias: str, stream: int, found: Sequence[bytes]) -> None:
        if not found or self._closed[stream]:
            return
        prefix = self.prefixes[alias] if self.prefixes is not None else b""
        data = memoryview(lines.render(prefix, found))
        try:
            while data:
                data = data[os.write(self.fds[stream], data) :]
        except OSError:  # a reader that went away (| head): keep draining the children, write no more
            self._closed[stream] = True


class _Active:
    """A running command: its process, its open pipes, when it started."""

    def __init__(self, job: Job, process: subprocess.Popen[bytes], stop: Callable[[], None], started: float) -> None:
        self.job = job
        self.process = process
        self.stop = stop
        self.started = started
        self.open = 0  # pipes not yet at end of file
        self.buffers = (lines.LineBuffer(), lines.LineBuffer())


class Runner:
    """Runs ``command`` for each job, ``parallel`` at a time, in the jobs' order."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        parallel: int,
        launch: Launch,
        relay: Relay | None,
        output_dir: Path | None = None,
        fail_fast: bool = False,
        start_error: Callable[[str, OSError], CredprocError],
        from_terminal: Callable[[], bool] = child.in_terminal_foreground,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.command = list(command)
        self.parallel = parallel
        self.launch = launch
        self.relay = relay
        self.output_dir = output_dir
        self.fail_fast = fail_fast
        self.start_error = start_error  # why the command could not start (exec's message and exit code)
        self.from_terminal = from_terminal
        self.clock = clock
        self.signal: int | None = None
        self.failed = False
        self._running: dict[int, _Active] = {}
        self._passed: list[int] = []  # signals passed on: a command started meanwhile gets them too
        self._selector = selectors.DefaultSelector()
        self._wakeup: int | None = None  # the signal wakeup pipe's read end, inside signals()
        self.raising = False  # a stop signal raises Stopped (nothing runs yet: the credentials are being fetched)

    def run(self, jobs: Sequence[Job]) -> Finished:
        rows: dict[str, Row] = {}
        pending = deque(jobs)
        # --fail-fast: an account without credentials is a failure found before anything starts.
        self.failed = self.fail_fast and any(job.error is not None for job in jobs)
        wakeup = self._wakeup
        assert wakeup is not None, "Runner.run belongs inside Runner.signals()"
        self._selector.register(wakeup, selectors.EVENT_READ, None)
        while True:
            while pending and len(self._running) < self.parallel and not self._stopping():
                job = pending.popleft()
                row = self._start(job) if job.error is None else Row(job.alias, job.account_id, error=job.error)
                if row is not None:
                    self._record(rows, row)
            if not self._running:
                break
            self._wait(wakeup)
            for active in [active for active in self._running.values() if self._ended(active)]:
                self._record(rows, self._finish(active))
        self._selector.close()
        return Finished([rows.get(job.alias) or Row(job.alias, job.account_id) for job in jobs], self.signal)

    def _stopping(self) -> bool:
        return self.signal is not None or (self.fail_fast and self.failed)

    def _record(self, rows: dict[str, Row], row: Row) -> None:
        rows[row.alias] = row
        self.failed = self.failed or not row.ok

    def _start(self, job: Job) -> Row | None:
        """Start the job's command; a Row when it could not be started."""
        try:
            launched = self.launch(job)
        except CredprocError as error:
            return Row(job.alias, job.account_id, error=summary_text(error))
        try:
            process = self._spawn(job, launched.env)
        except OutputFileError as exc:  # not the command's fault: exec's "cannot run" would mislead
            launched.stop()
            return Row(job.alias, job.account_id, exit_code=int(ExitCode.OUTPUT), error=str(exc))
        except OSError as exc:
            launched.stop()
            failure = self.start_error(self.command[0], exc)
            return Row(job.alias, job.account_id, exit_code=int(failure.exit_code), error=summary_text(failure))
        for number in self._passed:
            process.send_signal(number)
        active = _Active(job, process, launched.stop, self.clock())
        for stream, pipe in enumerate((process.stdout, process.stderr)):
            if pipe is not None:
                self._selector.register(pipe, selectors.EVENT_READ, (active, stream))
                active.open += 1
        self._running[process.pid] = active
        return None

    def _spawn(self, job: Job, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        stdin = None if self.parallel == 1 else subprocess.DEVNULL
        if self.output_dir is None:
            return subprocess.Popen(
                self.command, env=dict(env), stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        with contextlib.ExitStack() as files:
            out, err = (
                files.enter_context(_output_file(self.output_dir / f"{job.alias}{suffix}"))
                for suffix in (".out", ".err")
            )
            return subprocess.Popen(self.command, env=dict(env), stdin=stdin, stdout=out, stderr=err)

    def _wait(self, wakeup: int) -> None:
        """Relay what the children wrote, until something happened (output, an exit, a signal)."""
        for key, _ in self._selector.select(timeout=child.WAIT_CHECK):
            if key.data is None:
                with contextlib.suppress(BlockingIOError):
                    os.read(wakeup, 4096)
                continue
            active, stream = key.data
            data = os.read(key.fd, READ_SIZE)
            buffer = active.buffers[stream]
            found = buffer.feed(data) if data else buffer.finish()
            if self.relay is not None:
                self.relay.write(active.job.alias, stream, found)
            if not data:
                self._selector.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]
                active.open -= 1

    def _ended(self, active: _Active) -> bool:
        return active.open == 0 and active.process.poll() is not None

    def _finish(self, active: _Active) -> Row:
        del self._running[active.process.pid]
        seconds = self.clock() - active.started
        active.stop()
        code = child.exit_status(active.process.returncode)
        return Row(active.job.alias, active.job.account_id, exit_code=code, seconds=seconds)

    def _pass_on(self, number: int, _frame: FrameType | None) -> None:
        if self.signal is None:
            self.signal = number
        if self.raising:
            self.raising = False
            raise Stopped(number)
        if number in _terminal_signals() and self.from_terminal():
            return  # the terminal sent it to the whole foreground group: the commands have it
        self._passed.append(number)
        for active in self._running.values():
            if active.process.returncode is None:
                active.process.send_signal(number)

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        """Stop signals caught for the whole block (the credentials' fetch, then :meth:`run`): while
        ``raising`` is set, the first raises :class:`Stopped`; later ones are passed on to the running
        commands. SIGCHLD and every caught signal wake the loop."""
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        previous: dict[int, child.Handler] = {
            signal.SIGCHLD: signal.signal(signal.SIGCHLD, lambda _number, _frame: None)
        }
        for number in _numbers(STOP_SIGNALS):
            previous[number] = signal.signal(number, self._pass_on)
        self._wakeup = read_fd
        try:
            yield
        finally:
            self._wakeup = None
            for number, handler in previous.items():
                signal.signal(number, handler)
            signal.set_wakeup_fd(previous_fd)
            os.close(read_fd)
            os.close(write_fd)


def summary_text(error: CredprocError) -> str:
    """An error's one line, without the ``credproc:`` every summary row would repeat."""
    return error.one_line().removeprefix("credproc: ")


def _numbers(names: Sequence[str]) -> list[int]:
    return [getattr(signal, name) for name in names if hasattr(signal, name)]


def _terminal_signals() -> list[int]:
    return _numbers(child.FROM_TERMINAL)


class OutputFileError(Exception):
    """An ``--output-dir`` file that cannot be written, or not privately."""


@contextlib.contextmanager
def _output_file(path: Path) -> Iterator[int]:
    """``path`` opened for writing, 0600 (a command's output may hold secrets), closed in credproc once handed over.

    Opened as storage.open_private_file opens it: a file left by an earlier
    run (or made by hand) is made 0600, and emptied only once it is known to
    be the user's own regular file; a symlink, a FIFO or another user's file
    is refused untouched."""
    try:
        fd = storage.open_private_file(path)
    except storage.UntrustedError as exc:
        raise OutputFileError(f"--output-dir: cannot write {path} ({exc.reason}); remove it") from None
    except OSError as exc:
        raise OutputFileError(f"--output-dir: cannot write {path} ({exc.strerror or exc})") from None
    try:
        try:
            os.ftruncate(fd, 0)
        except OSError as exc:
            raise OutputFileError(f"--output-dir: cannot write {path} ({exc.strerror or exc})") from None
        yield fd
    finally:
        os.close(fd)
