"""SQLite under concurrent requests: one writer at a time, and nobody sleeping in SQLite's busy handler.

SQLite lets one connection write at a time. When writers collide, SQLite's busy handler
retries in growing sleeps (1, 2, 5, 10 … 100 ms): with 32 callers the tail latency went to
seconds. Here a write transaction first takes this process's writer lock (threads queue on it
and are woken the moment it is free), then a file lock shared by the processes using the
database (polled every ≤ 2 ms), and only then `BEGIN IMMEDIATE`, which therefore never waits
for one of our own writers. SQLite's busy timeout stays as the backstop for processes that
don't take the file lock (the sqlite3 shell, a backup tool).

Reads take neither lock. The connection (a DBAPI connection: its transaction starts by itself)
opens a transaction at its first statement: a read starts a deferred `BEGIN` (WAL readers never
wait for writers), a write the locked `BEGIN IMMEDIATE`. A transaction that read first and then
writes ends its read part (nothing was written: a rollback loses nothing) and starts again as
a write: the reads before the first write saw a snapshot taken a moment earlier, what
PostgreSQL's READ COMMITTED gives every statement, which the services are written for (credits
move by conditional UPDATEs, never read-modify-write). Upgrading in place instead would fail
with SQLITE_BUSY_SNAPSHOT whenever another writer committed after the first read.

The locks are released when the transaction ends however it ends: commit, rollback, a COMMIT
or ROLLBACK sent as SQL, SQLite rolling back by itself after an error, the connection closed
(SQLAlchemy closes an invalidated connection) or garbage-collected. A process that dies holds
nothing: the kernel drops its file lock and SQLite ignores its uncommitted WAL frames.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import sqlite3
import sys
import threading
import time
import weakref
from contextlib import closing
from typing import Any

log = logging.getLogger(__name__)

# How long a write may wait for the other writers (of this process, then of the others) before
# it fails with "database is locked" (503 database_unavailable). A write transaction holds the
# lock for about a millisecond, so 32 queued callers wait tens of milliseconds; seconds mean
# something is stuck.
WRITE_WAIT_SECONDS = 5.0
# SQLite's own busy timeout: only writers that don't take our locks can make us wait in it.
BUSY_TIMEOUT_MS = 5000
# Between processes the file lock is polled: short fixed pauses, not SQLite's growing sleeps.
FILE_LOCK_MAX_PAUSE = 0.002
# The interpreter's GIL switch interval under SQLite (CPython's default: 5 ms). See shorten_gil_turns.
GIL_SWITCH_SECONDS = 0.0005
# Checkpoints run in a thread of their own (see Checkpointer), at most this often while writes come in.
CHECKPOINT_EVERY_SECONDS = 1.0
CHECKPOINTER_IDLE_EXIT = 60.0

READ, WRITE, PASS = "read", "write", "pass"
_FIRST_WORD = re.compile(r"\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*([A-Za-z]+)", re.S)
_WRITES_IN_CTE = re.compile(r"\b(?:INSERT|UPDATE|DELETE|REPLACE)\b", re.I)
_KIND_BY_WORD = {
    "SELECT": READ,
    "VALUES": READ,
    "EXPLAIN": READ,
    # Transaction control and statements that must run outside a transaction: passed as they come.
    "BEGIN": PASS,
    "COMMIT": PASS,
    "END": PASS,
    "ROLLBACK": PASS,
    "RELEASE": PASS,
    "PRAGMA": PASS,
    "VACUUM": PASS,
    "ATTACH": PASS,
    "DETACH": PASS,
}
_kinds: dict[str, str] = {}  # statement text -> kind; the app has a few hundred distinct statements


def statement_kind(sql: str) -> str:
    """READ, WRITE or PASS (run as it is, no transaction opened); unknown statements count as writes."""
    kind = _kinds.get(sql)
    if kind is None:
        match = _FIRST_WORD.match(sql)
        word = match.group(1).upper() if match else ""
        kind = _KIND_BY_WORD.get(word, WRITE)  # INSERT, UPDATE, DELETE, REPLACE, CREATE, SAVEPOINT ...
        if word == "WITH":
            kind = WRITE if _WRITES_IN_CTE.search(sql) else READ
        if len(_kinds) < 10_000:
            _kinds[sql] = kind
    return kind


class WriterGate:
    """One writer at a time for one database file: a thread lock in this process, a file lock across processes."""

    def __init__(self, path: str | None) -> None:
        self.lock_path = f"{path}-writer.lock" if path else None  # None: a private in-memory database
        self._reset()

    def _reset(self) -> None:
        self.thread_lock = threading.Lock()
        self.fd: int | None = None
        self.holder: object | None = None

    def after_fork(self) -> None:
        # The child must not share the parent's lock: a flock belongs to the open file, which
        # the child inherited. A thread of the parent that held the lock does not exist here.
        if self.fd is not None:
            os.close(self.fd)
        self._reset()

    def acquire(self, holder: object) -> None:
        deadline = time.monotonic() + WRITE_WAIT_SECONDS
        if not self.thread_lock.acquire(timeout=WRITE_WAIT_SECONDS):
            raise sqlite3.OperationalError("database is locked (waited for this process's other writers)")
        try:
            self._lock_file(deadline)
        except BaseException:
            self.thread_lock.release()
            raise
        self.holder = holder

    def _lock_file(self, deadline: float) -> None:
        if self.lock_path is None:
            return
        if self.fd is None:
            self.fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        pause = 0.0002
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise sqlite3.OperationalError("database is locked (waited for another process's writer)") from None
                time.sleep(pause)
                pause = min(pause * 2, FILE_LOCK_MAX_PAUSE)

    def release(self, holder: object) -> None:
        """Release if `holder` holds the gate (a connection may release twice: commit, then close)."""
        if self.holder is not holder:
            return
        self.holder = None
        try:
            if self.fd is not None:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            self.thread_lock.release()


class Checkpointer:
    """Copies the WAL back into the database file from a thread of its own.

    SQLite's automatic checkpoint runs inside the COMMIT that crosses 1,000 WAL pages: that
    request waits for the copy and its fsyncs while it still holds the write lock, and so does
    every writer queued behind it. Our connections turn it off (wal_autocheckpoint=0) and this
    thread runs a PASSIVE checkpoint (it never blocks readers or writers) at most once a second
    while writes come in, so the WAL stays at about a second of writes.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None
        self.start_lock = threading.Lock()

    def after_fork(self) -> None:
        self.wake, self.thread, self.start_lock = threading.Event(), None, threading.Lock()

    def note_write(self) -> None:
        self.wake.set()
        if self.thread is None or not self.thread.is_alive():
            with self.start_lock:
                if self.thread is None or not self.thread.is_alive():
                    self.thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
                    self.thread.start()

    def _run(self) -> None:
        while self.wake.wait(timeout=CHECKPOINTER_IDLE_EXIT):  # idle for a minute: the thread ends
            time.sleep(CHECKPOINT_EVERY_SECONDS)  # let writes gather
            self.wake.clear()
            try:
                self.checkpoint()
            except sqlite3.Error as exc:  # e.g. the database was removed; the next write retries
                log.warning("sqlite checkpoint failed", extra={"error": str(exc)})

    def checkpoint(self) -> None:
        if not os.path.exists(self.path):
            return
        with closing(sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)) as conn:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


