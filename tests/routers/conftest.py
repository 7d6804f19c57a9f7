"""Gate for tests that run real routers: root, network namespaces and the router binaries.

Outside CI a missing piece skips with the reason; in CI (CI set) it fails, so a
broken runner image cannot pass silently.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.support.netns import netns_available
from tests.support.routers import FRR_BGPD


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
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
