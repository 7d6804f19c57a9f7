"""The ClickHouse storage tables in chdb, to run the dashboards' SQL against.

The tables are the platform's own (clickhouse-tables/, rendered by
nxthdr.clickhouse.tables with a Null input table in place of the Kafka table).
One row goes into each table so that expressions over arrays and aggregates
really run.
"""

from __future__ import annotations

import tempfile

from nxthdr.clickhouse import tables

TABLES = {db: tables.SPECS[db].storage_table for db in tables.DATABASES}

SAMPLE_ROWS = [
    "INSERT INTO bmp.updates (date, time_inserted_ns, time_received_ns, announced, as_path, prefix_len) "
    "VALUES (today(), now64(9), now64(9) - 1, true, [64500, 65001], 24)",
    "INSERT INTO flows.records (date, time_inserted_ns, time_received_ns, sampling_rate, packet_length, bytes, "
    "packets, protocol) VALUES (today(), now64(9), now64(9) - 1, 100, 84, 8400, 100, 1)",
    "INSERT INTO saimiris.replies (date, time_inserted_ns, time_received_ns, agent_id, rtt) "
    "VALUES (today(), now64(9), now64(9) - 1, 'vltcdg01', 123)",
]


def table_statements() -> tuple[str, list[str]]:
    """(where the tables come from, CREATE statements)."""
    out: list[str] = []
    for obj in tables.all_objects(input="null"):
        out += obj.statements()
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
