"""``credproc get``'s options, declared once.

commands/options.py builds argparse's parsers from this table (get's, and
the options exec, env, serve, console and each share with it);
:func:`pure_options` reads a ``get`` command line with it for the console
script's fast path (remembered.py), which cannot afford argparse. An option
added here is in both, and tests/test_grammar.py checks that they agree.

Standard library only and cheap to import: no typing, pathlib or argparse.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: the fast path imports this module
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


class Option:
    """One option: its spellings and argparse's keywords for it
    (``action="store_true"``: a flag; anything else takes a value).

    ``pure``: the option only selects what is asked for, so a remembered
    answer may answer a ``get`` that has it (remembered.py). Not unless declared:
    a new option takes the full path until it is declared pure.
    ``path``: its value is a file (a ``Path`` from argparse)."""

    def __init__(self, *names: str, pure: bool = False, path: bool = False, **keywords: Any) -> None:
        self.names, self.pure, self.path, self.keywords = names, pure, path, keywords
        # argparse's dest: the first long spelling, without dashes
        self.dest = next((n for n in names if n.startswith("--")), names[0]).lstrip("-").replace("-", "_")
        self.flag = keywords.get("action") == "store_true"


FORMATS = ("process", "env", "json")

TARGET = Option("target", help="12-digit account id or an alias from the config")
# How a target's credentials are obtained (``each`` applies them to every account).
HOP = (
    Option("--role", pure=True, help="role name or ARN in the target account"),
    Option("--via", pure=True, action="append", metavar="ROLE_ARN", help="intermediate role (repeat for more hops)"),
    Option("--region", pure=True, help="STS region for the hops (also the region emitted)"),
    Option("--duration", pure=True, help="session duration: seconds or 15m .. 12h"),
    Option("--session-name", pure=True, help="RoleSessionName template ({user} {host} {alias} {account})"),
    Option("--external-id", pure=True, help="ExternalId for the target role"),
    # They ask for the full path's work, and take it.
    Option("--refresh", action="store_true", help="ignore cached credentials and fetch new ones"),
    Option("--no-cache", action="store_true", help="neither read nor write the cache"),
)
# Every command but demo takes these.
COMMON = (
    Option("-v", "--verbose", action="store_true", help="explain each step on stderr (never secrets)"),
    Option("--config", pure=True, path=True, help="config file (default: $CREDPROC_CONFIG or the user config dir)"),
)
GET = (
    TARGET,
    *HOP,
    *COMMON,
    Option(
        "--format",
        pure=True,
        choices=FORMATS,
        default="process",
        help="process (default): credential_process JSON; json: the same, pretty, with Region; env: sh export lines",
    ),
)

# What the fast path reads: the pure options that take a value. No flag is
# pure; one would need reading here (tests/test_grammar.py fails until it is).
_PURE = {name: option for option in GET if option.pure and not option.flag for name in option.names}


def pure_options(argv: Sequence[str]) -> dict[str, Any] | None:
    """``get TARGET`` with pure options only, in any order, as argparse's
    namespace would hold them (``dest``: the last value, or every value of
    ``--via``); None for anything else.

    Anything else takes the full path: an option that is not pure, an
    abbreviation, a value that looks like an option or is not among its
    choices, no TARGET or a second one (argparse's error to explain). The
    exact command line is part of the answer's name, so a remembered answer
    is only ever printed for the very words the full path answered.
    """
    if argv[:1] != ["get"]:
        return None
    found: dict[str, Any] = {}
    words = iter(argv[1:])
    for word in words:
        if not word.startswith("-"):
            if TARGET.dest in found:
                return None
            found[TARGET.dest] = word
            continue
        name, equals, value = word.partition("=")
        option = _PURE.get(name)
        if option is None:
            return None
        if not equals:
            value = next(words, "-")
            if value.startswith("-"):
                return None
        if value not in option.keywords.get("choices", (value,)):
            return None
        if option.keywords.get("action") == "append":
            found.setdefault(option.dest, []).append(value)
        else:
            found[option.dest] = value
    return found if TARGET.dest in found else None


def last_value(words: Sequence[str], name: str) -> str | None:
    """The value of option ``name`` in ``words`` as argparse keeps it (the
    last ``--name value`` or ``--name=value``); None when it is not there.
    For command lines argparse does not parse: completion's, a profile's."""
    found = None
    for index, word in enumerate(words):
        if word == name and index + 1 < len(words):
            found = words[index + 1]
        elif word.startswith(name + "="):
            found = word.removeprefix(name + "=")
    return found
