"""The checks of ``credproc doctor`` (commands/doctor.py runs them in order),
each returning one :class:`Check`: ok, warning or failed with the fix."""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import NamedTuple

from .. import config as config_module
from .. import grammar, keystore, locations, trust
from ..aws_profiles import AwsFiles, aws_file_problem, role_path
from ..config import Config
from ..errors import CredprocError, ExitCode
from ..log import Log
from ..obtain import Request, machine_fields, obtain, source_caller
from ..plan import Overrides, Plan, make_plan
from ..source import calls_credproc, choose_profile, keys_in_environment, plaintext_keys

# STS rejects requests signed more than 5 minutes off its clock.
SKEW_FAILED = 300
SKEW_WARNING = 60
# botocore refreshes credential_process credentials this long before expiry.
SDK_REFRESH_WINDOW = 15 * 60
_SHOWN = 3  # problems listed per line before "and N more"

OK, WARNING, FAILED = "ok", "warning", "failed"


class Check(NamedTuple):
    """The outcome of one check."""

    name: str
    status: str
    detail: str
    fix: str | None = None
    exit_code: int = ExitCode.OK


def check_config(config_path: Path | None, env: Mapping[str, str]) -> tuple[Check, Config | None, list[Plan]]:
    """The config loads and every account resolves to a plan."""
    try:
        config = config_module.load(config_path, env)
    except CredprocError as error:
        return _failed("config", error), None, []
    if not config.exists:
        return Check("config", OK, f"no config file at {config.path} (account ids with --role still work)"), config, []
    plans: list[Plan] = []
    errors: list[CredprocError] = []
    fields = machine_fields(env)
    for alias in config.aliases():
        try:
            plans.append(make_plan(config, alias, Overrides(), fields))
        except CredprocError as error:
            errors.append(error)
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more account(s) with problems)" if len(errors) > 1 else ""
        return Check("config", FAILED, first.message + more, first.hint, first.exit_code), config, plans
    return Check("config", OK, f"{config.path}: {len(plans)} account(s)"), config, plans


def check_source(config: Config, env: Mapping[str, str], log: Log) -> tuple[Check, str | None]:
    """GetCallerIdentity as the source identity; also returns STS's Date header."""
    try:
        caller = source_caller(config, log, env)
        arn, date = caller.source_identity()
    except CredprocError as error:
        return _failed("source identity", error), None
    return Check("source identity", OK, f"{arn} (from {caller.source.label})"), date


def check_clock(server_date: str | None, now: datetime) -> Check:
    """This machine's clock against STS's (1 s resolution)."""
    if not server_date:
        return Check("clock", WARNING, "not measured: STS did not answer", "fix the source identity first")
    try:
        server = parsedate_to_datetime(server_date)
    except (TypeError, ValueError):
        return Check("clock", WARNING, f"not measured: STS sent an unreadable Date header {server_date!r}")
    skew = (now - server).total_seconds()
    direction = "ahead of" if skew > 0 else "behind"
    detail = f"this machine's clock is {abs(skew):.0f} s {direction} STS's"
    if abs(skew) > SKEW_FAILED:
        return Check(
            "clock", FAILED, detail + "; AWS rejects requests signed more than 5 min off", _CLOCK_FIX, ExitCode.AUTH
        )
    if abs(skew) > SKEW_WARNING:
        return Check("clock", WARNING, detail + "; expiry decisions will be off by as much", _CLOCK_FIX)
    return Check("clock", OK, detail)


_CLOCK_FIX = "synchronise the clock (e.g. enable NTP: timedatectl set-ntp true)"


def check_key_store(config: Config, env: Mapping[str, str], log: Log) -> Check:
    """The cache key can be had (created on first use, as `get` would)."""
    if not config.cache_enabled:
        return Check("key store", OK, "not needed: the cache is disabled in the config")
    try:
        _key, store = keystore.load_key(config.key_store, env, log)
    except CredprocError as error:
        return _failed("key store", error)
    if store == "file":
        key_file = locations.key_file(env)
        loose = _loose_bits(key_file)
        if loose:
            return Check(
                "key store",
                FAILED,
                f"the key file {key_file} is readable by other users ({loose}): they could decrypt the cache",
                f"chmod 600 {key_file}",
                ExitCode.CACHE,
            )
        return Check("key store", OK, f"key file {key_file} (no OS keychain in use)")
    return Check("key store", OK, f"the {store} key store works")


