"""The hop plan: from a target and the config to the list of AssumeRole calls
(pure logic: no network, no disk, no clock)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

from . import rules
from .config import DEFAULT_DURATION, DEFAULT_REGION, DEFAULT_SESSION_NAME, Account, Config, LazyWhere
from .errors import ConfigError, UsageError
from .schema import Settings, ViaEntry, hint_for

# Where a value came from, for error messages: a flag, or a config key whose
# file:line is only looked up if a message is printed.
Origin = str | LazyWhere
# A setting's value and where it came from, by name.
Lookup = Callable[[str], tuple[Any, Origin]]
# Flags are checked when picked; the config's values were checked when it was loaded.
_FLAG_CHECKERS: dict[str, Callable[[Any], Any]] = {
    "region": rules.region,
    "duration": rules.duration,
    "external_id": rules.external_id,
}


class Hop(NamedTuple):
    """One AssumeRole call. Every field that changes the credentials STS
    returns is here, so the cache key can be derived from it."""

    role_arn: str
    session_name: str
    duration: int
    external_id: str | None = None
    source_identity: str | None = None
    tags: tuple[tuple[str, str], ...] | None = None
    transitive_tags: tuple[str, ...] | None = None
    policy: str | None = None
    policy_arns: tuple[str, ...] | None = None

    @property
    def account_id(self) -> str:
        return rules.account_of_arn(self.role_arn)

    def cache_fields(self) -> dict[str, Any]:
        """What makes this hop's credentials differ, for the cache key."""
        return {key: value for key, value in self._asdict().items() if value is not None}


class MfaSession(NamedTuple):
    """The GetSessionToken call that roots the chain when the source needs MFA.

    Its cache entry hangs off the source fingerprint, and every hop's entry
    hangs off it: one MFA session serves every account and every process.
    """

    serial: str
    duration: int

    def cache_fields(self) -> dict[str, Any]:
        return {"mfa_serial": self.serial, "duration": self.duration}


class Overrides(NamedTuple):
    """Values from the command line; None means "not given"."""

    role: str | None = None
    via: tuple[str, ...] | None = None
    region: str | None = None
    duration: str | None = None
    session_name: str | None = None
    external_id: str | None = None


class Plan(NamedTuple):
    """What to do for one target: the source, then ``hops`` in order."""

    target: str
    alias: str | None
    account_id: str
    region: str  # the account's region (emitted in env output and profiles)
    sts_region: str  # where the AssumeRole calls go
    source_profile: str | None
    hops: tuple[Hop, ...]
    notes: tuple[str, ...] = ()  # explained under --verbose
    mfa: MfaSession | None = None  # GetSessionToken before the first hop


def make_plan(config: Config, target: str, overrides: Overrides, fields: dict[str, str]) -> Plan:
    """Resolve ``target`` (alias or 12-digit id) into a plan, or raise a clear error.

    ``fields`` are the session-name template values that come from the
    machine (``user``, ``host``).
    """
    return Resolver(config, find_account(config, target), overrides).plan(target, fields)


def find_account(config: Config, target: str, *, see_also: str | None = None) -> Account | None:
    """The configured account ``target`` names (an alias, or an id in the table);
    None for an account id that is not configured; raises for anything else
    (``see_also``: a command's own place to look, added to the fix)."""
    account = config.account(target)
    if account is not None:
        return account
    try:
        rules.account_id(target)
    except ValueError:
        known = ", ".join(sorted(config.aliases())[:10]) or "none configured"
        where = str(config.path) if config.exists else f"{config.path} (which does not exist)"
        raise ConfigError(
            f"{target!r} is neither a 12-digit account id nor an alias in {where}",
            f"use an account id or one of the aliases ({known})" + (f"; {see_also}" if see_also else ""),
        ) from None
    return config.account_by_id(target)


