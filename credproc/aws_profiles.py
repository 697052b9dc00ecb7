"""The AWS config and credentials files as botocore reads them: profiles,
sso-sessions, the role path to a profile's keys, and what is wrong with a file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from . import locations, storage

if TYPE_CHECKING:  # imported where used: a warm hit with keys in the environment never reads these files
    import configparser
    from hashlib import blake2b as Hash


class AwsFiles:
    """Read-only view of ~/.aws/config and ~/.aws/credentials (paths as botocore finds them)."""

    def __init__(self, env: Mapping[str, str], windows: bool = locations.WINDOWS) -> None:
        config, credentials = locations.aws_files(env, windows)
        self.config_path = Path(config)
        self.credentials_path = Path(credentials)
        self._profiles: tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]] | None = None
        self._credentials: configparser.RawConfigParser | None = None
        self._bytes: dict[Path, bytes | None] = {}  # each file is read once, for its digest and its parse

    def add_contents(self, digest: Hash) -> None:
        """Add both files' paths and bytes (the ones parsed later) to ``digest``."""
        for path in (self.config_path, self.credentials_path):
            digest.update(str(path).encode(errors="surrogateescape") + b"\0")
            storage.add_contents(digest, self._read(path))

    def _read(self, path: Path) -> bytes | None:
        if path not in self._bytes:
            self._bytes[path] = storage.read_file(str(path))
        return self._bytes[path]

    def _parsed(self, path: Path) -> configparser.RawConfigParser:
        return _parse(path, self._read(path))

    def _maps(self) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
        if self._profiles is None:
            self._profiles = _profile_maps(self._parsed(self.config_path))
        return self._profiles

    def profile(self, name: str) -> dict[str, str] | None:
        """Profile ``name`` of the config file (``[profile NAME]``, or ``[default]``), as botocore maps it."""
        return self._maps()[0].get(name)

    def sso_session(self, name: str) -> dict[str, str] | None:
        """The ``[sso-session NAME]`` section of the config file."""
        return self._maps()[1].get(name)

    def profile_names(self) -> list[str]:
        """Every profile of the config file, in file order."""
        return list(self._maps()[0])

    def credentials_names(self) -> list[str]:
        """Every section of the credentials file, in file order."""
        if self._credentials is None:
            self._credentials = self._parsed(self.credentials_path)
        return self._credentials.sections()

    def credentials(self, name: str) -> dict[str, str] | None:
        """The ``[NAME]`` section of the credentials file."""
        if self._credentials is None:
            self._credentials = self._parsed(self.credentials_path)
        if self._credentials.has_section(name):
            return dict(self._credentials.items(name))
        return None

    def merged(self, name: str) -> dict[str, str]:
        """Profile ``name`` as botocore's providers see it (``Session.full_config``): the
        config file's settings with the credentials file's section of that name laid over them."""
        return {**(self.profile(name) or {}), **(self.credentials(name) or {})}


def _profile_maps(parser: configparser.RawConfigParser) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """The config file's profiles and sso-sessions by name, as botocore's
    ``configloader.build_profile_map`` names them (``[profile "a b"]`` is shell-split;
    a later section of the same name replaces an earlier one)."""
    import shlex

    profiles: dict[str, dict[str, str]] = {}
    sessions: dict[str, dict[str, str]] = {}
    for section in parser.sections():
        kind = profiles if section.startswith("profile") else sessions if section.startswith("sso-session") else None
        if kind is None:
            if section == "default":
                profiles["default"] = dict(parser.items(section))
            continue
        try:
            parts = shlex.split(section)
        except ValueError:
            continue
        if len(parts) == 2:
            kind[parts[1]] = dict(parser.items(section))
    return profiles, sessions


def sso_login_command(aws: AwsFiles, name: str) -> str | None:
    """The ``aws sso login`` that renews the IAM Identity Center token behind
    profile ``name`` (following source_profile); None when no SSO profile is behind it."""
    import shlex

    seen: list[str] = []
    while name and name not in seen:
        seen.append(name)
        section = aws.profile(name) or {}
        if section.get("sso_session"):
            # One token per sso-session, shared by all its profiles (botocore's token cache key).
            return f"aws sso login --sso-session {shlex.quote(section['sso_session'])}"
        if section.get("sso_start_url"):
            return f"aws sso login --profile {shlex.quote(name)}"
        name = section.get("source_profile", "")
    return None


def signing_profile(aws: AwsFiles, name: str) -> str | None:
    """The profile whose own credentials sign the first AssumeRole of role
    profile ``name`` (providers._role_source's walk); None: a credential_source or a loop."""
    seen = [name]
    while True:
        section = aws.merged(name)
        parent = section.get("source_profile")
        if "credential_source" in section or parent is None or (parent != name and parent in seen):
            return None
        parent_section = aws.merged(parent)
        is_role = "role_arn" in parent_section and "web_identity_token_file" not in parent_section
        if parent == name or "aws_access_key_id" in parent_section or not is_role:
            return parent
        seen.append(parent)
        name = parent


