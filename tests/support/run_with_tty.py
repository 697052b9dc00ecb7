"""Run a command with the given terminal as its controlling tty, standard
streams untouched: ``python run_with_tty.py /dev/pts/N command args...``.

A new session has no controlling terminal; the first terminal its leader
opens becomes it, so /dev/tty in the command is that pseudo-terminal while
stdin, stdout and stderr stay whatever the test made them (pipes).
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    tty_path, *command = sys.argv[1:]
    os.setsid()
    os.close(os.open(tty_path, os.O_RDWR))  # acquire it as the controlling terminal
    os.execvp(command[0], command)  # noqa: S606 - the test passes a fixed argv, no shell wanted


if __name__ == "__main__":
    main()
