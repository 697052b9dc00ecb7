"""The TOML config file: where it is, how it is read, and errors that name
the file, the line and the key (what each table may hold: schema.py).

Tables are checked when they are used: the global tables on every load, an
account's table when that account is resolved (``validate_all`` checks every
table, for ``doctor``). A config with thousands of accounts therefore costs one
parse, not thousands of validations, on the hot path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from . import locations
from .errors import ConfigError
from .schema import (
    ACCOUNT_KEYS,
    CACHE_KEYS,
    DEFAULT_KEYS,
    ORGANIZATIONS_KEYS,
    SOURCE_KEYS,
    TOP_LEVEL,
    Checker,
    NestedValueError,
    Settings,
    hint_for,
)

if TYPE_CHECKING:  # imported where used: a hit reads the config memo instead
    import tomllib

    from .cache import Cache
    from .memo import Inputs

DEFAULT_SESSION_NAME = "credproc-{user}"
DEFAULT_DURATION = 3600
DEFAULT_REGION = "us-east-1"
DEFAULT_MARGIN = 15 * 60
DEFAULT_MFA_DURATION = 12 * 3600
MEMO_KIND = "config"  # the parse's memos (memo.py), keyed by the request digest alone: it holds the file's bytes


class Account(NamedTuple):
    """One ``[accounts.ALIAS]`` table."""

    alias: str
    id: str
    settings: Settings
    labels: tuple[str, ...] = ()  # `labels = [...]`: what selection.py's --label picks by


class Config:
    """The loaded config: global tables validated, accounts validated on use.

    Filled in as :func:`load` validates each table (a table's errors name
    the file and line through :meth:`where`, so the config exists first).
    """

    def __init__(
        self,
        path: Path,
        exists: bool,
        *,
        text: str = "",
        raw_accounts: dict[str, Any] | None = None,
    ) -> None:
        self.path = path
        self.exists = exists
        self.text = text
        self.raw_accounts: dict[str, Any] = raw_accounts if raw_accounts is not None else {}
        self.organizations_role_arn: str | None = None  # [organizations] role_arn
        # [source], [defaults] and [cache], as load() finds them
        self.source_profile: str | None = None
        self.source_stored: str | None = None  # [source] stored: keys kept by `credproc source`
        self.source_region: str | None = None
        self.mfa_serial: str | None = None
        self.mfa_duration: int = DEFAULT_MFA_DURATION
        self.mfa_process: str | None = None
        self.defaults = Settings()
        self.cache_enabled = True
        self.key_store = "auto"
        self.refresh_margin = DEFAULT_MARGIN
        self.inputs: Inputs | None = None  # the request digest it was loaded under (memo.py)
        self.unremembered: dict[str, Any] | None = None  # a fresh parse, until remember() keeps it
        self.keychain_key: bytes | None = None  # the OS keychain's key, if it opened the config's memo

    def request_inputs(self, env: Mapping[str, str]) -> Inputs:
        """The request digest it was loaded under (:func:`load` sets it); for a
        config made otherwise (a test's), one of its file and the first ``env`` asked with, kept."""
        if self.inputs is None:
            from . import memo

            self.inputs = memo.inputs(env, os.path.abspath(self.path))
        return self.inputs

    def where(self, *keys: str) -> str:
        """``file:line: dotted.key`` for messages about a setting."""
        line = locate(self.text, keys) if self.text else None
        place = f"{self.path}:{line}" if line else str(self.path)
        return f"{place}: {'.'.join(keys)}"

    def lazy_where(self, *keys: str) -> LazyWhere:
        """:meth:`where`, computed only if a message is printed (it scans the file)."""
        return LazyWhere(self, keys)

    def account(self, alias: str) -> Account | None:
        """The validated account with this alias, or None."""
        raw = self.raw_accounts.get(alias)
        if raw is None:
            return None
        return self._account(alias, raw)

    def account_by_id(self, account_id: str) -> Account | None:
        """The first configured account with this id, or None."""
        for alias, raw in self.raw_accounts.items():
            if isinstance(raw, dict) and raw.get("id") == account_id:
                return self._account(alias, raw)
        return None

    def aliases(self) -> list[str]:
        return list(self.raw_accounts)

    def validate_all(self) -> list[Account]:
        """Check every account table (raises on the first bad one)."""
        return [self._account(alias, raw) for alias, raw in self.raw_accounts.items()]

    def _account(self, alias: str, raw: Any) -> Account:
        if not isinstance(raw, dict):
            raise ConfigError(
                f"{self.where('accounts', alias)}: is not a table",
                f'write it as [accounts.{alias}] with an id = "123456789012" line',
            )
        values = _check_table(self, ("accounts", alias), raw, ACCOUNT_KEYS)
        if "id" not in values:
            raise ConfigError(
                f"{self.where('accounts', alias)}: has no id",
                f'add id = "123456789012" under [accounts.{alias}]',
            )
        account_id = values.pop("id")
        labels = values.pop("labels", ())
        return Account(alias=alias, id=account_id, settings=Settings(**values), labels=labels)


class LazyWhere:
    """A ``file:line: key`` formatted on demand: locating a key scans the whole
    file (slow with thousands of accounts), and the hot path only needs it
    for an error message."""

    def __init__(self, config: Config, keys: tuple[str, ...], suffix: str = "") -> None:
        self._config = config
        self._keys = keys
        self._suffix = suffix

    def __add__(self, suffix: str) -> LazyWhere:
        """The place of an item under this key (``[0]``, ``.duration``), still unformatted."""
        return LazyWhere(self._config, self._keys, self._suffix + suffix)

    def __str__(self) -> str:
        return self._config.where(*self._keys) + self._suffix


def default_path(env: Mapping[str, str]) -> Path:
    """``$CREDPROC_CONFIG``, else the platform's user config dir."""
    return locations.config_file(env)


def load(path: Path | None = None, env: Mapping[str, str] | None = None, *, inputs: Inputs | None = None) -> Config:
    """Read and check the config file; a missing file is an empty config.

    ``inputs``: the run's request digest (memo.py), whose bytes of the file
    are the ones parsed (computed here when not given). Its parse is taken
    from the ``config`` memo when there is one; a fresh parse is kept for
    :func:`remember`, which seals it once the cache's key is read.
    """
    from . import memo

    env = os.environ if env is None else env
    path = path or default_path(env)
    absolute = os.path.abspath(path)
    inputs = memo.inputs(env, absolute) if inputs is None else inputs
    data = inputs.config_bytes if inputs.config_path == absolute else None
    if data is None:
        data = _read(path)
        if data is None:
            config = Config(path=path, exists=False)
            config.inputs = inputs
            return config
        inputs.changed = True  # not the bytes the digest holds: remember nothing under it
    try:
        # as read_text(encoding="utf-8") reads it: universal newlines
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: is not UTF-8 text", "save the config as UTF-8 TOML") from None
    directory = os.fspath(locations.cache_dir(env))
    keychain: list[bytes] = []
    found = memo.read(directory, MEMO_KIND, memo.name(MEMO_KIND, inputs.digest), env, keychain=keychain)
    parsed = _recall(found[1]) if found is not None else None
    if parsed is None:
        import tomllib

        try:
            parsed = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"{path}: is not valid TOML: {_toml_reason(exc)}", "fix the TOML syntax at that line"
            ) from None
        config = _from_data(path, text, parsed)
        config.unremembered = parsed
    else:
        config = _from_data(path, text, parsed)
        config.keychain_key = keychain[0] if keychain else None
    config.inputs = inputs
    return config