class RoleHop(NamedTuple):
    """One role a role profile assumes, with what credproc's via table needs of it."""

    role_arn: str
    external_id: str | None
    mfa_serial: str | None


def role_path(aws: AwsFiles, name: str, signer: str) -> list[RoleHop]:
    """The roles profile ``name`` assumes, first hop first, starting from
    the keys of profile ``signer`` (source.plaintext_keys' profile); [] when
    ``name`` is no role profile signed by ``signer``. Storing ``signer``'s keys
    as the source drops these hops unless they become ``via`` hops."""
    roles: list[RoleHop] = []
    for _ in range(64):  # a source_profile loop ends here: signing_profile finds none then
        section = aws.merged(name)
        parent, role = section.get("source_profile"), section.get("role_arn")
        hop = RoleHop(role or "", section.get("external_id"), section.get("mfa_serial"))
        if name == signer:
            if parent == name and role:  # a role assumed with the profile's own keys
                roles.append(hop)
            return roles[::-1]
        if parent is None or not role:
            return []
        roles.append(hop)
        name = parent
    return []


def login_profile(aws: AwsFiles, name: str) -> str | None:
    """The profile holding the ``login_session`` (``aws login``) behind profile
    ``name``, following source_profile; None when no such profile is behind it."""
    seen: list[str] = []
    while name and name not in seen:
        seen.append(name)
        section = aws.merged(name)
        if section.get("login_session"):
            return name
        name = section.get("source_profile", "")
    return None


def _parse(path: Path, data: bytes | None) -> configparser.RawConfigParser:
    """An AWS file's sections from its bytes (None: missing or unreadable), read as
    ``open(path, encoding="utf-8")`` would (universal newlines)."""
    import configparser
    import io

    parser = configparser.RawConfigParser(strict=False)
    try:
        if data is not None:
            parser.read_file(io.StringIO(data.decode("utf-8"), newline=None), source=str(path))
    except (configparser.Error, UnicodeDecodeError):
        pass  # botocore will report a broken file when it is actually used
    return parser


def aws_file_problem(path: Path) -> str | None:
    """Why botocore cannot parse the AWS file at ``path`` (``"PATH:LINE: what"``), or None.

    botocore reads these files strictly: a repeated section or key is an error,
    and so is an indented block under ``key =`` holding anything but
    ``key = value`` lines. A missing or unreadable file is no parse problem.
    """
    import configparser

    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return f"{path}:{line}: not UTF-8 text"
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        number, what = _ini_error(exc, text.splitlines())
        return f"{path}:{number}: {what}" if number else f"{path}: {what}"
    for section in parser.sections():
        for option, value in parser.items(section):
            nested = value.splitlines()[1:] if value.startswith("\n") else []
            bad = next((line.strip() for line in nested if line.strip() and "=" not in line), None)
            if bad:
                shown = _NOT_SHOWN if any(word in option.lower() for word in _SECRET_WORDS) else _quoted(bad)
                return f"{path}: [{section}] {option}: the indented line {shown} is not key = value"
    return None


# Lines of the AWS files are quoted to point at a mistake, but not one that may
# be a secret: the value of a secret-looking setting, or a long single word
# with digits or base64's / + = in it (a secret key or token pasted on a line
# of its own; a setting's name has none).
_SECRET_WORDS = ("secret", "token", "password")
_NOT_SHOWN = "(not shown: it may be a secret)"


def _quoted(line: str) -> str:
    word = len(line) >= 16 and not any(char.isspace() for char in line)
    return _NOT_SHOWN if word and any(char.isdigit() or char in "/+=" for char in line) else repr(line)


def _ini_error(exc: configparser.Error, lines: list[str]) -> tuple[int | None, str]:
    """The line number and a plain reason of a configparser error."""
    import configparser

    # configparser keeps the line in ``lineno``, or for a ParsingError in ``errors``.
    errors = getattr(exc, "errors", None) or [(None, "")]
    number: int | None = getattr(exc, "lineno", None) or errors[0][0]
    line = lines[number - 1].strip() if number and number <= len(lines) else ""
    if isinstance(exc, configparser.MissingSectionHeaderError) and line.startswith("["):
        return number, f"the section header {line!r} has no closing ]"
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return number, "a setting before the first [section] header"
    if isinstance(exc, configparser.ParsingError):
        shown = _quoted(line)
        if shown == _NOT_SHOWN:
            return number, f"the line is neither a [section] header nor a key = value line {_NOT_SHOWN}"
        return number, f"{shown} is neither a [section] header nor a key = value line"
    if isinstance(exc, configparser.DuplicateSectionError):
        return number, f"[{exc.section}] appears a second time"
    if isinstance(exc, configparser.DuplicateOptionError):
        return number, f"{exc.option} appears a second time in [{exc.section}]"
    return number, f"not a valid INI file ({type(exc).__name__})"
