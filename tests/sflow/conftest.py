from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.sflow.pcap import read_framed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sflow"


@pytest.fixture(scope="session")
def pmacct_datagrams() -> list[bytes]:
    return read_framed((FIXTURES / "pmacct-sfprobe.bin").read_bytes())


@pytest.fixture(scope="session")
def pmacct_manifest() -> dict:
    return json.loads((FIXTURES / "pmacct-sfprobe.json").read_text())
