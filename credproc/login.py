"""``aws login`` profiles (``login_session``) as the source: what botocore's
failures to read one mean, and the exact command that fixes each.

botocore (>= 1.41) reads such a profile only with awscrt (its ``crt`` extra,
credproc's ``login`` extra): without it, or with ``BOTO_DISABLE_CRT=true``,
its LoginProvider raises MissingDependencyException; an older botocore skips
the profile altogether (no credentials found). A sign-in that expired, or was
never made on this machine, raises one of its LoginError classes.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping
from pathlib import PurePath

from .errors import AuthError

EXTRA = "credproc[login]"
INSTALL = f"pip install '{EXTRA}'"


def install_command(prefix: str = sys.prefix) -> str:
    """What installs the ``login`` extra into the environment credproc runs from."""
    path = PurePath(prefix)
    if path.parent.name == "venvs" and "pipx" in path.parent.parent.name:
        # pip would install into another environment; pipx adds it to credproc's own.
        return f"pipx inject {shlex.quote(path.name)} 'botocore[crt]>=1.41'"
    return INSTALL


def failure(exc: Exception, profile: str, label: str, env: Mapping[str, str]) -> AuthError | None:
    """``exc`` (raised while botocore got the source credentials) as one clear
    error, when it is about the ``aws login`` profile ``profile``; else None."""
    from botocore import credentials as botocore_credentials
    from botocore import exceptions as bce

    login = shlex.quote(profile)
    where = f"the source, `aws login` profile {login}"
    if label != f"profile {profile}":
        where += f" (behind {label})"
    missing_provider = not hasattr(botocore_credentials, "LoginProvider")
    if isinstance(exc, bce.MissingDependencyException) or (
        missing_provider and isinstance(exc, bce.NoCredentialsError)
    ):
        if env.get("BOTO_DISABLE_CRT", "").lower() == "true":
            return AuthError(
                f"{where}: botocore reads it only with awscrt, and BOTO_DISABLE_CRT=true turns that off",
                "unset BOTO_DISABLE_CRT, then retry",
            )
        needs = "botocore >= 1.41 and awscrt" if missing_provider else "awscrt (botocore's crt extra), not installed"
        return AuthError(f"{where}: reading it needs {needs}", f"run {install_command()}, then retry")
    if isinstance(exc, KeyError) and _from_token_cache(exc):
        # botocore's JSONFileCache turns a cached sign-in it cannot read or parse into a bare KeyError.
        return AuthError(
            f"{where}: its cached sign-in cannot be read (damaged or not readable)",
            f"run aws login --profile {login}, then retry",
        )
    login_error = getattr(bce, "LoginError", None)
    if login_error is None or not isinstance(exc, login_error):
        return None
    rerun = f"run aws login --profile {login}, then retry"
    if isinstance(exc, bce.LoginInsufficientPermissions):
        return AuthError(
            f"{where}: its sign-in may not refresh credentials (signin:CreateOAuth2Token denied)",
            f"allow signin:CreateOAuth2Token for that user, or {rerun}",
        )
    if isinstance(exc, bce.LoginRefreshRequired):
        why = "the sign-in has expired or the user's credentials changed"
    elif isinstance(exc, bce.LoginTokenLoadError):  # none cached, or unreadable: a new sign-in replaces it
        why = "no usable sign-in is cached for it on this machine"
    else:
        # By type only: a login error's text may quote the sign-in service's answer.
        why = f"its sign-in cannot be used ({type(exc).__name__})"
    return AuthError(f"{where}: {why}", rerun)


def _from_token_cache(exc: BaseException) -> bool:
    """Whether ``exc`` was raised reading botocore's login token cache."""
    from botocore import utils

    readers = tuple(getattr(utils, name) for name in ("LoginTokenLoader", "JSONFileCache") if hasattr(utils, name))
    traceback = exc.__traceback__
    while traceback is not None:
        if isinstance(traceback.tb_frame.f_locals.get("self"), readers):
            return True
        traceback = traceback.tb_next
    return False
