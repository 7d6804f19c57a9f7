"""PostgreSQL stops under a running gateway: 503 with Retry-After, health says so, recovery is immediate (issue 16)."""

from __future__ import annotations

import subprocess

import pytest

from tests.saimiris.gateway.helpers import gateway_config, run, running
from tests.services import postgres as pg


@pytest.fixture
def own_postgres():
    ok, reason = pg.available()
    if not ok:
        pytest.skip(reason)
    server = pg.PostgresServer()
    server.start()
    yield server
    server.close()


def _pg_ctl(server, *args):
    subprocess.run(server._cmd("pg_ctl", "-D", str(server.data), *args), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


def test_database_down_is_503_and_health_reports_it(own_postgres):
    url = own_postgres.create_database("gw_down")
    cfg = gateway_config(url)

    async def go():
        async with running(cfg) as c:
            status, _ = await c.call("GET", "/api/measurements")
            assert status == 200
            _pg_ctl(own_postgres, "-m", "immediate", "-w", "stop")
            for _ in range(3):
                async with c.session.get(c.base + "/api/measurements") as resp:
                    assert resp.status == 503, await resp.text()
                    assert resp.headers["Retry-After"].isdigit()
            ok, checks = c.gw.metrics.health()
            assert not ok and not checks["database"]["ok"]
            own_postgres._started = False
            subprocess.run(own_postgres._cmd("pg_ctl", "-D", str(own_postgres.data), "-l",
                                             str(own_postgres.dir / "server.log"), "-o",
                                             f"-c listen_addresses=127.0.0.1 -p {own_postgres.port} "
                                             f"-c unix_socket_directories={own_postgres.dir}", "-w", "start"),
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            own_postgres._started = True
            status, _ = await c.call("GET", "/api/measurements")  # the first request after the restart
            assert status == 200
            assert c.gw.metrics.health()[1]["database"]["ok"]

    run(go())


def test_nul_in_a_query_parameter_is_400(own_postgres):
    cfg = gateway_config(own_postgres.create_database("gw_nul"))

    async def go():
        async with running(cfg) as c:
            async with c.session.get(c.base + "/api/measurements?agent=a%00b") as resp:
                assert resp.status == 400, await resp.text()

    run(go())
