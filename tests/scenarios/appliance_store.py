"""ClickHouse reading Kafka on a machine without a ClickHouse server (pytest side).

Where the VM tests run ClickHouse, whose Kafka tables read the collectors'
topics, the namespace tests run `nxthdr appliance` on the core machine with
its collectors off and its consumers on: the same topics into chdb through the
same storage tables and views. The scenarios then read it with the SQL the VM
tests send to `clickhouse-client`, through `nxthdr query --url` (the
appliance's ClickHouse-compatible query endpoint).
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import uuid
from pathlib import Path

from .netns_machine import NetnsMachine

ROOT = Path(__file__).resolve().parents[2]
UNIT = "nxthdr-appliance.service"
# Pipeline → the appliance's kafka.* key of its topic.
TOPIC_KEYS = {"bmp": "updates_topic", "flows": "flows_topic", "saimiris": "replies_topic"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _env() -> dict[str, str]:
    """This checkout first on the path, for the appliance and for `nxthdr query`."""
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


class ApplianceStore:
    """The appliance as a unit of `core`, consuming `topics` ({pipeline: topic}) into its store."""

    def __init__(self, core: NetnsMachine, bootstrap: str, topics: dict[str, str], workdir: Path) -> None:
        self.core = core
        self.query_port, self.metrics_port = _free_port(), _free_port()
        tag = uuid.uuid4().hex[:8]
        cfg = {"bmp": {"enable": False}, "sflow": {"enable": False},
               "kafka": {"brokers": bootstrap, **{TOPIC_KEYS[p]: t for p, t in topics.items()}},
               # The ClickHouse deployment's groups, made unique: every test has its own topics.
               "consume": {p: {"enable": True, "group": f"clickhouse-{p}-{tag}"} for p in topics},
               "storage": {"data_dir": str(workdir / "appliance-data"), "flush_interval": 100},
               "metrics": {"address": f"127.0.0.1:{self.metrics_port}"},
               "query": {"address": f"127.0.0.1:{self.query_port}"}}
        self.config = workdir / "appliance.yaml"
        self.config.write_text(json.dumps(cfg, indent=1) + "\n")  # JSON is YAML

    def start(self) -> None:
        self.core.start_unit(UNIT, [sys.executable, "-m", "nxthdr", "appliance", "-c", str(self.config)], env=_env())
        self.core.wait_for_open_port(self.query_port, timeout=120)
        self.core.wait_for_unit(UNIT)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.query_port}/"

    @property
    def query_command(self) -> str:
        """What the VM tests' `clickhouse-client --query` is here (the SQL follows, quoted)."""
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in _env().items())
        return f"env {env} {shlex.quote(sys.executable)} -m nxthdr query --url {self.url}"
