"""chdb (the ClickHouse engine in-process) for the storage tests.

chdb runs one engine per process: one session serves a whole test module and
each test works in its own databases (`prefix` fixture), so tests stay apart.
"""

from __future__ import annotations

import itertools
import json

import pytest

from tests.conftest import require

_counter = itertools.count()


class Engine:
    """A chdb session with the two calls the tests need."""

    def __init__(self, session) -> None:
        self.session = session

    def run(self, sql: str) -> None:
        self.session.query(sql)

    def rows(self, sql: str) -> list[dict]:
        out = self.session.query(sql, "JSONEachRow").bytes().decode("utf-8", "replace")  # binary String columns
        return [json.loads(line) for line in out.split("\n") if line.strip()]  # not splitlines: \x85, \u2028 are data

    def scalar(self, sql: str):
        return next(iter(self.rows(sql)[0].values()))


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    try:
        import chdb.session
    except ImportError:
        require(False, "chdb is not installed (pip install chdb)")
    s = chdb.session.Session(str(tmp_path_factory.mktemp("chdb")))
    yield Engine(s)
    s.close()


@pytest.fixture
def prefix() -> str:
    """Unique database-name prefix of one test."""
    return f"t{next(_counter)}_"
