"""SQLite's WAL checkpoints on a thread of their own, so no commit (on the event loop) waits for an fsync."""

# By default the commit that takes the WAL past 1,000 pages copies it into the database and fsyncs both,
# inside that commit. Turns that commit on the event loop then stopped every request: batches of 10-20 ms
# took 100 ms to 2.9 s under disk load on these machines (/tmp/p/spikes.py-style runs: none over 90 ms with
# the checkpoints moved). A serving process turns the automatic checkpoint off on its connections and
# runs PASSIVE checkpoints here (they never block a writer or wait for a reader); sqlite3 releases the GIL
# while one runs. Other processes (the command line) keep SQLite's default.

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)


class Checkpointer(threading.Thread):
    def __init__(self, path: str, interval_s: float = 1.0):
        super().__init__(name="wal-checkpoint", daemon=True)
        self.path, self.interval_s = path, interval_s
        self.frames = 0  # WAL frames copied into the database so far
        self._halt = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            while not self._halt.wait(self.interval_s):
                self.checkpoint(conn)
            self.checkpoint(conn)
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            _busy, _log, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # a locked or vanished file: the next round tries again
            log.warning("WAL checkpoint of %s failed: %s", self.path, exc)
            return
        self.frames += max(copied, 0)

    def stop(self, timeout: float = 10.0) -> None:
        self._halt.set()
        self.join(timeout)
