"""The crash test's controller: kills a chunk daemon or the gateway, waits until the launcher
brought it back and the gateway is healthy, pauses, and again. Every few events it instead
destroys the disks of up to M (parity) chunk daemons at once: their data folders are replaced
by empty ones (the server keeps its identity, as a machine whose disk was swapped) and they are
killed, so the launcher restarts them on nothing. Then it heals the cluster as an operator
would (`admin scrub --repair`) before anything else happens.

The invariant this exercises: an acknowledged write survives the loss of any M servers' disks
once the cluster had repaired what earlier faults left short. So a wipe starts only after a
`admin repair --wait` has brought every object to full protection, and no other fault happens
until the wiped pieces are rebuilt. (A write acknowledged with 6+1 pieces while a daemon was
down tolerates only one more loss until repair: the k+1 rule, as Swift and Ceph.)
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from faults_support import gateway_pid, health
from support.catalog import catalog_rows
from support.processes import chunkd_pid
from support.waiting import wait_for

Cluster = Any
# Seconds between faults (uniform), counted from the moment the previous victim is back.
KILL_PAUSE_SECONDS = (1.5, 3.5)
GATEWAY_KILL_EVERY = 4  # every 4th fault kills the gateway
WIPE_EVERY = 5  # every 5th fault (counted from the 3rd) wipes the disks of PARITY daemons
PARITY = 2
RECOVERY_SECONDS = 60.0
HEAL_SECONDS = 240.0
SERVER_ID_FILE = "server-id"


@dataclass
class Heal:
    """One `admin scrub --repair` after a wipe: pieces it rebuilt, and what its second scrub
    (after the repair, while clients keep writing) still found."""

    seconds: float
    rebuilt: int
    found: dict[str, int]
    left: dict[str, list[str]]


@dataclass
class Faults:
    kills: Counter[str] = field(default_factory=Counter)
    kill_times: list[float] = field(default_factory=list)
    recovery_seconds: list[float] = field(default_factory=list)
    wipes: int = 0
    # Pieces the catalog placed on the wiped daemons when their disks were destroyed.
    destroyed: int = 0
    heals: list[Heal] = field(default_factory=list)


class Controller(threading.Thread):
    def __init__(self, cluster: Cluster, stop: threading.Event, seed: str) -> None:
        super().__init__(name="chaos-controller", daemon=True)
        self.cluster = cluster
        self.stop = stop
        self.random = random.Random(f"{seed}/controller")
        self.faults = Faults()
        self.failure: str | None = None
        self._events = 0

    def run(self) -> None:
        try:
            while not self.stop.wait(self.random.uniform(*KILL_PAUSE_SECONDS)):
                self._events += 1
                if self._events % WIPE_EVERY == 3:
                    self.wipe_some()
                elif self._events % GATEWAY_KILL_EVERY == 2:
                    self.kill(lambda: gateway_pid(self.cluster), "gateway")
                else:
                    url = self.random.choice(self.cluster.chunk_urls)
                    self.kill(_finder(self.cluster, url), "chunkd")
        except Exception:
            self.failure = traceback.format_exc()

    def kill(self, find: Callable[[], int], kind: str) -> None:
        victim = wait_for_pid(find)
        os.kill(victim, signal.SIGKILL)
        self._killed(kind)
        self._wait_back([(find, victim)])

    def wipe_some(self) -> None:
        """Repair to full protection, then destroy PARITY daemons' disks at once and heal."""
        admin_json(self.cluster, "repair", "--wait", timeout=HEAL_SECONDS)
        numbers = self.random.sample(range(len(self.cluster.chunk_urls)), PARITY)
        urls = [self.cluster.chunk_urls[number] for number in numbers]
        marks = ", ".join("?" for _ in urls)
        self.faults.destroyed += catalog_rows(
            self.cluster,
            f"SELECT count(*) FROM chunks JOIN servers USING (server_id) WHERE url IN ({marks})",
            *urls,
        )[0][0]
        victims = []
        for number in numbers:
            url = self.cluster.chunk_urls[number]
            find = _finder(self.cluster, url)
            victim = wait_for_pid(find)
            wipe_folder(self.cluster.chunk_dirs[number])
            os.kill(victim, signal.SIGKILL)
            self._killed("chunkd")
            victims.append((find, victim))
        self.faults.wipes += len(numbers)
        self._wait_back(victims)
        started = now()
        document = admin_json(self.cluster, "scrub", "--repair", timeout=HEAL_SECONDS)
        found = Counter[str]()
        for findings in document.get("servers", {}).values():
            found["missing"] += len(findings["missing"])
            found["corrupt"] += len(findings["corrupt"])
            found["unreachable"] += bool(findings["unreachable"])
        objects = document["objects"]
        self.faults.heals.append(
            Heal(
                now() - started,
                int(document.get("repair", {}).get("pieces_rebuilt", 0)),
                dict(found),
                {"degraded": objects["degraded"], "lost": objects["lost"]},
            )
        )

    def _killed(self, kind: str) -> None:
        self.faults.kills[kind] += 1
        self.faults.kill_times.append(now())

    def _wait_back(self, victims: list[tuple[Callable[[], int], int]]) -> None:
        killed_at = self.faults.kill_times[-1]
        for find, victim in victims:
            wait_for(partial(_restarted, find, victim), RECOVERY_SECONDS)
        wait_for(lambda: health(self.cluster) == 200, RECOVERY_SECONDS, interval=0.2)
        self.faults.recovery_seconds.append(now() - killed_at)


def _restarted(find: Callable[[], int], victim: int) -> bool:
    return current_pid(find) not in (None, victim)


def _finder(cluster: Cluster, url: str) -> Callable[[], int]:
    return lambda: chunkd_pid(cluster, url)


def wipe_folder(folder: Path) -> None:
    """Swap a live daemon's data folder for an empty one holding only its identity; the old
    one is deleted. Writes the daemon finishes before its kill land in the new folder."""
    gone = folder.with_name(folder.name + ".wiped")
    os.rename(folder, gone)
    folder.mkdir()
    identity = gone / SERVER_ID_FILE
    if identity.exists():
        shutil.copy2(identity, folder / SERVER_ID_FILE)
    shutil.rmtree(gone, ignore_errors=True)


def current_pid(find: Callable[[], int]) -> int | None:
    """A child's pid, or None while the launcher is restarting it."""
    try:
        return find()
    except (AssertionError, LookupError):
        return None


def wait_for_pid(find: Callable[[], int]) -> int:
    pid: int = wait_for(lambda: current_pid(find), RECOVERY_SECONDS)
    return pid


def admin_json(cluster: Cluster, *arguments: str, timeout: float = 120) -> Any:
    """`s3compat admin ...` whose exit status may be 1 (scrub and repair report damage so)."""
    completed = subprocess.run(
        [sys.executable, "-m", "s3compat", "admin", "--data", str(cluster.data_dir), *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode in (0, 1), completed.stderr[-3000:]
    return json.loads(completed.stdout)


def now() -> float:
    return time.monotonic()
