"""The ClickHouse storage tables in chdb, to run the dashboards' SQL against.

The tables come from the storage SQL (clickhouse-tables/<db>/<table>.sql, with
its {{ database }} / {{ retention_days }} placeholders filled) when it is in the
tree, otherwise from storage_fixture.sql (a temporary copy of the spec's column
lists; see its header). One row goes into each table so that expressions over
arrays and aggregates really run.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from tests.observability.paths import ROOT

TABLES = {"bmp": "updates", "flows": "records", "saimiris": "replies"}
FIXTURE = Path(__file__).with_name("storage_fixture.sql")
SETTINGS = {"retention_days": "7"}
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")

SAMPLE_ROWS = [
    "INSERT INTO bmp.updates (date, time_inserted_ns, time_received_ns, announced, as_path, prefix_len) "
    "VALUES (today(), now64(9), now64(9) - 1, true, [64500, 65001], 24)",
    "INSERT INTO flows.records (date, time_inserted_ns, time_received_ns, sampling_rate, packet_length, bytes, "
    "packets, protocol) VALUES (today(), now64(9), now64(9) - 1, 100, 84, 8400, 100, 1)",
    "INSERT INTO saimiris.replies (date, time_inserted_ns, time_received_ns, agent_id, rtt) "
    "VALUES (today(), now64(9), now64(9) - 1, 'vltcdg01', 123)",
]


def storage_sql_files() -> dict[str, Path] | None:
    files = {db: ROOT / "clickhouse-tables" / db / f"{table}.sql" for db, table in TABLES.items()}
    return files if all(p.exists() for p in files.values()) else None


def render(sql: str, database: str) -> str:
    values = dict(SETTINGS, database=database)

    def sub(m: re.Match) -> str:
        if m.group(1) not in values:
            raise KeyError(f"storage SQL placeholder {{{{ {m.group(1)} }}}} has no test value")
        return values[m.group(1)]

    return _PLACEHOLDER.sub(sub, sql)


def statements(sql: str) -> list[str]:
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def table_statements() -> tuple[str, list[str]]:
    """(where the tables come from, CREATE statements)."""
    files = storage_sql_files()
    if files is None:
        return "storage_fixture.sql (temporary)", statements(FIXTURE.read_text())
    out = []
    for db, path in files.items():
        out += statements(render(path.read_text(), db))
    return "clickhouse-tables/", out


class Store:
    """A chdb session holding the three storage tables."""

    def __init__(self) -> None:
        from chdb import session

        self._dir = tempfile.TemporaryDirectory(prefix="nx-chdb-")
        self.session = session.Session(self._dir.name)
        self.source, creates = table_statements()
        for db in TABLES:
            self.query(f"CREATE DATABASE IF NOT EXISTS {db}")
        for stmt in creates:
            self.query(stmt)
        for stmt in SAMPLE_ROWS:
            self.query(stmt)

    def query(self, sql: str, fmt: str = "CSV") -> str:
        return self.session.query(sql, fmt).bytes().decode()

    def close(self) -> None:
        self.session.close()
        self._dir.cleanup()
