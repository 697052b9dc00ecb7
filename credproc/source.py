"""The source identity: which AWS profile (or the default chain) starts the
chain, a cheap fingerprint of it for the cache key, and the recursion guard.

The fingerprint is computed from environment variables and the shared AWS
files only (no network, no botocore), so a warm cache hit stays cheap:

- static keys (environment, ``~/.aws/credentials`` or ``~/.aws/config``): the
  profile name plus the access key id, so new keys mean a new cache entry;
- any other profile (SSO, credential_process, role_arn, ...): the profile name
  plus a hash of its settings (and, for ``source_profile``, of that profile's
  fingerprint, so new keys behind a role profile count as a new identity; for
  ``sso_session``, of that ``[sso-session]`` section, which holds the start
  URL, while the account and role are the profile's own);
- no profile at all (container, web identity, instance metadata): the
  variables that select those providers.

What it cannot tell: a profile whose settings stay the same while the identity
behind them changes (``aws sso login`` as another user, a different instance
role behind the same metadata endpoint). ``credproc cache clear`` covers those.

With the cache in use, :func:`resolve_remembered` keeps what :func:`resolve`
decided as a ``source`` memo (memo.py: sealed with the cache key, as the
fingerprint holds the access key id), named by the run's request digest, the
profile asked for and the AWS files' paths and bytes as this run parses them
(the request digest holds them too, but as read at the run's start). The
same inputs give the same source, so a hit neither imports configparser nor
parses the files (~1.3 ms of a ~35 ms full-path run); any edit of either file
is a new name, and the files are parsed from the very bytes that were hashed.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from . import memo, storage
from .errors import RecursionGuardError

if TYPE_CHECKING:  # imported where used: a warm hit with keys in the environment never reads these files
    import configparser
    from hashlib import blake2b as Hash

    from .cache import Cache
    from .memo import Inputs

DEPTH_VARIABLE = "CREDPROC_DEPTH"
# credproc inside credproc is legitimate once ([source] profile may itself be a
# credproc profile); a second nesting can only be a loop.
MAX_DEPTH = 1

MEMO_KIND = "source"  # memo.py

_AMBIENT_VARIABLES = (
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_EC2_METADATA_DISABLED",
)


class Source(NamedTuple):
    """How to get the source credentials, and what identifies them."""

    profile: str | None  # the profile to hand to boto3; None: the default chain
    ignore_env_profile: bool  # AWS_PROFILE names a credproc profile: do not follow it
    fingerprint: str
    label: str  # for messages and `cache list`; never a secret


def check_depth(env: Mapping[str, str]) -> int:
    """The current nesting depth; raises when credproc is looping into itself."""
    try:
        depth = int(env.get(DEPTH_VARIABLE, "0"))
    except ValueError:
        depth = 0
    if depth > MAX_DEPTH:
        raise RecursionGuardError(
            f"{RecursionGuardError.LOOP}: getting the source credentials ran a credential_process "
            "that runs credproc again",
            "point [source] profile at a profile with its own credentials (keys, SSO or a role), "
            "not at a profile whose credential_process is credproc",
        )
    return depth


def resolve(profile: str | None, env: Mapping[str, str], aws: AwsFiles | None = None) -> Source:
    """Decide the source profile and fingerprint it (cheap: files and env only)."""
    aws = AwsFiles(env) if aws is None else aws
    chosen, ignore = choose_profile(profile, env, aws)
    if profile:
        return Source(profile, False, _profile_fingerprint(aws, profile), f"profile {profile}")
    if chosen is None:
        return Source(None, False, "env:" + env["AWS_ACCESS_KEY_ID"], "environment variables")
    # Keys for [default] may live only in the credentials file: they are the identity then.
    if chosen == "default" and aws.profile(chosen) is None and aws.credentials(chosen) is None:
        ambient = {name: env[name] for name in _AMBIENT_VARIABLES if env.get(name)}
        return Source(None, ignore, "ambient:" + json.dumps(ambient, sort_keys=True), "default credential chain")
    return Source(None, ignore, _profile_fingerprint(aws, chosen), f"profile {chosen}")


def choose_profile(configured: str | None, env: Mapping[str, str], aws: AwsFiles) -> tuple[str | None, bool]:
    """The profile the source credentials come from (None: keys in the
    environment), and whether AWS_PROFILE was passed over because it runs credproc."""
    if configured:
        return configured, False
    if _keys_in_environment(configured, env):
        return None, False
    chosen = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"
    if chosen != "default" and calls_credproc(aws.profile(chosen)):
        # AWS_PROFILE=dev where dev runs `credproc get dev`: following it would
        # start credproc inside itself. The user meant "my usual identity".
        return "default", True
    return chosen, False


def _keys_in_environment(configured: str | None, env: Mapping[str, str]) -> bool:
    """Whether the source is the keys in the environment (no AWS file is read then):
    botocore's environment provider wins over AWS_PROFILE, a configured profile over both."""
    return not configured and bool(env.get("AWS_ACCESS_KEY_ID"))


