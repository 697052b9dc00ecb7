"""The console-script entry point: the only place that exits."""

import sys

TYPE_CHECKING = False  # not typing's: the fast path does without it (benchmarks/RESULTS.md)
if TYPE_CHECKING:
    from typing import NoReturn

    from . import single_flight

# The hidden word the completion scripts run for TARGET (completion.py):
# answered here, before the CLI is loaded, so that a TAB stays cheap.
TARGETS_WORD = "__complete-targets"


def run() -> None:
    # Python sets sys.stdout to None when fd 1 is closed. Nothing is fetched
    # (no STS call, no MFA prompt) for output that has nowhere to go; `exec`
    # prints nothing itself, and its command's stdout is the command's business.
    try:
        if sys.stdout is None and sys.argv[1:2] != ["exec"]:
            from .stdout import fail

            fail(None)
        _run()
    except Exception as exc:
        from .errors import OutputError  # on this failure only: the fast path does without it

        if not isinstance(exc, OutputError):
            raise
        if sys.stderr is not None:
            print(exc.one_line(), file=sys.stderr, flush=True)
        sys.exit(exc.exit_code)


def _run() -> None:
    import os

    # A remembered answer first: it needs none of the modules cli loads.
    from . import remembered

    # The run's request digest (memo.py), computed here once and handed to
    # the full path; None: not a rememberable get (cli computes it then).
    request = remembered.request(sys.argv[1:], os.environ)
    name = None if request is None else request[1]
    if name is not None and remembered.print_remembered(name) is not None:
        _end(0)
    if sys.argv[1:2] == [TARGETS_WORD]:
        from .targets import print_targets

        sys.exit(print_targets(sys.argv[2:], os.environ))
    claim = None if name is None else _claim_or_wait(name)
    inputs = None if request is None else request[0]
    if sys.argv[1:2] != ["get"]:
        from .cli import main

        sys.exit(main(inputs=inputs))
    # A get prints one answer and ends, and its garbage with it; other
    # commands may run long (a server) and keep the collector.
    from . import shortcuts

    shortcuts.collector_off()
    from .cli import main

    _end(main(inputs=inputs, claim=claim))


def _claim_or_wait(name: str) -> "single_flight.Claim | None":
    """Missed: claim the request, or wait for the process that is answering
    it (credproc/single_flight.py); either way its answer may be remembered
    by now, and the run ends with it. Else this process's claim, if it holds
    one, for the full path."""
    import os

    from . import remembered, single_flight

    claim = single_flight.claim_or_wait(name, os.environ)
    if remembered.print_remembered(name) is not None:
        _end(0)
    return claim


def _end(code: int) -> "NoReturn":
    """End a get: what the caller reads flushed, without the interpreter's
    teardown (credproc/shortcuts.py)."""
    from . import shortcuts

    shortcuts.end(code)
