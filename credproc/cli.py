"""The command line: parse, dispatch, render errors. Logic lives elsewhere."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from . import __version__
from .errors import CredprocError, ExitCode, UsageError
from .log import Log


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
    get.set_defaults(handler=_get)

    accounts = commands.add_parser("accounts", help="list the configured accounts")
    accounts.add_argument("--json", action="store_true", help="print JSON (used by the CDK plugin)")
    _add_common(accounts)
    accounts.set_defaults(handler=_accounts)

    cache = commands.add_parser("cache", help="inspect or clear the encrypted cache")
    cache_commands = cache.add_subparsers(dest="cache_command", metavar="ACTION", parser_class=_Parser)
    cache_commands.required = True
    listing = cache_commands.add_parser("list", help="list cached sessions (never secrets)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    _add_common(listing)
    listing.set_defaults(handler=_cache_list)
    clear = cache_commands.add_parser("clear", help="delete cached sessions (all, or one target's)")
    clear.add_argument("target", nargs="?", help="alias or account id; default: everything")
    _add_common(clear)
    clear.set_defaults(handler=_cache_clear)
    return parser


def _overrides(args: argparse.Namespace) -> object:
    from .plan import Overrides

    return Overrides(
        role=args.role,
        via=tuple(args.via) if args.via else None,
        region=args.region,
        duration=args.duration,
        session_name=args.session_name,
        external_id=args.external_id,
    )


def _get(args: argparse.Namespace, log: Log) -> int:
    from . import answers
    from . import config as config_module
    from .obtain import Request, obtain
    from .output import process_json

    # A plain `get TARGET` (every option at its default) is remembered for the
    # console script's fast path; its inputs are read before the config, so
    # an edit made meanwhile is never missed.
    plain = not any(value for name, value in vars(args).items() if name not in ("command", "handler", "target"))
    digest = answers.request_digest(["get", args.target], os.environ) if plain else None
    config = config_module.load(args.config)
    request = Request(
        target=args.target,
        overrides=_overrides(args),  # type: ignore[arg-type]
        use_cache=not args.no_cache,
        force_refresh=args.refresh,
    )
    result = obtain(request, config, log=log)
    outcome = result.outcome
    log.step(
        f"credentials for {result.plan.account_id} "
        + ("from the cache" if outcome.from_cache else f"after {outcome.sts_calls} STS call(s)")
    )
    output = process_json(outcome.credentials, result.plan.account_id) + "\n"
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
    removed = clear(config, args.target, os.environ, log)
    print(f"removed {removed} cached session(s)", file=sys.stderr)
    return ExitCode.OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run credproc; returns the exit code (only the console script exits)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in arguments or "--verbose" in arguments
    log = Log(verbose=verbose)
    try:
        args = build_parser().parse_args(arguments)
        handler: Callable[[argparse.Namespace, Log], int] = args.handler
        return handler(args, log)
    except CredprocError as error:
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
        if verbose:
            import traceback

            traceback.print_exc(file=sys.stderr)
        print(
            f"credproc: internal error: {type(error).__name__}: {error} "
            "(fix: rerun with --verbose and report the output without secrets)",
            file=sys.stderr,
        )
        return ExitCode.INTERNAL
