"""Fixtures of the gateway tests: a private PostgreSQL server, and a database URL per dialect."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import require
from tests.services import postgres as pg


@pytest.fixture(scope="session")
def postgres():
    ok, reason = pg.available()
    require(ok, reason)
    server = pg.PostgresServer()
    try:
        server.start()
    except Exception as e:  # a broken install must be visible, not a skip, in CI
        server.close()
        require(False, f"cannot start PostgreSQL: {e}")
    yield server
    server.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty database of each dialect."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gateway.db'}"
    server = request.getfixturevalue("postgres")
    return server.create_database("gw_" + uuid.uuid4().hex[:12])
