"""Which accounts a command line names: aliases, account ids, shell-style
globs on aliases, labels and ``--all`` (``credproc each`` and ``credproc.accounts``).

Pure: the loaded config in, accounts out, a ConfigError (exit 3) for a
selector that names nothing. Selectors add up (union); labels then narrow the
result to accounts that carry every label given (AND), so adding a flag never
widens a run across production accounts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

from . import rules
from .config import Account, Config
from .errors import ConfigError, UsageError
from .schema import Settings

GLOB_CHARACTERS = "*?["


def select(
    config: Config, selectors: Sequence[str], labels: Sequence[str] = (), all_accounts: bool = False
) -> list[Account]:
    """The accounts ``selectors`` (aliases, ids, globs) and ``labels`` name, in config file order
    (an id that is not configured comes last, as an account with its id for alias, as ``get`` takes it).

    No selector, with ``labels`` or ``all_accounts``, starts from every configured account.
    Raises UsageError when nothing at all is given, ConfigError (exit 3) for a
    selector or label that names no account, and when the result is empty.
    """
    if not selectors and not labels and not all_accounts:
        raise UsageError(
            "no accounts named",
            "give aliases, account ids or globs ('prod-*'), --label LABEL, or --all",
        )
    wanted: dict[str, None] = {}  # aliases, in the order they will be listed
    unconfigured: list[str] = []
    aliases = config.aliases()
    if all_accounts or not selectors:
        wanted.update(dict.fromkeys(aliases))
    for selector in selectors:
        found = _aliases_for(config, aliases, selector)
        if found is None:
            if selector not in unconfigured:
                unconfigured.append(selector)
        else:
            wanted.update(dict.fromkeys(found))
    ordered = [alias for alias in aliases if alias in wanted]
    chosen = [_account(config, alias) for alias in ordered]
    chosen += [Account(alias=account_id, id=account_id, settings=Settings()) for account_id in unconfigured]
    if labels:
        chosen = _with_labels(config, chosen, labels)
    if not chosen:
        raise ConfigError(f"no account in {config.path} matches {_describe(selectors, labels)}", _nothing_hint(config))
    return chosen


def is_glob(selector: str) -> bool:
    """Whether ``selector`` is a shell-style pattern rather than a name."""
    return any(char in selector for char in GLOB_CHARACTERS)


def _aliases_for(config: Config, aliases: list[str], selector: str) -> list[str] | None:
    """The aliases one selector names; None for an account id that is not configured."""
    if is_glob(selector):
        matched = [alias for alias in aliases if fnmatchcase(alias, selector)]
        if not matched:
            raise ConfigError(f"no alias in {config.path} matches {selector!r}", _close_hint(selector, aliases))
        return matched
    if selector in config.raw_accounts:
        return [selector]
    try:
        rules.account_id(selector)
    except ValueError:
        raise ConfigError(
            f"{selector!r} is neither an alias in {config.path}, a 12-digit account id, nor a glob",
            _close_hint(selector, aliases),
        ) from None
    by_id = [alias for alias in aliases if _raw_id(config, alias) == selector]
    return by_id[:1] or None  # the first with that id, as `get ID` takes it


def _raw_id(config: Config, alias: str) -> object:
    raw = config.raw_accounts.get(alias)
    return raw.get("id") if isinstance(raw, dict) else None


def _account(config: Config, alias: str) -> Account:
    account = config.account(alias)
    assert account is not None  # the alias comes from the config's own table
    return account


def _with_labels(config: Config, accounts: list[Account], labels: Sequence[str]) -> list[Account]:
    """The accounts carrying every label; a label no configured account has is an error."""
    known = _all_labels(config)
    for label in labels:
        if label not in known:
            raise ConfigError(
                f"no account in {config.path} has the label {label!r}", _close_hint(label, known, kind="labels")
            )
    return [account for account in accounts if all(label in account.labels for label in labels)]


def _all_labels(config: Config) -> list[str]:
    """Every label in the config, in file order (validates every account table)."""
    found: dict[str, None] = {}
    for account in config.validate_all():
        found.update(dict.fromkeys(account.labels))
    return list(found)


def _close_hint(word: str, choices: Iterable[str], *, kind: str = "aliases") -> str:
    from difflib import get_close_matches

    options = list(choices)
    pattern = word.strip(GLOB_CHARACTERS + "]") if is_glob(word) else word
    close = get_close_matches(word, options, n=3) or get_close_matches(pattern, options, n=3)
    if close:
        return "did you mean " + " or ".join(repr(choice) for choice in close) + "?"
    listed = ", ".join(options[:10]) + (", ..." if len(options) > 10 else "")
    return f"known {kind}: {listed}" if options else f"no {kind} are configured; see credproc accounts"


def _describe(selectors: Sequence[str], labels: Sequence[str]) -> str:
    parts = [" ".join(repr(selector) for selector in selectors)] if selectors else []
    parts += ["labels " + " and ".join(repr(label) for label in labels)] if labels else []
    return " with ".join(parts) or "--all"


def _nothing_hint(config: Config) -> str:
    if not config.raw_accounts:
        return f"add [accounts.ALIAS] tables to {config.path}, or run credproc accounts discover --write"
    return "see credproc accounts for the aliases, and the labels = [...] lines of the config"
