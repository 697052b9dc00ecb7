"""The TOML config file: where it is, what it may hold, and errors that name
the file, the line and the key.

Tables are checked when they are used: the global tables on every load, an
account's table when that account is resolved (``validate_all`` checks every
table, for ``doctor``). A config with thousands of accounts therefore costs one
parse, not thousands of validations, on the hot path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import rules, storage
from .errors import ConfigError

if TYPE_CHECKING:  # imported where used: a warm hit on a large config reads a snapshot instead
    import tomllib

KEY_STORES = ("auto", "keyring", "file", "env")

# Allowed keys per table, with the checker for each value. Unknown keys are an
# error: a typo such as `extrenal_id` would otherwise silently drop a setting
# an organisation relies on.
Checker = Callable[[Any], Any]


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{value!r} is not a non-empty string")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not true or false")
    return value


def _key_store(value: Any) -> str:
    if value not in KEY_STORES:
        raise ValueError(f"{value!r} is not one of {', '.join(KEY_STORES)}")
    return str(value)


def _role(value: Any) -> str:
    # Fully checked once the account and partition are known (plan.py).
    return _string(value)


def _template(value: Any) -> str:
    return _string(value)


def _command(value: Any) -> str:
    # Split like the command will be run (no shell), so a quoting mistake is
    # reported at load time with the key's line, not when a code is needed.
    import shlex

    text = _string(value)
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} cannot be split into a command line ({exc})") from None
    if not words:
        raise ValueError(f"{text!r} holds no command")
    return text


class NestedValueError(ValueError):
    """A bad value inside a key's value (a ``via`` table): ``path`` extends the key."""

    def __init__(self, message: str, path: str, key: str) -> None:
        super().__init__(message)
        self.path = path
        self.key = key


@dataclass(frozen=True)
class ViaEntry:
    """One intermediate hop: a role ARN and the options of its own AssumeRole call."""

    role_arn: str
    options: Settings


def _via(value: Any) -> tuple[ViaEntry, ...]:
    if not isinstance(value, list):
        raise ValueError(f"{value!r} is not a list of role ARNs")
    entries: list[ViaEntry] = []
    for index, item in enumerate(value):
        if isinstance(item, str):
            entries.append(ViaEntry(item, Settings()))
        elif isinstance(item, dict):
            entries.append(_via_entry(index, item))
        else:
            raise ValueError(f"item {index + 1} ({item!r}) is neither a role ARN nor a table with role_arn")
    return tuple(entries)


def _via_entry(index: int, raw: dict[str, Any]) -> ViaEntry:
    values: dict[str, Any] = {}
    for key, value in raw.items():
        checker = VIA_KEYS.get(key)
        if checker is None:
            from difflib import get_close_matches

            close = get_close_matches(key, tuple(VIA_KEYS), n=1)
            message = "unknown setting" + (f" (did you mean {close[0]!r}?)" if close else "")
            raise NestedValueError(message, f"[{index}].{key}", "via_keys")
        try:
            values[key] = checker(value)
        except ValueError as exc:
            raise NestedValueError(str(exc), f"[{index}].{key}", key) from None
    if "role_arn" not in values:
        raise NestedValueError("a via table needs role_arn", f"[{index}]", "via")
    return ViaEntry(values.pop("role_arn"), Settings(**values))


SOURCE_KEYS: dict[str, Checker] = {
    "profile": _string,
    "region": rules.region,
    "mfa_serial": rules.mfa_serial,
    "mfa_duration": rules.mfa_duration,
    "mfa_process": _command,
}
# Options of one AssumeRole call: allowed in [defaults], [accounts.X] and via tables.
SESSION_KEYS: dict[str, Checker] = {
    "duration": rules.duration,
    "session_name": _template,
    "external_id": rules.external_id,
    "tags": rules.tags,
    "transitive_tags": rules.transitive_tags,
    "policy": rules.session_policy,
    "policy_arns": rules.policy_arns,
}
DEFAULT_KEYS: dict[str, Checker] = {
    "role": _role,
    **SESSION_KEYS,
    "source_identity": _template,
    "region": rules.region,
    "via": _via,
}
ACCOUNT_KEYS: dict[str, Checker] = {"id": rules.account_id, **DEFAULT_KEYS, "mfa_serial": rules.mfa_serial}
VIA_KEYS: dict[str, Checker] = {"role_arn": _string, **SESSION_KEYS}
CACHE_KEYS: dict[str, Checker] = {
    "enabled": _boolean,
    "key_store": _key_store,
    "refresh_margin": rules.margin,
}
# Where `accounts discover` lists the organization from (the ARN is checked
# against the partition when used, like roles).
ORGANIZATIONS_KEYS: dict[str, Checker] = {"role_arn": _role}
TOP_LEVEL = ("source", "defaults", "accounts", "cache", "organizations")

DEFAULT_SESSION_NAME = "credproc-{user}"
DEFAULT_DURATION = 3600
DEFAULT_REGION = "us-east-1"
DEFAULT_MARGIN = 15 * 60
DEFAULT_MFA_DURATION = 12 * 3600


@dataclass(frozen=True)
class Settings:
    """Validated values of one table (``[defaults]`` or ``[accounts.X]``)."""

    role: str | None = None
    duration: int | None = None
    session_name: str | None = None
    region: str | None = None
    external_id: str | None = None
    via: tuple[ViaEntry, ...] | None = None
    source_identity: str | None = None  # a template, like session_name
    tags: tuple[tuple[str, str], ...] | None = None
    transitive_tags: tuple[str, ...] | None = None
    policy: str | None = None  # compact JSON
    policy_arns: tuple[str, ...] | None = None
    mfa_serial: str | None = None  # [accounts.X] only: a device other than [source]'s


