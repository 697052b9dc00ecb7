"""``credproc source add|list|remove|import|rotate``: the source identity's long-term
keys, kept by source_keys.py (the OS keychain, or a sealed file), never in
plaintext. ``[source] stored = "NAME"`` makes them the chain's first credentials.

Each action has its own ``register_*`` function, listed in :data:`ACTIONS`
(the order ``credproc source --help`` shows them in); another action is one
more function there. Secrets are read from the terminal without echo (or from
stdin with ``--stdin``) and go nowhere but the store and STS: never stdout,
stderr, a command line or a log line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .. import stored_key
from ..errors import AuthError, UsageError
from ..log import Log
from . import CommandOutput
from .options import Parser, Subparsers, add_common

if TYPE_CHECKING:
    from ..config import Config
    from ..stored_key import StoredKey

TTY_PATH = "/dev/tty"
DEFAULT_NAME = "default"


def register(commands: Subparsers) -> None:
    parser = commands.add_parser("source", help="keep the source identity's long-term keys out of plaintext files")
    actions = parser.add_subparsers(dest="source_command", metavar="ACTION", parser_class=Parser)
    actions.required = True
    for register_action in ACTIONS:
        register_action(actions)


def register_add(actions: Subparsers) -> None:
    add = actions.add_parser("add", help="store an access key (asked on the terminal, never echoed)")
    add.add_argument("name", nargs="?", default=DEFAULT_NAME, help="name of the stored keys (default: default)")
    add.add_argument("--stdin", action="store_true", help="read the key id and the secret from stdin, one a line")
    add.add_argument("--no-verify", action="store_true", help="store without checking them with GetCallerIdentity")
    add_common(add)
    add.set_defaults(run=run_add)


def register_list(actions: Subparsers) -> None:
    listing = actions.add_parser("list", help="list the stored keys (never secrets)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_common(listing)
    listing.set_defaults(run=run_list)


def register_remove(actions: Subparsers) -> None:
    remove = actions.add_parser("remove", help="forget stored keys (the IAM key itself stays)")
    remove.add_argument("name", help="name of the stored keys")
    remove.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_common(remove)
    remove.set_defaults(run=run_remove)


def register_import(actions: Subparsers) -> None:
    imp = actions.add_parser("import", help="move a profile's keys from ~/.aws/credentials into the store")
    imp.add_argument("--profile", required=True, help="the AWS profile whose keys to move")
    imp.add_argument("name", nargs="?", help="name of the stored keys (default: the profile's name)")
    imp.add_argument("--force", action="store_true", help="import even when other profiles use it as source_profile")
    imp.add_argument("--no-verify", action="store_true", help="store without checking them with GetCallerIdentity")
    add_common(imp)
    imp.set_defaults(run=_run_import)


def _run_import(args: argparse.Namespace, log: Log) -> CommandOutput:
    from .import_keys import run_import  # it uses this module's helpers: loaded when it runs

    return run_import(args, log)


def register_rotate(actions: Subparsers) -> None:
    rotate = actions.add_parser("rotate", help="replace a stored access key by a new one, then delete the old (IAM)")
    rotate.add_argument("name", nargs="?", help="name of the stored keys (default: [source] stored, else default)")
    add_common(rotate)
    rotate.set_defaults(run=run_rotate)


# The actions of `credproc source`, in help order.
ACTIONS: tuple[Callable[[Subparsers], None], ...] = (
    register_add,
    register_list,
    register_remove,
    register_import,
    register_rotate,
)


# -- add -----------------------------------------------------------------------------------------


def run_add(args: argparse.Namespace, log: Log) -> CommandOutput:
    from .. import source_keys

    name = stored_key.check_name(args.name)
    config = source_config(args)
    refuse_existing(name, log)
    key_id, secret = read_stdin(sys.stdin.read()) if args.stdin else read_terminal()
    key = verified(name, key_id, secret, config, log, verify=not args.no_verify)
    saved = source_keys.save(key, os.environ, log)
    log.notice(f"stored source keys {name!r} ({saved.masked()}) in the {place_of(saved)}")
    _say_how_to_use(config, name, log)
    return CommandOutput()


def read_stdin(text: str) -> tuple[str, str]:
    """The key id and the secret from stdin: two lines, or the lines of
    ``aws-vault export --format=env --no-session`` (``AWS_ACCESS_KEY_ID=...``)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    pairs = (line.removeprefix("export ").partition("=") for line in lines if line.startswith(("AWS_", "export ")))
    assigned = {name: value for name, equals, value in pairs if equals}
    if assigned:
        if assigned.get("AWS_SESSION_TOKEN") or assigned.get("AWS_SECURITY_TOKEN"):
            raise UsageError(
                "source add --stdin: a session token was given: these are temporary credentials",
                "give an IAM user's long-term keys (aws-vault export --no-session)",
            )
        lines = [assigned.get("AWS_ACCESS_KEY_ID", ""), assigned.get("AWS_SECRET_ACCESS_KEY", "")]
    if len(lines) != 2 or not all(lines):
        raise UsageError(
            "source add --stdin: expected two lines, the access key id then the secret access key",
            'printf \'%s\\n%s\\n\' "$KEY_ID" "$SECRET" | credproc source add NAME --stdin',
        )
    return lines[0], lines[1]


