"""The console-script entry point: the only place that exits."""

import sys

# The hidden word the completion scripts run for TARGET (completion.py):
# answered here, before the CLI is loaded, so that a TAB stays cheap.
TARGETS_WORD = "__complete-targets"


def run() -> None:
    # A remembered answer first: it needs none of the modules cli loads.
    from .answers import print_remembered

    if print_remembered():
        sys.exit(0)
    # Missed: claim the request, or wait for the process that is answering it;
    # either way the answer may be there now.
    import os

    from .inflight import claim_or_wait

    if claim_or_wait(sys.argv[1:], os.environ) and print_remembered():
        sys.exit(0)
    if sys.argv[1:2] == [TARGETS_WORD]:
        from .targets import print_targets

        sys.exit(print_targets(sys.argv[2:], os.environ))
    if sys.argv[1:2] == ["get"]:
        # A get prints one answer and ends, and its garbage with it. The
        # collector's passes over botocore's modules, models and endpoint
        # data cost ~20 ms of a ~200 ms cold run (one more at exit); other
        # commands may run long (a server) and keep it.
        import gc

        gc.disable()
    from .cli import main

    sys.exit(main())
