"""credproc's speed against its targets and against the alternatives.

    python benchmarks/run.py [--runs N] [--markdown FILE] [--only endpoint|concurrent|each|api]

Uses the credproc installed next to this interpreter (``pip install -e
'.[test]'``), moto's STS on 127.0.0.1 (tests/support/local_sts.py), and
throw-away users in a temp dir: never your HOME, ~/.aws or keychain. Commands
compared with each other run interleaved (round-robin, after warm-ups), so
machine noise hits them alike; the table gives medians and their ratios.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUPPORT = REPO / "tests" / "support"
sys.path.insert(0, str(SUPPORT))

from endpoint_latency import latency_row  # noqa: E402
from local_sts import LocalSts  # noqa: E402

SOURCE_KEY = "AKIABENCHSOURCE00001"
# The least a remembered answer needs: the interpreter, json, hashlib and the AES-GCM binding.
FLOOR = "import os, sys, _blake2; from cryptography.hazmat.bindings._rust import openssl"
FLOOR_NOTE = "floor: python -I with the hash and the AES-GCM binding imported"
WARM_NOTE = "a remembered answer (credproc/remembered.py): no argparse, pathlib, json, re or config parse"
HUB_ARN = "arn:aws:iam::222222222222:role/hub"
DEV_ACCOUNT = "111111111111"
DEV_ROLE = f"arn:aws:iam::{DEV_ACCOUNT}:role/Deployer"
BIG_ACCOUNTS = 5000
CONCURRENT = 50
CONCURRENT_LIMIT = 4.0  # wall time of the 50 against one cold run
FRESH_NOTE = "no cache dir, no data dir: the key file is created, the STS endpoint resolved"

CONFIG_HEAD = """[source]
profile = "shared"
region = "us-east-1"

[defaults]
role = "Deployer"
duration = "1h"
session_name = "credproc-{user}"
"""
DEV_TABLE = f"""
[accounts.dev]
id = "{DEV_ACCOUNT}"
via = ["{HUB_ARN}"]
region = "us-east-2"
"""
PROD_TABLE = """
[accounts.prod]
id = "333333333333"
via = ["arn:aws:iam::222222222222:role/hub"]
"""

# The same chain for the AWS CLI and boto3: shared (keys) -> hub -> dev.
AWS_CONFIG = f"""[profile shared]
region = us-east-1

[profile hub]
role_arn = {HUB_ARN}
source_profile = shared
role_session_name = bench

[profile dev-role]
role_arn = {DEV_ROLE}
source_profile = hub
role_session_name = bench
region = us-east-2
"""
AWS_CREDENTIALS = f"""[shared]
aws_access_key_id = {SOURCE_KEY}
aws_secret_access_key = bench-source-secret-key-00001
"""

BOTO3_TWO_CALLS = f"""
import json, boto3
first = boto3.Session(profile_name="shared").client("sts", region_name="us-east-1")
hub = first.assume_role(RoleArn="{HUB_ARN}", RoleSessionName="bench", DurationSeconds=3600)["Credentials"]
second = boto3.client("sts", region_name="us-east-1", aws_access_key_id=hub["AccessKeyId"],
    aws_secret_access_key=hub["SecretAccessKey"], aws_session_token=hub["SessionToken"])
dev = second.assume_role(RoleArn="{DEV_ROLE}", RoleSessionName="bench", DurationSeconds=3600)["Credentials"]
print(json.dumps({{"Version": 1, "AccessKeyId": dev["AccessKeyId"], "SecretAccessKey": dev["SecretAccessKey"],
    "SessionToken": dev["SessionToken"], "Expiration": dev["Expiration"].isoformat()}}))
"""

BOTO3_PROFILE = """
import boto3
credentials = boto3.Session(profile_name="dev-role").get_credentials().get_frozen_credentials()
print(credentials.access_key)
"""


@dataclass
class User:
    """A throw-away user: HOME with ~/.aws and credproc's config in the XDG default place."""

    root: Path
    env: dict[str, str]

    @property
    def cache_dir(self) -> Path:
        return self.root / ".cache" / "credproc"