_gates: dict[str, WriterGate] = {}
_checkpointers: dict[str, Checkpointer] = {}
_registry_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    for gate in _gates.values():
        gate.after_fork()
    for checkpointer in _checkpointers.values():
        checkpointer.after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _shared(path: str | None) -> tuple[WriterGate, Checkpointer | None]:
    """The gate (and checkpointer) of a database file, shared by every engine of this process."""
    if path is None:
        return WriterGate(None), None
    with _registry_lock:
        gate = _gates.setdefault(path, WriterGate(path))
        checkpointer = _checkpointers.setdefault(path, Checkpointer(path))
    return gate, checkpointer


class GatedCursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = ()) -> GatedCursor:
        connection: GatedConnection = self.connection  # type: ignore[assignment]
        connection.before_statement(sql)
        try:
            return super().execute(sql, parameters)
        finally:
            connection.after_statement()

    def executemany(self, sql: str, seq_of_parameters: Any) -> GatedCursor:
        connection: GatedConnection = self.connection  # type: ignore[assignment]
        connection.before_statement(sql)
        try:
            return super().executemany(sql, seq_of_parameters)
        finally:
            connection.after_statement()


class GatedConnection(sqlite3.Connection):
    """A sqlite3 connection whose transactions open at their first statement, writes through the gate.

    Made by sqlite3.connect(factory=...) (see engine_options); `isolation_level=None` stops the
    sqlite3 module from opening transactions of its own.
    """

    def __init__(self, database: str, *args: Any, **kwargs: Any) -> None:
        kwargs["isolation_level"] = None
        super().__init__(database, *args, **kwargs)
        path = _file_path(database, kwargs.get("uri", False))
        self.gate, self.checkpointer = _shared(path)
        self.holds_gate = False
        self.wrote = False
        # What the gate records as its holder: not the connection itself, so that the finalizer
        # (a connection dropped without close() must not keep the gate) holds no reference to it.
        self.holder = object()
        weakref.finalize(self, self.gate.release, self.holder)
        # Transaction control goes through a plain cursor: it must not pass through before_statement.
        self.raw = raw = sqlite3.Cursor(self)
        raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")  # first: the next pragma may wait
        # WAL: readers never wait for the writer, and a commit appends to one file.
        raw.execute("PRAGMA journal_mode=WAL")
        # Under WAL, NORMAL syncs at checkpoints, not at every commit: a crash of the process loses
        # nothing committed, a power cut may lose the last commits but never corrupts the file.
        raw.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints off the request path (Checkpointer); the WAL file is cut back to 64 MB after one.
        raw.execute("PRAGMA wal_autocheckpoint=0" if self.checkpointer else "PRAGMA wal_autocheckpoint=1000")
        raw.execute("PRAGMA journal_size_limit=67108864")
        raw.execute("PRAGMA foreign_keys=ON")

    def cursor(self, factory: Any = None) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory or GatedCursor)

    def before_statement(self, sql: str) -> None:
        if self.holds_gate:
            return
        kind = statement_kind(sql)
        if kind == WRITE:
            self._begin_write()
        elif kind == READ and not self.in_transaction:
            self.raw.execute("BEGIN")

    def _begin_write(self) -> None:
        self.gate.acquire(self.holder)
        self.holds_gate = True
        try:
            if self.in_transaction:  # it only read so far: see the module's docstring
                self.raw.execute("ROLLBACK")
            self.raw.execute("BEGIN IMMEDIATE")
            self.wrote = True
        except BaseException:
            self._release()
            raise

    def after_statement(self) -> None:
        if self.holds_gate and not self.in_transaction:  # COMMIT/ROLLBACK as SQL, or SQLite rolled back
            self._release()

    def _release(self) -> None:
        if self.holds_gate:
            self.holds_gate = False
            self.gate.release(self.holder)
        if self.wrote:
            self.wrote = False
            if self.checkpointer is not None:
                self.checkpointer.note_write()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()


