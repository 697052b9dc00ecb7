"""``credproc each SELECTOR... [options] -- COMMAND...``: run a command once per
account, each with that account's credentials in its environment as ``exec``
sets them, a bounded number at a time, with every output line under the
account's alias and a summary at the end.

Every account's credentials are fetched first, by one engine
(:func:`fetch_credentials`, batch.py), so a role chain's shared hops are
fetched once and an MFA prompt comes before any command runs; then the
commands run (fanout.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CommandError, CredprocError, ExitCode, UsageError
from ..log import Log
from . import CommandOutput
from .options import Subparsers, add_common, add_hop_options

if TYPE_CHECKING:
    from ..batch import Result
    from ..config import Account, Config
    from ..fanout import Finished, Job, Launched, Row, Runner

DEFAULT_PARALLEL = 8
ACCOUNT_VARIABLE = "CREDPROC_ACCOUNT"
ACCOUNT_ID_VARIABLE = "CREDPROC_ACCOUNT_ID"
EXAMPLE = "credproc each 'prod-*' -- aws s3 ls"


def register(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "each",
        help="run a command once per account, each with that account's credentials",
        usage="credproc each [SELECTOR...] [--label LABEL] [--all] [options] -- COMMAND [ARGS...]",
        description="Run COMMAND once for every selected account, with its credentials in the environment as "
        f"`exec` sets them, plus {ACCOUNT_VARIABLE} (the alias) and {ACCOUNT_ID_VARIABLE}. Output lines are "
        "prefixed with the alias; a summary goes to stderr at the end. Exit code: 0 when every command exited 0, "
        f"{int(ExitCode.SOME_FAILED)} when one failed or had no credentials, 128+N after signal N.",
    )
    parser.add_argument(
        "selectors",
        nargs="*",
        metavar="SELECTOR",
        help="an alias, a 12-digit account id, or a shell-style glob on aliases ('prod-*')",
    )
    parser.add_argument("--all", action="store_true", dest="all_accounts", help="every configured account")
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="LABEL",
        help="only accounts with this label (repeat: all of them)",
    )
    parser.add_argument(
        "--parallel",
        type=_count,
        default=DEFAULT_PARALLEL,
        metavar="N",
        help=f"commands at once (default {DEFAULT_PARALLEL}; stdin only with 1)",
    )
    parser.add_argument("--fail-fast", action="store_true", help="start no new account after one has failed")
    parser.add_argument("--no-prefix", action="store_true", help="relay output lines without the alias in front")
    parser.add_argument("--output-dir", type=Path, metavar="DIR", help="write DIR/ALIAS.out and DIR/ALIAS.err instead")
    parser.add_argument("--summary-json", type=Path, metavar="FILE", help="also write the summary to FILE as JSON")
    parser.add_argument(
        "--server", action="store_true", help="give each command a local endpoint that refreshes its credentials"
    )
    add_hop_options(parser)
    add_common(parser)
    parser.set_defaults(run=run, exec_command=None)


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of commands (1 or more)")
    return int(text)


def run(args: argparse.Namespace, log: Log) -> CommandOutput:
    from ..fanout import Stopped
    from ..selection import select
    from .options import load_config

    command = _check_command(args.exec_command)
    _check_summary_path(args.summary_json)
    config = load_config(args)
    accounts = select(config, args.selectors, args.label, args.all_accounts)
    if args.output_dir is not None:
        _check_file_names(accounts)
        _output_dir(args.output_dir)
    found: dict[str, Result | CredprocError] = {}
    runner = _runner(args, command, [account.alias for account in accounts], found, log)
    with runner.signals():
        runner.raising = True  # a signal now stops the fetch: no command has started
        try:
            fetched = fetch_credentials(accounts, args, config, log)
            runner.raising = False  # from here signals are passed on to the commands
        except Stopped:  # (the handler has cleared raising)
            fetched = []
        found.update(zip((account.alias for account in accounts), fetched, strict=False))
        log.flush()  # warnings about the cache or the source: before the commands' output
        if args.server and runner.signal is None:
            _warn_if_shadowed(log)
        outcome = runner.run(_jobs(accounts, found))  # after a signal: starts none
    return _finish(outcome, args.summary_json, log)


def fetch_credentials(
    accounts: Sequence[Account], args: argparse.Namespace, config: Config, log: Log
) -> list[Result | CredprocError]:
    """Each account's credentials with at least half the session left (as ``exec``
    gets them), or why they could not be had; in the order of ``accounts``.

    One engine (batch.py) fetches them a bounded number at a time: the cache is
    opened and each source resolved once, and accounts behind one hub share
    one hub session (single flight between the threads).
    """
    from concurrent.futures import ThreadPoolExecutor

    from ..batch import DEFAULT_WORKERS, Batch
    from ..obtain import Request
    from .options import overrides

    engine = Batch(config=config, log=log)
    hops = overrides(args)

    refreshed: set[str] = set()  # --refresh: a hop the accounts share is refreshed once

    def fetch(account: Account) -> Result | CredprocError:
        request = Request(
            account.alias,
            hops,
            use_cache=not args.no_cache,
            force_refresh=args.refresh,
            for_a_command=True,
            refreshed=refreshed,
        )
        try:
            return engine.obtain(request)
        except CredprocError as error:
            return error

    pool = ThreadPoolExecutor(max_workers=min(DEFAULT_WORKERS, len(accounts) or 1), thread_name_prefix="credproc")
    try:
        return list(pool.map(fetch, accounts))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # stopped by a signal: no fetch starts after it


def account_args(args: argparse.Namespace, target: str) -> argparse.Namespace:
    """``args`` as ``exec TARGET`` would have them for one account (no --port,
    no --token-file, and no --refresh: the run's fetch has just done it, once
    for the hops the accounts share)."""
    return argparse.Namespace(**{**vars(args), "target": target, "port": 0, "token_file": None, "refresh": False})


def _jobs(accounts: Sequence[Account], found: Mapping[str, Result | CredprocError]) -> list[Job]:
    from ..fanout import Job, summary_text

    jobs = []
    for account in accounts:
        result = found.get(account.alias)
        error = summary_text(result) if isinstance(result, CredprocError) else None
        jobs.append(Job(account.alias, account.id, error))
    return jobs


def _runner(
    args: argparse.Namespace,
    command: list[str],
    aliases: list[str],
    found: Mapping[str, Result | CredprocError],
    log: Log,
) -> Runner:
    from .. import lines
    from ..fanout import Relay, Runner

    relay = None
    if args.output_dir is None:
        prefixes = None if args.no_prefix else lines.prefixes(aliases, colour=_colour())
        relay = Relay(prefixes)
    return Runner(
        command,
        parallel=args.parallel,
        launch=_launcher(args, found, log),
        relay=relay,
        output_dir=args.output_dir,
        fail_fast=args.fail_fast,
        start_error=_start_error,
    )


def _launcher(
    args: argparse.Namespace, found: Mapping[str, Result | CredprocError], log: Log
) -> Callable[[Job], Launched]:
    """What starts one account's command: its environment (and its endpoint, with --server)."""
    from ..fanout import Launched
    from .exec import command_environment, with_variables
    from .serve import start_endpoint

    def launch(job: Job) -> Launched:
        fetched = found[job.alias]
        assert not isinstance(fetched, CredprocError)  # a job without credentials is never launched
        extra = {ACCOUNT_VARIABLE: job.alias, ACCOUNT_ID_VARIABLE: fetched.account_id, "AWS_REGION": fetched.region}
        if not args.server:
            env = command_environment(os.environ, fetched.credentials, fetched.region)
            return Launched({**env, **extra}, lambda: None)
        # The endpoint's first credentials come from the cache the run's fetch filled
        # (with --no-cache they are fetched again); it refreshes them later.
        running = start_endpoint(account_args(args, job.alias), log)
        env = with_variables(os.environ, *running.variables())
        return Launched({**env, **extra}, running.stop)

    return launch


