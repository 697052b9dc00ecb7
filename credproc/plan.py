"""The hop plan: from a target and the config to the list of AssumeRole calls
(pure logic: no network, no disk, no clock)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from . import rules
from .config import DEFAULT_DURATION, DEFAULT_REGION, DEFAULT_SESSION_NAME, Account, Config, LazyWhere
from .errors import ConfigError, UsageError
from .schema import Settings, ViaEntry

# Where a value came from, for error messages: a flag, or a config key whose
# file:line is only looked up if a message is printed.
Origin = str | LazyWhere


@dataclass(frozen=True)
class Hop:
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
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class MfaSession:
    """The GetSessionToken call that roots the chain when the source needs MFA.

    Its cache entry hangs off the source fingerprint, and every hop's entry
    hangs off it: one MFA session serves every account and every process.
    """

    serial: str
    duration: int

    def cache_fields(self) -> dict[str, Any]:
        return {"mfa_serial": self.serial, "duration": self.duration}


@dataclass(frozen=True)
class Overrides:
    """Values from the command line; None means "not given"."""

    role: str | None = None
    via: tuple[str, ...] | None = None
    region: str | None = None
    duration: str | None = None
    session_name: str | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class Plan:
    """What to do for one target: the source, then ``hops`` in order."""

    target: str
    alias: str | None
    account_id: str
    region: str  # the account's region (emitted in env output and profiles)
    sts_region: str  # where the AssumeRole calls go
    source_profile: str | None
    hops: tuple[Hop, ...]
    notes: tuple[str, ...] = field(default=())  # explained under --verbose
    mfa: MfaSession | None = None  # GetSessionToken before the first hop


def make_plan(config: Config, target: str, overrides: Overrides, fields: dict[str, str]) -> Plan:
    """Resolve ``target`` (alias or 12-digit id) into a plan, or raise a clear error.

    ``fields`` are the session-name template values that come from the
    machine (``user``, ``host``).
    """
    account = _find_account(config, target)
    settings = account.settings if account else None
    defaults = config.defaults
    account_id = account.id if account else target
    alias = account.alias if account else None

    def pick(name: str) -> tuple[Any, Origin]:
        """A setting's value and where it came from (for error messages)."""
        cli_value = getattr(overrides, name, None)
        if cli_value is not None:
            return cli_value, f"--{name.replace('_', '-')}"
        if settings is not None and getattr(settings, name) is not None:
            return getattr(settings, name), config.lazy_where("accounts", alias or "", name)
        if getattr(defaults, name) is not None:
            return getattr(defaults, name), config.lazy_where("defaults", name)
        return None, ""

    def check(name: str, checker: Any, *args: Any) -> Any:
        value, origin = pick(name)
        if value is None:
            return None
        try:
            return checker(value, *args)
        except ValueError as exc:
            raise ConfigError(f"{origin}: {exc}", _FLAG_HINTS.get(name)) from None

    sts_region = (
        overrides.region
        if overrides.region is not None  # --region "" is a mistake, not "unset"
        else config.source_region or check("region", rules.region) or DEFAULT_REGION
    )
    try:
        sts_region = rules.region(sts_region)
    except ValueError as exc:
        raise UsageError(f"--region: {exc}", "use a region name such as us-east-1") from None
    region = check("region", rules.region) or sts_region
    partition = rules.partition_of(sts_region)
    if rules.partition_of(region) != partition:
        raise ConfigError(
            f"account region {region} is in partition {rules.partition_of(region)} but STS calls go to {sts_region}",
            "set [source] region to a region of the same partition",
        )

    role_value, role_origin = pick("role")
    if role_value is None:
        raise ConfigError(
            f"no role for {target}: neither --role nor a role setting in {config.path}",
            f"pass --role NAME, or set role under [accounts.{alias}]"
            if alias
            else "pass --role NAME, or set [defaults] role",
        )
    try:
        target_arn = rules.role_arn(role_value, account_id, partition)
    except ValueError as exc:
        raise ConfigError(f"{role_origin}: {exc}", _FLAG_HINTS["role"]) from None

    duration = check("duration", rules.duration) or DEFAULT_DURATION
    template, template_origin = pick("session_name")
    template = DEFAULT_SESSION_NAME if template is None else template  # "" is a mistake, not "unset"
    via_values, via_origin = pick("via")
    via: list[ViaEntry] = []
    for index, item in enumerate(via_values or ()):
        entry = item if isinstance(item, ViaEntry) else ViaEntry(item, Settings())
        try:
            via.append(replace(entry, role_arn=rules.hop_role_arn(entry.role_arn, partition)))
        except ValueError as exc:
            raise ConfigError(f"{via_origin}{_item(via_origin, index)}: {exc}", _FLAG_HINTS["via"]) from None
    chain = [*(entry.role_arn for entry in via), target_arn]
    for index, arn in enumerate(chain):
        if arn in chain[:index]:
            raise ConfigError(
                f"{via_origin or role_origin}: the chain visits {arn} twice ({' -> '.join(chain)})",
                "remove the repeated role from via: a chain must not loop",
            )

    def expand(hop_template: str, origin: Origin, hop_account: str, hop_alias: str) -> str:
        values = {**fields, "account": hop_account, "alias": hop_alias}
        try:
            return rules.session_name(hop_template, values)
        except ValueError as exc:
            raise ConfigError(f"{origin or 'session name'}: {exc}", _FLAG_HINTS["session_name"]) from None

    # SourceIdentity is set once, on the first AssumeRole: STS carries it
    # through every later hop and refuses any attempt to change it.
    identity_template, identity_origin = pick("source_identity")
    source_identity = None
    if identity_template is not None:
        try:
            source_identity = rules.source_identity(
                identity_template, {**fields, "account": account_id, "alias": alias or account_id}
            )
        except ValueError as exc:
            raise ConfigError(f"{identity_origin}: {exc}", _FLAG_HINTS["source_identity"]) from None

    hops: list[Hop] = []
    notes: list[str] = []
    for index, entry in enumerate(via):
        hop_account = rules.account_of_arn(entry.role_arn)
        known = config.account_by_id(hop_account) if config.raw_accounts else None
        origin = f"{via_origin}{_item(via_origin, index)}"

        def from_table(name: str, options: Settings = entry.options, origin: str = origin) -> tuple[Any, str]:
            value = getattr(options, name)
            return value, f"{origin}.{name}" if value is not None else ""

        # Intermediate hops use their via table's or the defaults' duration,
        # never the target's, so every target behind the same hub shares one
        # cached hub session.
        hop_duration = entry.options.duration or defaults.duration or DEFAULT_DURATION
        hop_template, hop_template_origin = from_table("session_name")
        name = expand(
            hop_template or template,
            hop_template_origin or template_origin,
            hop_account,
            known.alias if known else hop_account,
        )
        hops.append(Hop(entry.role_arn, name, hop_duration, **_session_options(from_table, partition)))

    def target_option(name: str) -> tuple[Any, Origin]:
        if name == "external_id":
            return check("external_id", rules.external_id), pick("external_id")[1]
        return pick(name)

    name = expand(template, template_origin, account_id, alias or account_id)
    hops.append(Hop(target_arn, name, duration, **_session_options(target_option, partition)))
    if source_identity is not None:
        hops[0] = replace(hops[0], source_identity=source_identity)
    hops = [_clamp(hop, index, notes) for index, hop in enumerate(hops)]
    return Plan(
        target=target,
        alias=alias,
        account_id=account_id,
        region=region,
        sts_region=sts_region,
        source_profile=config.source_profile,
        hops=tuple(hops),
        notes=tuple(notes),
        mfa=_mfa_session(config, settings, alias, partition),
    )


