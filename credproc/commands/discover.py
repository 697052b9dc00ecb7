"""`credproc accounts discover`: the organization's accounts from AWS
Organizations ListAccounts, turned into ``[accounts.ALIAS]`` tables.

Listing is done as the source identity, or as ``[organizations] role_arn``
(``--role-arn``): a role in the management account (or a delegated
administrator) obtained exactly like ``credproc get ACCOUNT --role ARN``, so
through the same hops and cache.

Aliases come from the account names: lower-case ASCII, runs of other
characters become ``-``. A name that collides (with a configured alias or
another new one) gets the last four digits of its account id appended, then
the whole id; the accounts are sorted first, so a rerun picks the same aliases.
Accounts already configured (by id) are left alone, and nothing existing is
ever renamed or rewritten: new tables are appended to the file's text.
"""

from __future__ import annotations

import argparse
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import AuthError, ConfigError, CredprocError, UnavailableError
from ..log import Log
from . import CommandOutput
from .options import Parser, add_common

if TYPE_CHECKING:
    from pathlib import Path

    from ..aws_credentials import Credentials
    from ..config import Config

# Organizations is a global service with one endpoint per partition.
_ORGANIZATIONS_REGION = {"aws": "us-east-1", "aws-cn": "cn-northwest-1", "aws-us-gov": "us-gov-west-1"}
MAX_ALIAS = 48


class OrgAccount(NamedTuple):
    """One account as ListAccounts reports it."""

    id: str
    name: str
    status: str


class NewAccount(NamedTuple):
    alias: str
    id: str
    name: str


class Additions(NamedTuple):
    """What discovery would add, and what it leaves out."""

    found: int
    new: tuple[NewAccount, ...]
    known: int  # already configured (by account id)
    inactive: tuple[OrgAccount, ...]  # suspended or closing: nothing to assume there


def register(accounts: argparse.ArgumentParser) -> None:
    actions = accounts.add_subparsers(dest="accounts_command", metavar="ACTION", parser_class=Parser)
    parser = actions.add_parser("discover", help="find the organization's accounts (AWS Organizations ListAccounts)")
    parser.add_argument(
        "--role-arn", help="role in the management account to list them with (default: [organizations] role_arn)"
    )
    parser.add_argument("--write", action="store_true", help="append the new accounts to the config file")
    add_common(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, log: Log) -> CommandOutput:
    from .. import config as config_module

    config = config_module.load(args.config)
    found = list_organization_accounts(config, args.role_arn, log, os.environ)
    addition = plan_additions(config, found)
    said = summary(addition)
    if not args.write:
        hint = "; run with --write to add them" if addition.new else ""
        log.notice(f"{said}{hint}")
        stdout = render_toml(addition.new)
    else:
        backup = write(config, addition.new)
        saved = f"; added them to {config.path}" + (f" (previous version: {backup})" if backup else "")
        log.notice(said + (saved if addition.new else ""))
        stdout = ""
    # After the work: a failure must stay the one stderr line.
    if addition.new and not config.defaults.role:
        log.warn("the new accounts have no role: set [defaults] role (or a role per account) before using them")
    return CommandOutput(stdout)


def list_organization_accounts(
    config: Config, role_arn: str | None, log: Log, env: Mapping[str, str]
) -> list[OrgAccount]:
    """Every account of the organization (all ListAccounts pages)."""
    from .. import rules
    from ..config import DEFAULT_REGION
    from ..obtain import Request, obtain, source_caller
    from ..plan import Overrides

    partition = rules.partition_of(config.source_region or DEFAULT_REGION)
    chosen = role_arn or config.organizations_role_arn
    if chosen:
        origin = "--role-arn" if role_arn else config.where("organizations", "role_arn")
        try:
            arn = rules.hop_role_arn(chosen, partition)
        except ValueError as exc:
            raise ConfigError(
                f"{origin}: {exc}", "give the ARN of a role in the management account that may list accounts"
            ) from None
        log.step(f"listing the organization's accounts as {arn}")
        request = Request(target=rules.account_of_arn(arn), overrides=Overrides(role=arn))
        credentials = obtain(request, config, log=log, env=env).final.credentials
        identity = arn
    else:
        caller = source_caller(config, log, env)
        credentials = caller.source_credentials()
        identity = f"the source identity ({caller.source.label})"
        log.step(f"listing the organization's accounts as {identity}")
    return _list_accounts(credentials, _ORGANIZATIONS_REGION[partition], identity, env, log)


def _list_accounts(
    credentials: Credentials, region: str, identity: str, env: Mapping[str, str], log: Log
) -> list[OrgAccount]:
    from ..aws_errors import transient
    from ..sts import client_config, new_session, retrying

    client = new_session(None, region).create_client(
        "organizations",
        region_name=region,
        config=client_config(env),
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
    )

    def every_page() -> list[OrgAccount]:
        accounts: list[OrgAccount] = []
        for page in client.get_paginator("list_accounts").paginate():
            for raw in page.get("Accounts", []):
                status = str(raw.get("State") or raw.get("Status") or "ACTIVE")
                accounts.append(OrgAccount(str(raw["Id"]), str(raw.get("Name") or ""), status))
        return accounts

    try:
        # client_config leaves retrying to credproc: throttling, 5xx and no answer are retried within the budget.
        return retrying(env, log).call(every_page, transient, "Organizations ListAccounts")
    except Exception as exc:
        raise _translate(exc, identity) from exc