def resolve_remembered(
    profile: str | None, env: Mapping[str, str], cache: Cache | None, aws: AwsFiles, inputs: Inputs
) -> Source:
    """:func:`resolve`, remembered in ``cache`` (see the module's docstring);
    without a cache, or with keys in the environment (nothing to parse), it is
    :func:`resolve` itself. ``aws``: the AWS files of ``env``, read once for
    every digest of them in this run; ``inputs``: the run's request digest."""
    if cache is None or _keys_in_environment(profile, env):
        return resolve(profile, env, aws)
    parsed = storage.hasher()
    aws.add_contents(parsed)
    name = memo.name(MEMO_KIND, inputs.digest, profile, parsed.hexdigest())
    directory = os.fspath(cache.directory)
    found = memo.read(directory, MEMO_KIND, name, env, unseal=cache.unseal)
    remembered = _recall(found[1]) if found is not None else None
    if remembered is not None:
        return remembered
    resolved = resolve(profile, env, aws)
    if not inputs.changed:  # best effort: the next run parses the files again
        body = json.dumps(list(resolved)).encode()
        memo.write(directory, MEMO_KIND, name, body, cache.seal, keyring=cache.key_store == "keyring")
    return resolved


def _recall(plain: bytes | None) -> Source | None:
    """The Source a memo holds, or None for anything but one."""
    try:
        profile, ignore, fingerprint, label = json.loads(plain or b"null")
    except (ValueError, TypeError):  # not JSON, or not four values
        return None
    if isinstance(profile, str | None) and type(ignore) is bool and isinstance(fingerprint, str):
        return Source(profile, ignore, fingerprint, label) if isinstance(label, str) else None
    return None


def calls_credproc(section: Mapping[str, str] | None) -> bool:
    """Whether a profile's credential_process runs credproc."""
    return bool(section) and "credproc" in (section or {}).get("credential_process", "")


def is_long_term_key(source: Source) -> bool:
    """Whether the source is an IAM user's long-term access key (``AKIA...``)
    in the environment or a profile of static keys, as its fingerprint says.

    Temporary keys (``ASIA...``), roles, SSO and every other provider: False.
    """
    fingerprint = source.fingerprint
    if fingerprint.startswith("env:"):
        key = fingerprint.removeprefix("env:")
    elif fingerprint.startswith("profile:") and ":key:" in fingerprint:
        key = fingerprint.rpartition(":key:")[2]
    else:
        return False
    return key.startswith("AKIA")


def _profile_fingerprint(aws: AwsFiles, name: str, seen: tuple[str, ...] = ()) -> str:
    keys = aws.credentials(name)
    section = aws.profile(name) or {}
    access_key = (keys or {}).get("aws_access_key_id") or section.get("aws_access_key_id")
    if access_key and "role_arn" not in section:
        return f"profile:{name}:key:{access_key}"
    # botocore assumes a profile's role_arn before it looks at the profile's own keys.
    settings = {**section, "aws_access_key_id": access_key} if access_key else dict(section)
    session = section.get("sso_session")
    if session:
        # The start URL (which Identity Center, so whose people) is in the
        # [sso-session] section: another one there is another identity.
        settings["sso_session"] = json.dumps({"name": session, **(aws.sso_session(session) or {})}, sort_keys=True)
    parent = section.get("source_profile")
    if parent and parent not in (*seen, name):
        # role_arn + source_profile: new keys in the parent are a new identity too.
        settings["source_profile"] = _profile_fingerprint(aws, parent, (*seen, name))
    digest = storage.digest(json.dumps(settings, sort_keys=True).encode())
    return f"profile:{name}:settings:{digest}"


