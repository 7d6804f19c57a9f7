"""A ClickHouse-compatible HTTP query endpoint on the embedded store, read-only.

Speaks the subset of ClickHouse's HTTP interface that clients use to read:
`GET /?query=SQL` or `POST /` with the SQL as the body (or the body appended
to `query`), `default_format` (TabSeparated otherwise; a FORMAT clause in the
SQL wins), `database`, `GET /ping`. Errors come back as ClickHouse's
`Code: N. DB::Exception: ...` text with the status a server would use, so
clickhouse-connect and `nxthdr query` report them as they would a server's.

Read-only: only SELECT, WITH, SHOW, DESCRIBE/DESC, EXPLAIN and EXISTS
statements run, one per request, without functions that read files, URLs or
other servers; everything else gets 403 (`Code: 164`, READONLY). The store is
written by the collectors only.
"""

from __future__ import annotations

import asyncio
import logging
import re

from aiohttp import web

from nxthdr.core import logs
from nxthdr.core.http import HttpServer
from nxthdr.core.metrics import Metrics
from nxthdr.storage.store import Store, StoreError
from nxthdr.storage.readonly import Refused

log = logging.getLogger("nxthdr.storage")

READ_KEYWORDS = ("SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS")
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/|#[^\n]*", re.S)
_STRING = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"|`(?:[^`\\]|\\.)*`", re.S)
_OUTFILE = re.compile(r"\bINTO\s+OUTFILE\b", re.I)
# Functions that reach outside the store (files, URLs, other servers, programs): a SELECT
# with them reads the machine, not the data. chdb's own readonly setting would refuse
# them too, but it cannot be set per query without rewriting the user's SQL.
_OUTSIDE = re.compile(r"\b(file|url|s3|s3Cluster|gcs|hdfs|azureBlobStorage|remote|remoteSecure|cluster|"
                      r"clusterAllReplicas|mysql|postgresql|sqlite|mongodb|redis|jdbc|odbc|executable|input|"
                      r"fileCluster|urlCluster|iceberg\w*|deltaLake\w*|hudi\w*|dictionary|python|"
                      r"arrowFlight|ytsaurus|paimon\w*)\s*\(", re.I)
# ClickHouse error code → HTTP status, as a server answers.
_STATUS = {62: 400, 47: 400, 46: 400, 43: 400, 53: 400, 36: 400, 60: 404, 81: 404, 164: 403, 497: 403}


class ReadOnlyError(ValueError):
    pass


def check_read_only(sql: str) -> str:
    """The statement without a trailing `;`, or ReadOnlyError saying why it is refused."""
    code = _STRING.sub("''", _COMMENT.sub(" ", sql))
    stripped = code.strip().rstrip(";").strip()
    if not stripped:
        raise ReadOnlyError("empty query")
    if ";" in stripped:
        raise ReadOnlyError("one statement per request")
    if _OUTFILE.search(stripped):
        raise ReadOnlyError("INTO OUTFILE writes a file")
    outside = _OUTSIDE.search(stripped)
    if outside:
        raise ReadOnlyError(f"{outside.group(1)}() reaches outside the store")
    first = re.match(r"[\s(]*([A-Za-z]+)", stripped)
    if not first or first.group(1).upper() not in READ_KEYWORDS:
        word = first.group(1).upper() if first else stripped[:20]
        raise ReadOnlyError(f"{word} is not a read: this endpoint runs {', '.join(READ_KEYWORDS)} only")
    return sql.strip().rstrip(";")


class QueryServer(HttpServer):
    def __init__(self, store: Store, address: str, metrics: Metrics, max_query_bytes: int = 1 << 20) -> None:
        self.store = store
        self.max_query_bytes = max_query_bytes
        self.m_queries = metrics.fast_counter("query_requests_total", "Queries on the HTTP endpoint, by outcome",
                                              ("status",))
        self.m_seconds = metrics.fast_counter("query_seconds_total", "Time spent running endpoint queries")
        app = web.Application(client_max_size=max_query_bytes)
        app.router.add_route("*", "/", self._query)
        app.router.add_get("/ping", self._ping)
        super().__init__(app, address, name="query")

    async def _ping(self, request: web.Request) -> web.Response:
        return web.Response(text="Ok.\n")

    def _error(self, status: int, code: int, message: str) -> web.Response:
        self.m_queries.values[("refused" if status == 403 else "error",)] += 1
        text = message if message.startswith("Code: ") else f"Code: {code}. DB::Exception: {message}"
        return web.Response(status=status, text=text + "\n", headers={"X-ClickHouse-Exception-Code": str(code)})

    async def _query(self, request: web.Request) -> web.Response:
        if request.method not in ("GET", "POST"):
            return self._error(405, 0, f"method {request.method} not allowed")
        q = request.query.get("query", "")
        if request.method == "POST":
            body = await request.text()
            q = f"{q} {body}" if q else body
        if not q.strip():
            if request.method == "GET":
                return web.Response(text="Ok.\n")
            return self._error(400, 62, "empty query")
        try:
            sql = check_read_only(q)
        except ReadOnlyError as e:
            return self._error(403, 164, f"Cannot execute query in readonly mode: {e}. (READONLY)")
        fmt = request.query.get("default_format") or "TabSeparated"
        database = request.query.get("database")
        if database and database != "default":
            # chdb has no per-query current database: qualify by `USE` is a write-side statement
            # of the session, so only the default database is supported as a parameter.
            return self._error(400, 81, f"database={database}: qualify table names instead (db.table)")
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        try:
            # The regex check above only gives early, friendly refusals; what enforces read-only is
            # the engine: Store.read runs the query on its own readonly=1 connection with time and
            # result limits, after ClickHouse's parser has normalised the statement.
            body = await asyncio.to_thread(self.store.read, sql, fmt)
        except Refused as e:
            return self._error(403, 164, f"Cannot execute query in readonly mode: {e}. (READONLY)")
        except StoreError as e:
            return self._error(_STATUS.get(e.code, 500), e.code, str(e))
        finally:
            self.m_seconds.values[()] += loop.time() - t0
        self.m_queries.values[("success",)] += 1
        logs.event(log, logging.DEBUG, "query", sql=sql[:200], bytes=len(body))
        return web.Response(body=body, headers={"X-ClickHouse-Format": fmt,
                                                "Content-Type": "text/plain; charset=UTF-8"})