def _item(origin: Origin, index: int) -> str:
    """``[N]`` after a config key naming a via list (not after --via)."""
    return "" if isinstance(origin, str) and origin.startswith("--") else f"[{index}]"


def _session_options(get: Callable[[str], tuple[Any, Origin]], partition: str) -> dict[str, Any]:
    """The optional AssumeRole parameters of one hop, with the checks that need
    more than one key (or the partition): ``get(name)`` gives (value, origin)."""
    tags, _ = get("tags")
    transitive, transitive_origin = get("transitive_tags")
    keys = {key for key, _ in tags or ()}
    for key in transitive or ():
        if key not in keys:
            raise ConfigError(
                f"{transitive_origin}: {key!r} is not a key of the hop's tags ({', '.join(sorted(keys)) or 'none'})",
                _FLAG_HINTS["transitive_tags"],
            )
    arns, arns_origin = get("policy_arns")
    for arn in arns or ():
        if rules.policy_arn_partition(arn) != partition:
            raise ConfigError(
                f"{arns_origin}: {arn!r} is in partition {rules.policy_arn_partition(arn)}, the region's is {partition}",
                _FLAG_HINTS["policy_arns"],
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
        return replace(hop, duration=rules.ROLE_CHAINING_MAX)
    return hop


def _mfa_session(config: Config, settings: Settings | None, alias: str | None, partition: str) -> MfaSession | None:
    """The MFA session the chain starts from, if the account or [source] names a device."""
    if settings is not None and settings.mfa_serial is not None:
        serial, origin = settings.mfa_serial, config.lazy_where("accounts", alias or "", "mfa_serial")
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


def _find_account(config: Config, target: str) -> Account | None:
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
            f"use an account id or one of the aliases ({known})",
        ) from None
    return config.account_by_id(target)


_FLAG_HINTS = {
    "role": "use a role name (Deployer) or a role ARN in the target account",
    "duration": "use seconds or 15m .. 12h, e.g. --duration 1h",
    "session_name": "use 2-64 characters of letters, digits and +=,.@_- ; placeholders {user} {host} {alias} {account}",
    "region": "use a region name such as us-east-1",
    "external_id": "use 2-1224 characters of letters, digits and +=,.@:/_-",
    "via": "give full role ARNs in the same partition, e.g. arn:aws:iam::222222222222:role/hub",
    "source_identity": "use a template of 2-64 characters of letters, digits and +=,.@_- ; placeholders {user} {host} {alias} {account}",
    "transitive_tags": "list only keys that are in the same hop's tags table",
    "policy_arns": 'use policy ARNs of the region\'s partition, e.g. "arn:aws:iam::aws:policy/ReadOnlyAccess"',
}
