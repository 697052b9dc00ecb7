"""``credproc source import``: a profile's long-term keys moved from an AWS
file into the store (source_keys.py). The file is rewritten with every other
byte kept (credproc/source_import.py's text edits, user_files.py's backup
and atomic rewrite); credproc's config is pointed at the stored keys when
that is a plain edit, else the exact steps are said.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .. import stored_key
from ..errors import CommandError, ExitCode, UsageError
from ..log import Log
from . import CommandOutput
from .source import place_of, refuse_existing, source_config, verified

if TYPE_CHECKING:
    from ..config import Config
    from ..stored_key import StoredKey


def run_import(args: argparse.Namespace, log: Log) -> CommandOutput:
    from .. import source_keys, user_files

    profile = args.profile
    name = stored_key.check_name(args.name or profile)
    config = source_config(args)
    found = profile_keys(profile, os.environ)
    _guard_dependents(profile, os.environ, log, force=args.force)
    saved = _already_stored(name, found, log)
    if saved is None:
        refuse_existing(name, log)
        key = verified(name, found.access_key_id, found.secret_access_key, config, log, verify=not args.no_verify)
        saved = source_keys.save(key, os.environ, log)
    try:
        backup = user_files.replace_text(found.path, found.without)
    except OSError as exc:  # storage.UntrustedError included
        raise CommandError(
            f"stored the keys of profile {profile!r} as {name!r}, but could not remove them from {found.path} "
            f"({exc.strerror or exc})",
            f"delete the aws_access_key_id and aws_secret_access_key lines of [{profile}] there by hand",
            ExitCode.CONFIG,
        ) from None
    log.notice(
        f"moved the keys of profile {profile!r} ({saved.masked()}) into the {place_of(saved)}; "
        f"removed them from {found.path}"
        + (f" (its backup {backup} still holds them in plaintext: delete it once credproc works)" if backup else "")
    )
    if found.elsewhere is not None:
        log.warn(f"{found.elsewhere} also holds keys for profile {profile!r}: not imported, still in plaintext")
    _use_imported(config, profile, name, log)
    return CommandOutput()


def _already_stored(name: str, found: ProfileKeys, log: Log) -> StoredKey | None:
    """The stored keys ``name`` when they are exactly the profile's (added
    before, or an import whose rewrite failed): the file is then only cleaned up."""
    from .. import source_keys

    listed = source_keys.indexed(name, os.environ, log)
    if listed is None or listed.access_key_id != found.access_key_id:
        return None
    stored = source_keys.load(name, os.environ, log)
    if stored.secret_access_key != found.secret_access_key:
        return None
    log.notice(f"the keys of the profile are stored already as {name!r} ({stored.masked()})")
    return stored


class ProfileKeys:
    """A profile's keys, the file they are in and that file's text without them."""

    def __init__(self, path: Path, access_key_id: str, secret: str, without: str, elsewhere: Path | None) -> None:
        self.path = path
        self.access_key_id = access_key_id
        self.secret_access_key = secret
        self.without = without
        self.elsewhere = elsewhere

    def __repr__(self) -> str:
        return f"ProfileKeys(path={self.path!r}, access_key_id={self.access_key_id!r})"


def profile_keys(profile: str, env: Mapping[str, str]) -> ProfileKeys:
    """The keys of ``profile`` as botocore would read them (the credentials file
    first, then the config file), and that file's text with them removed."""
    from .. import locations, source_import, user_files

    config_path, credentials_path = (Path(path) for path in locations.aws_files(env))
    held: list[tuple[Path, str, dict[str, str], str]] = []
    for path, kind in ((credentials_path, "credentials"), (config_path, "config")):
        text = user_files.read_text(path)
        if text is None:
            continue
        try:
            sections = source_import.sections(text)
        except Exception:
            raise UsageError(
                f"{path}: cannot be parsed", "fix its INI syntax (credproc doctor names the line)"
            ) from None
        for header, options in sections.items():
            if source_import.profile_of(header, kind) == profile and "aws_access_key_id" in options:
                held.append((path, kind, options, text))
                break
    if not held:
        raise UsageError(
            f"profile {profile!r} has no aws_access_key_id in {credentials_path} or {config_path}",
            "name a profile with long-term keys (aws configure list-profiles lists them)",
        )
    path, kind, options, text = held[0]
    if options.get("aws_session_token") or options.get("aws_security_token"):
        raise UsageError(
            f"profile {profile!r} in {path} holds temporary credentials (a session token)",
            "import a profile with an IAM user's long-term keys",
        )
    without = source_import.without_keys(text, kind, profile)
    if not source_import.only_keys_removed(text, without, kind, profile):
        raise UsageError(
            f"{path}: the keys of profile {profile!r} cannot be removed line by line",
            f"copy them with: credproc source add {profile}, then delete them from {path} by hand",
        )
    elsewhere = held[1][0] if len(held) > 1 else None
    return ProfileKeys(path, options["aws_access_key_id"], options.get("aws_secret_access_key", ""), without, elsewhere)


def _guard_dependents(profile: str, env: Mapping[str, str], log: Log, *, force: bool) -> None:
    """Profiles whose source_profile is ``profile`` would lose their keys: refuse unless ``force``."""
    from .. import source_import
    from ..aws_profiles import AwsFiles

    aws = AwsFiles(env)
    names = [*aws.profile_names(), *aws.credentials_names()]
    users = source_import.dependents(((name, aws.merged(name)) for name in names), profile)
    if not users:
        return
    listed = ", ".join(users)
    if not force:
        raise UsageError(
            f"profiles {listed} name {profile!r} as source_profile: they would lose their keys",
            "point them at another source first, or re-run with --force (they then fail until you do)",
        )
    log.warn(f"profiles {listed} name {profile!r} as source_profile: they have no keys any more")


def _use_imported(config: Config, profile: str, name: str, log: Log) -> None:
    """Make the stored keys credproc's source when they were its source already; else say how."""
    from .. import source_import, user_files
    from ..aws_profiles import AwsFiles, role_path
    from ..source import choose_profile, keys_in_environment

    aws = AwsFiles(os.environ)  # as rewritten: without the profile's keys
    current = config.source_profile
    if current is None and not keys_in_environment(None, os.environ):
        current = choose_profile(None, os.environ, aws)[0]
    if config.source_stored == name:
        return
    roles = role_path(aws, current, profile) if current else []
    if roles and not config.source_stored:  # stored alone would skip the roles the source assumed
        steps = source_import.via_steps(name, str(config.path), current or "", roles, bool(config.source_profile))
        log.notice(f"to use them as credproc's source: {steps}")
        return
    how = f'set stored = "{name}" under [source] in {config.path}'
    if current != profile or config.source_stored:
        log.notice(
            f"to use them as credproc's source: {how}" + (" (and remove profile)" if config.source_profile else "")
        )
        return
    text = user_files.read_text(config.path)
    new = source_import.config_with_stored(text, name, profile)
    if new is None:
        log.warn(f"credproc's source was profile {profile!r}, which has no keys now: {how} (and remove profile)")
        return
    if new != text:
        try:
            user_files.replace_text(config.path, new)
        except OSError as exc:
            log.warn(f"could not write {config.path} ({exc.strerror or exc}): {how}")
            return
    log.notice(f'credproc now uses them: [source] stored = "{name}" in {config.path}')
