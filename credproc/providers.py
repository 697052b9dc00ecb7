"""botocore's default credential chain as one table: for each provider, in
botocore's order, what selects it and what identifies it.

credproc never asks botocore which provider it picked (that costs botocore's
import on every cache hit). It reads the same inputs botocore reads and
decides the same way, from this table; what it cannot decide without the
network (whose instance role sits behind the metadata endpoint) is written
down as such. The source's fingerprint, the root of every cache key, is a
digest of the identity of every provider the chain reaches, up to and
including the first one that is certain to be chosen:

- a provider whose inputs are all absent adds nothing (botocore skips it);
- a provider whose inputs are present but that is not certain to be chosen
  (a ``~/.boto`` file may or may not hold keys) adds its identity, and the
  walk goes on: fail safe, a needless miss costs one STS call, a missing
  input hands out someone else's session;
- the first provider certain to be chosen adds its identity and ends the walk:
  botocore stops there too (``CredentialResolver.load_credentials``, first
  match wins), so what comes after cannot change whose credentials these are.

Read in botocore's ``credentials.py``: ``create_credential_resolver`` (env,
assume-role, the profile providers, then the legacy files, the container and
the instance metadata), ``ProfileProviderBuilder.providers`` (web identity,
SSO, shared credentials file, login, credential_process, config file keys)
and ``AssumeRoleProvider._resolve_credentials_from_profile`` (a source
profile's own chain, with the environment's variables disabled).

A profile's settings are botocore's ``full_config`` view: the config file's
section with the credentials file's section of the same name laid over it,
so a ``role_arn`` or ``credential_process`` in the credentials file counts.

Files whose bytes count (a web identity token, an SSO or login token cache
file, a container authorization token file) are read on every run, never
remembered: a token obtained by another person on this machine is another
identity. Each is listed in :attr:`Identity.files`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple

from . import locations, storage

if TYPE_CHECKING:
    from .aws_profiles import AwsFiles


class Identity(NamedTuple):
    """Whose credentials the chain would hand out, as far as files and env tell."""

    provider: str  # the first provider certain to be chosen ("none": the chain would find nothing)
    inputs: str  # digest of every identifying input read from the environment and the AWS files
    files: tuple[str, ...]  # files whose bytes identify too: read on every run (see fingerprint)
    access_key: str | None  # the chosen provider's access key id, for static keys only


class Found(NamedTuple):
    """One provider's part: whether it is certain to be chosen, and what identifies it."""

    chosen: bool
    identity: Mapping[str, object]
    files: tuple[str, ...] = ()
    access_key: str | None = None


class Lookup(NamedTuple):
    """What the providers read: the profile botocore uses, the environment and the AWS files."""

    profile: str
    env: Mapping[str, str]
    aws: AwsFiles
    env_enabled: bool  # False when the session was given a profile (botocore then ignores env keys and web identity)


Provider = Callable[[Lookup], Found | None]  # None: none of its inputs is there


# -- the rows ------------------------------------------------------------------------------------


def environment_keys(look: Lookup) -> Found | None:
    """EnvProvider: chosen when AWS_ACCESS_KEY_ID is set (botocore drops it when a profile was given)."""
    key = look.env.get("AWS_ACCESS_KEY_ID") if look.env_enabled else None
    # An access key id belongs to one principal; the secret and token add nothing to who it is.
    return Found(True, {"access_key": key}, access_key=key) if key else None


def assume_role(look: Lookup) -> Found | None:
    """AssumeRoleProvider: chosen when the profile has role_arn and no web_identity_token_file."""
    section = look.aws.merged(look.profile)
    if not _is_role(section):
        return None
    source, files = _role_source(look, look.profile, (look.profile,))
    return Found(True, {"profile": look.profile, "settings": _settings(section), "source": source}, files)


def _is_role(section: Mapping[str, str]) -> bool:
    return "role_arn" in section and "web_identity_token_file" not in section


def _role_source(look: Lookup, name: str, seen: tuple[str, ...]) -> tuple[object, tuple[str, ...]]:
    """The identity role profile ``name``'s AssumeRole is signed with: its
    credential_source's (checked first, as botocore does), or its source_profile's."""
    section = look.aws.merged(name)
    canonical = section.get("credential_source")
    if canonical is not None:
        row = CREDENTIAL_SOURCES.get(canonical.lower())
        # botocore's sourcer has an EnvProvider of its own, even when the session was given a profile.
        found = row(look._replace(env_enabled=True)) if row is not None else None
        return {"credential_source": canonical, "found": found and found.identity}, found.files if found else ()
    parent = section.get("source_profile")
    if parent is None:
        return None, ()
    if parent != name and parent in seen:  # botocore refuses the loop (InfiniteLoopConfigError): no session
        return {"cycle": parent}, ()
    parent_section = look.aws.merged(parent)
    if parent == name or "aws_access_key_id" in parent_section or not _is_role(parent_section):
        # The source profile's own providers, with the environment's keys and web identity disabled.
        own = walk(PROFILE_PROVIDERS, look._replace(profile=parent, env_enabled=False))
        return {"profile": parent, "chain": own.identity}, own.files
    source, files = _role_source(look, parent, (*seen, parent))
    return {"profile": parent, "settings": _settings(parent_section), "source": source}, files


