"""Sampling profiles of our gateway (and one chunk daemon) with py-spy, and their summaries.

py-spy runs beside a workload and is stopped with SIGINT when it ends; it writes collapsed
stacks (`--format raw`: one line per distinct stack, `frame;frame;... count`). The summary
gives, as shares of the samples in which a thread was busy:
- `self`: the function on top of the stack (where the CPU actually is);
- `own`: the deepest frame in our code (s3compat/, chunkd/), charged with everything it calls
  in libraries: the call site in our code to look at;
- `inclusive`: our functions anywhere on the stack.
Samples whose top frame waits (epoll, a worker thread's queue, a lock) are idle, not busy.
"""

from __future__ import annotations

import collections
import linecache
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s3bench.systems import PROJECT_BIN, REPO_DIR

RATE_HZ = 100
MAX_SECONDS = 300
TOP = 12
OWN_PREFIXES = ("s3compat/", "chunkd/")
# Entry points sit under every frame of the process; they say nothing about where time goes.
ENTRY_FILES = ("s3compat/cli.py", "s3compat/__main__.py", "chunkd/__main__.py")
# A thread whose top frame is one of these, on a line that waits (queue get, epoll, lock), is
# idle: py-spy here cannot tell a blocked thread from a running one, so the line decides.
WAITING_FILES = (
    "concurrent/futures/thread.py",
    "selectors.py",
    "threading.py",
    "queue.py",
)
WAITING_LINE = re.compile(r"\.(get|select|poll|wait|acquire)\(|^\s*work_item = ")
FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?):(?P<line>\d+)\)$")
SHORTEN = re.compile(r"^.*?/(site-packages|lib/python3\.\d+)/")
OWN_ROOT = re.compile(r"^.*/(?=(s3compat|chunkd)/)")


def py_spy() -> Path | None:
    """The project venv's py-spy, pip-installed on first use."""
    binary = PROJECT_BIN / "py-spy"
    if not binary.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "py-spy"],
            capture_output=True,
            timeout=300,
        )
    return binary if binary.exists() else None


@dataclass
class Recording:
    process: subprocess.Popen[bytes]
    output: Path
    log: Path
    started: float

    def stop(self) -> float:
        """Stop sampling (py-spy writes its file on SIGINT); the seconds it ran."""
        seconds = time.monotonic() - self.started
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return seconds


def start(binary: Path, pid: int, output: Path) -> Recording:
    log = output.with_suffix(".log")
    command = [
        str(binary),
        "record",
        "--pid",
        str(pid),
        "--rate",
        str(RATE_HZ),
        "--duration",
        str(MAX_SECONDS),
        "--format",
        "raw",
        "--full-filenames",
        "--threads",
        "--output",
        str(output),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    time.sleep(0.5)  # let it attach before the workload starts
    return Recording(process, output, log, time.monotonic())


@dataclass(frozen=True)
class Frame:
    file: str  # shortened: s3compat/store/pieces.py, aiohttp/streams.py, asyncio/events.py
    name: str
    line: int
    source: str  # the text of that line, when the file is readable here

    @property
    def function(self) -> str:
        return f"{self.file}:{self.name}"

    @property
    def place(self) -> str:
        return f"{self.file}:{self.line} {self.name}: {self.source}"

    @property
    def own(self) -> bool:
        return self.file.startswith(OWN_PREFIXES) and not self.file.startswith(ENTRY_FILES)

    @property
    def waiting(self) -> bool:
        return self.file.endswith(WAITING_FILES) and bool(WAITING_LINE.search(self.source))


def _shorten(path: str) -> str:
    root = str(REPO_DIR) + "/"
    if "/site-packages/" not in path:
        if path.startswith(root):
            return path[len(root) :]
        own = OWN_ROOT.match(path)  # another checkout of the project
        if own is not None:
            return path[own.end() :]
    return SHORTEN.sub("", path)


def _parse_frame(text: str) -> Frame:
    match = FRAME.match(text)
    if match is None:
        return Frame("", text, 0, "")
    line = int(match["line"])
    source = linecache.getline(match["file"], line).strip()
    return Frame(_shorten(match["file"]), match["name"], line, source[:90])


def summarise(raw: Path, seconds: float) -> dict[str, Any]:
    """Shares of busy samples by self function, by own call site and by own inclusive time."""
    self_time: collections.Counter[str] = collections.Counter()
    own_site: collections.Counter[str] = collections.Counter()
    own_line: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    parsed: dict[str, Frame] = {}
    busy = idle = 0
    for text in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = text.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        names = [f for f in stack.split(";") if not f.startswith("process ")]
        thread = "?"
        if names and names[0].startswith("thread "):
            thread = names.pop(0).split(": ", 1)[-1]
        if not names:
            continue
        frames = [parsed.get(n) or parsed.setdefault(n, _parse_frame(n)) for n in names]
        if frames[-1].waiting:
            idle += count
            continue
        busy += count
        threads[re.sub(r"(_\d+|-\d+)( |$)", r"_N\2", thread)] += count
        self_time[frames[-1].function] += count
        own = [frame for frame in frames if frame.own]
        own_site[own[-1].function if own else "(event loop / library, no frame of ours)"] += count
        if own:
            own_line[own[-1].place] += count
        for function in {frame.function for frame in own}:
            inclusive[function] += count

    def shares(counter: collections.Counter[str]) -> list[list[Any]]:
        return [[key, round(n / busy, 4)] for key, n in counter.most_common(TOP)] if busy else []

    return {
        "seconds": round(seconds, 2),
        "busy_samples": busy,
        "idle_samples": idle,
        # Busy samples over those of one always-busy thread: near 1.0 means a core's worth of
        # work in this process (the GIL lets only one thread run Python at a time).
        "busy_vs_one_core": round(busy / max(1.0, seconds * RATE_HZ), 3),
        "threads": shares(threads),
        "self": shares(self_time),
        "own_call_site": shares(own_site),
        "own_call_line": shares(own_line),
        "own_inclusive": shares(inclusive),
    }


def render(name: str, summary: dict[str, Any]) -> str:
    lines = [
        f"== {name}: {summary['seconds']} s, {summary['busy_samples']} busy samples "
        f"(busy/one core = {summary['busy_vs_one_core']}), {summary['idle_samples']} idle",
        "  threads:   " + ", ".join(f"{k} {v:.0%}" for k, v in summary["threads"]),
    ]
    for title, key in (
        ("self (top of stack)", "self"),
        ("own call site (deepest frame in our code, with callees)", "own_call_site"),
        ("own call line", "own_call_line"),
        ("own inclusive", "own_inclusive"),
    ):
        lines.append(f"  {title}:")
        lines += [f"    {share:6.1%}  {function}" for function, share in summary[key]]
    return "\n".join(lines)
