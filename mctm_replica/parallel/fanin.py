"""Starting N reader processes, merging their batches into one stream, stopping them.

:func:`read_in_parallel` is a context manager yielding one iterator of row batches, like
:meth:`MssqlResource.stream <mctm_replica.resources.mssql.MssqlResource.stream>`, so the
COPY feed (:mod:`mctm_replica.io_managers.copy_stream`) and everything after it do not
know how many connections read the table.

Each reader (:mod:`.reader`) is a child process started with ``subprocess`` and a pump
thread here that turns its frames into items of one bounded queue: memory stays at a
few batches however many readers there are, and a reader whose batches are not taken
blocks on its pipe. Every reader ends with exactly one of done, error or EOF (it died),
so the iterator never waits for a reader that is gone. Leaving the ``with`` block, for
any reason, closes each reader's stdin (it exits at once), waits for it, kills it if it
does not go, and reaps it: no process and no source connection outlives the read.
"""

from __future__ import annotations

import json
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mctm_replica.parallel import reader as wire
from mctm_replica.parallel.ranges import KeyRange
from mctm_replica.resources.mssql import SourceError
from mctm_replica.tsql import reads

# Batches waiting for the COPY, all readers together: like the single reader's queue
# (copy_stream.QUEUE_DEPTH), a few batches whatever N is.
QUEUE_DEPTH = 4
# How long a stopped reader gets to exit by itself (it only has to notice stdin closing)
# before it is killed.
STOP_WAIT_S = 10
# How often a waiting side re-checks whether it should give up (stop asked, pumps gone).
POLL_S = 0.2


class ReaderFailed(SourceError):
    """A reader process reported an error or died; the message names the table and range."""


@dataclass(frozen=True)
class ReadJob:
    """What every reader of one load gets: connection settings and the unfiltered SELECT."""

    connect: dict[str, Any]  # host, port, database, user, password, timeouts, appname, settings
    select: str  # SELECT ... FROM [s].[t] [WITH (NOLOCK)], no WHERE
    key: str  # the integer key column's name
    batch_size: int
    what: str  # `schema.table`, for messages
    # Seconds without a frame from any running reader before the read is failed (a reader
    # stopped, not dead); the source's query_timeout. None: wait as long as readers live.
    stall_s: float | None = None

    def for_range(self, key_range: KeyRange) -> dict[str, Any]:
        condition, params = key_range.condition(self.key)
        sql = reads.where(self.select, condition) if params else self.select
        return {"connect": self.connect, "sql": sql, "params": list(params),
                "batch_size": self.batch_size, "what": self.what}


class _Reader:
    def __init__(self, index: int, key_range: KeyRange, job: ReadJob, out: queue.Queue, stop: threading.Event):
        self.index, self.range, self._out, self._stop = index, key_range, out, stop
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mctm_replica.parallel.reader"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        try:
            self.proc.stdin.write(json.dumps(job.for_range(key_range)).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            pass  # it died at once: its pump reads EOF and reports that
        self.pump = threading.Thread(target=self._pump, name=f"reader {index + 1} pump", daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        try:
            while not self._stop.is_set():
                frame = wire.read_frame(self.proc.stdout)
                if frame is None:
                    self._put(("died", self.index, None))
                    return
                kind, payload = frame
                if kind == wire.BATCH:
                    if not self._put(("rows", self.index, pickle.loads(payload))):
                        return
                else:
                    self._put(("done" if kind == wire.DONE else "error", self.index, payload))
                    return
        except BaseException as e:  # noqa: BLE001 -- a broken pipe, a bad pickle: the read failed
            self._put(("died", self.index, e))

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._out.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def stop(self) -> None:
        try:
            self.proc.stdin.close()  # the reader exits when it sees EOF
        except OSError:
            pass
        try:
            self.proc.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.pump.join(timeout=STOP_WAIT_S)
        self.proc.stdout.close()

    def exit_text(self) -> str:
        try:
            code = self.proc.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            return "stopped sending rows"
        if code < 0:
            return f"was killed by {signal.Signals(-code).name}"
        return f"exited with status {code}"


@contextmanager
def read_in_parallel(job: ReadJob, ranges: Sequence[KeyRange], *, table: str) -> Iterator[Iterator[list[tuple]]]:
    """One reader process per range; yields an iterator of every reader's batches."""
    out: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
    stop = threading.Event()
    readers: list[_Reader] = []
    try:
        for i, key_range in enumerate(ranges):
            readers.append(_Reader(i, key_range, job, out, stop))
        yield _merged(readers, out, table, job.stall_s)
    finally:
        stop.set()
        for r in readers:
            r.stop()


def _merged(readers: list[_Reader], out: queue.Queue, table: str, stall_s: float | None) -> Iterator[list[tuple]]:
    n, running = len(readers), set(range(len(readers)))
    heard = time.monotonic()
    while running:
        try:
            kind, index, payload = out.get(timeout=POLL_S)
        except queue.Empty:
            if not any(readers[i].pump.is_alive() for i in running) and out.empty():
                raise ReaderFailed(f"table `{table}`: parallel readers stopped without a result") from None
            if stall_s is not None and time.monotonic() - heard > stall_s:
                raise ReaderFailed(
                    f"table `{table}`: readers {sorted(i + 1 for i in running)} of {n} sent nothing for "
                    f"{stall_s:.0f}s (the source's query_timeout); stopped them") from None
            continue
        heard = time.monotonic()
        if kind == "rows":
            yield payload
            continue
        running.discard(index)
        r = readers[index]
        label = f"table `{table}`: reader {index + 1} of {n} ({r.range.describe()})"
        if kind == "error":
            report = json.loads(payload)
            cause = ConnectionError(report["message"]) if report["transient"] else None
            raise ReaderFailed(f"{label} failed: {report['message']}") from cause
        if kind == "died":
            raise ReaderFailed(f"{label} {r.exit_text()} before reading its whole range"
                               + (f" ({payload})" if payload is not None else "")) from payload
