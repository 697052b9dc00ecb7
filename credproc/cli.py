"""The command line: parse, dispatch, render errors. Logic lives elsewhere."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__
from .errors import ConfigError, CredprocError, ExitCode, UsageError
from .log import Log
from .output import FORMATS, SHELLS

if TYPE_CHECKING:
    from .obtain import Obtained
    from .plan import Overrides


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line is one stderr line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix("credproc").strip()
        raise UsageError(f"{where}: {message}" if where else message, f"see {self.prog} --help")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="explain each step on stderr (never secrets)")
    parser.add_argument("--config", type=Path, help="config file (default: $CREDPROC_CONFIG or the user config dir)")


def _add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="12-digit account id or an alias from the config")
    parser.add_argument("--role", help="role name or ARN in the target account")
    parser.add_argument("--via", action="append", metavar="ROLE_ARN", help="intermediate role (repeat for more hops)")
    parser.add_argument("--region", help="STS region for the hops (also the region emitted)")
    parser.add_argument("--duration", help="session duration: seconds or 15m .. 12h")
    parser.add_argument("--session-name", help="RoleSessionName template ({user} {host} {alias} {account})")
    parser.add_argument("--external-id", help="ExternalId for the target role")
    parser.add_argument("--refresh", action="store_true", help="ignore cached credentials and fetch new ones")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="credproc", description="AWS credential_process helper that chains AssumeRole across accounts."
    )
    parser.add_argument("--version", action="version", version=f"credproc {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    get = commands.add_parser("get", help="print credentials for an account (credential_process JSON)")
    _add_target_options(get)
    _add_common(get)
    get.add_argument(
        "--format",
        choices=FORMATS,
        default="process",
        help="process (default): credential_process JSON; json: the same, pretty, with Region; env: sh export lines",
    )
    get.set_defaults(handler=_get)

    accounts = commands.add_parser(
        "accounts",
        help="list the configured accounts, or discover the organization's",
        usage="credproc accounts [--json] [-v] [--config CONFIG]\n"
        "       credproc accounts discover [--role-arn ARN] [--write] [-v] [--config CONFIG]",
    )
    accounts.add_argument("--json", action="store_true", help="print JSON (used by the CDK plugin)")
    _add_common(accounts)
    accounts.set_defaults(handler=_accounts)
    _add_discover_parser(accounts)

    cache = commands.add_parser("cache", help="inspect or clear the encrypted cache")
    cache_commands = cache.add_subparsers(dest="cache_command", metavar="ACTION", parser_class=_Parser)
    cache_commands.required = True
    listing = cache_commands.add_parser("list", help="list cached sessions (never secrets)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    _add_common(listing)
    listing.set_defaults(handler=_cache_list)
    clear = cache_commands.add_parser("clear", help="delete cached sessions (all, or one target's)")
    clear.add_argument("target", nargs="?", help="alias or account id; default: everything")
    clear.add_argument("--key", action="store_true", help="also forget the cache key (a new one is made on next use)")
    _add_common(clear)
    clear.set_defaults(handler=_cache_clear)
    _add_demo(commands)
    _add_exec_parser(commands)
    _add_env_parser(commands)
    _add_profiles_parser(commands)
    _add_doctor_parser(commands)
    return parser


def _add_demo(commands: argparse._SubParsersAction[_Parser]) -> None:
    demo = commands.add_parser("demo", help="show credproc at work against a local STS (no AWS account needed)")
    demo.add_argument("-v", "--verbose", action="store_true", help="add a traceback to an unexpected error")
    demo.set_defaults(handler=_demo)


def _overrides(args: argparse.Namespace) -> Overrides:
    from .plan import Overrides

    return Overrides(
        role=args.role,
        via=tuple(args.via) if args.via else None,
        region=args.region,
        duration=args.duration,
        session_name=args.session_name,
        external_id=args.external_id,
    )


def _obtain(args: argparse.Namespace, log: Log) -> Obtained:
    """Credentials for the target and options on the command line (get, exec, env)."""
    from . import config as config_module
    from .obtain import Request, obtain

    config = config_module.load(args.config)
    request = Request(
        target=args.target,
        overrides=_overrides(args),
        use_cache=not args.no_cache,
        force_refresh=args.refresh,
    )
    result = obtain(request, config, log=log)
    outcome = result.outcome
    log.step(
        f"credentials for {result.plan.account_id} "
        + ("from the cache" if outcome.from_cache else f"after {outcome.sts_calls} STS call(s)")
    )
    return result


def _get(args: argparse.Namespace, log: Log) -> int:
    from . import answers
    from .output import render

    # A plain `get TARGET` (every option at its default) is remembered for the
    # console script's fast path (answers.py); its inputs are read before the
    # config, so an edit made meanwhile is never missed.
    options = {name: value for name, value in vars(args).items() if name not in ("command", "handler", "target")}
    plain = options.pop("format") == "process" and not any(options.values())
    digest = answers.request_digest(["get", args.target], os.environ) if plain else None
    result = _obtain(args, log)
    output = render(args.format, result.outcome.credentials, result.plan.account_id, result.plan.region)
    sys.stdout.write(output)
    if digest is not None and result.ticket is not None:
        ticket = result.ticket
        answers.remember(
            digest, ticket.key, ticket.entry, ticket.valid_until, output, os.environ, from_keyring=ticket.from_keyring
        )
    return ExitCode.OK


def _accounts(args: argparse.Namespace, log: Log) -> int:
    from . import config as config_module
    from .accounts import account_rows, render_accounts

    config = config_module.load(args.config)
    rows = account_rows(config)
    sys.stdout.write(json.dumps(rows, indent=2) + "\n" if args.json else render_accounts(rows))
    return ExitCode.OK


def _cache_list(args: argparse.Namespace, log: Log) -> int:
    from . import config as config_module
    from .cache_commands import cache_rows, render_rows

    config = config_module.load(args.config)
    rows = cache_rows(config, os.environ, log)
    sys.stdout.write(json.dumps(rows, indent=2) + "\n" if args.json else render_rows(rows))
    return ExitCode.OK


def _cache_clear(args: argparse.Namespace, log: Log) -> int:
    from . import config as config_module
    from .cache_commands import clear

    config = config_module.load(args.config)
    removed = clear(config, args.target, os.environ, log, forget_key=args.key)
    print(f"removed {removed} cached session(s)", file=sys.stderr)
    return ExitCode.OK


def _demo(args: argparse.Namespace, log: Log) -> int:
    from .demo import run_demo

    return run_demo(sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    """Run credproc; returns the exit code (only the console script exits)."""
    arguments, command = split_exec_command(list(sys.argv[1:] if argv is None else argv))
    verbose = "-v" in arguments or "--verbose" in arguments
    log = Log(verbose=verbose, defer=True)
    try:
        args, unknown = build_parser().parse_known_args(arguments)
        if unknown:
            # Name the subcommand whose options were wrong, not the top level.
            where = " ".join(filter(None, [args.command, getattr(args, "cache_command", None)]))
            raise UsageError(f"{where}: unrecognized arguments: {' '.join(unknown)}", f"see credproc {where} --help")
        args.exec_command = command
        handler: Callable[[argparse.Namespace, Log], int] = args.handler
        code = handler(args, log)
        log.flush()
        return code
    except CredprocError as error:
        log.discard()
        if verbose and error.__cause__ is not None:
            import traceback  # only for errors: the warm hit must not pay for it

            traceback.print_exception(error.__cause__, file=sys.stderr)
        print(error.one_line(), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("credproc: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        return ExitCode.OK
    except Exception as error:  # a bug: one line unless --verbose
        log.discard()
        if verbose:
            import traceback

            traceback.print_exc(file=sys.stderr)
        print(
            f"credproc: internal error: {type(error).__name__}: {error} "
            "(fix: rerun with --verbose and report the output without secrets)",
            file=sys.stderr,
        )
        return ExitCode.INTERNAL


# --- exec, env, profiles, accounts discover, doctor ------------------------


def split_exec_command(arguments: list[str]) -> tuple[list[str], list[str] | None]:
    """``exec TARGET [options] -- COMMAND...``: everything after the first ``--`` is the command.

    Split here because argparse cannot tell the command's options from ours.
    """
    if arguments[:1] == ["exec"] and "--" in arguments:
        cut = arguments.index("--")
        return arguments[:cut], arguments[cut + 1 :]
    return arguments, None


def _add_exec_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "exec",
        help="run a command with an account's credentials in its environment",
        usage="credproc exec TARGET [options] -- COMMAND [ARGS...]",
        description="Run COMMAND with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, "
        "AWS_CREDENTIAL_EXPIRATION, AWS_REGION and AWS_DEFAULT_REGION set and AWS_PROFILE / "
        "AWS_DEFAULT_PROFILE removed. Its exit code is credproc's; 127: command not found, 126: not executable.",
    )
    _add_target_options(parser)
    # Words after TARGET without a "--" before them: caught to say where the command goes.
    parser.add_argument("stray", nargs="*", default=[], help=argparse.SUPPRESS)
    _add_common(parser)
    parser.set_defaults(handler=_exec)


def _exec(args: argparse.Namespace, log: Log) -> int:
    from . import execute

    if args.stray:
        raise UsageError(
            f"exec: {' '.join(args.stray)!r} must come after --",
            f"credproc exec {args.target} -- {' '.join(args.stray)}",
        )
    if not args.exec_command:
        raise UsageError("exec: no command given", "put the command after --, e.g. credproc exec dev -- aws s3 ls")
    result = _obtain(args, log)
    env = execute.command_environment(os.environ, result.outcome.credentials, result.plan.region)
    log.flush()  # exec replaces this process: say what there is to say now
    return execute.run(args.exec_command, env)


def _add_env_parser(commands: Any) -> None:
    parser = commands.add_parser("env", help="print shell lines that export an account's credentials")
    _add_target_options(parser)
    parser.add_argument("--shell", choices=SHELLS, default="sh", help="the syntax to print (default: sh)")
    _add_common(parser)
    parser.set_defaults(handler=_env)


def _env(args: argparse.Namespace, log: Log) -> int:
    from .output import credential_variables, shell_lines

    result = _obtain(args, log)
    values, remove = credential_variables(result.outcome.credentials, result.plan.region)
    sys.stdout.write(shell_lines(values, remove, args.shell))
    return ExitCode.OK


def _add_profiles_parser(commands: Any) -> None:
    parser = commands.add_parser("profiles", help="~/.aws/config profiles for the configured accounts")
    parser.add_argument("--prefix", default="", help="put this before each alias in the profile names")
    parser.add_argument(
        "--write", action="store_true", help="put them in credproc's managed block of $AWS_CONFIG_FILE or ~/.aws/config"
    )
    _add_common(parser)
    parser.set_defaults(handler=_profiles)


def _profiles(args: argparse.Namespace, log: Log) -> int:
    from . import config as config_module
    from . import profiles

    config = config_module.load(args.config)
    found = profiles.profiles_for(config, args.prefix)
    command = profiles.credproc_command()
    # A config named on this command line must be the one the profiles use too.
    get_options = ["--config", os.path.abspath(args.config)] if args.config else []

    def warn_shadowed() -> None:
        # After the work: a failure must stay the one stderr line.
        for name in profiles.shadowed(found, os.environ):
            log.warn(f"profile {name}: keys for it in the shared credentials file take precedence over credproc")

    if not args.write:
        sys.stdout.write(profiles.render_block(found, command, get_options=get_options))
        warn_shadowed()
        return ExitCode.OK
    if not config.exists:
        # A mistyped --config or CREDPROC_CONFIG must not empty the managed block.
        raise ConfigError(
            f"{config.path}: no such config file, so no profiles to write",
            "create it, or give the right --config / CREDPROC_CONFIG; ~/.aws/config was left as it was",
        )
    written = profiles.write(profiles.aws_config_path(os.environ), found, command, get_options)
    if not written.changed:
        print(f"credproc: {written.path} is up to date ({len(found)} profile(s))", file=sys.stderr)
    else:
        backup = f" (previous version: {written.backup})" if written.backup else ""
        print(f"credproc: wrote {len(found)} profile(s) to {written.path}{backup}", file=sys.stderr)
    warn_shadowed()
    return ExitCode.OK


def _add_discover_parser(accounts: argparse.ArgumentParser) -> None:
    actions = accounts.add_subparsers(dest="accounts_command", metavar="ACTION", parser_class=_Parser)
    parser = actions.add_parser("discover", help="find the organization's accounts (AWS Organizations ListAccounts)")
    parser.add_argument(
        "--role-arn", help="role in the management account to list them with (default: [organizations] role_arn)"
    )
    parser.add_argument("--write", action="store_true", help="append the new accounts to the config file")
    _add_common(parser)
    parser.set_defaults(handler=_discover)


def _discover(args: argparse.Namespace, log: Log) -> int:
    from . import config as config_module
    from . import discover

    config = config_module.load(args.config)
    found = discover.list_organization_accounts(config, args.role_arn, log)
    addition = discover.plan_additions(config, found)
    summary = discover.summary(addition)

    def warn_no_role() -> None:
        # After the work: a failure must stay the one stderr line.
        if addition.new and not config.defaults.role:
            log.warn("the new accounts have no role: set [defaults] role (or a role per account) before using them")

    if not args.write:
        sys.stdout.write(discover.render_toml(addition.new))
        hint = "; run with --write to add them" if addition.new else ""
        print(f"credproc: {summary}{hint}", file=sys.stderr)
        warn_no_role()
        return ExitCode.OK
    backup = discover.write(config, addition.new)
    saved = (
        f"; added them to {config.path}" + (f" (previous version: {backup})" if backup else "") if addition.new else ""
    )
    print(f"credproc: {summary}{saved}", file=sys.stderr)
    warn_no_role()
    return ExitCode.OK


def _add_doctor_parser(commands: Any) -> None:
    parser = commands.add_parser("doctor", help="check the config, the source identity, the cache and the AWS profiles")
    parser.add_argument("--deep", action="store_true", help="also assume each configured account's role")
    _add_common(parser)
    parser.set_defaults(handler=_doctor)


def _doctor(args: argparse.Namespace, log: Log) -> int:
    from . import doctor

    results = doctor.run(args.config, os.environ, log, deep=args.deep)
    sys.stdout.write(doctor.render(results))
    return doctor.exit_code(results)
