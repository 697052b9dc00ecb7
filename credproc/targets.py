"""The words a shell completes for TARGET: the config's aliases and account ids.

The completion scripts (completion.py) run ``credproc __complete-targets
[--config PATH]`` on each TAB that wants a target. The console script sends
that word here before it loads the CLI, so a TAB costs a Python start and a
TOML parse, not argparse and the config checker. Anything wrong
(no config, a broken one) completes nothing: a shell prompt is no place for
an error; ``credproc doctor`` reports it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from . import grammar, locations

# Besides letters and digits: nothing a shell splits a word at or expands.
_PLAIN = "-_.@+"


def words(data: Mapping[str, object]) -> list[str]:
    """Aliases in file order, then the account ids, each once; only words no shell splits or expands."""
    accounts = data.get("accounts")
    if not isinstance(accounts, dict):
        return []
    ids = [table.get("id") for table in accounts.values() if isinstance(table, dict)]
    found = [*accounts, *(value for value in ids if isinstance(value, str))]
    return [word for word in dict.fromkeys(found) if word and all(c.isalnum() or c in _PLAIN for c in word)]


def config_file(arguments: Sequence[str], env: Mapping[str, str]) -> str:
    """``--config PATH`` from the line being completed, else where ``credproc get`` looks."""
    given = grammar.last_value(arguments, "--config")
    if given is not None:
        return os.path.expanduser(given)
    located = locations.config_location(env)  # a plain string: no pathlib for a TAB
    return located if located is not None else str(locations.config_file(env))  # platformdirs decides


def print_targets(arguments: Sequence[str], env: Mapping[str, str]) -> int:
    """Print the words, one a line; always exit 0."""
    import tomllib

    try:
        with open(config_file(arguments, env), "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, ValueError):  # ValueError: TOMLDecodeError, or undecodable bytes
        return 0
    from . import stdout

    text = "".join(word + "\n" for word in words(data))
    try:
        stdout.write(text)
    except Exception as exc:
        from .errors import OutputError  # loaded on this failure only

        if not isinstance(exc, OutputError):
            raise
        # stdout closed or full: no words then, and no noise in the shell
    return 0