class Resolver:
    """One target's settings: the flag, then the account's table, then
    ``[defaults]``; each value comes with its origin for error messages."""

    def __init__(self, config: Config, account: Account | None, overrides: Overrides) -> None:
        self.config = config
        self.account = account
        self.overrides = overrides

    def pick(self, name: str) -> tuple[Any, Origin]:
        """A setting's value (None: not set anywhere) and where it came from."""
        flag = getattr(self.overrides, name, None)
        if flag is not None:
            return self._flag(name, flag), _flag_name(name)
        if self.account is not None and getattr(self.account.settings, name) is not None:
            return getattr(self.account.settings, name), self.config.lazy_where("accounts", self.account.alias, name)
        if getattr(self.config.defaults, name) is not None:
            return getattr(self.config.defaults, name), self.config.lazy_where("defaults", name)
        return None, ""

    def _flag(self, name: str, value: Any) -> Any:
        checker = _FLAG_CHECKERS.get(name)
        if checker is None:
            return value
        try:
            return checker(value)
        except ValueError as exc:
            raise ConfigError(f"{_flag_name(name)}: {exc}", hint_for(name, flag=True)) from None

    def plan(self, target: str, fields: dict[str, str]) -> Plan:
        """The plan for ``target``: the regions, the hops in order and the MFA session."""
        account_id = self.account.id if self.account else target
        alias = self.account.alias if self.account else None
        sts_region, region = self._regions()
        partition = rules.partition_of(sts_region)
        target_arn, role_origin = self._target_role(target, account_id, partition)
        duration = self.pick("duration")[0] or DEFAULT_DURATION
        via, via_origin = self._via(partition)
        _check_no_loop([*(entry.role_arn for entry in via), target_arn], via_origin or role_origin)
        template = _Template(fields, *self.pick("session_name"))
        identity = self._source_identity(fields, account_id, alias or account_id)
        hops = [
            self._via_hop(entry, via_origin + _item(via_origin, index), template, partition)
            for index, entry in enumerate(via)
        ]
        name = template.expand(account_id, alias or account_id)
        hops.append(Hop(target_arn, name, duration, **_session_options(self.pick, partition)))
        if identity is not None:
            # SourceIdentity is set once, on the first AssumeRole: STS carries it
            # through every later hop and refuses any attempt to change it.
            hops[0] = hops[0]._replace(source_identity=identity)
        notes: list[str] = []
        hops = [_clamp(hop, index, notes) for index, hop in enumerate(hops)]
        return Plan(
            target=target,
            alias=alias,
            account_id=account_id,
            region=region,
            sts_region=sts_region,
            source_profile=self.config.source_profile,
            hops=tuple(hops),
            notes=tuple(notes),
            mfa=_mfa_session(self.config, self.account, partition),
        )

    def _regions(self) -> tuple[str, str]:
        """Where the STS calls go, and the account's region (same partition)."""
        flag = self.overrides.region
        try:
            # --region "" is a mistake, not "unset"
            sts_region = rules.region(
                flag if flag is not None else self.config.source_region or self.pick("region")[0] or DEFAULT_REGION
            )
        except ValueError as exc:
            raise UsageError(f"--region: {exc}", hint_for("region", flag=True)) from None
        region = self.pick("region")[0] or sts_region
        if rules.partition_of(region) != rules.partition_of(sts_region):
            raise ConfigError(
                f"account region {region} is in partition {rules.partition_of(region)} but STS calls go to {sts_region}",
                "set [source] region to a region of the same partition",
            )
        return sts_region, region

    def _target_role(self, target: str, account_id: str, partition: str) -> tuple[str, Origin]:
        """The target role's ARN and where its setting came from."""
        role, origin = self.pick("role")
        if role is None:
            alias = self.account.alias if self.account else None
            raise ConfigError(
                f"no role for {target}: neither --role nor a role setting in {self.config.path}",
                f"pass --role NAME, or set role under [accounts.{alias}]"
                if alias
                else "pass --role NAME, or set [defaults] role",
            )
        try:
            return rules.role_arn(role, account_id, partition), origin
        except ValueError as exc:
            raise ConfigError(f"{origin}: {exc}", hint_for("role", flag=_is_flag(origin))) from None

    def _via(self, partition: str) -> tuple[list[ViaEntry], Origin]:
        """The intermediate hops, each a full role ARN in ``partition``."""
        values, origin = self.pick("via")
        via: list[ViaEntry] = []
        for index, item in enumerate(values or ()):
            entry = item if isinstance(item, ViaEntry) else ViaEntry(item, Settings())
            try:
                via.append(entry._replace(role_arn=rules.hop_role_arn(entry.role_arn, partition)))
            except ValueError as exc:
                raise ConfigError(
                    f"{origin}{_item(origin, index)}: {exc}",
                    "give full role ARNs in the same partition, e.g. arn:aws:iam::222222222222:role/hub",
                ) from None
        return via, origin

    def _via_hop(self, entry: ViaEntry, origin: Origin, template: _Template, partition: str) -> Hop:
        """One intermediate hop, with the options of its own via table."""
        hop_account = rules.account_of_arn(entry.role_arn)
        known = self.config.account_by_id(hop_account) if self.config.raw_accounts else None
        options = partial(_table_option, entry.options, origin)
        # Intermediate hops use their via table's or the defaults' duration,
        # never the target's, so every target behind the same hub shares one
        # cached hub session.
        duration = entry.options.duration or self.config.defaults.duration or DEFAULT_DURATION
        name = template.override(*options("session_name")).expand(hop_account, known.alias if known else hop_account)
        return Hop(entry.role_arn, name, duration, **_session_options(options, partition))

    def _source_identity(self, fields: dict[str, str], account_id: str, alias: str) -> str | None:
        template, origin = self.pick("source_identity")
        if template is None:
            return None
        try:
            return rules.source_identity(template, {**fields, "account": account_id, "alias": alias})
        except ValueError as exc:
            raise ConfigError(f"{origin}: {exc}", hint_for("source_identity", flag=_is_flag(origin))) from None