def _translate(exc: Exception, identity: str) -> CredprocError:
    """A botocore error of ListAccounts as one clear credproc error (aws_errors.transient decides what is unavailability)."""
    from botocore import exceptions as bce

    from ..aws_errors import describe, transient

    hint = (
        "list the accounts from the management account or a delegated administrator: set [organizations] "
        "role_arn (or --role-arn) to a role there that may call organizations:ListAccounts"
    )
    if isinstance(exc, bce.ClientError):
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", ""))
        if transient(exc) is not None:
            return UnavailableError(f"Organizations {code} while listing accounts: {message}", "retry in a minute")
        return AuthError(f"Organizations refused ListAccounts as {identity}: {code}: {message}", hint)
    if transient(exc) is not None:
        # Told by type and fields only: an unreadable answer's text quotes the raw body.
        return UnavailableError(
            f"could not reach AWS Organizations: {describe(exc)}",
            "check the network, proxy or AWS_ENDPOINT_URL_ORGANIZATIONS, then retry",
        )
    if isinstance(exc, bce.BotoCoreError):
        return AuthError(f"listing accounts as {identity} failed: {type(exc).__name__}", hint)
    raise exc


def slugify(name: str) -> str:
    """An alias from an account name: ``"Team Ünicode / Prod"`` -> ``"team-unicode-prod"``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:MAX_ALIAS].strip("-")
    # An all-digit alias would read like an account id.
    return f"account-{slug}" if slug.isdigit() else slug


def plan_additions(config: Config, found: Sequence[OrgAccount]) -> Additions:
    """The tables to add for ``found`` (pure: looks only at the config's raw tables)."""
    known_ids = {raw.get("id") for raw in config.raw_accounts.values() if isinstance(raw, dict)}
    taken = set(config.raw_accounts)
    inactive = tuple(account for account in found if account.status != "ACTIVE")
    candidates = [account for account in found if account.status == "ACTIVE" and account.id not in known_ids]
    new: list[NewAccount] = []
    seen: set[str] = set()
    for account in sorted(candidates, key=lambda account: (slugify(account.name), account.id)):
        if account.id in seen:  # ListAccounts pages never repeat, but be safe
            continue
        seen.add(account.id)
        slug = slugify(account.name) or "account"
        alias = next(
            choice for choice in (slug, f"{slug}-{account.id[-4:]}", f"{slug}-{account.id}") if choice not in taken
        )
        taken.add(alias)
        new.append(NewAccount(alias, account.id, account.name))
    known = sum(1 for account in found if account.status == "ACTIVE" and account.id in known_ids)
    return Additions(len(found), tuple(new), known, inactive)


def render_toml(new: Iterable[NewAccount], newline: str = "\n") -> str:
    """``[accounts.ALIAS]`` tables, the account's name as a comment."""
    lines: list[str] = []
    for account in new:
        name = "".join(char for char in account.name if char.isprintable())
        lines += [f"[accounts.{account.alias}]  # {name}" if name else f"[accounts.{account.alias}]"]
        lines += [f'id = "{account.id}"', ""]
    return "".join(line + newline for line in lines)


def summary(additions: Additions) -> str:
    """One line: how many found, new, already there, skipped."""
    text = (
        f"{additions.found} account(s) in the organization: {len(additions.new)} new, "
        f"{additions.known} already configured"
    )
    if additions.inactive:
        text += f", {len(additions.inactive)} not active (skipped)"
    return text


def appended_text(existing: str, new: Sequence[NewAccount]) -> str:
    """The config's text with the new tables added at the end (existing bytes untouched)."""
    from .. import user_files

    newline = user_files.newline_of(existing)
    separator = "" if not existing or existing.endswith(("\n", "\r")) else newline
    header = f"# Added by `credproc accounts discover` (AWS Organizations).{newline}"
    return existing + separator + (newline if existing else "") + header + render_toml(new, newline)


def write(config: Config, new: Sequence[NewAccount]) -> Path | None:
    """Append the new tables to the config file atomically; returns the backup's path."""
    from .. import user_files

    if not new:
        return None
    path = config.path
    try:
        existing = user_files.read_text(path) or ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})", "check the file's permissions") from None
    if existing.replace("\r\n", "\n") != config.text.replace("\r\n", "\n"):
        raise ConfigError(f"{path}: changed while the accounts were being listed", "run the command again")
    updated = appended_text(existing, new)
    _check_appended(path, existing, updated, new)
    try:
        return user_files.replace_text(path, updated)
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot be written ({exc.strerror or exc})", "check the permissions of the file and its directory"
        ) from None


def _check_appended(path: Path, existing: str, updated: str, new: Sequence[NewAccount]) -> None:
    """The appended file must parse, keep every old value and hold exactly the new accounts."""
    import tomllib

    before: dict[str, Any] = tomllib.loads(existing) if existing else {}
    try:
        after = tomllib.loads(updated)
    except tomllib.TOMLDecodeError:
        after = None
    expected = {**before, "accounts": {**before.get("accounts", {}), **{a.alias: {"id": a.id} for a in new}}}
    if after != expected:
        raise ConfigError(
            f"{path}: new [accounts.X] tables cannot be appended to it (is accounts written as an inline table?)",
            "write each account as its own [accounts.ALIAS] table, or add the accounts by hand from the dry run",
        )