def check_cache_directory(env: Mapping[str, str]) -> Check:
    """The cache directory, and those credproc keeps in it, are the user's
    alone (trust.py: the same line `get` warns with), writable and private."""
    directory = locations.cache_dir(env)
    refused = trust.cache_error(env)
    if refused is not None:
        return _failed("cache directory", refused)
    if not directory.exists():
        return Check("cache directory", OK, f"{directory} will be created (0700) on first use")
    if not os.access(directory, os.W_OK | os.X_OK):
        return Check(
            "cache directory", FAILED, f"{directory} is not writable", f"chmod 700 {directory}", ExitCode.CACHE
        )
    loose = _loose_bits(directory)
    if loose:
        return Check(
            "cache directory",
            WARNING,
            f"{directory} is open to other users ({loose}); entries are encrypted, but their names and times show",
            f"chmod 700 {directory}",
        )
    return Check("cache directory", OK, f"{directory} (private)")


def check_margins(config: Config, plans: list[Plan]) -> Check:
    """The refresh margin against each account's session length."""
    margin = config.refresh_margin
    problems: list[str] = []
    if margin < SDK_REFRESH_WINDOW:
        problems.append(
            f"refresh_margin is {margin} s: botocore re-runs credproc on every call once 15 min or less are left"
        )
    for plan in plans:
        problems += [f"{plan.alias}: {note}" for note in plan.notes]
        duration = plan.hops[-1].duration
        if duration < 2 * margin:
            problems.append(
                f"{plan.alias}: {duration} s sessions are shorter than twice refresh_margin ({margin} s), "
                f"so they are handed out with as little as {duration // 2} s left"
            )
    if not problems:
        return Check("refresh margin", OK, f"{margin // 60} min fits every account's session length")
    more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
    return Check(
        "refresh margin",
        WARNING,
        "; ".join(problems[:_SHOWN]) + more,
        'use refresh_margin = "15m" and durations of 1h or more (role chaining caps chained hops at 1h)',
    )


def check_aws_profiles(config: Config, env: Mapping[str, str]) -> Check:
    """No profile makes credproc call itself; credproc profiles point at an existing program."""
    aws = AwsFiles(env)
    problem = _unparsable_file(aws) or _source_loop(config, env, aws)
    if problem:
        return problem
    ours = [name for name in aws.profile_names() if calls_credproc(aws.profile(name))]
    return (
        _nested_loop(config, env, aws, ours)
        or _stale_programs(aws, ours)
        or Check(
            "aws profiles", OK, f"{len(ours)} credproc profile(s) in {aws.config_path}, none makes credproc call itself"
        )
    )


def check_source_keys(config: Config, env: Mapping[str, str]) -> Check:
    """The chain does not start from an IAM user's long-term keys in a plaintext AWS file."""
    aws = AwsFiles(env)
    found = None if config.source_stored else plaintext_keys(config.source_profile, env, aws)
    if found is None:
        backups = _backups_with_keys(aws)
        if backups:
            listed = " and ".join(str(path) for path in backups)
            return Check(
                "source keys",
                WARNING,
                f"{listed}, the backup credproc source import left, still holds long-term keys in plaintext",
                f"once credproc source list shows them stored and credproc get works, delete it: rm {listed}",
            )
    if config.source_stored:
        return Check("source keys", OK, f"stored keys {config.source_stored!r} (credproc source), not in plaintext")
    if found is None:
        return Check("source keys", OK, "the source is not long-term keys in a plaintext AWS file")
    profile, path = found
    command = f"credproc source import --profile {shlex.quote(profile)}"
    chosen = choose_profile(config.source_profile, env, aws)[0]
    roles = role_path(aws, chosen, profile)
    if roles:  # the keys sign role profiles: import refuses without --force, and the roles must become via hops
        from ..source_import import dependents, via_steps

        names = [*aws.profile_names(), *aws.credentials_names()]
        if dependents(((name, aws.merged(name)) for name in names), profile):
            command += f" --force (profiles naming {profile!r} as source_profile lose their keys)"
        steps = via_steps(profile, str(config.path), chosen, roles, bool(config.source_profile))
        command = f"{command}, then {steps}"
    return Check(
        "source keys",
        WARNING,
        f"the source is the long-term access key of profile {profile!r}, in plaintext in {path}: "
        "whatever reads that file (backups, dotfile syncs, malware) can use it",
        command,
    )


def _backups_with_keys(aws: AwsFiles) -> list[Path]:
    """The backups ``source import`` made of the AWS files that hold an IAM user's key (``AKIA...``)."""
    import re

    from ..user_files import BACKUP_SUFFIX

    found = []
    for path in (aws.credentials_path, aws.config_path):
        backup = path.with_name(path.name + BACKUP_SUFFIX)
        try:
            text = backup.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if re.search(r"(?im)^\s*aws_access_key_id\s*[=:]\s*AKIA", text):
            found.append(backup)
    return found


