"""The hop plan: from a target and the config to the list of AssumeRole calls
(pure logic: no network, no disk, no clock)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from . import rules
from .config import DEFAULT_DURATION, DEFAULT_REGION, DEFAULT_SESSION_NAME, Account, Config, LazyWhere
from .errors import ConfigError, UsageError


@dataclass(frozen=True)
class Hop:
    """One AssumeRole call. Every field that changes the credentials STS
    returns is here, so the cache key can be derived from it."""

    role_arn: str
    session_name: str
    duration: int
    external_id: str | None = None

    @property
    def account_id(self) -> str:
        return rules.account_of_arn(self.role_arn)

    def cache_fields(self) -> dict[str, Any]:
        """What makes this hop's credentials differ, for the cache key."""
        return {key: value for key, value in asdict(self).items() if value is not None}


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

    def pick(name: str) -> tuple[Any, str | LazyWhere]:
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

    sts_region = overrides.region or config.source_region or check("region", rules.region) or DEFAULT_REGION
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
    template = template or DEFAULT_SESSION_NAME
    external_id = check("external_id", rules.external_id)
    via_values, via_origin = pick("via")
    via: list[str] = []
    for item in via_values or ():
        try:
            via.append(rules.hop_role_arn(item, partition))
        except ValueError as exc:
            raise ConfigError(f"{via_origin}: {exc}", _FLAG_HINTS["via"]) from None
    chain = [*via, target_arn]
    for index, arn in enumerate(chain):
        if arn in chain[:index]:
            raise ConfigError(
                f"{via_origin or role_origin}: the chain visits {arn} twice ({' -> '.join(chain)})",
                "remove the repeated role from via: a chain must not loop",
            )

    def session(hop_account: str, hop_alias: str) -> str:
        values = {**fields, "account": hop_account, "alias": hop_alias}
        try:
            return rules.session_name(template, values)
        except ValueError as exc:
            raise ConfigError(f"{template_origin or 'session name'}: {exc}", _FLAG_HINTS["session_name"]) from None

    hops: list[Hop] = []
    notes: list[str] = []
    for index, arn in enumerate(via):
        hop_account = rules.account_of_arn(arn)
        known = config.account_by_id(hop_account) if config.raw_accounts else None
        # Intermediate hops use the defaults' duration, not the target's, so
        # that every target behind the same hub shares one cached hub session.
        hop_duration = defaults.duration or DEFAULT_DURATION
        hops.append(
            _hop(arn, session(hop_account, known.alias if known else hop_account), hop_duration, None, index, notes)
        )
    hops.append(_hop(target_arn, session(account_id, alias or account_id), duration, external_id, len(via), notes))
    return Plan(
        target=target,
        alias=alias,
        account_id=account_id,
        region=region,
        sts_region=sts_region,
        source_profile=config.source_profile,
        hops=tuple(hops),
        notes=tuple(notes),
    )


def _hop(arn: str, session_name: str, duration: int, external_id: str | None, index: int, notes: list[str]) -> Hop:
    if index > 0 and duration > rules.ROLE_CHAINING_MAX:
        # STS refuses more than 1 h for a role assumed with role credentials.
        notes.append(f"{arn}: asked for {duration} s, clamped to 3600 s (role chaining allows at most 1 h)")
        duration = rules.ROLE_CHAINING_MAX
    return Hop(role_arn=arn, session_name=session_name, duration=duration, external_id=external_id)


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
}
