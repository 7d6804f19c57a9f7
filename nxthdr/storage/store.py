"""The embedded store: one chdb engine on a data directory, with the platform's tables.

chdb is ClickHouse as a library, one engine per process. The store's own
connection (tables, inserts from the sinks) is serialised by a lock; user
queries (`read`) never take it: each runs on its own read-only connection to
the same engine (see `readonly`), concurrently with the inserts, so a slow
query cannot stall ingestion. Both run in worker threads so the event loop
keeps serving collectors.

Per pipeline (bmp, flows, saimiris) the store keeps the storage table and
the view of the server deployment (`nxthdr.clickhouse`), created or migrated
on open by the same planner as `nxthdr clickhouse migrate`, with a `Null`-engine
input table in place of the Kafka table: same camelCase columns, so the view
is the same SQL. A row inserted into the input table is stored nowhere but
goes through the view into the MergeTree table.

A data directory belongs to one process at a time: the store holds an
exclusive lock on `<dir>/.lock` while open, and a running appliance writes its
query endpoint to `<dir>/endpoint.json` so `nxthdr query --data-dir` can ask it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from nxthdr.core import logs
from nxthdr.core.capnp_codec import load_schema, struct_layout
from nxthdr.storage.readonly import ReadLimits, check_normalized
from nxthdr.storage.rowbinary import RowWriter

log = logging.getLogger("nxthdr.storage")


@dataclass(frozen=True)
class Pipeline:
    database: str
    capnp_file: str
    struct: str


PIPELINES = {
    "bmp": Pipeline("bmp", "update.capnp", "Update"),
    "flows": Pipeline("flows", "sflow.capnp", "SFlowFlowRecord"),
    "saimiris": Pipeline("saimiris", "reply.capnp", "Reply"),
}

INPUT_TABLE = "input"  # the Null table standing where a server has from_kafka
LOCK_FILE = ".lock"
ENDPOINT_FILE = "endpoint.json"


class StoreError(Exception):
    """A query or insert the engine refused; the message is ClickHouse's (`Code: N. DB::Exception: ...`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = _error_code(message)


class StoreUnavailable(Exception):
    """The store cannot be opened (the message says why and what to do)."""


class DataDirBusy(StoreUnavailable):
    """Another process has the data directory open."""


class EngineMissing(StoreUnavailable):
    """chdb, the embedded ClickHouse engine, is not installed."""


def _error_code(message: str) -> int:
    if message.startswith("Code: "):
        num = message[6:].split(".", 1)[0]
        if num.isdigit():
            return int(num)
    return 0