def _settings(section: Mapping[str, str]) -> dict[str, str]:
    """A profile's settings as identity: every key (fail safe) but the secrets,
    which add nothing to whose they are (the access key id does) and are not hashed."""
    return {key: value for key, value in section.items() if key not in _SECRETS}


_SECRETS = frozenset({"aws_secret_access_key", "aws_session_token", "aws_security_token"})


def web_identity(look: Lookup) -> Found | None:
    """AssumeRoleWithWebIdentityProvider: chosen when a token file is named, by the
    environment (unless a profile was given) or by the profile; each setting from
    the environment first, then the profile."""
    section = look.aws.merged(look.profile)

    def setting(variable: str, key: str) -> str | None:
        if look.env_enabled and variable in look.env:
            return look.env[variable]
        return section.get(key)

    token_file = setting("AWS_WEB_IDENTITY_TOKEN_FILE", "web_identity_token_file")
    if not token_file:
        return None
    identity = {
        "token_file": token_file,
        "role_arn": setting("AWS_ROLE_ARN", "role_arn"),
        "role_session_name": setting("AWS_ROLE_SESSION_NAME", "role_session_name"),
    }
    return Found(True, identity, (token_file,))


def sso(look: Lookup) -> Found | None:
    """SSOProvider: chosen when the profile has sso_role_name or sso_account_id."""
    section = look.aws.merged(look.profile)
    if "sso_role_name" not in section and "sso_account_id" not in section:
        return None
    session_name = section.get("sso_session")
    session = look.aws.sso_session(session_name) if session_name else None
    # The token botocore signs GetRoleCredentials with: another sign-in is another person.
    key = session_name if session_name else section.get("sso_start_url", "")
    token = os.path.join(home(look.env), ".aws", "sso", "cache", _sha1(key) + ".json")
    return Found(True, {"profile": look.profile, "settings": _settings(section), "sso_session": session}, (token,))


def shared_credentials_file(look: Lookup) -> Found | None:
    """SharedCredentialProvider: chosen when the credentials file's [NAME] has aws_access_key_id."""
    key = (look.aws.credentials(look.profile) or {}).get("aws_access_key_id")
    return None if key is None else Found(True, {"profile": look.profile, "access_key": key}, access_key=key)


def login(look: Lookup) -> Found | None:
    """LoginProvider (``aws login``, botocore >= 1.41): chosen when the profile has login_session."""
    section = look.aws.merged(look.profile)
    if "login_session" not in section:
        return None
    default = os.path.join(home(look.env), ".aws", "login", "cache")
    directory = locations.aws_path(
        look.env.get("AWS_LOGIN_CACHE_DIRECTORY"), default
    )  # utils.get_login_token_cache_directory
    token = os.path.join(directory, _sha256(section["login_session"]) + ".json")
    return Found(True, {"profile": look.profile, "settings": _settings(section)}, (token,))


def credential_process(look: Lookup) -> Found | None:
    """ProcessProvider: chosen when the profile has credential_process."""
    section = look.aws.merged(look.profile)
    if "credential_process" not in section:
        return None
    return Found(True, {"profile": look.profile, "settings": _settings(section)})


def config_file_keys(look: Lookup) -> Found | None:
    """ConfigProvider: chosen when the config file's profile has aws_access_key_id."""
    key = (look.aws.profile(look.profile) or {}).get("aws_access_key_id")
    return None if key is None else Found(True, {"profile": look.profile, "access_key": key}, access_key=key)


def legacy_credential_file(look: Lookup) -> Found | None:
    """OriginalEC2Provider: AWS_CREDENTIAL_FILE. Whether it holds keys is not parsed here: not certain."""
    path = look.env.get("AWS_CREDENTIAL_FILE")
    return Found(False, {"AWS_CREDENTIAL_FILE": path}, (os.path.expanduser(path),)) if path else None


def boto_config(look: Lookup) -> Found | None:
    """BotoProvider: BOTO_CONFIG, else /etc/boto.cfg and ~/.boto. Not parsed here: not
    certain. Its files are always listed (read on every run): one made later counts."""
    named = look.env.get("BOTO_CONFIG")
    paths = [named] if named else ["/etc/boto.cfg", os.path.join(home(look.env), ".boto")]
    return Found(False, {"BOTO_CONFIG": named}, tuple(os.path.expanduser(path) for path in paths))