class AwsFiles:
    """Read-only view of ~/.aws/config and ~/.aws/credentials (paths as botocore finds them)."""

    def __init__(self, env: Mapping[str, str], windows: bool = storage.WINDOWS) -> None:
        config, credentials = storage.aws_files(env, windows)
        self.config_path = Path(config)
        self.credentials_path = Path(credentials)
        self._config: configparser.RawConfigParser | None = None
        self._credentials: configparser.RawConfigParser | None = None
        self._bytes: dict[Path, bytes | None] = {}  # each file is read once, for its digest and its parse

    def add_contents(self, digest: Hash) -> None:
        """Add both files' paths and bytes (the ones parsed later) to ``digest``."""
        for path in (self.config_path, self.credentials_path):
            digest.update(str(path).encode(errors="surrogateescape") + b"\0" + storage.contents_part(self._read(path)))

    def _read(self, path: Path) -> bytes | None:
        if path not in self._bytes:
            try:
                self._bytes[path] = path.read_bytes()
            except OSError:
                self._bytes[path] = None
        return self._bytes[path]

    def _parsed(self, path: Path) -> configparser.RawConfigParser:
        return _parse(path, self._read(path))

    def profile(self, name: str) -> dict[str, str] | None:
        """The ``[profile NAME]`` (or ``[default]``) section of the config file."""
        if self._config is None:
            self._config = self._parsed(self.config_path)
        for section in (f"profile {name}", name) if name == "default" else (f"profile {name}",):
            if self._config.has_section(section):
                return dict(self._config.items(section))
        return None

    def sso_session(self, name: str) -> dict[str, str] | None:
        """The ``[sso-session NAME]`` section of the config file."""
        if self._config is None:
            self._config = self._parsed(self.config_path)
        section = f"sso-session {name}"
        return dict(self._config.items(section)) if self._config.has_section(section) else None

    def profile_names(self) -> list[str]:
        """Every profile of the config file, in file order."""
        if self._config is None:
            self._config = self._parsed(self.config_path)
        names = []
        for section in self._config.sections():
            if section.startswith("profile "):
                names.append(section.removeprefix("profile ").strip())
            elif section == "default":
                names.append(section)
        return names

    def credentials(self, name: str) -> dict[str, str] | None:
        """The ``[NAME]`` section of the credentials file."""
        if self._credentials is None:
            self._credentials = self._parsed(self.credentials_path)
        if self._credentials.has_section(name):
            return dict(self._credentials.items(name))
        return None


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
                return f"{path}: [{section}] {option}: the indented line {bad!r} is not key = value"
    return None


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
        return number, f"{line!r} is neither a [section] header nor a key = value line"
    if isinstance(exc, configparser.DuplicateSectionError):
        return number, f"[{exc.section}] appears a second time"
    if isinstance(exc, configparser.DuplicateOptionError):
        return number, f"{exc.option} appears a second time in [{exc.section}]"
    return number, " ".join(str(exc).split())


@contextlib.contextmanager
def botocore_environment(source: Source, depth: int) -> Iterator[None]:
    """``os.environ`` as botocore must see it for ``source``, restored on the way out.

    botocore reads the process's environment, not the one credproc is handed;
    what it starts meanwhile (a source profile's credential_process) inherits
    the raised depth, so a loop back into credproc stops.
    """
    changes = _child_changes(source, depth)
    saved = {name: os.environ.get(name) for name in changes}
    _apply(os.environ, changes)
    try:
        yield
    finally:
        _apply(os.environ, saved)


def child_environment(env: Mapping[str, str], source: Source, depth: int) -> dict[str, str]:
    """``env`` for a program credproc itself starts while it resolves ``source`` (mfa_process)."""
    child = dict(env)
    _apply(child, _child_changes(source, depth))
    return child


def _child_changes(source: Source, depth: int) -> dict[str, str | None]:
    """The variables to set (None: to remove) for what runs on behalf of ``source``."""
    changes: dict[str, str | None] = {DEPTH_VARIABLE: str(depth + 1)}
    if source.ignore_env_profile:
        changes.update(dict.fromkeys(("AWS_PROFILE", "AWS_DEFAULT_PROFILE")))
    return changes


def _apply(env: MutableMapping[str, str], changes: Mapping[str, str | None]) -> None:
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
