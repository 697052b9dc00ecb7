"""Faults at the disk: a credproc killed with SIGKILL in the middle of writing
the cache never leaves an entry that reads back corrupt, and an entry deleted
under a running credproc is simply fetched again.

The kills land at exact system calls: strace's fault injection delivers
SIGKILL on entry to the Nth write, fsync or rename of a run, and its log
(``-y`` names the file behind every descriptor) shows which call it was. A
dry run lists every such call on a cache file; each one is then a kill
point, so the test proves where its kills landed instead of hoping that a
random sleep hit a write.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import DEV_ACCOUNT, TWO_HOP_CONFIG, Sandbox, run_credproc

from credproc import keystore
from credproc.cache import SUFFIX, Cache
from credproc.log import Log

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")

STRACE = shutil.which("strace")
# What writing a file takes: the temp file's data and fsync, the rename, the
# directory's fsync (rename and renameat2 differ by architecture).
WRITE_CALLS = ("write", "fsync", "rename", "renameat", "renameat2")
CALL = re.compile(r"^(?P<pid>\d+) +(?P<name>\w+)\(")


@dataclass(frozen=True)
class Call:
    """One system call of a traced run: its name, which invocation of that name it was, its log line."""

    name: str
    ordinal: int
    line: str


def traced_get(sandbox: Sandbox, log: Path, kill_at: Call | None = None) -> int:
    """``credproc get dev --refresh`` under strace; with ``kill_at``, SIGKILLed on entry to that call."""
    assert STRACE is not None
    # -s 0: no buffer contents in the log (stdout carries the credentials).
    command = [STRACE, "-f", "-qq", "-y", "-s", "0", "-o", str(log), "-e", "trace=" + ",".join(WRITE_CALLS)]
    if kill_at is not None:
        command += ["-e", f"inject={kill_at.name}:signal=KILL:when={kill_at.ordinal}"]
    # No .pyc writes: every run must make the same write calls as the dry run.
    env = {**sandbox.env, "PYTHONDONTWRITEBYTECODE": "1"}
    return run_credproc(["get", "dev", "--refresh"], env, prefix=command).returncode


def calls(log: Path) -> list[Call]:
    """Every traced call of the run's main process, numbered per name as strace's ``when=`` counts them."""
    lines = log.read_text().splitlines()
    first = CALL.match(lines[0])
    assert first is not None, lines[0]
    counted: dict[str, int] = {}
    found = []
    for line in lines:
        match = CALL.match(line)
        if match is None or match["pid"] != first["pid"]:
            continue
        counted[match["name"]] = counted.get(match["name"], 0) + 1
        found.append(Call(match["name"], counted[match["name"]], line))
    return found


def touched(call: Call, cache_dir: str) -> str:
    """What a call on the cache dir worked on: a temp file (its data), the directory, or a rename."""
    if call.name.startswith("rename"):
        return "rename"
    if ".tmp>" in call.line:
        return "temp file"
    return "directory" if f"<{cache_dir}>" in call.line else "other"


def strace_works(tmp_path: Path) -> bool:
    if STRACE is None:
        return False
    probe = subprocess.run([STRACE, "-qq", "-o", str(tmp_path / "probe.log"), "true"], capture_output=True)
    return probe.returncode == 0


def open_user_cache(sandbox: Sandbox) -> Cache:
    key, _ = keystore.load_key("auto", sandbox.env, Log())
    return Cache(sandbox.cache_dir, key, Log())


def remove_entries(sandbox: Sandbox) -> None:
    for path in sandbox.cache_dir.glob("*" + SUFFIX):
        path.unlink()


@pytest.mark.parametrize("before", ["entries in place", "no entries"])
def test_sigkill_in_every_write_never_leaves_a_corrupt_entry(sandbox: Sandbox, tmp_path: Path, before: str) -> None:
    if not strace_works(tmp_path):
        pytest.skip("strace is needed to kill at exact system calls (apt-get install strace; .ci/extra installs it)")
    sandbox.write_config(TWO_HOP_CONFIG)
    assert sandbox.get_json("dev")["AccountId"] == DEV_ACCOUNT  # creates the key and both entries
    names = {path.name[: -len(SUFFIX)] for path in sandbox.cache_dir.glob("*" + SUFFIX)}
    assert len(names) == 2  # the hub's session and dev's
    cold = before == "no entries"

    if cold:
        remove_entries(sandbox)
    dry = tmp_path / "dry.log"
    assert traced_get(sandbox, dry) == 0
    cache_dir = str(sandbox.cache_dir)
    points = [call for call in calls(dry) if cache_dir in call.line]
    # Both entries are written (--refresh): each a data write, its fsync, the
    # rename and the directory's fsync; nothing else of the run writes to the cache dir.
    kinds = sorted(touched(call, cache_dir) for call in points)
    assert kinds == ["directory"] * 2 + ["rename"] * 2 + ["temp file"] * 4, "\n".join(c.line for c in points)

    cache = open_user_cache(sandbox)
    for index, point in enumerate(points):
        if cold:
            remove_entries(sandbox)
        log = tmp_path / f"kill-{index}.log"
        assert traced_get(sandbox, log, kill_at=point) == -signal.SIGKILL
        assert log.read_text().rstrip().endswith("+++ killed by SIGKILL +++")
        last = calls(log)[-1]
        # The kill landed where it was aimed: the same call, on the same kind of file.
        assert (last.name, last.ordinal) == (point.name, point.ordinal)
        assert cache_dir in last.line and touched(last, cache_dir) == touched(point, cache_dir), last.line
        # Every entry is whole or absent; a kill never removes one, nor makes one of a temp file.
        found = {p.name[: -len(SUFFIX)] for p in sandbox.cache_dir.glob("*" + SUFFIX) if not p.name.startswith(".")}
        assert found <= names if cold else found == names
        for name in found:
            assert cache.get(name) is not None, f"corrupt entry {name} after a kill at {last.line}"

    # Temp files of the killed writers are never entries, and `cache clear` removes them.
    assert list(sandbox.cache_dir.glob(".*.tmp"))
    assert sandbox.run("cache", "clear").returncode == 0
    assert not list(sandbox.cache_dir.glob(".*.tmp"))
    after = sandbox.run("get", "dev")
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["AccountId"] == DEV_ACCOUNT


def test_entry_deleted_between_runs_is_fetched_again(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    first = sandbox.get_json("dev")
    for path in sandbox.cache_dir.glob("*" + SUFFIX):
        path.unlink()
    second = sandbox.get_json("dev")
    assert second["AccountId"] == DEV_ACCOUNT
    assert second["AccessKeyId"] != first["AccessKeyId"]
