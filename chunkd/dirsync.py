"""Directory fsyncs, shared between the threads that need one.

A rename, unlink or mkdir is durable only once its directory has been fsynced. ``DirSyncer``
keeps this invariant: a caller returns only after an fsync of the directory that *started after*
it called, and concurrent callers share one such fsync instead of each issuing their own.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """fsync one directory, making the changes made in it so far durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DirSyncer:
    """fsyncs directories on behalf of many threads.

    A caller that changed a directory (a rename, an unlink, a mkdir in it) needs an fsync of it
    that *started after* its change. One fsync serves every caller whose change came before it
    started: callers arriving while one runs wait for it to end and share the next one.
    """

    class _State:
        def __init__(self, lock: threading.Lock) -> None:
            self.changed = threading.Condition(lock)  # its own waiters, the shared lock
            self.started = 0  # generation of the latest fsync begun
            self.done = 0  # generation of the latest fsync completed
            self.running = False
            self.users = 0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[Path, DirSyncer._State] = {}

    def sync(self, directory: Path) -> None:
        """Return once an fsync of ``directory`` begun after this call has completed."""
        with self._lock:
            state = self._states.get(directory)
            if state is None:
                state = self._states[directory] = DirSyncer._State(self._lock)
            state.users += 1
            needed = state.started + 1
            try:
                while state.done < needed:
                    if state.running:
                        state.changed.wait()
                        continue
                    state.running = True
                    state.started += 1
                    generation = state.started
                    self._lock.release()
                    try:
                        fsync_dir(directory)
                    finally:
                        self._lock.acquire()
                        state.running = False
                        state.changed.notify_all()
                    state.done = generation
            finally:
                state.users -= 1
                if state.users == 0:
                    del self._states[directory]
