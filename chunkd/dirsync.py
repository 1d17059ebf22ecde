"""fsyncs shared between the threads that need one (group commit).

A rename, unlink or mkdir is durable only once its directory has been fsynced; an append to a
pack file once the file has been fdatasynced. ``SharedSyncs`` keeps this invariant for any
such target: a caller returns only after a sync of its target that *started after* it called,
and concurrent callers share one such sync instead of each issuing their own. ``DirSyncer`` is
it for directories.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """fsync one directory, making the changes made in it so far durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SharedSyncs:
    """Syncs of targets (a directory, a file) on behalf of many threads.

    A caller that changed a target needs a sync of it that *started after* its change. One
    sync serves every caller whose change came before it started: callers arriving while one
    runs wait for it to end and share the next one.
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
        self._states: dict[Hashable, SharedSyncs._State] = {}

    def run(self, target: Hashable, sync: Callable[[], None]) -> None:
        """Return once a `sync()` of ``target`` begun after this call has completed (an error
        of that sync is raised in the thread that ran it; the others run the next one)."""
        with self._lock:
            state = self._states.get(target)
            if state is None:
                state = self._states[target] = SharedSyncs._State(self._lock)
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
                        sync()
                    finally:
                        self._lock.acquire()
                        state.running = False
                        state.changed.notify_all()
                    state.done = generation
            finally:
                state.users -= 1
                if state.users == 0:
                    del self._states[target]


class DirSyncer(SharedSyncs):
    """Directory fsyncs shared between threads (see SharedSyncs)."""

    def sync(self, directory: Path) -> None:
        """Return once an fsync of ``directory`` begun after this call has completed."""
        self.run(directory, lambda: fsync_dir(directory))