@dataclass(frozen=True)
class Account:
    """One ``[accounts.ALIAS]`` table."""

    alias: str
    id: str
    settings: Settings


@dataclass
class Config:
    """The loaded config: global tables validated, accounts validated on use."""

    path: Path
    exists: bool
    source_profile: str | None = None
    source_region: str | None = None
    mfa_serial: str | None = None
    mfa_duration: int = DEFAULT_MFA_DURATION
    mfa_process: str | None = None
    defaults: Settings = field(default_factory=Settings)
    cache_enabled: bool = True
    key_store: str = "auto"
    refresh_margin: int = DEFAULT_MARGIN
    raw_accounts: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    organizations_role_arn: str | None = None

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
        return Account(alias=alias, id=account_id, settings=Settings(**values))


class LazyWhere:
    """A ``file:line: key`` formatted on demand: locating a key scans the whole
    file (tens of ms with thousands of accounts), and the hot path only needs
    it for an error message."""

    def __init__(self, config: Config, keys: tuple[str, ...]) -> None:
        self._config = config
        self._keys = keys

    def __str__(self) -> str:
        return self._config.where(*self._keys)


def default_path(env: Mapping[str, str]) -> Path:
    """``$CREDPROC_CONFIG``, else the platform's user config dir."""
    return storage.config_file(env)


def load(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read and check the config file; a missing file is an empty config."""
    env = os.environ if env is None else env
    path = path or default_path(env)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(path=path, exists=False)
    except IsADirectoryError:
        raise ConfigError(
            f"{path}: is a directory, not a config file", "point CREDPROC_CONFIG at a TOML file"
        ) from None
    except PermissionError:
        raise ConfigError(f"{path}: cannot be read (permission denied)", f"chmod u+r {path}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: is not UTF-8 text", "save the config as UTF-8 TOML") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})", "check the file and its directory") from None
    from . import snapshot

    data = snapshot.read(path, text, env)
    if data is None:
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"{path}: is not valid TOML: {_toml_reason(exc)}", "fix the TOML syntax at that line"
            ) from None
        snapshot.write(path, text, data, env)
    return _from_data(path, text, data)


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
    organizations = _check_table(config, ("organizations",), data.get("organizations", {}), ORGANIZATIONS_KEYS)
    config.organizations_role_arn = organizations.get("role_arn")
    return config


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
            raise ConfigError(f"{config.where(*table, key)}{exc.path}: {exc}", _hint_for(exc.key)) from None
        except ValueError as exc:
            raise ConfigError(f"{config.where(*table, key)}: {exc}", _hint_for(key)) from None
    return values


def _unknown(config: Config, table: tuple[str, ...], key: str, allowed: tuple[str, ...]) -> None:
    from difflib import get_close_matches

    close = get_close_matches(key, allowed, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"allowed here: {', '.join(allowed)}"
    raise ConfigError(f"{config.where(*table, key)}: unknown setting", hint)


_HINTS = {
    "id": 'use the 12-digit account id as a string, e.g. id = "123456789012"',
    "role": "use a role name (Deployer) or a role ARN in the account",
    "duration": 'use seconds or 15m .. 12h, e.g. duration = "1h"',
    "session_name": "use 2-64 characters of letters, digits and +=,.@_- ; placeholders {user} {host} {alias} {account}",
    "region": 'use a region name such as "us-east-1"',
    "external_id": "use 2-1224 characters of letters, digits and +=,.@:/_-",
    "via": 'list full role ARNs or tables, e.g. via = ["arn:aws:iam::222222222222:role/hub"] or '
    'via = [{ role_arn = "arn:aws:iam::222222222222:role/hub", external_id = "..." }]',
    "via_keys": "a via table may hold role_arn, " + ", ".join(SESSION_KEYS),
    "role_arn": 'use a full role ARN, e.g. role_arn = "arn:aws:iam::222222222222:role/hub"',
    "mfa_serial": 'use the MFA device ARN, e.g. mfa_serial = "arn:aws:iam::123456789012:mfa/me"',
    "mfa_duration": 'use 15m .. 36h, e.g. mfa_duration = "12h"',
    "mfa_process": 'give a command that prints the 6-digit code, e.g. mfa_process = "ykman oath accounts code --single AWS"',
    "source_identity": "use a template of 2-64 characters of letters, digits and +=,.@_- ; placeholders {user} {host} {alias} {account}",
    "tags": 'use a table of strings, e.g. tags = { team = "platform" } (at most 50; keys 1-128, values 0-256 characters)',
    "transitive_tags": 'list keys of tags, e.g. transitive_tags = ["team"]',
    "policy": "give a JSON policy document as a string of at most 2048 characters (whitespace not counted)",
    "policy_arns": 'list at most 10 policy ARNs, e.g. policy_arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]',
    "profile": 'name a profile from ~/.aws/config, e.g. profile = "shared"',
    "enabled": "use enabled = true or enabled = false",
    "key_store": 'use one of "auto", "keyring", "file", "env"',
    "refresh_margin": 'use e.g. refresh_margin = "15m"',
}


def _hint_for(key: str) -> str:
    return _HINTS.get(key, "see the README's config section")


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
