"""The systems under test: our cluster and two peers, each started on free loopback ports.

Peers are installed at run time into `benchmarks/.peers/` (never vendored): moto_server into a
venv with pip, s3rver with npm. A peer that cannot be installed or started is reported and
skipped; the run goes on without it.
"""

from __future__ import annotations

import os
import queue
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from s3bench import procs

HOST = "127.0.0.1"
BENCH_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BENCH_DIR.parent
PEERS_DIR = BENCH_DIR / ".peers"
PEERS_VENV = PEERS_DIR / "venv"
S3RVER_CLI = PEERS_DIR / "node_modules" / "s3rver" / "bin" / "s3rver.js"
PROJECT_BIN = Path(sys.executable).parent

INSTALL_TIMEOUT_SECONDS = 600.0
READY_TIMEOUT_SECONDS = 120.0
# After the measurements: a server still stopping after this long is killed (its data goes).
STOP_TIMEOUT_SECONDS = 5.0
PORT_ATTEMPTS = 200
START_ATTEMPTS = 3


class Unavailable(Exception):
    """A system could not be installed or started."""


@dataclass
class Server:
    """A running system: where to reach it and which processes are it."""

    name: str
    endpoint: str
    access_key: str
    secret_key: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path
    notes: list[str] = field(default_factory=list)
    # Ours only: the cluster secret the chunk daemons require (we choose it at first start, so
    # that the redundancy phase can start daemons of its own), and the daemons' count.
    cluster_secret: str = ""
    servers: int = 0

    def groups(self) -> dict[str, list[int]]:
        """Server processes by role, for memory accounting. The launcher itself is left out."""
        if not self.name.startswith("s3compat"):
            return {"server": procs.tree(self.process.pid)}
        gateway: list[int] = []
        chunkd: list[int] = []
        for child in procs.children_of(self.process.pid):
            args = procs.cmdline(child)
            if "gateway" in args:
                gateway += procs.tree(child)
            elif "chunkd" in args:
                chunkd += procs.tree(child)
        return {"gateway": gateway, "chunkd": chunkd}

    def gateway_pid(self) -> int | None:
        pids = self.groups().get("gateway", [])
        return pids[0] if pids else None

    def all_pids(self) -> list[int]:
        return [pid for pids in self.groups().values() for pid in pids]

    def stop(self) -> None:
        stop_process(self.process)
        shutil.rmtree(self.data_dir, ignore_errors=True)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group we created for `process`, then SIGKILL it if it lingers."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
    else:
        try:  # the leader is gone; its children may not be
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def free_port_block(count: int) -> int:
    """The first of `count` consecutive loopback ports that are all free now."""
    for _ in range(PORT_ATTEMPTS):
        base = random.randrange(20_000, 60_000 - count)
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind((HOST, port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise Unavailable(f"no block of {count} free loopback ports")


def _run_install(command: list[str], log: Path) -> None:
    with log.open("ab") as out:
        try:
            done = subprocess.run(
                command, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_SECONDS
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise Unavailable(f"{' '.join(command[:3])}...: {error}") from error
    if done.returncode != 0:
        raise Unavailable(f"{' '.join(command[:4])}... exited {done.returncode} (see {log})")


def peers_python() -> Path:
    """The peers venv's python, created with moto[server] and matplotlib if missing."""
    python = PEERS_VENV / "bin" / "python"
    log = PEERS_DIR / "install.log"
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    if not python.exists():
        _run_install([sys.executable, "-m", "venv", str(PEERS_VENV)], log)
    if not (PEERS_VENV / "bin" / "moto_server").exists():
        _run_install([str(python), "-m", "pip", "install", "--quiet", "moto[server]"], log)
    return python


def ensure_matplotlib(install: bool = True) -> Path:
    """The peers venv's python, with matplotlib (installed there if missing and `install`)."""
    python = PEERS_VENV / "bin" / "python"
    if not install and not python.exists():
        raise Unavailable("not installed (a --smoke run installs nothing)")
    python = peers_python()
    probe = subprocess.run([str(python), "-c", "import matplotlib"], capture_output=True)
    if probe.returncode != 0 and not install:
        raise Unavailable("not installed (a --smoke run installs nothing)")
    if probe.returncode != 0:
        _run_install(
            [str(python), "-m", "pip", "install", "--quiet", "matplotlib"],
            PEERS_DIR / "install.log",
        )
    return python


def ensure_s3rver() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise Unavailable("node/npm not found")
    if not S3RVER_CLI.exists():
        PEERS_DIR.mkdir(parents=True, exist_ok=True)
        _run_install(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(PEERS_DIR), "s3rver"],
            PEERS_DIR / "install.log",
        )
    if not S3RVER_CLI.exists():
        raise Unavailable(f"npm install did not produce {S3RVER_CLI}")
    return S3RVER_CLI


def _spawn(command: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own process group, so that we stop exactly it
        )


def _drain(process: subprocess.Popen[bytes], lines: queue.Queue[str], log_path: Path) -> None:
    """Copy the child's stdout to the log and to `lines`, so that its pipe never fills."""
    assert process.stdout is not None
    with log_path.open("ab") as log:
        for raw in process.stdout:
            log.write(raw)
            log.flush()
            lines.put(raw.decode(errors="replace").strip())


def _wait_http(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise Unavailable(f"{what} exited with status {process.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it is serving
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise Unavailable(f"{what} did not answer within {READY_TIMEOUT_SECONDS:.0f} s")


# Our clusters: (chunk daemons, parity, extra `s3compat cluster` options).
S3COMPAT_LAYOUTS = {
    # the default: 6 data + 2 parity pieces on 8 daemons
    "s3compat": (8, 2, []),
    # no redundancy: 6 data pieces on 6 daemons (what `--servers 6` gives)
    "s3compat-p0": (6, 0, []),
    # the degraded-read and repair cluster: the default layout, with the gateway's background
    # repair passes held off (else one of them, not the timed `admin repair`, does the work)
    "s3compat-repair": (8, 2, ["--repair-interval", "3600"]),
    # the workers-scaling clusters: the default layout (`--workers` given by the phase)
    "s3compat-workers": (8, 2, []),
    # the evenness cluster: 9 daemons, the default parity
    "s3compat-9": (9, 2, []),
}


def start_s3compat(work: Path, name: str = "s3compat", workers: int = 1) -> Server:
    """`s3compat cluster` of layout `name` (S3COMPAT_LAYOUTS) with `workers` gateway
    processes on 1 + N consecutive free ports; waits for its credentials lines."""
    servers, parity, extra = S3COMPAT_LAYOUTS[name]
    data = work / f"{name}-data"
    log_path = work / f"{name}.log"
    port = free_port_block(servers + 1)
    command = [
        str(PROJECT_BIN / "s3compat"), "cluster",
        "--data", str(data),
        "--port", str(port),
        "--servers", str(servers),
        "--parity", str(parity),
        # One gateway process unless asked (the profile pass records the gateway's one pid);
        # the workers-scaling phase (s3bench/scaling.py) asks for more.
        "--workers", str(workers),
        *extra,
    ]  # fmt: skip
    secret = secrets.token_hex(32)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "S3COMPAT_CLUSTER_SECRET": secret}
    process = _spawn(command, log_path, env)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_drain, args=(process, lines, log_path), daemon=True).start()
    found: dict[str, str] = {}
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while len(found) < 3 and time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if process.poll() is not None:
                raise Unavailable(
                    f"s3compat cluster exited {process.returncode}; see {log_path}"
                ) from None
            continue
        key, _, value = line.partition("=")
        if key in ("S3COMPAT_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            found[key] = value
    if len(found) < 3:
        stop_process(process)
        raise Unavailable(f"s3compat cluster not ready in {READY_TIMEOUT_SECONDS:.0f} s")
    return Server(
        name,
        found["S3COMPAT_ENDPOINT"],
        found["AWS_ACCESS_KEY_ID"],
        found["AWS_SECRET_ACCESS_KEY"],
        process,
        data,
        log_path,
        [f"{servers} chunk daemons, parity {parity}" + (f" ({' '.join(extra)})" if extra else "")],
        cluster_secret=secret,
        servers=servers,
    )


def start_moto(work: Path) -> Server:
    python = peers_python()
    port = free_port_block(1)
    data = work / "moto-tmp"
    data.mkdir()
    log_path = work / "moto.log"
    command = [str(python.parent / "moto_server"), "-H", HOST, "-p", str(port)]
    # moto spools object bodies over a few MiB to temporary files: keep them on the same disk.
    env = {**os.environ, "TMPDIR": str(data)}
    process = _spawn(command, log_path, env)
    threading.Thread(target=_drain, args=(process, queue.Queue(), log_path), daemon=True).start()
    endpoint = f"http://{HOST}:{port}"
    try:
        _wait_http(endpoint + "/", process, "moto_server")
    except Unavailable:
        stop_process(process)
        raise
    version = subprocess.run(
        [str(python), "-c", "import moto; print(moto.__version__)"], capture_output=True, text=True
    ).stdout.strip()
    return Server(
        "moto", endpoint, "testing", "testing", process, data, log_path, [f"moto {version}"]
    )


def start_s3rver(work: Path) -> Server:
    cli = ensure_s3rver()
    port = free_port_block(1)
    data = work / "s3rver-data"
    data.mkdir()
    log_path = work / "s3rver.log"
    command = [
        "node",
        str(cli),
        "--directory",
        str(data),
        "--port",
        str(port),
        "--address",
        HOST,
        "--silent",
    ]
    # s3rver encrypts ListObjectsV2 continuation tokens with a cipher that Node >= 17 hides
    # behind OpenSSL 3's legacy provider (else: 500 ERR_OSSL_EVP_UNSUPPORTED past one page).
    env = {**os.environ, "NODE_OPTIONS": "--openssl-legacy-provider"}
    process = _spawn(command, log_path, env)
    threading.Thread(target=_drain, args=(process, queue.Queue(), log_path), daemon=True).start()
    endpoint = f"http://{HOST}:{port}"
    try:
        _wait_http(endpoint + "/", process, "s3rver")
    except Unavailable:
        stop_process(process)
        raise
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    version = (cli.parent.parent / "package.json").read_text()
    tag = version.split('"version"', 1)[1].split('"')[1] if '"version"' in version else "?"
    return Server(
        "s3rver",
        endpoint,
        "S3RVER",
        "S3RVER",
        process,
        data,
        log_path,
        [f"s3rver {tag} on node {node}"],
    )


def retrying_port_races(start: Callable[[Path], Server]) -> Callable[[Path], Server]:
    """`start`, tried again (on fresh ports and a fresh folder) when the free ports it chose
    were taken by someone else before it could bind them: this machine runs other test
    suites that pick free ports too."""

    def start_with_retries(work: Path) -> Server:
        for attempt in range(1, START_ATTEMPTS + 1):
            attempt_dir = work / f"{start.__name__}-{attempt}"
            attempt_dir.mkdir()
            try:
                return start(attempt_dir)
            except Unavailable:
                logs = "".join(log.read_text(errors="replace") for log in attempt_dir.glob("*.log"))
                if attempt == START_ATTEMPTS or "address already in use" not in logs.lower():
                    raise
        raise AssertionError("unreachable")

    return start_with_retries


def _layout(name: str) -> Callable[[Path], Server]:
    def start(work: Path) -> Server:
        return start_s3compat(work, name)

    start.__name__ = f"start_{name.replace('-', '_')}"
    return start


STARTERS = {
    name: retrying_port_races(start)
    for name, start in (
        ("s3compat", _layout("s3compat")),
        ("s3compat-p0", _layout("s3compat-p0")),
        ("moto", start_moto),
        ("s3rver", start_s3rver),
    )
}
# Started on its own after the other systems are stopped (see s3bench/redundancy.py).
START_REPAIR_CLUSTER = retrying_port_races(_layout("s3compat-repair"))
