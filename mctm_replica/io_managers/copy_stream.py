"""Feeding COPY from the source: a reader thread, a bounded queue, encoding on the COPY side.

The reader thread only fetches row batches from SQL Server. pymssql releases the GIL
while it waits for the server, so the thread that runs ``copy_expert`` encodes the
previous batch meanwhile instead of the source stalling. The queue holds a few batches,
so memory does not grow with the table. Errors cross the queue too and are raised on the
COPY side; :attr:`CopyFeed.error` keeps the source's own exception because psycopg2
replaces anything raised inside ``read()`` with "COPY from stdin failed".
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from mctm_replica.io_managers.copy_format import Encoder
from mctm_replica.plan import Batches

# Batches fetched ahead of the COPY: enough to keep both sides busy, small enough that
# memory stays at a few batches (about 2-3 MB each for 10,000 typical rows).
QUEUE_DEPTH = 4
# Progress is logged at this interval on long copies, not per batch.
PROGRESS_EVERY_S = 5.0
# After a failure, how long to wait for the reader thread to notice and close the source.
READER_JOIN_TIMEOUT_S = 60


class Progress:
    """Logs rows, rows/s and -- with the source's row count -- percent and ETA."""

    def __init__(self, log, name: str, total: int | None):
        self.log, self.name, self.total = log, name, total
        self.started = self.last = time.monotonic()

    def tick(self, rows: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        rate = rows / (now - self.started) if now > self.started else 0.0
        msg = f"{self.name}: {rows:,} rows, {rate:,.0f} rows/s"
        if self.total:
            pct = min(100.0, 100.0 * rows / self.total)
            eta = max(0.0, (self.total - rows) / rate) if rate else 0.0
            msg += f", {pct:.0f}% of {self.total:,}, ETA {eta:.0f}s"
        self.log.info(msg)


class CopyFeed:
    """Runs the reader thread and is the file-like object ``copy_expert`` reads."""

    def __init__(
        self,
        open_batches: Callable[[], Batches],
        encoder: Encoder,
        progress: Progress,
        name: str,
        observe: Callable[[list[tuple]], None] | None = None,
    ):
        """``observe`` sees every batch before it is encoded (the watermark's maximum)."""
        self._open, self._encoder, self._progress = open_batches, encoder, progress
        self._observe = observe
        self._q: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._produce, name=f"read {name}", daemon=True)
        self.rows = 0
        self.error: BaseException | None = None

    def start(self) -> None:
        self._reader.start()

    def read(self, _size: int = -1) -> bytes:
        while True:
            item = self._q.get()
            if isinstance(item, BaseException):
                self.error = item
                raise item
            if item is None:
                return b""  # ends the COPY
            self.rows += len(item)
            self._progress.tick(self.rows)
            if self._observe is not None:
                self._observe(item)
            if data := self._encoder.encode(item):
                return data

    def finish(self) -> None:
        """After a complete COPY: the reader has nothing left to do."""
        self._reader.join()

    def abort(self) -> None:
        """After a failure: stop the reader so it closes the source connection."""
        self._stop.set()
        try:
            while True:
                self._q.get_nowait()
        except queue.Empty:
            pass
        if self._reader.ident is not None:
            self._reader.join(timeout=READER_JOIN_TIMEOUT_S)

    def _produce(self) -> None:
        try:
            with self._open() as batches:
                for rows in batches:
                    if not self._put(rows):
                        return
            self._put(None)
        except BaseException as e:  # handed to the COPY side, which re-raises it
            self._put(e)

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False