def _unparsable_file(aws: AwsFiles) -> Check | None:
    """Either AWS file botocore cannot parse (every AWS tool would fail on it)."""
    for path in (aws.config_path, aws.credentials_path):
        problem = aws_file_problem(path)
        if problem:
            return Check(
                "aws profiles", FAILED, problem, "fix that file's INI syntax (every AWS tool reads it)", ExitCode.CONFIG
            )
    return None


def _source_loop(config: Config, env: Mapping[str, str], aws: AwsFiles) -> Check | None:
    """The source profile runs credproc: getting the source would start credproc again."""
    source_name, origin = _source_profile(config, env, aws)
    if source_name is None:
        return None
    section = aws.profile(source_name) or {}
    if not calls_credproc(section):
        return None
    return Check(
        "aws profiles",
        FAILED,
        f"{origin}: its credential_process runs credproc ({section.get('credential_process')}), "
        "so getting the source credentials would start credproc again",
        "point [source] profile at a profile with its own credentials (keys, SSO or a role), "
        "or set them in the default profile",
        ExitCode.RECURSION,
    )


def _nested_loop(config: Config, env: Mapping[str, str], aws: AwsFiles, ours: list[str]) -> Check | None:
    """A profile running credproc with a config of its own: that config's source counts too."""
    for name in ours:
        other = _config_option(aws.profile(name) or {})
        if other is None or other == config.path:
            continue
        try:
            their = config_module.load(other, env)
        except CredprocError:
            continue  # that config's own doctor run reports it
        if their.source_profile and calls_credproc(aws.profile(their.source_profile)):
            return Check(
                "aws profiles",
                FAILED,
                f"profile {name!r} runs credproc with {other}, whose [source] profile "
                f"{their.source_profile!r} runs credproc again",
                f"point [source] profile in {other} at a profile with its own credentials",
                ExitCode.RECURSION,
            )
    return None


def _stale_programs(aws: AwsFiles, ours: list[str]) -> Check | None:
    """credproc profiles whose program is gone (an uninstalled or moved credproc)."""
    stale = []
    for name in ours:
        program = _program(aws.profile(name) or {})
        if program and os.path.isabs(program) and not os.path.exists(program):
            stale.append(f"{name} ({program})")
    if not stale:
        return None
    more = f" (and {len(stale) - _SHOWN} more)" if len(stale) > _SHOWN else ""
    return Check(
        "aws profiles",
        WARNING,
        f"credential_process points at a program that does not exist: {', '.join(stale[:_SHOWN])}{more}",
        "regenerate them with credproc profiles --write",
    )


def source_runs_credproc(config: Config, env: Mapping[str, str]) -> bool:
    aws = AwsFiles(env)
    name, _origin = _source_profile(config, env, aws)
    return name is not None and calls_credproc(aws.profile(name))


def _source_profile(config: Config, env: Mapping[str, str], aws: AwsFiles) -> tuple[str | None, str]:
    """The profile the source credentials come from (None: keys in env or stored keys), and how it was chosen."""
    if config.source_stored:
        return None, f"{config.where('source', 'stored')} = {config.source_stored!r}"
    chosen, _passed_over = choose_profile(config.source_profile, env, aws)
    if config.source_profile:
        return chosen, f"{config.where('source', 'profile')} = {chosen!r}"
    if keys_in_environment(config.source_profile, env):
        return None, "environment"
    return chosen, f"profile {chosen!r} (the source: no [source] profile is set)"


def _words(section: Mapping[str, str]) -> list[str]:
    try:
        return shlex.split(section.get("credential_process", ""), posix=os.name != "nt")
    except ValueError:
        return []


def _program(section: Mapping[str, str]) -> str | None:
    words = _words(section)
    return words[0] if words else None


def _config_option(section: Mapping[str, str]) -> Path | None:
    """The ``--config PATH`` a credproc profile passes, if any."""
    given = grammar.last_value(_words(section), "--config")
    return None if given is None else Path(given).expanduser()


def check_role(config: Config, plan: Plan, env: Mapping[str, str], log: Log) -> Check:
    """--deep: the account's chain really works (fresh AssumeRole calls)."""
    name = f"role {plan.alias}"
    try:
        final = obtain(Request(plan.target, force_refresh=True), config, log=log, env=env).final
    except CredprocError as error:
        return _failed(name, error)
    if final.failure is not None:
        # `get` falls back to still-valid cached credentials; a check must not.
        return _failed(name, final.failure)
    return Check(name, OK, f"assumed {plan.hops[-1].role_arn} ({len(plan.hops)} hop(s))")


def _failed(name: str, error: CredprocError) -> Check:
    return Check(name, FAILED, error.message, error.hint, error.exit_code)


def _loose_bits(path: Path) -> str | None:
    """``"0755"`` when group or others have any access (POSIX only), else None."""
    if os.name != "posix":
        return None
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return f"{mode:04o}" if mode & 0o077 else None
