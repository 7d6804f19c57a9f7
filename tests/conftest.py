"""Shared fixtures: the real services the tests run against.

Outside CI a missing service skips the tests that need it, with the reason; in
CI (CI=true, set by .ci/run) a missing service fails them, so nothing is
silently skipped where it matters.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.services import kafka as kafka_service
from tests.support.netns import netns_available
from tests.support.routers import FRR_BGPD

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(ok: bool, reason: str) -> None:
    if ok:
        return
    if IN_CI:
        pytest.fail(f"required test service missing in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def kafka():
    require(kafka_service.jars_available(), "Kafka jars not installed (run .ci/install)")
    broker = kafka_service.KafkaBroker()
    broker.start()
    yield broker
    broker.close()


@pytest.fixture(scope="session")
def netns():
    require(netns_available(), "network namespaces need root and iproute2")
    return True


def _missing() -> list[str]:
    missing = []
    if not netns_available():
        missing.append("network namespaces (needs root and iproute2)")
    for tool in ("gobgpd", "gobgp", "vtysh"):
        if shutil.which(tool) is None:
            missing.append(tool)
    if not os.access(FRR_BGPD, os.X_OK):
        missing.append("FRR bgpd")
    return missing


@pytest.fixture(scope="session")
def router_env() -> None:
    missing = _missing()
    if missing:
        reason = "real-router tests need: " + ", ".join(missing)
        require(False, reason)
