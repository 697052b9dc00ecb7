"""``credproc source import``'s text edits, pure: the AWS file without one
profile's keys (every other byte kept), the check that nothing else changed,
and credproc's config with ``[source] stored`` set when that is safe.

The command (commands/source.py) reads and writes the files (user_files.py's
backup and atomic rewrite); nothing here touches the disk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .aws_profiles import RoleHop

# What a profile's keys are made of: all of them leave the file together.
KEY_OPTIONS = frozenset({"aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_security_token"})
_HEADER = re.compile(r"\[(?P<header>.+)\]")  # configparser's SECTCRE, matched on the stripped line
_OPTION = re.compile(r"(?P<option>.*?)\s*[=:]")  # configparser's OPTCRE, up to the delimiter
_COMMENT = ("#", ";")


def profile_of(header: str, kind: str) -> str | None:
    """The profile a section header names: the credentials file's ``[NAME]``; the
    config file's ``[default]`` or ``[profile NAME]`` (shell-split, as botocore does)."""
    if kind == "credentials":
        return header
    if header == "default":
        return "default"
    import shlex

    try:
        parts = shlex.split(header)
    except ValueError:
        return None
    return parts[1] if len(parts) == 2 and parts[0] == "profile" else None


def without_keys(text: str, kind: str, profile: str) -> str:
    """``text`` without the key lines (:data:`KEY_OPTIONS`, and their indented
    continuation lines) of every section naming ``profile``; every other
    line exactly as it was, line endings included."""
    kept: list[str] = []
    inside = dropping = False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        header = _HEADER.match(stripped) if stripped.startswith("[") else None
        if header:
            inside, dropping = profile_of(header.group("header"), kind) == profile, False
            kept.append(line)
            continue
        if dropping and stripped and line[:1] in (" ", "\t") and not stripped.startswith(_COMMENT):
            continue  # the dropped key's value goes on
        dropping = False
        if inside and stripped and not stripped.startswith(_COMMENT) and line[:1] not in (" ", "\t"):
            option = _OPTION.match(stripped)
            if option and option.group("option").strip().lower() in KEY_OPTIONS:
                dropping = True
                continue
        kept.append(line)
    return "".join(kept)


def sections(text: str) -> dict[str, dict[str, str]]:
    """Every section of an AWS file's text as configparser reads it (later duplicates merged)."""
    import configparser

    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.read_string(text)
    return {name: dict(parser.items(name)) for name in parser.sections()}


def only_keys_removed(before: str, after: str, kind: str, profile: str) -> bool:
    """Whether ``after`` reads as ``before`` with ``profile``'s keys gone and nothing else changed."""
    try:
        old, new = sections(before), sections(after)
    except Exception:
        return False
    for name, options in old.items():
        if profile_of(name, kind) == profile:
            old[name] = {key: value for key, value in options.items() if key not in KEY_OPTIONS}
    return old == new


def dependents(profiles: Iterable[tuple[str, Mapping[str, str]]], profile: str) -> list[str]:
    """The profiles that name ``profile`` as their source_profile (they would lose their keys)."""
    return sorted(
        {name for name, settings in profiles if name != profile and settings.get("source_profile") == profile}
    )


_SOURCE_HEADER = re.compile(r"^[ \t]*\[[ \t]*source[ \t]*\][ \t]*(?:#.*)?$")
_ANY_HEADER = re.compile(r"^[ \t]*\[")
_PROFILE_LINE = re.compile(r"^([ \t]*)profile[ \t]*=.*?(\r?\n)?$")


def config_with_stored(text: str | None, name: str, profile: str) -> str | None:
    """credproc's config text with ``[source] stored = "NAME"``, or None when
    setting it is not a plain, safe edit: another ``stored`` is set, ``profile``
    names another profile than the imported one, the table is written some
    other way (dotted keys, an inline table), or the result would read as
    anything but the old config with that one change. A ``profile`` naming
    the imported profile is replaced (it has no keys any more)."""
    if text is None:
        return f'[source]\nstored = "{name}"\n'
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    table = data.get("source", {})
    if not isinstance(table, dict) or table.get("profile", profile) != profile:
        return None
    if "stored" in table:
        return text if table["stored"] == name and "profile" not in table else None
    new = _edited(text, name, "profile" in table)
    if new is None:
        return None
    wanted = {**data, "source": {**{k: v for k, v in table.items() if k != "profile"}, "stored": name}}
    try:
        return new if tomllib.loads(new) == wanted else None
    except tomllib.TOMLDecodeError:
        return None


def _edited(text: str, name: str, replace_profile: bool) -> str | None:
    newline = "\r\n" if "\r\n" in text else "\n"
    setting = f'stored = "{name}"'
    lines = text.splitlines(keepends=True)
    header = next((index for index, line in enumerate(lines) if _SOURCE_HEADER.match(line.rstrip("\r\n"))), None)
    if header is None:
        separator = "" if not text or text.endswith("\n") else newline
        return f"{text}{separator}{newline if text.strip() else ''}[source]{newline}{setting}{newline}"
    if not replace_profile:
        lines.insert(header + 1, setting + newline)
        return "".join(lines)
    for index in range(header + 1, len(lines)):
        if _ANY_HEADER.match(lines[index]):
            break
        match = _PROFILE_LINE.match(lines[index])
        if match:
            lines[index] = f"{match.group(1)}{setting}{match.group(2) or ''}"
            return "".join(lines)
    return None


def via_steps(name: str, config_path: str, role_profile: str, roles: Sequence[RoleHop], replace_profile: bool) -> str:
    """What to set in credproc's config so that a chain that started with the
    roles of AWS profile ``role_profile`` starts from the stored keys ``name``
    and assumes the same roles (as ``via`` hops, with their external ids)
    before its own; the MFA device a role profile names goes to [source]."""
    hops = ", ".join(
        f'{{ role_arn = "{hop.role_arn}", external_id = "{hop.external_id}" }}'
        if hop.external_id
        else f'"{hop.role_arn}"'
        for hop in roles
    )
    replaced = f' in place of profile = "{role_profile}"' if replace_profile else ""
    serials = [hop.mfa_serial for hop in roles if hop.mfa_serial]
    mfa = f' and mfa_serial = "{serials[0]}"' if serials else ""
    return (
        f'in {config_path} set stored = "{name}"{mfa} under [source]{replaced}, and start every chain with the '
        f"role{'s' if len(roles) > 1 else ''} of profile {role_profile}: via = [{hops}] in [defaults], "
        "and the same first in every account's own via"
    )