def _warn_if_shadowed(log: Log) -> None:
    from ..serving import shadowing_profile

    shadow = shadowing_profile(os.environ)
    if shadow is not None:
        log.warn(shadow)
        log.flush()


def _colour() -> bool:
    from ..lines import use_colour

    try:
        return use_colour(os.isatty(1) and os.isatty(2), os.environ)
    except OSError:
        return False


def _check_command(command: Sequence[str] | None) -> list[str]:
    """The command after ``--``, found on PATH: checked before any credentials are fetched."""
    import shutil

    if not command:
        raise UsageError("each: no command given", f"put the command after --, e.g. {EXAMPLE}")
    name = command[0]
    if os.sep in name or (os.altsep and os.altsep in name):
        if not os.path.exists(name):
            raise _start_error(name, FileNotFoundError())
        if not os.access(name, os.X_OK) or os.path.isdir(name):
            raise _start_error(name, PermissionError())
    elif not name or shutil.which(name) is None:
        raise _start_error(name or "''", FileNotFoundError())
    return list(command)


def _start_error(name: str, exc: OSError) -> CommandError:
    """exec's message for a command that cannot start, said by ``each``."""
    from .exec import _start_error as exec_start_error

    error = exec_start_error(name, exc)
    return CommandError(error.message.replace("exec:", "each:", 1), error.hint or "", error.exit_code)