def make_user(base: Path, name: str, sts_url: str, config: str, extra_env: dict[str, str] | None = None) -> User:
    home = base / name
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "config").write_text(AWS_CONFIG)
    (home / ".aws" / "credentials").write_text(AWS_CREDENTIALS)
    (home / ".config" / "credproc").mkdir(parents=True)
    (home / ".config" / "credproc" / "config.toml").write_text(config)
    env = {name: os.environ[name] for name in ("PATH", "LANG", "LC_ALL", "SYSTEMROOT") if name in os.environ}
    env.update(
        HOME=str(home),
        USER="bench",
        AWS_ENDPOINT_URL_STS=sts_url,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        **(extra_env or {}),
    )
    return User(home, env)


def big_config(count: int) -> str:
    """``count`` accounts, dev in the middle (the hub is not configured: its lookup scans them all)."""
    parts = [CONFIG_HEAD, '\n[cache]\nkey_store = "file"\n']
    for index in range(count):
        if index == count // 2:
            parts.append(DEV_TABLE)
            continue
        parts.append(
            f'\n[accounts.a{index:05d}]\nid = "{100000000000 + index}"\nvia = ["{HUB_ARN}"]\n'
            f'region = "us-east-2"\nexternal_id = "ext-{index:06d}"\n'
        )
    return "".join(parts)


@dataclass
class Command:
    label: str
    argv: list[str]
    env: dict[str, str]
    before: Callable[[], None] | None = None  # untimed, before each run (e.g. empty the cache)
    times: list[float] = field(default_factory=list)
    cpu_times: list[float] = field(default_factory=list)  # user + system of the process (and its children)

    def run_once(self, timed: bool = True) -> None:
        if self.before is not None:
            self.before()
        with tempfile.TemporaryFile() as stderr:
            start = time.perf_counter()
            process = subprocess.Popen(
                self.argv, env=self.env, stdout=subprocess.DEVNULL, stderr=stderr, stdin=subprocess.DEVNULL
            )
            _, status, usage = os.wait4(process.pid, 0)
            elapsed = time.perf_counter() - start
            process.returncode = os.waitstatus_to_exitcode(status)
            if process.returncode != 0:
                stderr.seek(0)
                raise SystemExit(f"benchmark command failed: {self.label}: {stderr.read().decode(errors='replace')}")
        if timed:
            self.times.append(elapsed)
            self.cpu_times.append(usage.ru_utime + usage.ru_stime)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times) * 1000

    @property
    def cpu_ms(self) -> float:
        return statistics.median(self.cpu_times) * 1000


def interleave(commands: Sequence[Command], runs: int, warmups: int) -> None:
    """Warm up each, then ``runs`` rounds, each command once per round, rotating the order."""
    for command in commands:
        for _ in range(warmups):
            command.run_once(timed=False)
    for round_number in range(runs):
        shift = round_number % len(commands)
        for command in [*commands[shift:], *commands[:shift]]:
            command.run_once()


@dataclass
class Row:
    scenario: str
    measured: str
    target: str
    verdict: str


def ratio_row(scenario: str, subject: Command, base: Command, limit: float | None, note: str = "") -> Row:
    ratio = subject.median_ms / base.median_ms
    measured = (
        f"{subject.median_ms:.1f} ms vs {base.median_ms:.1f} ms = **{ratio:.2f}x** "
        f"(CPU {subject.cpu_ms:.1f} vs {base.cpu_ms:.1f} ms = {subject.cpu_ms / base.cpu_ms:.2f}x)"
    )
    if limit is None:
        return Row(scenario, measured, "report", note or "-")
    met = ratio <= limit
    verdict = ("met" if met else "NOT met") + (f": {note}" if note else "")
    return Row(scenario, measured, f"<= {limit}x {base.label}", verdict)


