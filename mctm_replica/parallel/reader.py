"""One reader process of a parallel full load: ``python -m mctm_replica.parallel.reader``.

The parent (:mod:`.fanin`) starts it with ``subprocess`` -- fork and exec of a fresh
interpreter -- so no ``multiprocessing`` start method, forkserver or ``__main__`` module
of the Dagster process it runs in is involved or changed. The job (connection settings,
password included, and the query) arrives as one JSON line on stdin, never on the command
line, which ``ps`` shows. stdin then stays open: when it reaches EOF the parent is gone
(or stopped this reader) and the process exits at once, closing its connection, so a
killed step never leaves a reader or a source session behind.

stdout carries frames, each ``kind`` (1 byte) + length (4 bytes, big-endian) + payload:

* ``B`` -- one batch of rows, pickled (rows as pymssql returns them);
* ``E`` -- the error that ended the read: JSON ``{"message", "transient"}``;
* ``D`` -- done: every row of the range was sent.

A reader that ends without ``D`` or ``E`` died; the parent reports that.
Nothing else may reach stdout: it is moved to a private descriptor and fd 1 points at
stderr, so a library printing there cannot corrupt the frames.
"""

from __future__ import annotations

import json
import os
import pickle
import queue
import struct
import sys
import threading
from typing import Any, BinaryIO

HEADER = struct.Struct(">cI")
BATCH, ERROR, DONE = b"B", b"E", b"D"
#: Exit status when stdin closed (the parent stopped or lost this reader).
EXIT_ORPHANED = 3


def write_frame(out: BinaryIO, kind: bytes, payload: bytes) -> None:
    out.write(HEADER.pack(kind, len(payload)))
    out.write(payload)
    out.flush()


def read_frame(stream: BinaryIO) -> tuple[bytes, bytes] | None:
    """The next frame, or None at EOF (a cut frame counts as EOF: the reader died)."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    kind, size = HEADER.unpack(header)
    payload = stream.read(size)
    return (kind, payload) if len(payload) == size else None


def _exit_when_stdin_closes() -> None:
    while sys.stdin.buffer.read(1 << 12):
        pass
    os._exit(EXIT_ORPHANED)


def _message(e: BaseException) -> str:
    parts = [a.decode(errors="replace") if isinstance(a, bytes) else str(a) for a in e.args]
    text = " ".join(p for p in parts if p).strip()
    return " ".join(text.split()) or type(e).__name__


class _Sender:
    """Writes frames from a thread, so the next batch is fetched while the parent still
    takes the last one (the pipe holds 64 KB, a batch megabytes). One frame waits at most:
    a reader holds about two batches."""

    def __init__(self, out: BinaryIO):
        self._out, self._q = out, queue.Queue(maxsize=1)
        self._thread = threading.Thread(target=self._send, name="sender", daemon=True)
        self._thread.start()

    def _send(self) -> None:
        while (item := self._q.get()) is not None:
            try:
                write_frame(self._out, *item)
            except OSError:  # the parent stopped reading: it has failed or aborted
                os._exit(EXIT_ORPHANED)

    def send(self, kind: bytes, payload: bytes) -> None:
        self._q.put((kind, payload))

    def close(self) -> None:
        """Every frame written."""
        self._q.put(None)
        self._thread.join()


def run(job: dict[str, Any], out: BinaryIO) -> int:
    import pymssql

    from mctm_replica.connection_settings import SourceConnection
    from mctm_replica.resources.freetds import connect_kwargs
    from mctm_replica.retry import is_transient

    c = job["connect"]
    where = f"{c['user']}@{c['host']}:{c['port']}/{c['database']}"  # never the password
    try:
        conn = pymssql.connect(
            **connect_kwargs(SourceConnection(**c["settings"]), host=c["host"], port=c["port"]),
            user=c["user"], password=c["password"], database=c["database"],
            login_timeout=c["login_timeout"], timeout=c["query_timeout"], appname=c["appname"],
            autocommit=True)  # conn_properties left alone: it sets TEXTSIZE (see resources.mssql)
    except Exception as e:  # noqa: BLE001 -- every failure is reported to the parent
        write_frame(out, ERROR, json.dumps({"message": f"cannot connect to SQL Server {where}: {_message(e)}",
                                            "transient": is_transient(e)}).encode())
        return 1
    sender = _Sender(out)
    try:
        cur = conn.cursor()
        cur.execute(job["sql"], tuple(job["params"]) or None)
        while rows := cur.fetchmany(job["batch_size"]):
            sender.send(BATCH, pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL))
        sender.send(DONE, b"")
        return 0
    except Exception as e:  # noqa: BLE001
        sender.send(ERROR, json.dumps({"message": f"reading {job['what']} from {where} failed: "
                                                  f"{_message(e)}", "transient": is_transient(e)}).encode())
        return 1
    finally:
        conn.close()
        sender.close()


def main() -> int:
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    job = json.loads(sys.stdin.buffer.readline())
    threading.Thread(target=_exit_when_stdin_closes, name="parent watch", daemon=True).start()
    try:
        code = run(job, out)
    except BrokenPipeError:
        code = EXIT_ORPHANED
    try:
        out.flush()
    except OSError:
        pass
    return code


if __name__ == "__main__":
    # os._exit, not sys.exit: interpreter shutdown would wait on the stdin lock the parent
    # watch thread holds (a fatal error); every frame is flushed and the connection closed.
    os._exit(main())
