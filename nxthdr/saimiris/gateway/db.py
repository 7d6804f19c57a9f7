"""One small async database interface over SQLite (embedded default) and PostgreSQL.

Statements are written once, in the subset both dialects share, with
PostgreSQL's `$1` placeholders (rewritten to SQLite's `?1`). Integers stand in
for booleans and timestamps (Unix milliseconds), so values round-trip the same
way through both drivers.

* SQLite: the standard library module on one connection, driven from a
  single worker thread; an asyncio lock serialises transactions, and
  `BEGIN IMMEDIATE` makes each one a writer from its first statement.
* PostgreSQL: asyncpg (a pool; no libpq needed). Rows that a transaction
  reads and then updates are locked with `FOR UPDATE` (`Database.for_update`,
  empty on SQLite, where the whole transaction is already exclusive).

The schema evolves through `MIGRATIONS`, applied in order at start inside
one transaction each; `schema_version` records the last one applied. A
database newer than this program is refused rather than guessed at.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, AsyncIterator, Sequence


class DatabaseUnavailable(Exception):
    """The database cannot be reached now (down, restarting, connection lost): the API answers 503."""


class DatabaseError(Exception):
    """The database cannot be used (connection, schema version)."""


class UniqueViolation(Exception):
    """An insert hit a unique constraint."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


# Append only: a released migration is never edited, a change is a new step.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "measurements, per-agent tracking and daily usage", (
        """CREATE TABLE measurements (
            id TEXT PRIMARY KEY,
            user_sub TEXT NOT NULL,
            day TEXT NOT NULL,
            probes BIGINT NOT NULL,
            status TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            cancelled_at BIGINT
        )""",
        "CREATE INDEX measurements_user_created ON measurements (user_sub, created_at)",
        """CREATE TABLE measurement_agents (
            measurement_id TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            src_ip TEXT NOT NULL,
            expected_probes BIGINT NOT NULL,
            sent_probes BIGINT NOT NULL DEFAULT 0,
            is_complete INTEGER NOT NULL DEFAULT 0,
            charged BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (measurement_id, agent_id)
        )""",
        "CREATE INDEX measurement_agents_agent ON measurement_agents (agent_id)",
        """CREATE TABLE usage (
            user_sub TEXT NOT NULL,
            day TEXT NOT NULL,
            probes BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (user_sub, day)
        )""",
    )),
    Migration(2, "users: the 32-bit id of each sub, unique, to detect hash collisions", (
        """CREATE TABLE users (
            sub TEXT PRIMARY KEY,
            user_id BIGINT NOT NULL UNIQUE,
            created_at BIGINT NOT NULL
        )""",
    )),
    Migration(3, "user_limits: per-user daily probe limits overriding limits.daily_probe_limit", (
        """CREATE TABLE user_limits (
            user_sub TEXT PRIMARY KEY,
            daily_probe_limit BIGINT NOT NULL,
            note TEXT
        )""",
    )),
)

_PLACEHOLDER = re.compile(r"\$(\d+)")


class Tx:
    """Statements inside one transaction (or one autocommit statement)."""

    async def execute(self, sql: str, *args: Any) -> None:
        raise NotImplementedError

    async def fetch(self, sql: str, *args: Any) -> list[tuple]:
        raise NotImplementedError

    async def fetchrow(self, sql: str, *args: Any) -> tuple | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]