def empty_cache(user: User) -> Callable[[], None]:
    def clear() -> None:
        for path in user.cache_dir.glob("*.cred"):
            path.unlink()

    return clear


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (
        f"{os.cpu_count()} CPUs ({model}); {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()} ({sys.executable}); load average {load}"
    )


def install_kind() -> str:
    try:
        from importlib.metadata import distribution

        direct = distribution("credproc").read_text("direct_url.json")
    except Exception:
        return "installed"
    editable = bool(direct and json.loads(direct).get("dir_info", {}).get("editable"))
    return "editable install (pip install -e)" if editable else "regular install"


def regular_install(base_dir: Path, notes: list[str]) -> tuple[str, str] | None:
    """(python, credproc) of a regular (non-editable) install of this checkout
    in a throw-away venv that sees this environment's packages through a .pth
    line: what `pip install .` and pipx users run. An editable install adds an
    import hook that every start of its interpreter pays, bare python too."""
    venv_dir = base_dir / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    try:
        subprocess.run([base_python, "-m", "venv", "--without-pip", str(venv_dir)], check=True, capture_output=True)
        python = str(venv_dir / "bin" / "python")
        subprocess.run(
            [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", str(REPO)],
            check=True,
            capture_output=True,
        )
        site = subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        ours = sysconfig.get_paths()
        Path(site, "credproc-bench-deps.pth").write_text(f"{ours['purelib']}\n{ours['platlib']}\n")
    except (OSError, subprocess.CalledProcessError) as exc:
        notes.append(f"a regular install could not be made ({exc}); measured the installed credproc instead")
        return None
    return python, str(venv_dir / "bin" / "credproc")


def find_credproc() -> str:
    candidate = Path(sys.executable).parent / "credproc"
    found = str(candidate) if candidate.exists() else shutil.which("credproc")
    if not found:
        raise SystemExit("credproc is not installed for this interpreter: pip install -e '.[test]'")
    return found


def aws_cli_v2() -> str | None:
    """An AWS CLI v2 (Debian's awscli package is one), not a pyenv shim."""
    for candidate in ("/usr/bin/aws", "/usr/local/bin/aws", shutil.which("aws")):
        if not candidate or not Path(candidate).exists() or "shims" in candidate:
            continue
        version = subprocess.run([candidate, "--version"], capture_output=True, text=True).stdout
        if version.startswith("aws-cli/2."):
            return candidate
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30, help="timed runs per command (default 30)")
    parser.add_argument("--warmups", type=int, default=3)
    parser.add_argument("--markdown", type=Path, help="also write the results as Markdown to this file")
    parser.add_argument(
        "--only",
        choices=["endpoint", "concurrent", "each", "api"],
        help="endpoint: only its row (and the warm get beside it); concurrent: only the cold rows and the fan-outs; "
        "each: only credproc each against a shell loop of exec; api: only the Python API's row",
    )
    args = parser.parse_args(argv)
    runs, warmups = args.runs, args.warmups
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log lines from the local STS
    installed_python, installed_credproc = sys.executable, find_credproc()
    started = machine()
    print(f"machine: {started}", flush=True)

    sts = LocalSts().start()
    rows: list[Row] = []
    notes: list[str] = []
    base_dir = Path(tempfile.mkdtemp(prefix="credproc-bench-"))
    try:
        print("0/5 regular install in a temp venv ...", flush=True)
        python, credproc = regular_install(base_dir, notes) or (installed_python, installed_credproc)
        print(f"credproc: {credproc}", flush=True)
        file_config = CONFIG_HEAD + '\n[cache]\nkey_store = "file"\n' + DEV_TABLE + PROD_TABLE
        two = make_user(base_dir, "two", sts.url, file_config)
        big = make_user(base_dir, "big", sts.url, big_config(BIG_ACCOUNTS))
        keyring_config = CONFIG_HEAD + '\n[cache]\nkey_store = "keyring"\n' + DEV_TABLE + PROD_TABLE
        test_keyring = {
            "PYTHONPATH": str(SUPPORT),
            "PYTHON_KEYRING_BACKEND": "credproc_test_keyring.FileKeyring",
            "CREDPROC_TEST_KEYRING": str(base_dir / "keyring.json"),
        }
        with_keyring = make_user(base_dir, "keyring", sts.url, keyring_config, test_keyring)
        auto_config = CONFIG_HEAD + DEV_TABLE + PROD_TABLE
        auto = make_user(base_dir, "auto", sts.url, auto_config)

        bare = Command("python -I -c pass", [python, "-I", "-c", "pass"], two.env)
        floor = Command("its floor", [python, "-I", "-c", FLOOR], two.env)
        warm = Command("credproc get dev (file key)", [credproc, "get", "dev"], two.env)
        config_path = str(two.root / ".config" / "credproc" / "config.toml")
        warm_config = Command(
            "credproc get dev --config PATH", [credproc, "get", "dev", "--config", config_path], two.env
        )
        by_id = [credproc, "get", DEV_ACCOUNT, "--role", "Deployer", "--via", HUB_ARN]
        warm_by_id = Command("credproc get ID --role R --via HUB", by_id, two.env)
        warm_big = Command(f"credproc get dev ({BIG_ACCOUNTS} accounts)", [credproc, "get", "dev"], big.env)
        warm_keyring = Command("credproc get dev (keyring key)", [credproc, "get", "dev"], with_keyring.env)
        warm_auto = Command("credproc get dev (auto, no D-Bus)", [credproc, "get", "dev"], auto.env)
        probe = "import keyring; keyring.get_keyring()"
        keyring_chosen = Command("import keyring, backend chosen", [python, "-c", probe], with_keyring.env)
        keyring_probed = Command("import keyring, backends probed", [python, "-c", probe], auto.env)
        null_env = {**with_keyring.env, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
        keyring_null = Command("import keyring, its null backend", [python, "-c", probe], null_env)
        as_credproc = "from credproc import keyring_loader; keyring_loader.load().get_keyring()"
        keychain = Command("keyring as credproc loads it", [python, "-c", as_credproc], with_keyring.env)
        full_path = Command(
            "credproc get dev --verbose (full path, keyring key)",
            [credproc, "get", "dev", "--verbose"],
            with_keyring.env,
        )
        full_file = Command("credproc get dev --verbose (full path)", [credproc, "get", "dev", "--verbose"], two.env)
        group = [bare, floor, warm, warm_config, warm_by_id, warm_big, warm_keyring, warm_auto]
        group += [keyring_chosen, keyring_probed, keyring_null, keychain, full_path, full_file]
        installed_bare = Command("its python -I -c pass", [installed_python, "-I", "-c", "pass"], two.env)
        installed_warm = Command("installed credproc get dev", [installed_credproc, "get", "dev"], two.env)
        if credproc != installed_credproc:
            group += [installed_bare, installed_warm]

        if args.only == "each":
            rows.append(each_row(credproc, base_dir, sts, runs))
            return _report(args, rows, notes, started, credproc, installed_credproc, runs)
        if args.only == "api":
            rows.append(api_row(python, credproc, two, sts, runs))
            return _report(args, rows, notes, started, credproc, installed_credproc, runs)
        if args.only is not None:
            group = [warm]
        print("1/5 warm hits ...", flush=True)
        interleave(group, runs, warmups)
        if args.only == "endpoint":
            print("credential endpoint ...", flush=True)
            rows.append(Row(*latency_row(credproc, two.env, warm.median_ms)))
            return _report(args, rows, notes, started, credproc, installed_credproc, runs)
        if args.only == "concurrent":
            rows += cold_and_concurrent(credproc, python, base_dir, two, sts, runs)
            return _report(args, rows, notes, started, credproc, installed_credproc, runs)
        calls_before = len(sts.recorder.of("AssumeRole"))
        for command in (warm, warm_config, warm_by_id):
            command.run_once(timed=False)
        assert len(sts.recorder.of("AssumeRole")) == calls_before, "a warm hit called STS"
        rows.append(ratio_row("warm hit, file key store", warm, floor, 1.15, FLOOR_NOTE))
        rows.append(ratio_row("warm hit, file key store, vs bare python", warm, bare, None, WARM_NOTE))
        if credproc != installed_credproc:
            rows.append(
                ratio_row(
                    f"same, credproc as installed here ({install_kind()})",
                    installed_warm,
                    installed_bare,
                    None,
                    "its bare interpreter also loads the editable-install import hook (pathlib, re, ...)",
                )
            )
        rows.append(ratio_row("warm hit, get dev --config PATH", warm_config, bare, 3.0, "profiles --write --config"))
        rows.append(ratio_row("warm hit, get ID --role R --via HUB", warm_by_id, bare, 3.0, "the CDK plugin's call"))
        rows.append(
            ratio_row(
                f"warm hit, {BIG_ACCOUNTS} accounts",
                warm_big,
                warm,
                1.1,
                "a remembered answer: the config is hashed for the request digest, not parsed",
            )
        )
        rows.append(
            ratio_row(
                "warm hit, full path (--verbose), keyring key store",
                full_path,
                bare,
                6.0,  # issue 25: was 5.0, raised when the speed layer was made plainer
                "keyring's import as credproc loads it is ~4x bare python by itself (its row below)",
            )
        )
        rows.append(ratio_row("warm hit, full path (--verbose), file key store", full_file, bare, None))
        rows.append(
            ratio_row(
                "keyring: import + backend from PYTHON_KEYRING_BACKEND",
                keyring_chosen,
                bare,
                None,
                "keyring's import alone (jaraco.context -> urllib.request, importlib_metadata, ...)",
            )
        )
        rows.append(
            ratio_row(
                "keyring: import + keyring's own null backend",
                keyring_null,
                keyring_chosen,
                None,
                "keyring's own backend instead of the test one (tests/support/credproc_test_keyring.py)",
            )
        )
        rows.append(
            ratio_row(
                "keyring: as credproc loads it (credproc/keyring_loader.py), backend from PYTHON_KEYRING_BACKEND",
                keychain,
                keyring_chosen,
                None,
                "urllib.request, subprocess, tempfile, inspect, more_itertools, importlib_metadata, configparser, "
                "traceback, the compression modules, struct, copy, pwd and grp put off until used",
            )
        )
        rows.append(
            ratio_row(
                "keyring: import + probing every backend",
                keyring_probed,
                keyring_chosen,
                None,
                "what auto-detection adds (e.g. the macOS backend's ctypes library search on Linux)",
            )
        )
        rows.append(
            ratio_row(
                "warm hit, keyring key store",
                warm_keyring,
                warm,
                None,
                "remembered answer, but the key is read from the keychain each time "
                "(backend chosen by PYTHON_KEYRING_BACKEND here; keyring loaded by credproc/keyring_loader.py)",
            )
        )
        rows.append(
            ratio_row(
                "warm hit, auto key store on headless Linux",
                warm_auto,
                warm,
                None,
                "no session bus: keyring is not imported, the key file is used",
            )
        )

        rows += cold_and_concurrent(credproc, python, base_dir, two, sts, runs)

        print("4/5 alternatives ...", flush=True)
        boto3_script = base_dir / "boto3_profile.py"
        boto3_script.write_text(BOTO3_PROFILE)
        resolve = Command("boto3 resolving the role profile", [python, str(boto3_script)], two.env)
        compared = [warm, resolve]
        cli = aws_cli_v2()
        cli_command: Command | None = None
        if cli is not None:
            cli_command = Command(
                "aws v2 configure export-credentials",
                [cli, "configure", "export-credentials", "--profile", "dev-role", "--format", "process"],
                two.env,
            )
            if prime_aws_cli(cli_command, installed_python, sts, notes):
                compared.append(cli_command)
            else:
                cli_command = None
        else:
            notes.append(
                "AWS CLI v2 not found (apt-get install awscli on Debian/Ubuntu): its row is missing. The PyPI "
                "awscli (v1) has no `configure export-credentials`."
            )
        warm.times.clear()
        interleave(compared, max(runs // 2, 5), 1)
        if cli_command is not None:
            rows.append(ratio_row("AWS CLI v2, warm cache, vs credproc", cli_command, warm, None, "higher is better"))
        rows.append(
            ratio_row("boto3 role profile vs credproc", resolve, warm, None, "higher is better; 2 STS calls per run")
        )
        print("Python API ...", flush=True)
        rows.append(api_row(python, credproc, two, sts, runs))
        print("5/5 credential endpoint ...", flush=True)
        rows.append(Row(*latency_row(credproc, two.env, warm.median_ms)))
        rows.append(each_row(credproc, base_dir, sts, runs))
        print("done", flush=True)
    finally:
        sts.stop()
        shutil.rmtree(base_dir, ignore_errors=True)
    return _report(args, rows, notes, started, credproc, installed_credproc, runs)


API_CALLS = 200
# credproc.credentials API_CALLS times in one process, as a script over many accounts calls it.
API_SCRIPT = f"""
import credproc
for _ in range({API_CALLS}):
    credproc.credentials("dev")
"""


def api_row(python: str, credproc: str, user: User, sts: LocalSts, runs: int) -> Row:
    """API_CALLS warm ``credproc.credentials`` calls in one process (its start
    included) against API_CALLS warm ``credproc get`` processes (a shell loop)."""
    in_process = Command(f"{API_CALLS} credproc.credentials calls", [python, "-c", API_SCRIPT], user.env)
    loop = f'for i in $(seq {API_CALLS}); do "$0" get dev >/dev/null || exit 1; done'
    processes = Command(f"{API_CALLS} credproc get processes", ["sh", "-c", loop, credproc], user.env)
    print(f"Python API: {API_CALLS} calls in one process vs {API_CALLS} processes ...", flush=True)
    interleave([in_process, processes], max(runs // 10, 3), 1)  # the cache is warm after the warm-ups
    calls_before = len(sts.recorder.of("AssumeRole"))
    in_process.run_once(timed=False)
    assert len(sts.recorder.of("AssumeRole")) == calls_before, "a warm API call called STS"
    per_call = f"per call {in_process.median_ms / API_CALLS:.2f} ms vs {processes.median_ms / API_CALLS:.2f} ms"
    return ratio_row(f"{API_CALLS} warm credproc.credentials in one process", in_process, processes, None, per_call)


EACH_ACCOUNTS = 200


def each_row(credproc: str, base_dir: Path, sts: LocalSts, runs: int) -> Row:
    """``credproc each --all -- true`` over 200 warm accounts behind one hub,
    against a shell loop of ``credproc exec ALIAS -- true`` over the same ones."""
    print(f"each over {EACH_ACCOUNTS} warm accounts ...", flush=True)
    aliases = [f"e{index:03d}" for index in range(EACH_ACCOUNTS)]
    tables = [
        f'\n[accounts.{alias}]\nid = "{200000000000 + index}"\nvia = ["{HUB_ARN}"]\n'
        for index, alias in enumerate(aliases)
    ]
    user = make_user(base_dir, "each", sts.url, CONFIG_HEAD + '\n[cache]\nkey_store = "file"\n' + "".join(tables))
    each = Command(
        f"credproc each --all -- true ({EACH_ACCOUNTS})", [credproc, "each", "--all", "--", "true"], user.env
    )
    loop = 'for alias in "$@"; do "$CREDPROC" exec "$alias" -- true || exit 1; done'
    shell = Command(
        f"a shell loop of {EACH_ACCOUNTS} credproc exec",
        ["sh", "-c", loop, "sh", *aliases],
        {**user.env, "CREDPROC": credproc},
    )
    each.run_once(timed=False)  # every account's session in the cache: both run warm
    # A loop run takes seconds: fewer rounds than the per-process rows.
    interleave([each, shell], max(3, runs // 6), 1)
    return ratio_row(
        f"each over {EACH_ACCOUNTS} warm accounts, vs a shell loop of exec", each, shell, 0.2, "--parallel 8 (default)"
    )


def _report(
    args: argparse.Namespace,
    rows: list[Row],
    notes: list[str],
    started: str,
    credproc: str,
    installed_credproc: str,
    runs: int,
) -> int:
    finished = machine()
    report = render(
        rows,
        notes,
        started,
        finished,
        f"{credproc} (regular install of this checkout)"
        if credproc != installed_credproc
        else f"{credproc} ({install_kind()})",
        runs,
    )
    print(report)
    if args.markdown:
        args.markdown.write_text(report)
    return 0


def prime_aws_cli(cli: Command, python: str, sts: LocalSts, notes: list[str]) -> bool:
    """Fill the AWS CLI's own assume-role cache, then check its warm run calls no STS."""
    first = subprocess.run(cli.argv, env=cli.env, capture_output=True, text=True)
    if first.returncode != 0:
        # AWS CLI v2 before 2.13 ignores AWS_ENDPOINT_URL_STS; the PyPI v1 CLI
        # (same botocore cache format, same ~/.aws/cli/cache) honours it.
        v1 = Path(python).parent / "aws"
        primed = subprocess.run(
            [str(v1), "sts", "get-caller-identity", "--profile", "dev-role"], env=cli.env, capture_output=True
        )
        if primed.returncode != 0:
            notes.append(f"AWS CLI could not be primed: {first.stderr.strip()[:200]}")
            return False
        notes.append(
            "the AWS CLI v2 here ignores AWS_ENDPOINT_URL_STS (before 2.13); its ~/.aws/cli/cache was filled "
            "by the PyPI AWS CLI v1 against the local STS (same cache format), so v2 runs warm and offline"
        )
    before = len(sts.recorder.of("AssumeRole"))
    check = subprocess.run(cli.argv, env=cli.env, capture_output=True, text=True)
    if check.returncode != 0 or len(sts.recorder.of("AssumeRole")) != before:
        notes.append(f"AWS CLI warm run did not work offline: {check.stderr.strip()[:200]}")
        return False
    return True


def cold_and_concurrent(credproc: str, python: str, base_dir: Path, two: User, sts: LocalSts, runs: int) -> list[Row]:
    """The cold 2-hop rows against plain boto3, then the fan-outs against one cold run."""
    print("2/5 cold 2-hop chain ...", flush=True)
    script = base_dir / "two_assume_roles.py"
    script.write_text(BOTO3_TWO_CALLS)
    cold = Command("credproc get dev (cold)", [credproc, "get", "dev"], two.env, before=empty_cache(two))
    no_cache = Command("credproc get dev --no-cache", [credproc, "get", "dev", "--no-cache"], two.env)
    refresh = Command("credproc get dev --refresh", [credproc, "get", "dev", "--refresh"], two.env)
    plain = Command("boto3 script, 2 AssumeRole", [python, str(script)], two.env)
    fresh_env, wipe_fresh = fresh_dirs(base_dir, two)
    fresh_one = Command("credproc get dev (empty dirs)", [credproc, "get", "dev"], fresh_env, before=wipe_fresh)
    interleave([plain, cold, no_cache, refresh, fresh_one], max(runs // 2, 5), 1)
    rows = [
        ratio_row("cold 2-hop, --no-cache, vs plain boto3", no_cache, plain, 0.8),
        ratio_row("cold 2-hop, cache written (--refresh), vs plain boto3", refresh, plain, 0.85),
        ratio_row("cold 2-hop from an empty cache, vs plain boto3", cold, plain, None),
    ]
    print("3/5 concurrent cold ...", flush=True)
    rows.append(concurrent(credproc, two.env, sts, cold, empty_cache(two), f"{CONCURRENT} concurrent cold runs"))
    fresh = f"{CONCURRENT} concurrent cold gets from an empty cache directory"
    rows.append(concurrent(credproc, fresh_env, sts, cold, wipe_fresh, fresh))
    rows.append(ratio_row("one cold get from an empty cache directory", fresh_one, cold, None, FRESH_NOTE))
    return rows


def concurrent(
    credproc: str, env: dict[str, str], sts: LocalSts, one_cold: Command, prepare: Callable[[], None], scenario: str
) -> Row:
    """50 cold invocations of one target at once, each round after ``prepare``
    (which empties the cache): one STS call per hop, all answered with the
    same credentials, and the wall time against one cold run (``one_cold``)."""
    walls: list[float] = []
    answered, distinct, hub_calls, dev_calls = 0, 0, 0, 0
    for _ in range(3):
        prepare()
        sts.recorder.reset()
        start = time.perf_counter()
        processes = [
            subprocess.Popen(
                [credproc, "get", "dev"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
            )
            for _ in range(CONCURRENT)
        ]
        outputs = [process.communicate() for process in processes]
        walls.append(time.perf_counter() - start)
        answered = sum(
            1
            for process, (out, _) in zip(processes, outputs, strict=True)
            if process.returncode == 0 and json.loads(out)["AccountId"] == DEV_ACCOUNT
        )
        distinct = len({out for out, _ in outputs})
        hub_calls = len(sts.recorder.of("AssumeRole", HUB_ARN))
        dev_calls = len(sts.recorder.of("AssumeRole", DEV_ROLE))
        if answered != CONCURRENT or distinct != 1 or hub_calls != 1 or dev_calls != 1:
            break
    wall_ms = statistics.median(walls) * 1000
    ratio = wall_ms / one_cold.median_ms
    met = answered == CONCURRENT and distinct == 1 and hub_calls == 1 and dev_calls == 1 and ratio <= CONCURRENT_LIMIT
    measured = (
        f"{answered}/{CONCURRENT} answered, {distinct} distinct output(s); AssumeRole hub {hub_calls}, dev {dev_calls}; "
        f"wall {wall_ms:.0f} ms (median of {len(walls)}) vs {one_cold.median_ms:.0f} ms = **{ratio:.2f}x**"
    )
    target = f"1 STS call per hop, all answered alike, <= {CONCURRENT_LIMIT}x {one_cold.label}"
    return Row(scenario, measured, target, "met" if met else "NOT met")


def fresh_dirs(base: Path, user: User) -> tuple[dict[str, str], Callable[[], None]]:
    """``user``'s environment with a cache dir and a data dir that do not
    exist yet (a new CI runner or container: no key file, no memo, no
    ``pending/``), and what deletes both again before a run."""
    cache_dir, data_dir = base / "fresh-cache", base / "fresh-data"
    env = {**user.env, "CREDPROC_CACHE_DIR": str(cache_dir), "CREDPROC_DATA_DIR": str(data_dir)}

    def wipe() -> None:
        shutil.rmtree(cache_dir, ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)

    return env, wipe


def render(rows: list[Row], notes: list[str], started: str, finished: str, credproc: str, runs: int) -> str:
    lines = [
        "| scenario | median (and ratio) | target | verdict |",
        "|---|---|---|---|",
        *(f"| {row.scenario} | {row.measured} | {row.target} | {row.verdict} |" for row in rows),
        "",
        f"- machine at start: {started}",
        f"- machine at end: {finished}",
        f"- credproc: {credproc}; {runs} timed runs per warm command, fewer for slow ones",
        *(f"- {note}" for note in notes),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
