"""The commands: one module each, named after the command.

Every module has the same two functions:

- ``register(commands)`` adds the command's parser to the ``credproc``
  subparsers and binds ``run`` to it (``parser.set_defaults(run=run)``);
- ``run(args, log) -> CommandOutput`` does the work and hands back what to print.

``cli`` assembles the parsers in the order of :data:`NAMES`, dispatches, and
renders the :class:`CommandOutput` and any error. A command imports what it needs
inside ``run``, so that building the parser stays cheap for every command.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import ExitCode

# The order `credproc --help` lists them in.
NAMES = (
    "get",
    "exec",
    "each",
    "serve",
    "env",
    "console",
    "accounts",
    "cache",
    "profiles",
    "source",
    "doctor",
    "demo",
    "completion",
)


class CommandOutput(NamedTuple):
    """What a command hands back for cli to render: its stdout and exit code.

    Status lines for stderr go through the command's ``Log`` instead, so that a
    failure is still the one error line.
    """

    stdout: str = ""
    exit_code: int = ExitCode.OK
