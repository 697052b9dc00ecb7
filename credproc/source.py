"""The source identity: which AWS profile (or the default chain) starts the
chain, a cheap fingerprint of it for the cache key, and the recursion guard.

The fingerprint is computed from environment variables and the shared AWS
files only (no network, no botocore), so a warm cache hit stays cheap:

- static keys (environment, ``~/.aws/credentials`` or ``~/.aws/config``): the
  profile name plus the access key id, so new keys mean a new cache entry;
- any other profile (SSO, credential_process, role_arn, ...): the profile name
  plus a hash of its settings (and, for ``source_profile``, of that profile's
  fingerprint, so new keys behind a role profile count as a new identity);
- no profile at all (container, web identity, instance metadata): the
  variables that select those providers.

What it cannot tell: a profile whose settings stay the same while the identity
behind them changes (``aws sso login`` as another user, a different instance
role behind the same metadata endpoint). ``credproc cache clear`` covers those.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import storage
from .errors import RecursionGuardError

if TYPE_CHECKING:  # imported where used: a warm hit with keys in the environment never reads these files
    import configparser

DEPTH_VARIABLE = "CREDPROC_DEPTH"
DEPTH_SETTER_VARIABLE = "CREDPROC_DEPTH_PID"
# credproc inside credproc is legitimate once ([source] profile may itself be a
# credproc profile); a second nesting can only be a loop.
MAX_DEPTH = 1

_AMBIENT_VARIABLES = (
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_EC2_METADATA_DISABLED",
)


@dataclass(frozen=True)
class Source:
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
    if env.get(DEPTH_SETTER_VARIABLE) == str(os.getpid()):
        # This very process raised the depth for its children (an earlier
        # call in the same process); its own depth is one less.
        depth -= 1
    if depth > MAX_DEPTH:
        raise RecursionGuardError(
            f"{RecursionGuardError.LOOP}: getting the source credentials ran a credential_process "
            "that runs credproc again",
            "point [source] profile at a profile with its own credentials (keys, SSO or a role), "
            "not at a profile whose credential_process is credproc",
        )
    return depth


def resolve(profile: str | None, env: Mapping[str, str]) -> Source:
    """Decide the source profile and fingerprint it (cheap: files and env only)."""
    aws = AwsFiles(env)
    if profile:
        return Source(profile, False, _profile_fingerprint(aws, profile), f"profile {profile}")
    ignore = False
    if env.get("AWS_ACCESS_KEY_ID"):
        # botocore's environment provider wins over AWS_PROFILE.
        return Source(None, False, "env:" + env["AWS_ACCESS_KEY_ID"], "environment variables")
    chosen = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"
    if chosen != "default" and calls_credproc(aws.profile(chosen)):
        # AWS_PROFILE=dev where dev runs `credproc get dev`: following it would
        # start credproc inside itself. The user meant "my usual identity".
        ignore = True
        chosen = "default"
    # Keys for [default] may live only in the credentials file: they are the identity then.
    if chosen == "default" and aws.profile(chosen) is None and aws.credentials(chosen) is None:
        ambient = {name: env[name] for name in _AMBIENT_VARIABLES if env.get(name)}
        return Source(None, ignore, "ambient:" + json.dumps(ambient, sort_keys=True), "default credential chain")
    return Source(None, ignore, _profile_fingerprint(aws, chosen), f"profile {chosen}")


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
    parent = section.get("source_profile")
    if parent and parent not in (*seen, name):
        # role_arn + source_profile: new keys in the parent are a new identity too.
        settings["source_profile"] = _profile_fingerprint(aws, parent, (*seen, name))
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    return f"profile:{name}:settings:{digest}"


class AwsFiles:
    """Read-only view of ~/.aws/config and ~/.aws/credentials (paths as botocore finds them)."""

    def __init__(self, env: Mapping[str, str], windows: bool = storage.WINDOWS) -> None:
        config, credentials = storage.aws_files(env, windows)
        self.config_path = Path(config)
        self.credentials_path = Path(credentials)
        self._config: configparser.RawConfigParser | None = None
        self._credentials: configparser.RawConfigParser | None = None

    def profile(self, name: str) -> dict[str, str] | None:
        """The ``[profile NAME]`` (or ``[default]``) section of the config file."""
        if self._config is None:
            self._config = _read(self.config_path)
        for section in (f"profile {name}", name) if name == "default" else (f"profile {name}",):
            if self._config.has_section(section):
                return dict(self._config.items(section))
        return None

    def profile_names(self) -> list[str]:
        """Every profile of the config file, in file order."""
        if self._config is None:
            self._config = _read(self.config_path)
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
            self._credentials = _read(self.credentials_path)
        if self._credentials.has_section(name):
            return dict(self._credentials.items(name))
        return None


def _read(path: Path) -> configparser.RawConfigParser:
    import configparser

    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        pass  # botocore will report a broken file when it is actually used
    return parser


def apply_to_process(source: Source, depth: int) -> None:
    """Make this process's environment match ``source`` before botocore reads it.

    Anything botocore starts from here (a source profile's credential_process)
    inherits the raised depth, so a loop back into credproc stops.
    """
    os.environ[DEPTH_VARIABLE] = str(depth + 1)
    os.environ[DEPTH_SETTER_VARIABLE] = str(os.getpid())
    if source.ignore_env_profile:
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_DEFAULT_PROFILE", None)