class Database:
    dialect = ""
    for_update = ""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Tx]:
        raise NotImplementedError

    async def fetch(self, sql: str, *args: Any) -> list[tuple]:
        async with self.transaction() as tx:
            return await tx.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> tuple | None:
        async with self.transaction() as tx:
            return await tx.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self.transaction() as tx:
            return await tx.fetchval(sql, *args)

    async def schema_version(self) -> int:
        async with self.transaction() as tx:
            return await self._version(tx)

    async def _version(self, tx: Tx) -> int:
        await tx.execute("CREATE TABLE IF NOT EXISTS schema_version "
                         "(version INTEGER NOT NULL, applied_at BIGINT NOT NULL)")
        return await tx.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version") or 0

    async def migrate(self, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
        """Apply the missing steps in order; returns the versions applied."""
        import time

        applied: list[int] = []
        latest = max((m.version for m in migrations), default=0)
        for step in sorted(migrations, key=lambda m: m.version):
            async with self.transaction() as tx:
                await self._lock_for_migration(tx)
                current = await self._version(tx)
                if current > latest:
                    raise DatabaseError(f"database schema version {current} is newer than this program's "
                                        f"({latest}); upgrade the gateway")
                if step.version <= current:
                    continue
                for statement in step.statements:
                    await tx.execute(statement)
                await tx.execute("INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
                                 step.version, int(time.time() * 1000))
                applied.append(step.version)
        if not applied:
            current = await self.schema_version()
            if current > latest:
                raise DatabaseError(f"database schema version {current} is newer than this program's "
                                    f"({latest}); upgrade the gateway")
        return applied

    async def _lock_for_migration(self, tx: Tx) -> None:
        """Two gateways starting together must not both apply a step."""


# -- SQLite ------------------------------------------------------------------------------------

class _SqliteTx(Tx):
    def __init__(self, db: "SqliteDatabase") -> None:
        self.db = db

    async def execute(self, sql: str, *args: Any) -> None:
        await self.db._run(self.db._execute, sql, args)

    async def fetch(self, sql: str, *args: Any) -> list[tuple]:
        return await self.db._run(self.db._fetch, sql, args)


class SqliteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        if self._conn is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn

        try:
            self._conn = await asyncio.get_running_loop().run_in_executor(self._executor, connect)
        except sqlite3.Error as e:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise DatabaseError(f"cannot open SQLite database {self.path}: {e}") from None

    async def stop(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        async with self._lock:
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=True)
        self._executor = None

    async def _run(self, fn, *args):
        if self._conn is None:
            raise DatabaseError("database is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _execute(self, sql: str, args: tuple) -> None:
        try:
            self._conn.execute(_PLACEHOLDER.sub(r"?\1", sql), args)
        except sqlite3.IntegrityError as e:
            if "UNIQUE" in str(e) or "PRIMARY KEY" in str(e):
                raise UniqueViolation(str(e)) from None
            raise

    def _fetch(self, sql: str, args: tuple) -> list[tuple]:
        try:
            return self._conn.execute(_PLACEHOLDER.sub(r"?\1", sql), args).fetchall()
        except sqlite3.IntegrityError as e:
            if "UNIQUE" in str(e) or "PRIMARY KEY" in str(e):
                raise UniqueViolation(str(e)) from None
            raise

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._lock:
            await self._run(self._conn.execute, "BEGIN IMMEDIATE")
            tx = _SqliteTx(self)
            try:
                yield tx
            except BaseException:
                await asyncio.shield(self._run(self._conn.execute, "ROLLBACK"))
                raise
            await self._run(self._conn.execute, "COMMIT")


# -- PostgreSQL ----------------------------------------------------------------------------------

class _PgTx(Tx):
    def __init__(self, conn) -> None:
        self.conn = conn

    async def execute(self, sql: str, *args: Any) -> None:
        import asyncpg

        try:
            await self.conn.execute(sql, *args)
        except asyncpg.UniqueViolationError as e:
            raise UniqueViolation(str(e)) from None

    async def fetch(self, sql: str, *args: Any) -> list[tuple]:
        import asyncpg

        try:
            return [tuple(r) for r in await self.conn.fetch(sql, *args)]
        except asyncpg.UniqueViolationError as e:
            raise UniqueViolation(str(e)) from None


class PostgresDatabase(Database):
    dialect = "postgresql"
    for_update = " FOR UPDATE"
    _MIGRATION_LOCK = 0x5A1A1215  # pg_advisory_xact_lock key for schema changes

    def __init__(self, dsn: str, password: str | None = None, pool_size: int = 10) -> None:
        self.dsn = dsn
        self.password = password
        self.pool_size = pool_size
        self._pool = None
        self.available, self.last_error = True, ""  # the last transaction's outcome, for /health

    async def start(self) -> None:
        if self._pool is not None:
            return
        import asyncpg

        try:
            self._pool = await asyncpg.create_pool(self.dsn, password=self.password, min_size=1,
                                                   max_size=self.pool_size, timeout=10, command_timeout=30)
        except (OSError, asyncpg.PostgresError, asyncio.TimeoutError) as e:
            raise DatabaseError(f"cannot connect to PostgreSQL at {redact(self.dsn)}: {e}") from None

    async def stop(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), 10)
            except asyncio.TimeoutError:
                pool.terminate()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        if self._pool is None:
            raise DatabaseError("database is not open")
        import asyncpg

        # What a PostgreSQL that is down, restarting or gone mid-query raises; the pool reconnects on the
        # next acquire, so recovery needs nothing from us.
        lost = (OSError, asyncio.TimeoutError, asyncpg.PostgresConnectionError, asyncpg.ConnectionDoesNotExistError,
                asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError, asyncpg.CrashShutdownError)
        try:
            async with self._pool.acquire() as conn:
                async with conn.transaction():
                    yield _PgTx(conn)
        except lost as e:
            self.available, self.last_error = False, f"{type(e).__name__}: {e}"
            raise DatabaseUnavailable(f"PostgreSQL unavailable: {type(e).__name__}") from None
        self.available, self.last_error = True, ""

    async def _lock_for_migration(self, tx: Tx) -> None:
        await tx.execute("SELECT pg_advisory_xact_lock($1)", self._MIGRATION_LOCK)


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":<hidden>@")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def open_database(url: str, password: str | None = None, pool_size: int = 10) -> Database:
    """A Database for `sqlite:///path` or `postgresql://...` (no I/O until start())."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if not path:
            raise ValueError("sqlite URL needs a path: sqlite:///file.db")
        return SqliteDatabase(path)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(url, password, pool_size)
    raise ValueError(f"unsupported database URL {redact(url)!r}: expected sqlite:///path or postgresql://...")