def _read(path: Path) -> bytes | None:
    """The config file's bytes; None when there is none; ConfigError when it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise ConfigError(
            f"{path}: is a directory, not a config file", "point CREDPROC_CONFIG at a TOML file"
        ) from None
    except PermissionError:
        raise ConfigError(f"{path}: cannot be read (permission denied)", f"chmod u+r {path}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})", "check the file and its directory") from None


def remember(config: Config, cache: Cache) -> None:
    """Keep a fresh parse of ``config`` as a ``config`` memo sealed by ``cache``
    (best effort; not for TOML dates, which JSON cannot hold). The config memo
    is written here, once the config has said which key store seals it."""
    inputs, parsed = config.inputs, config.unremembered
    config.unremembered = None
    if inputs is None or parsed is None or inputs.changed:
        return
    import json

    from . import memo

    try:
        body = json.dumps(parsed, allow_nan=True).encode()
    except (TypeError, ValueError):  # TOML dates and times
        return
    name = memo.name(MEMO_KIND, inputs.digest)
    memo.write(os.fspath(cache.directory), MEMO_KIND, name, body, cache.seal, keyring=cache.key_store == "keyring")


def _recall(body: bytes) -> dict[str, Any] | None:
    import json

    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _from_data(path: Path, text: str, data: dict[str, Any]) -> Config:
    config = Config(path=path, exists=True, text=text)
    for key in data:
        if key not in TOP_LEVEL:
            _unknown(config, (), key, TOP_LEVEL)
    for table in TOP_LEVEL:
        if table in data and not isinstance(data[table], dict):
            raise ConfigError(f"{config.where(table)}: must be a table", f"write it as [{table}]")
    source = _check_table(config, ("source",), data.get("source", {}), SOURCE_KEYS)
    config.source_profile = source.get("profile")
    config.source_stored = source.get("stored")
    if config.source_stored and config.source_profile:
        raise ConfigError(
            f"{config.where('source', 'stored')}: [source] stored and profile both name the source",
            "keep one: stored for keys kept by credproc source, profile for an AWS profile",
        )
    config.source_region = source.get("region")
    config.mfa_serial = source.get("mfa_serial")
    config.mfa_duration = source.get("mfa_duration", DEFAULT_MFA_DURATION)
    config.mfa_process = source.get("mfa_process")
    config.defaults = Settings(**_check_table(config, ("defaults",), data.get("defaults", {}), DEFAULT_KEYS))
    cache = _check_table(config, ("cache",), data.get("cache", {}), CACHE_KEYS)
    config.cache_enabled = cache.get("enabled", True)
    config.key_store = cache.get("key_store", "auto")
    config.refresh_margin = cache.get("refresh_margin", DEFAULT_MARGIN)
    config.raw_accounts = data.get("accounts", {})
    _refuse_id_like_aliases(config)
    organizations = _check_table(config, ("organizations",), data.get("organizations", {}), ORGANIZATIONS_KEYS)
    config.organizations_role_arn = organizations.get("role_arn")
    return config


def _refuse_id_like_aliases(config: Config) -> None:
    """A 12-digit alias would hide the account of that id: ``credproc get
    111111111111`` must never give credentials for another account. Checked
    for every alias at load (a key's length and digits: no table is parsed)."""
    for alias, raw in config.raw_accounts.items():
        if len(alias) == 12 and alias.isascii() and alias.isdigit():
            named = raw.get("id") if isinstance(raw, dict) else None
            other = f" (its table is account {named})" if isinstance(named, str) and named != alias else ""
            raise ConfigError(
                f"{config.where('accounts', alias)}: the alias {alias!r} is 12 digits, "
                f"so it would read as that account id{other}",
                f"rename it to something that is not an account id, e.g. [accounts.account-{alias}]",
            )


def _check_table(
    config: Config, table: tuple[str, ...], raw: dict[str, Any], schema: dict[str, Checker]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in raw.items():
        checker = schema.get(key)
        if checker is None:
            _unknown(config, table, key, tuple(schema))
            continue
        try:
            values[key] = checker(value)
        except NestedValueError as exc:
            raise ConfigError(f"{config.where(*table, key)}{exc.path}: {exc}", hint_for(exc.key)) from None
        except ValueError as exc:
            raise ConfigError(f"{config.where(*table, key)}: {exc}", hint_for(key)) from None
    return values


def _unknown(config: Config, table: tuple[str, ...], key: str, allowed: tuple[str, ...]) -> None:
    from difflib import get_close_matches

    close = get_close_matches(key, allowed, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"allowed here: {', '.join(allowed)}"
    raise ConfigError(f"{config.where(*table, key)}: unknown setting", hint)


def _toml_reason(exc: tomllib.TOMLDecodeError) -> str:
    # tomllib ends its messages with "(at line L, column C)"; keep them as is.
    return str(exc)


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")


def _split_dotted(dotted: str) -> tuple[str, ...]:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.\s]+)', dotted)
    return tuple(next(p for p in part if p) if any(part) else "" for part in parts)


def locate(text: str, keys: tuple[str, ...]) -> int | None:
    """1-based line of ``keys`` (table path then key) in TOML ``text``, best effort."""
    lines = text.splitlines()
    current: tuple[str, ...] = ()
    header_line: dict[tuple[str, ...], int] = {}
    for number, line in enumerate(lines, start=1):
        header = _HEADER.match(line)
        if header:
            current = _split_dotted(header.group(1))
            header_line.setdefault(current, number)
            continue
        if keys and current == keys[:-1]:
            if re.match(rf"^\s*[\"']?{re.escape(keys[-1])}[\"']?\s*=", line):
                return number
    for length in range(len(keys), 0, -1):
        if keys[:length] in header_line:
            return header_line[keys[:length]]
    return None