def _output_dir(directory: Path) -> None:
    """Create ``--output-dir`` (0700: commands' output may hold secrets); an existing one is used as it is."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(
            f"--output-dir: {directory} is not a directory", "give a directory, or a path to create"
        ) from None
    except OSError as exc:
        raise UsageError(
            f"--output-dir: cannot create {directory} ({exc.strerror})", "give a directory you can write to"
        ) from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"--output-dir: {directory} is not writable", "give a directory you can write to")


def _check_file_names(accounts: Sequence[Account]) -> None:
    for account in accounts:
        alias = account.alias
        if alias in (".", "..") or os.sep in alias or (os.altsep and os.altsep in alias) or "\0" in alias:
            raise UsageError(
                f"--output-dir: the alias {alias!r} cannot name a file", "rename the account, or leave out --output-dir"
            )


def _check_summary_path(path: Path | None) -> None:
    if path is None:
        return
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(f"--summary-json: {parent} is not a directory", "give a path in an existing directory")
    if path.is_dir():
        raise UsageError(f"--summary-json: {path} is a directory", "give the path of a file")


def _finish(outcome: Finished, summary_json: Path | None, log: Log) -> CommandOutput:
    code = exit_code(outcome)
    sys.stderr.write(render_summary(outcome.rows))
    log.notice(f"each: {totals(outcome.rows)}")
    if summary_json is not None:
        from .. import atomic

        try:
            atomic.write_atomic(summary_json, json.dumps(summary_document(outcome, code), indent=2).encode() + b"\n")
        except OSError as exc:
            log.error(
                f"credproc: each: cannot write --summary-json {summary_json} ({exc.strerror}) (fix: give a writable path)"
            )
            code = code or ExitCode.OUTPUT
    return CommandOutput(exit_code=code)


def exit_code(outcome: Finished) -> int:
    """0 when every command exited 0; 128+N after signal N; else SOME_FAILED."""
    if outcome.signal is not None:
        return 128 + outcome.signal
    return ExitCode.OK if all(row.ok for row in outcome.rows) else ExitCode.SOME_FAILED


def status(row: Row) -> str:
    """ok, failed (the command exited non-zero or could not start), credentials, or not started."""
    if row.exit_code is not None:
        return "ok" if row.ok else "failed"
    return "credentials" if row.error is not None else "not started"


def render_summary(rows: Sequence[Row]) -> str:
    """One row per account for people, the result last (a credential error is long)."""
    from ..output import table

    def result(row: Row) -> str:
        if row.exit_code is not None:
            return f"exit {row.exit_code}" + (f": {row.error}" if row.error else "")
        return row.error or "not started"

    return table(
        ("ALIAS", "ACCOUNT", "SECONDS", "RESULT"),
        (
            (row.alias, row.account_id, "-" if row.seconds is None else f"{row.seconds:.2f}", result(row))
            for row in rows
        ),
    )


def totals(rows: Sequence[Row]) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        counts[status(row)] = counts.get(status(row), 0) + 1
    words = {"ok": "exited 0", "failed": "failed", "credentials": "had no credentials", "not started": "not started"}
    parts = [f"{counts[key]} {word}" for key, word in words.items() if counts.get(key)]
    return f"{len(rows)} account{'s' if len(rows) != 1 else ''}: " + ", ".join(parts)


def summary_document(outcome: Finished, code: int) -> dict[str, object]:
    """``--summary-json``'s content."""
    import signal

    return {
        "exit_code": code,
        "signal": signal.Signals(outcome.signal).name if outcome.signal is not None else None,
        "accounts": [
            {
                "alias": row.alias,
                "account_id": row.account_id,
                "status": status(row),
                "exit_code": row.exit_code,
                "error": row.error,
                "seconds": None if row.seconds is None else round(row.seconds, 3),
            }
            for row in outcome.rows
        ],
    }
