"""The metric names our programs and the exporters we can run really export.

Each program is started as a subprocess with its metrics on a free loopback
port (Kafka pointed at a closed port, so the Kafka metrics are declared but no
broker is needed), /metrics is scraped once it answers, and the names are read
from the exposition (TYPE lines, so labelled metrics with no sample yet count).
ClickHouse's Prometheus endpoint names (ClickHouseProfileEvents_<event>,
ClickHouseMetrics_<metric>) come from chdb's system.events and system.metrics.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from tests.observability.paths import ROOT
from tests.support.ports import free_port


def closed_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    return free_port()


def names_from_exposition(text: str) -> set[str]:
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            names.add(name)
            if kind == "counter" and not name.endswith("_total"):
                names.add(name + "_total")
            elif kind == "histogram":
                names.update(name + s for s in ("_bucket", "_sum", "_count"))
            elif kind == "summary":
                names.update(name + s for s in ("_sum", "_count"))
        elif line and not line.startswith("#"):
            names.add(line.split("{", 1)[0].split(" ", 1)[0])
    return names


class Program:
    """One program started for a scrape; its output is kept for failure messages."""

    def __init__(self, name: str, argv: list[str], port: int, workdir: Path) -> None:
        self.name, self.port = name, port
        self.log = workdir / f"{name}.log"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir, env=env)

    def scrape(self, timeout: float = 30.0) -> set[str]:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                    return names_from_exposition(r.read().decode())
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name} served no /metrics in {timeout}s:\n"
                                         f"{self.log.read_text()[-3000:]}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def node_exporter() -> str | None:
    return shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")


def scrape_programs() -> dict[str, set[str]]:
    """Names per program: risotto, pesto, the gateway, the agent and node_exporter, all started at once."""
    py = [sys.executable, "-m", "nxthdr"]
    kafka = f"127.0.0.1:{closed_port()}"
    with tempfile.TemporaryDirectory(prefix="nx-metrics-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        (work / "agent-key").write_text("scrape-test-key\n")
        specs = {
            "risotto": lambda p: py + ["risotto", "--bmp-address", f"127.0.0.1:{free_port()}",
                                       "--metrics-address", f"127.0.0.1:{p}", "--kafka-brokers", kafka,
                                       "--curation-state-path", str(work / "state.bin")],
            "pesto": lambda p: py + ["pesto", "--sflow-address", f"127.0.0.1:{free_port()}",
                                     "--metrics-address", f"127.0.0.1:{p}", "--kafka-brokers", kafka],
            "saimiris-gateway": lambda p: py + ["saimiris", "gateway", "--gateway-address", f"127.0.0.1:{free_port()}",
                                                "--metrics-address", f"127.0.0.1:{p}", "--kafka-brokers", kafka,
                                                "--auth-dev-mode", "--auth-agent-key-file", str(work / "agent-key"),
                                                "--database-url", f"sqlite:///{work / 'gateway.db'}"],
        }
        # The agent with one dry-run instance on loopback: no raw socket is opened for
        # sending, and its capture (AF_PACKET on lo) needs root like the rest of the suite.
        (work / "agent.yaml").write_text(
            "agent: {id: scrape-agent}\n"
            f"kafka: {{brokers: '{kafka}'}}\n"
            "caracat: [{name: dry, interface: lo, dry_run: true}]\n")
        specs["saimiris-agent"] = lambda p: py + ["saimiris", "agent", "-c", str(work / "agent.yaml"),
                                                  "--agent-metrics-address", f"127.0.0.1:{p}"]
        exporter = node_exporter()
        if exporter:
            specs["node_exporter"] = lambda p: [exporter, f"--web.listen-address=127.0.0.1:{p}"]
        programs = []
        for name, argv in specs.items():
            port = free_port()
            prog = Program(name, argv(port), port, work)
            stack.callback(prog.stop)
            programs.append(prog)
        return {prog.name: prog.scrape() for prog in programs}


def clickhouse_names() -> set[str]:
    """ClickHouse's Prometheus endpoint names, from the engine's own event and metric lists."""
    import chdb

    names: set[str] = set()
    for prefix, query in (
        ("ClickHouseProfileEvents_", "SELECT name FROM system.events SETTINGS system_events_show_zero_values = 1"),
        ("ClickHouseMetrics_", "SELECT name FROM system.metrics"),
    ):
        rows = chdb.query(query, "CSV").bytes().decode().split()
        names.update(prefix + r.strip('"') for r in rows)
    return names