def container(look: Lookup) -> Found | None:
    """ContainerProvider: chosen when AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI is set.
    The endpoint and the token sent to it say whose credentials come back
    (EKS Pod Identity serves every pod of a node from one address, by token)."""
    env = look.env
    if "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" not in env and "AWS_CONTAINER_CREDENTIALS_FULL_URI" not in env:
        return None
    token = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    token_file = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    identity = {
        "relative_uri": env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
        "full_uri": env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        "token": None if token is None else storage.digest(token.encode(errors="surrogateescape")),
        "token_file": token_file,
    }
    return Found(True, identity, (token_file,) if token_file else ())


def instance_metadata(look: Lookup) -> Found | None:
    """InstanceMetadataProvider: chosen last unless AWS_EC2_METADATA_DISABLED is "true".
    Which role the metadata endpoint serves cannot be seen without asking it."""
    variables = {name: value for name, value in look.env.items() if name.startswith("AWS_EC2_METADATA_")}
    settings = {key: value for key, value in look.aws.merged(look.profile).items() if key.startswith("ec2_metadata_")}
    if look.env.get("AWS_EC2_METADATA_DISABLED", "false").lower() == "true":
        return Found(False, {"disabled": True, "variables": variables})
    return Found(True, {"variables": variables, "settings": settings})


# ProfileProviderBuilder.providers: what a profile's own settings select, also for a source_profile.
PROFILE_PROVIDERS: tuple[tuple[str, Provider], ...] = (
    ("assume-role-with-web-identity", web_identity),
    ("sso", sso),
    ("shared-credentials-file", shared_credentials_file),
    ("login", login),
    ("custom-process", credential_process),
    ("config-file", config_file_keys),
)

# create_credential_resolver: the whole chain, in botocore's order.
CHAIN: tuple[tuple[str, Provider], ...] = (
    ("env", environment_keys),
    ("assume-role", assume_role),
    *PROFILE_PROVIDERS,
    ("ec2-credentials-file", legacy_credential_file),
    ("boto-config", boto_config),
    ("container-role", container),
    ("iam-role", instance_metadata),
)

# A role profile's credential_source (CanonicalNameCredentialSourcer, case-insensitive).
CREDENTIAL_SOURCES: dict[str, Provider] = {
    "environment": environment_keys,  # read even for a given profile: _role_source enables it
    "ecscontainer": container,
    "ec2instancemetadata": instance_metadata,
}


# -- the walk ------------------------------------------------------------------------------------


class Walked(NamedTuple):
    provider: str
    identity: list[object]
    files: tuple[str, ...]
    access_key: str | None


def walk(rows: tuple[tuple[str, Provider], ...], look: Lookup) -> Walked:
    """Every present provider's identity, up to and including the first certain to be chosen."""
    parts: list[object] = []
    files: tuple[str, ...] = ()
    for name, row in rows:
        found = row(look)
        if found is None:
            continue
        parts.append([name, found.identity])
        files += found.files
        if found.chosen:
            return Walked(name, parts, files, found.access_key)
    return Walked("none", parts, files, None)


def identify(profile: str, env: Mapping[str, str], aws: AwsFiles, *, profile_given: bool) -> Identity:
    """Whose credentials botocore's default chain would hand out for ``profile``.

    ``profile_given``: the session was given the profile (credproc's ``[source]
    profile``); botocore then ignores the keys and web identity variables of
    the environment. Otherwise ``profile`` is the one botocore picks itself
    (AWS_DEFAULT_PROFILE, AWS_PROFILE, else ``default``).
    """
    found = walk(CHAIN, Lookup(profile, env, aws, env_enabled=not profile_given))
    # The profile's name is in the parts of the providers that read it: keys in
    # the environment are the same identity whatever AWS_PROFILE says.
    inputs = storage.digest(json.dumps(found.identity, sort_keys=True, default=str).encode())
    return Identity(found.provider, inputs, found.files, found.access_key)


def fingerprint(identity: Identity, read: Callable[[str], bytes | None]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The source's fingerprint: the identity, and the bytes of its files as they
    are now; with each file and the digest of the bytes it was made from (a
    remembered answer holds only while they are the same: remembered.py)."""
    digest = storage.hasher(identity.inputs.encode())
    read_now = []
    for path in identity.files:
        part = storage.contents_part(read(path))
        digest.update(path.encode(errors="surrogateescape") + b"\0" + part)
        read_now.append((path, storage.digest(part)))
    return f"{identity.provider}:{digest.hexdigest()}", tuple(read_now)


def home(env: Mapping[str, str]) -> str:
    """``~`` as botocore expands it for the token caches (locations.user_home)."""
    return locations.user_home(env)


def _sha1(text: str) -> str:
    import hashlib

    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 (botocore's SSO cache file name, not a security hash)


def _sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()