def read_terminal() -> tuple[str, str]:
    """Both keys typed on the controlling terminal, never echoed (getpass)."""
    if not _has_terminal():
        raise UsageError(
            "source add: there is no terminal to type the keys on", "pipe them in with --stdin (two lines)"
        )
    import getpass

    key_id = getpass.getpass("AWS access key id (not shown): ").strip()
    secret = getpass.getpass("AWS secret access key (not shown): ").strip()
    return key_id, secret


def _has_terminal() -> bool:
    if os.name == "nt":
        return sys.stdin is not None and sys.stdin.isatty()
    try:
        os.close(os.open(TTY_PATH, os.O_RDWR | getattr(os, "O_NOCTTY", 0)))
    except OSError:
        return False
    return True


def verified(name: str, key_id: str, secret: str, config: Config, log: Log, *, verify: bool) -> StoredKey:
    """The pair checked (its form; unless ``verify`` is off, one GetCallerIdentity), ready to store."""
    from ..config import DEFAULT_REGION

    stored_key.check_keys(key_id, secret)
    if key_id.startswith("ASIA"):
        raise UsageError(
            f"{stored_key.mask(key_id)} is a temporary key (ASIA...): it expires and needs a session token",
            "store an IAM user's long-term access key (AKIA...)",
        )
    arn = None
    if verify:
        from ..rotation import Pair
        from ..rotation_aws import BotocoreAws

        # Signed with the keys given, never botocore's chain: AWS_PROFILE does not count here.
        arn = BotocoreAws(os.environ, config.source_region or DEFAULT_REGION, log).caller_arn(Pair(key_id, secret))
        log.notice(f"verified: {stored_key.mask(key_id)} is {arn}")
    return stored_key.StoredKey(name, key_id, secret, arn, "", "")


def refuse_existing(name: str, log: Log) -> None:
    """Never replace a stored key by accident: it may be the only copy of a working one."""
    from .. import source_keys

    found = source_keys.indexed(name, os.environ, log)
    if found is not None:
        raise UsageError(
            f"stored source keys {name!r} exist already ({found.masked()})",
            f"choose another name, or credproc source remove {name} first (credproc source rotate replaces a key)",
        )


def place_of(key: StoredKey) -> str:
    """Where ``key`` is kept, as messages say it."""
    from .. import source_keys

    return "OS keychain" if key.where == "keychain" else f"sealed file {source_keys.sealed_path(os.environ, key.name)}"


def source_config(args: argparse.Namespace) -> Config:
    """The config an action reads ``[source]`` from (``--config``, else the default)."""
    from .. import config as config_module

    return config_module.load(args.config)


def _say_how_to_use(config: Config, name: str, log: Log) -> None:
    if config.source_stored != name:
        log.notice(f'to use them as the source: set stored = "{name}" under [source] in {config.path}')


# -- list ----------------------------------------------------------------------------------------


def run_list(args: argparse.Namespace, log: Log) -> CommandOutput:
    import json

    rows = list_rows(os.environ, log)
    if args.json:
        return CommandOutput(json.dumps(rows, indent=2) + "\n")
    if not rows:
        log.notice("no stored source keys (add some: credproc source add, or credproc source import --profile P)")
        return CommandOutput()
    from ..output import table

    cells = ((row["name"], row["access_key_id"], row["arn"] or "-", row["where"], row["age"]) for row in rows)
    return CommandOutput(table(("NAME", "ACCESS KEY", "ARN", "WHERE", "AGE"), cells))


