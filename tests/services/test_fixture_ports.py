"""The service fixtures survive a port taken between choosing it and binding it.

The fault is real: a socket of this test holds the port the fixture chose,
as another process on a busy machine would.
"""

from __future__ import annotations

import socket
import threading

import pytest

from tests.conftest import require
from tests.services import kafka as kafka_service
from tests.services import postgres as postgres_service
from tests.support import ports


def hold(port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen()
    return s


def test_free_ports_are_outside_the_ephemeral_range_and_never_repeat():
    low = ports._ephemeral_low()
    got = [ports.free_port() for _ in range(200)]
    assert len(set(got)) == len(got)
    assert all(1024 < p < low for p in got)


def kafka_broker():
    require(kafka_service.jars_available(), "Kafka jars not installed (run .ci/install)")
    return kafka_service.KafkaBroker(), "plain_port"


def postgres_server():
    ok, why = postgres_service.available()
    require(ok, why)
    return postgres_service.PostgresServer(), "port"


@pytest.mark.parametrize("make", [kafka_broker, postgres_server], ids=["kafka", "postgres"])
def test_a_first_start_takes_a_new_port_when_its_port_is_taken(make):
    server, attr = make()
    taken = getattr(server, attr)
    blocker = hold(taken)
    try:
        server.start()
        assert getattr(server, attr) != taken
        with socket.create_connection(("127.0.0.1", getattr(server, attr)), timeout=5):
            pass
    finally:
        blocker.close()
        server.close()


def test_kafka_restart_waits_for_its_ports_to_come_back():
    require(kafka_service.jars_available(), "Kafka jars not installed (run .ci/install)")
    broker = kafka_service.KafkaBroker()
    try:
        broker.start()
        before = (broker.plain_port, broker.controller_port)
        broker.stop()
        blocker = hold(broker.plain_port)
        threading.Timer(3.0, blocker.close).start()
        broker.start()
        assert (broker.plain_port, broker.controller_port) == before
        assert kafka_service._port_open(broker.plain_port)
    finally:
        broker.close()
