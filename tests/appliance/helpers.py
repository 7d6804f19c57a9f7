"""The appliance as operators run it: a `python -m nxthdr appliance` process on loopback ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from nxthdr.demo import sflow_datagrams
from nxthdr.risotto.replay import iter_messages
from tests.support.wait import wait_until
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "nxthdr" / "data"
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


class ApplianceProcess:
    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.bmp_port, self.sflow_port = free_port(), free_port(socket.SOCK_DGRAM)
        self.metrics_port = free_port()
        self.args = [sys.executable, "-m", "nxthdr", "appliance", "--storage-data-dir", str(data_dir),
                     "--bmp-address", f"127.0.0.1:{self.bmp_port}", "--sflow-address", f"127.0.0.1:{self.sflow_port}",
                     "--metrics-address", f"127.0.0.1:{self.metrics_port}", "--query-address", "127.0.0.1:0",
                     "--storage-flush-interval", "100", *extra]
        self.log = data_dir.parent / f"appliance-{data_dir.name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "ApplianceProcess":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        offset = self.log.stat().st_size if self.log.exists() else 0  # a restart appends to the same log
        self.proc = subprocess.Popen(self.args, cwd=REPO, env=ENV, stderr=open(self.log, "ab"))
        wait_until(lambda: "nxthdr.supervisor: started" in self.log.read_text()[offset:]
                   or self.proc.poll() is not None, 60, "the appliance to start", details=self.logs)
        assert self.proc.poll() is None, self.logs()
        return self

    def logs(self) -> str:
        return self.log.read_text()[-4000:]

    @property
    def url(self) -> str:
        return json.loads((self.data_dir / "endpoint.json").read_text())["url"]

    def stop(self) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("appliance did not stop on SIGTERM\n" + self.logs())
        self.proc = None
        return rc

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as r:
            return r.read().decode()


def query(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nxthdr", "query", *args], cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=120)


def query_json(data_dir: Path, sql: str) -> list[dict]:
    p = query("-d", str(data_dir), "-f", "json", sql)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def count(data_dir: Path, table: str) -> int:
    return query_json(data_dir, f"SELECT count() AS n FROM {table}")[0]["n"]


def replay_bmp(port: int) -> dict[str, str]:
    """Each shipped recording from its own loopback address, like routers; sessions closed at the end."""
    sources = {}
    socks = []
    for n, path in enumerate(sorted((DATA / "bmp").glob("*.bmp"))):
        source = f"127.0.0.{n + 1}"
        sources[source] = path.name
        s = socket.create_connection(("127.0.0.1", port), 10, (source, 0))
        s.sendall(b"".join(iter_messages(path.read_bytes())))
        socks.append(s)
    time.sleep(0.5)
    for s in socks:
        s.close()
    return sources


def send_sflow(port: int, repeat: int = 1, path: Path | None = None) -> int:
    datagrams = sflow_datagrams(path or DATA / "sflow" / "lab-mix.sflow")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(repeat):
            for i, d in enumerate(datagrams):
                s.sendto(d, ("127.0.0.1", port))
                if i % 16 == 15:
                    time.sleep(0.002)
    return len(datagrams) * repeat


def sflow_manifest() -> dict:
    return json.loads((DATA / "sflow" / "manifest.json").read_text())["lab-mix.sflow"]


def bmp_manifest() -> dict:
    return json.loads((DATA / "bmp" / "manifest.json").read_text())