class _Template(NamedTuple):
    """A session-name template and where it came from, expanded per hop."""

    fields: dict[str, str]
    text: str | None
    origin: Origin

    def override(self, text: str | None, origin: Origin) -> _Template:
        """A via table's own template, if it has one."""
        return self if text is None else _Template(self.fields, text, origin)

    def expand(self, account: str, alias: str) -> str:
        # "" is a mistake, not "unset": only None falls back to the default.
        text = DEFAULT_SESSION_NAME if self.text is None else self.text
        try:
            return rules.session_name(text, {**self.fields, "account": account, "alias": alias})
        except ValueError as exc:
            flag = _is_flag(self.origin)
            raise ConfigError(f"{self.origin or 'session name'}: {exc}", hint_for("session_name", flag=flag)) from None


def _flag_name(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def _is_flag(origin: Origin) -> bool:
    return isinstance(origin, str) and origin.startswith("--")


def _item(origin: Origin, index: int) -> str:
    """``[N]`` after a config key naming a via list (not after --via)."""
    return "" if _is_flag(origin) else f"[{index}]"


def _table_option(options: Settings, origin: Origin, name: str) -> tuple[Any, Origin]:
    """A via table's own option and its origin (``origin.name``; formatted only for a message)."""
    value = getattr(options, name)
    return value, origin + f".{name}" if value is not None else ""


def _check_no_loop(chain: list[str], origin: Origin) -> None:
    for index, arn in enumerate(chain):
        if arn in chain[:index]:
            raise ConfigError(
                f"{origin}: the chain visits {arn} twice ({' -> '.join(chain)})",
                "remove the repeated role from via: a chain must not loop",
            )


def _session_options(get: Lookup, partition: str) -> dict[str, Any]:
    """The optional AssumeRole parameters of one hop, with the checks that need
    more than one key (or the partition): ``get(name)`` gives (value, origin)."""
    tags, _ = get("tags")
    transitive, transitive_origin = get("transitive_tags")
    keys = {key for key, _ in tags or ()}
    for key in transitive or ():
        if key not in keys:
            raise ConfigError(
                f"{transitive_origin}: {key!r} is not a key of the hop's tags ({', '.join(sorted(keys)) or 'none'})",
                "list only keys that are in the same hop's tags table",
            )
    arns, arns_origin = get("policy_arns")
    for arn in arns or ():
        if rules.policy_arn_partition(arn) != partition:
            raise ConfigError(
                f"{arns_origin}: {arn!r} is in partition {rules.policy_arn_partition(arn)}, the region's is {partition}",
                'use policy ARNs of the region\'s partition, e.g. "arn:aws:iam::aws:policy/ReadOnlyAccess"',
            )
    return {
        "external_id": get("external_id")[0],
        "tags": tags or None,
        "transitive_tags": transitive or None,
        "policy": get("policy")[0],
        "policy_arns": arns or None,
    }


def _clamp(hop: Hop, index: int, notes: list[str]) -> Hop:
    # Only a role assumed with role credentials is "role chaining" (1 h at
    # most). The first hop is made with the source's credentials or with the
    # MFA session from GetSessionToken: neither is chaining, so it keeps its
    # duration (a role source is handled by one retry in sts.py).
    if index > 0 and hop.duration > rules.ROLE_CHAINING_MAX:
        notes.append(
            f"{hop.role_arn}: asked for {hop.duration} s, clamped to 3600 s (role chaining allows at most 1 h)"
        )
        return hop._replace(duration=rules.ROLE_CHAINING_MAX)
    return hop


def _mfa_session(config: Config, account: Account | None, partition: str) -> MfaSession | None:
    """The MFA session the chain starts from, if the account or [source] names a device."""
    if account is not None and account.settings.mfa_serial is not None:
        serial, origin = account.settings.mfa_serial, config.lazy_where("accounts", account.alias, "mfa_serial")
    elif config.mfa_serial is not None:
        serial, origin = config.mfa_serial, config.lazy_where("source", "mfa_serial")
    else:
        return None
    device_partition = rules.mfa_serial_partition(serial)
    if device_partition is not None and device_partition != partition:
        raise ConfigError(
            f"{origin}: {serial!r} is in partition {device_partition}, the region's is {partition}",
            "use the ARN of an MFA device of the source user in the same partition",
        )
    return MfaSession(serial=serial, duration=config.mfa_duration)
