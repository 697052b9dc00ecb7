"""How many credproc processes run above this one, from the process tree
(``/proc``): the recursion guard's backstop where ``CREDPROC_DEPTH`` does not
reach a nested credproc (a credential_process run through ``env -i``,
``env -u CREDPROC_DEPTH``, sudo's reset environment).

The process tree survives whatever a wrapper does to the environment; only a
process that detaches from its parent (a daemon) leaves it, and a
credential_process cannot, as botocore waits for its output. Where there is
no ``/proc`` (macOS, Windows) the count is 0 and the variable is the only guard.
"""

from __future__ import annotations

import os

PROC = "/proc"
SCAN_LIMIT = 128  # ancestors read at most: a tree deeper than that is no shell session
_INTERPRETERS = ("python", "pypy")
_OPTIONS_WITH_VALUE = frozenset(["-W", "-X", "--check-hash-based-pycs"])


def parent_pid(stat: bytes) -> int | None:
    """The parent's pid from the text of ``/proc/PID/stat``, or None.

    The command name in parentheses may hold spaces and parentheses itself:
    the fields after it start at the last ``)``.
    """
    fields = stat[stat.rfind(b")") + 1 :].split()
    try:
        return int(fields[1])
    except (IndexError, ValueError):
        return None


def is_credproc(argv: list[str]) -> bool:
    """Whether a process's command line runs credproc: its console script
    (``python .../bin/credproc``), ``python -m credproc``, or a program named credproc."""
    if not argv:
        return False
    program = os.path.basename(argv[0])
    if program in ("credproc", "credproc.exe"):
        return True
    if not program.startswith(_INTERPRETERS):
        return False
    index = 1
    while index < len(argv) and argv[index].startswith("-"):
        option = argv[index]
        if option == "-m":
            return argv[index + 1 : index + 2] == ["credproc"]
        if option == "-c":
            return False
        index += 2 if option in _OPTIONS_WITH_VALUE else 1
    return index < len(argv) and os.path.basename(argv[index]) == "credproc"


def credproc_ancestors(proc: str = PROC, pid: int | None = None) -> int:
    """How many ancestors of process ``pid`` (this one by default) run credproc;
    0 where ``proc`` cannot be read. The walk stops at an ancestor it cannot read."""
    count = 0
    current = os.getpid() if pid is None else pid
    for _ in range(SCAN_LIMIT):
        parent = parent_pid(_read(f"{proc}/{current}/stat"))
        if not parent:  # 0: above init; None: gone or unreadable
            break
        cmdline = _read(f"{proc}/{parent}/cmdline")
        words = cmdline.split(b"\0")
        if words[-1] == b"":  # the NUL that ends the last word
            words.pop()
        argv = [word.decode(errors="surrogateescape") for word in words]
        count += is_credproc(argv)
        current = parent
    return count


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""