def list_rows(env: Mapping[str, str], log: Log) -> list[dict[str, Any]]:
    """One row per stored key: name, masked key id, ARN, where, created and age. Never a secret."""
    from .. import source_keys

    rows = []
    for key in source_keys.stored(env, log):
        rows.append(
            {
                "name": key.name,
                "access_key_id": key.masked(),
                "arn": key.arn,
                "where": key.where,
                "created": key.created,
                "age": age(key.created),
            }
        )
    return rows


def age(created: str, now: float | None = None) -> str:
    """``42m``, ``5h``, ``12d`` since ``created`` (ISO-8601 UTC); ``?`` when unreadable."""
    import time
    from datetime import datetime

    try:
        then = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return "?"
    seconds = max(0, int((time.time() if now is None else now) - then))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# -- remove --------------------------------------------------------------------------------------


def run_remove(args: argparse.Namespace, log: Log) -> CommandOutput:
    from .. import source_keys

    name = stored_key.check_name(args.name)
    found = source_keys.indexed(name, os.environ, log)
    shown = f" ({found.masked()})" if found is not None else ""
    if not args.yes and not confirm(f"credproc: forget the stored source keys {name!r}{shown}? [y/N] ", name):
        log.notice("nothing removed")
        return CommandOutput()
    if not source_keys.remove(name, os.environ, log):
        raise AuthError(f"no stored source keys named {name}", "credproc source list shows the names")
    log.notice(f"removed the stored source keys {name!r}{shown} (the IAM access key itself still exists)")
    config = source_config(args)
    if config.source_stored == name:
        log.warn(
            f"{config.where('source', 'stored')} still names them: no credentials until credproc source add {name}"
        )
    return CommandOutput()


def confirm(prompt: str, name: str) -> bool:
    """y/N on the controlling terminal; UsageError when there is none."""
    try:
        fd = os.open(TTY_PATH, os.O_RDWR | getattr(os, "O_NOCTTY", 0))
    except OSError:
        raise UsageError("source remove: no terminal to confirm on", f"credproc source remove {name} --yes") from None
    with open(fd, "r+", encoding="utf-8", errors="replace") as terminal:
        terminal.write(prompt)
        terminal.flush()
        return terminal.readline().strip().lower() in ("y", "yes")


# -- rotate --------------------------------------------------------------------------------------


def run_rotate(args: argparse.Namespace, log: Log) -> CommandOutput:
    """credproc/rotation.py does the work; here: the store, botocore, the MFA code and the clock."""
    import time

    from .. import rotation
    from ..config import DEFAULT_REGION
    from ..rotation_aws import BotocoreAws

    config = source_config(args)
    name = stored_key.check_name(args.name or config.source_stored or DEFAULT_NAME)
    mfa = rotation.Mfa(config.mfa_serial, _rotation_code(config)) if config.mfa_serial else None
    aws = BotocoreAws(os.environ, config.source_region or DEFAULT_REGION, log)
    done = rotation.rotate(name, _KeyStore(log), aws, rotation.Timing(time.monotonic, time.sleep), log, mfa)
    log.notice(
        f"rotated the stored source keys {name!r} ({done.arn}): {stored_key.mask(done.old_key_id)} is deleted, "
        f"{done.new.masked()} is stored in the {place_of(done.new)}"
    )
    return CommandOutput()


class _KeyStore:
    """rotation.Store: source_keys with this run's environment and log."""

    def __init__(self, log: Log) -> None:
        self._log = log

    def load(self, name: str) -> StoredKey:
        from .. import source_keys

        return source_keys.load(name, os.environ, self._log)

    def save(self, key: StoredKey) -> StoredKey:
        from .. import source_keys

        return source_keys.save(key, os.environ, self._log)


def _rotation_code(config: Config) -> Callable[[], str]:
    """One MFA code for the rotation's session: mfa_process, else the terminal."""
    from .. import mfa, source
    from ..errors import MfaError
    from ..plan import MfaSession

    serial = config.mfa_serial or ""

    def code() -> str:
        # What mfa_process runs is one level deeper: a loop back into credproc stops (source.py).
        env = {**os.environ, source.DEPTH_VARIABLE: str(source.check_depth(os.environ) + 1)}
        if config.mfa_process:
            import subprocess

            origin = config.where("source", "mfa_process")
            return mfa.code_from_process(config.mfa_process, origin, serial, env, subprocess.run)
        found = mfa.code_from_terminal(MfaSession(serial, 900))
        if found is None:
            raise MfaError(
                f"rotating needs an MFA code for {serial} ([source] mfa_serial), and there is no terminal to ask on",
                "run credproc source rotate in a terminal, or set [source] mfa_process",
            )
        return found

    return code