def _file_path(database: str, uri: bool) -> str | None:
    if database in ("", ":memory:") or (uri and "mode=memory" in database):
        return None
    if uri:
        database = database.removeprefix("file:").split("?", 1)[0]
    return os.path.realpath(database)


def shorten_gil_turns() -> None:
    """Let a thread that holds the writer lock get the GIL back sooner.

    Every statement releases the GIL while SQLite runs it; when it returns, the writer waits for
    the GIL behind whichever request thread took it, up to the switch interval (5 ms), and
    every writer queued behind it waits too: with 8-16 busy threads a report's few statements
    held the lock for tens of milliseconds. Measured with 32 callers, alternating in one run:
    reports on SQLite went from 0.50-0.66x PostgreSQL's rate at 5 ms to 1.07-1.12x at 0.5 ms,
    at the same CPU per report (docs/benchmarks.md).
    """
    if sys.getswitchinterval() > GIL_SWITCH_SECONDS:
        sys.setswitchinterval(GIL_SWITCH_SECONDS)


def engine_options(options: dict[str, Any]) -> dict[str, Any]:
    """SQLAlchemy engine options for a SQLite URL: our connection class on every pooled connection."""
    connect_args = {**options.get("connect_args", {}), "factory": GatedConnection, "check_same_thread": False}
    return {**options, "connect_args": connect_args}