class Store:
    def __init__(self, path: str | os.PathLike, *, retention_days: int = 7,
                 pipelines: tuple[str, ...] = ("bmp", "flows", "saimiris")) -> None:
        self.path = Path(path)
        self.retention_days = retention_days
        self.pipelines = pipelines
        self.writers: dict[str, RowWriter] = {}
        self.input_tables: dict[str, str] = {}
        self._session = None
        self._lock = threading.Lock()
        self._lock_fd: int | None = None
        # Reads in flight: close() waits for them (each is bounded by max_execution_time).
        self._reads = 0
        self._reads_done = threading.Condition()
        self.lock_wait_seconds = 0.0  # time inserts waited for the store's lock, summed
        self.lock_waits = 0  # inserts that found the lock held

    # -- lifecycle ------------------------------------------------------------------------------

    def open(self) -> None:
        if self._session is not None:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirBusy(f"{self.path} is in use by another process (an appliance?)") from None
        self._lock_fd = fd
        try:
            import chdb.session  # imported late: the engine library is large and only the store needs it
        except ImportError:
            self.close()
            raise EngineMissing(
                "the embedded store needs chdb, the ClickHouse engine as a library: "
                "pip install 'nxthdr[embedded]', or use a ClickHouse server (storage.mode: kafka)") from None

        t0 = time.monotonic()
        try:
            self._session = chdb.session.Session(str(self.path))
            applied = self._migrate()
            for name in self.pipelines:
                self._prepare(name)
        except BaseException:
            self.close()
            raise
        logs.event(log, logging.INFO, "embedded store open", path=str(self.path),
                   pipelines=",".join(self.pipelines), retention_days=self.retention_days,
                   migrated=applied, seconds=round(time.monotonic() - t0, 2))

    def _migrate(self) -> int:
        """Bring the directory's tables to this version with the server's migration planner.

        A directory written by an older release (a column missing, another
        retention, an older view) is altered in place and keeps its rows;
        drift the planner will not repair (another ORDER BY, a changed column
        type) refuses to open with its reasons. Returns how many statements ran.
        """
        from nxthdr.clickhouse import migrate, tables

        wanted = [tables.objects(name, database=PIPELINES[name].database, retention_days=self.retention_days,
                                 input="null", input_table=INPUT_TABLE) for name in self.pipelines]
        observed = migrate.observe_with(self._rows, [w.database for w in wanted])
        plan = migrate.plan(wanted, observed)
        if plan.problems:
            raise StoreUnavailable(f"{self.path}: the data directory's tables differ from this version in ways "
                                   "that are not repaired automatically: " + "; ".join(plan.problems))
        for note in plan.notes:
            logs.event(log, logging.INFO, "embedded store migration note", path=str(self.path), note=note)
        for st in plan.statements:
            logs.event(log, logging.INFO, "embedded store migration", path=str(self.path), reason=st.reason,
                       statement=str(st))
            self._run(st.sql)
        return len(plan.statements)

    def _rows(self, sql: str) -> list[dict]:
        out = self.query(sql, "JSONEachRow")
        # One JSON object a line; split on newlines only (values may hold other line breaks).
        return [json.loads(line) for line in out.split(b"\n") if line.strip()]

    def _prepare(self, name: str) -> None:
        p = PIPELINES[name]
        self.input_tables[name] = f"{p.database}.{INPUT_TABLE}"
        columns = self.columns(self.input_tables[name])
        layout = struct_layout(p.capnp_file, p.struct)
        self.writers[name] = RowWriter(layout, columns, getattr(load_schema(p.capnp_file), p.struct))

    def close(self, read_grace: float = 120.0) -> None:
        with self._reads_done:
            self._reads_done.wait_for(lambda: self._reads == 0, read_grace)
        if self._session is not None:
            with self._lock:
                try:
                    self._session.close()
                except Exception:
                    log.exception("closing the chdb session")
                self._session = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @property
    def is_open(self) -> bool:
        return self._session is not None

    # -- statements -----------------------------------------------------------------------------

    def _run(self, sql: str, fmt: str = "TabSeparated"):
        if self._session is None:
            raise StoreError("the store is closed")
        with self._lock:
            try:
                return self._session.query(sql, fmt)
            except Exception as e:
                raise StoreError(str(e).strip()) from None

    def query(self, sql: str, fmt: str = "TabSeparated") -> bytes:
        """Result bytes in `fmt` (a FORMAT clause in `sql` wins, like on a ClickHouse server)."""
        return self._run(sql, fmt).bytes()

    def read(self, sql: str, fmt: str = "TabSeparated", limits: ReadLimits = ReadLimits()) -> bytes:
        """A user's query, read-only and limited by the engine (Refused, or StoreError with ClickHouse's message)."""
        if self._session is None:
            raise StoreError("the store is closed")
        import chdb.session

        with self._reads_done:
            self._reads += 1
        try:
            conn = chdb.session.Session(f"{self.path}?{limits.connection_args()}")
            try:
                try:
                    # The engine's parser resolves comments, quoting and statements; the SQL is a
                    # bound parameter of this query, never part of its text.
                    normalized = conn.query("SELECT formatQuerySingleLine({q:String})", "TabSeparatedRaw",
                                            params={"q": _escaped(sql)}).bytes().decode()
                except Exception as e:
                    raise StoreError(_unwrap(str(e).strip())) from None
                check_normalized(normalized)
                try:
                    return conn.query(sql, fmt).bytes()
                except Exception as e:
                    raise StoreError(str(e).strip()) from None
            finally:
                conn.close()
        finally:
            with self._reads_done:
                self._reads -= 1
                self._reads_done.notify_all()

    def columns(self, table: str) -> list[tuple[str, str]]:
        out = self.query(f"SELECT name, type FROM system.columns WHERE database = '{table.split('.')[0]}' "
                         f"AND table = '{table.split('.')[1]}' ORDER BY position", "JSONCompact")
        cols = [(n, t) for n, t in json.loads(out)["data"]]
        if not cols:
            raise StoreError(f"table {table} has no columns")
        return cols

    def insert_rowbinary(self, name: str, rows: bytes) -> None:
        """Rows (RowBinary, the input table's columns) into a pipeline's input table, hence its view."""
        if not rows:
            return
        if self._session is None:
            raise StoreError("the store is closed")
        if not self._lock.acquire(blocking=False):
            t0 = time.monotonic()
            self._lock.acquire()
            self.lock_waits += 1
            self.lock_wait_seconds += time.monotonic() - t0
        try:
            try:
                ins = self._session.send_insert(f"INSERT INTO {self.input_tables[name]}", "RowBinary")
                try:
                    ins.append(rows)
                    ins.finish()
                except BaseException:
                    ins.cancel()
                    raise
            except Exception as e:
                raise StoreError(str(e).strip()) from None
        finally:
            self._lock.release()

    def insert_messages(self, name: str, messages: list[bytes], errors: list | None = None) -> int:
        """Framed Cap'n Proto messages → rows; returns how many rows were written."""
        before = len(errors) if errors is not None else 0
        rows = self.writers[name].rows(messages, errors)
        self.insert_rowbinary(name, rows)
        return len(messages) - ((len(errors) - before) if errors is not None else 0)


def _escaped(text: str) -> str:
    """A query parameter as ClickHouse reads it (its Escaped text format): the value comes back byte for byte."""
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def _unwrap(message: str) -> str:
    """The parser's own error out of formatQuerySingleLine's (`Code: 62 ... : In scope SELECT formatQuery...`)."""
    return message.split(": In scope SELECT formatQuerySingleLine", 1)[0].rstrip(". ") + ". (SYNTAX_ERROR)" \
        if "In scope SELECT formatQuerySingleLine" in message else message


def write_endpoint(path: str | os.PathLike, url: str) -> None:
    p = Path(path) / ENDPOINT_FILE
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}) + "\n")
    os.replace(tmp, p)


def read_endpoint(path: str | os.PathLike) -> str | None:
    """The query URL of the appliance running on this data directory, if one is."""
    p = Path(path)
    try:
        info = json.loads((p / ENDPOINT_FILE).read_text())
    except (OSError, ValueError):
        return None
    # The lock says whether the writer still runs (a killed appliance leaves the file behind).
    try:
        fd = os.open(p / LOCK_FILE, os.O_RDWR)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return info.get("url")
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def remove_endpoint(path: str | os.PathLike) -> None:
    try:
        (Path(path) / ENDPOINT_FILE).unlink()
    except FileNotFoundError:
        pass
