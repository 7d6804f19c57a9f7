"""Agent and the real gateway (SQLite, dev-mode user): registration, configuration, health, progress, cancellation,
and the replies read back with `saimiris client --results` from an appliance storing the replies topic.

Both run as processes: the gateway in the root namespace, the agent in its
namespace reaching the gateway and Kafka through loopback forwards.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from nxthdr.saimiris import client
from tests.saimiris.agent.lab import REPO, TARGET_V6, AgentProcess, Lab, agent_config, create_topics, wait_for
from tests.services.kafka import free_port

pytestmark = pytest.mark.integration

AGENT_KEY = "agent-key-for-tests"


class GatewayProcess:
    def __init__(self, kafka, topic: str) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="saimiris-gw-"))
        cfg = {
            "gateway": {"address": f"127.0.0.1:{self.port}"},
            "metrics": {"address": f"127.0.0.1:{free_port()}"},
            "kafka": {"brokers": kafka.bootstrap, "topic": topic},
            "database": {"url": f"sqlite:///{self.dir / 'gw.db'}"},
            "auth": {"agent_key": AGENT_KEY, "dev_mode": True},
            "users": {"allow_any_source": True},
        }
        (self.dir / "gw.yaml").write_text(yaml.safe_dump(cfg))
        self._log = open(self.dir / "gw.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "nxthdr", "saimiris", "gateway", "-c",
                                      str(self.dir / "gw.yaml")], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                                     stdout=self._log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        self.kafka_bootstrap = kafka.bootstrap
        wait_for(lambda: self._up(), 30, "the gateway to listen", details=self.log)

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"gateway exited:\n{self.log()}")
        try:
            self.get("/api/agents")
            return True
        except OSError:
            return False

    def log(self) -> str:
        return (self.dir / "gw.log").read_text(errors="replace")[-5000:]

    def get(self, path: str):
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def post(self, path: str, body=None):
        req = urllib.request.Request(self.url + path, data=json.dumps(body or {}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


@pytest.fixture(scope="module")
def setup(netns, kafka):
    topic = f"saimiris-probes-{uuid.uuid4().hex[:8]}"
    out = f"saimiris-replies-{uuid.uuid4().hex[:8]}"
    create_topics(kafka.bootstrap, topic, out)
    gw = GatewayProcess(kafka, topic)
    lab = Lab()
    try:
        lab.forward(int(kafka.bootstrap.rsplit(":", 1)[1]))
        lab.forward(gw.port)
        secret_file = gw.dir / "agent-secret"
        secret_file.write_text("agent-g-secret\n")
        cfg = agent_config("agent-g", kafka.bootstrap, topic, out, [
            {"name": "fast", "interface": lab.agent_if, "src_ipv6_prefix": "fd00:99::/48", "probing_rate": 2000},
            {"name": "slow", "interface": lab.agent_if, "src_ipv6_prefix": "fd00:99:2::/48", "probing_rate": 20,
             "batch_size": 5},
        ], agent={"health_interval": 1},
            gateway={"url": gw.url, "agent_key": AGENT_KEY, "agent_secret_file": str(secret_file)})
        agent = AgentProcess(lab, cfg)
        agent.wait_ready()
        agent.replies_topic = out
        yield gw, lab, agent
    finally:
        lab.close()
        gw.stop()


def submit(gw, target: str, csv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert client.main(["--gateway", gw.url, "--agent", target], stdin=io.StringIO(csv)) == 0
    return out.getvalue().strip()


def test_registration_config_and_health_reach_the_gateway(setup):
    gw, lab, agent = setup

    def healthy():
        status, body = gw.get("/api/agent/agent-g")
        return status == 200 and body["healthy"] and body["config"] is not None

    wait_for(healthy, 30, "agent-g registered and healthy", details=lambda: agent.log() + gw.log())
    status, config = gw.get("/api/agent/agent-g/config")
    assert status == 200
    assert [(c["name"], c["src_ipv6_prefix"], c["probing_rate"]) for c in config] == [
        ("fast", "fd00:99::/48", 2000), ("slow", "fd00:99:2::/48", 20)]
    assert all(c["interface"] == lab.agent_if for c in config)
    status, health = gw.get("/api/agent/agent-g/health")
    assert health["healthy"] is True and "kafka-consumer" in health["message"]
    assert agent.metric("saimiris_gateway_requests_total", call="health", status="200") >= 1


def test_sent_counts_reach_the_gateway(setup):
    gw, lab, agent = setup
    wait_for(lambda: gw.get("/api/agent/agent-g")[1].get("healthy"), 30, "agent-g healthy")
    csv = "".join(f"{TARGET_V6},{24100 + ttl},33434,{ttl},UDP\n" for ttl in range(1, 6))
    mid = submit(gw, "agent-g:fd00:99::5", csv)

    def complete():
        status, m = gw.get(f"/api/measurement/{mid}/status")
        return status == 200 and m["status"] == "complete" and m

    m = wait_for(complete, 30, "the measurement to complete", details=agent.log)
    (a,) = m["agents"]
    assert a["agent_id"] == "agent-g" and a["sent_probes"] == 5 and a["is_complete"] is True


def test_cancellation_stops_sending(setup):
    gw, lab, agent = setup
    wait_for(lambda: gw.get("/api/agent/agent-g")[1].get("healthy"), 30, "agent-g healthy")
    sent_before = agent.metric("saimiris_sender_sent_total")
    csv = "".join(f"{TARGET_V6},{30000 + i},33434,{1 + i % 4},UDP\n" for i in range(400))  # 20 s at 20 pps
    mid = submit(gw, "agent-g:fd00:99:2::5", csv)
    wait_for(lambda: agent.metric("saimiris_sender_sent_total") >= sent_before + 20, 20, "probes being sent")
    status, body = gw.post(f"/api/measurement/{mid}/cancel")
    assert status == 200, body
    wait_for(lambda: agent.metric("saimiris_sender_filtered_total", filter="cancelled") > 0, 20,
             "the agent to drop the rest", details=agent.log)
    stopped_at = agent.metric("saimiris_sender_sent_total")
    time.sleep(2.0)  # at 20 pps, 40 more probes would have gone out
    assert agent.metric("saimiris_sender_sent_total") == stopped_at
    assert stopped_at - sent_before < 400
    # 400 probes are above the slow instance's queue limit (10 s at 20 pps): consumption paused meanwhile,
    # and resumed as the queue drained, which is how the cancellation got in.
    assert agent.metric("saimiris_consumer_pauses_total") >= 1

    def reported():
        _, m = gw.get(f"/api/measurement/{mid}/status")
        (a,) = m["agents"]
        return m["status"] == "cancelled" and a["is_complete"] and 0 < a["sent_probes"] < 400 and a

    a = wait_for(reported, 20, "the final count reported", details=agent.log)
    assert a["sent_probes"] == stopped_at - sent_before


def test_results_come_back_from_the_store(setup, tmp_path):
    """gateway → Kafka → agent → routers/target → replies on Kafka → appliance (chdb) → client --results."""
    gw, lab, agent = setup
    wait_for(lambda: gw.get("/api/agent/agent-g")[1].get("healthy"), 30, "agent-g healthy")
    csv = "".join(f"{TARGET_V6},{25100 + ttl},33434,{ttl},UDP\n" for ttl in range(1, 5))
    mid = submit(gw, "agent-g:fd00:99::7", csv)
    wait_for(lambda: gw.get(f"/api/measurement/{mid}/status")[1].get("status") == "complete", 30,
             "the measurement to complete", details=agent.log)

    query_port = free_port()
    cfg = {"storage": {"data_dir": str(tmp_path / "store")}, "bmp": {"enable": False}, "sflow": {"enable": False},
           "metrics": {"address": f"127.0.0.1:{free_port()}"}, "query": {"address": f"127.0.0.1:{query_port}"},
           "kafka": {"brokers": gw.kafka_bootstrap, "replies_topic": agent.replies_topic},
           "consume": {"saimiris": {"enable": True, "group": f"results-{uuid.uuid4().hex[:6]}"}}}
    (tmp_path / "appliance.yaml").write_text(yaml.safe_dump(cfg))
    log = open(tmp_path / "appliance.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "nxthdr", "appliance", "-c", str(tmp_path / "appliance.yaml")],
                            cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{query_port}"

    def read_back():
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = client.main(["--results", mid, "--gateway", gw.url, "--clickhouse-url", url, "-f", "json"])
        rows = json.loads(out.getvalue()) if code == 0 else []
        return len({r["ttl"] for r in rows}) == 4 and rows

    try:
        rows = wait_for(read_back, 60, "the replies in the store",
                        details=lambda: (tmp_path / "appliance.log").read_text(errors="replace")[-3000:])
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    assert {(r["agent_id"], r["probe_src_addr"], r["protocol"]) for r in rows} == {
        ("agent-g", "fd00:99::7", "UDP")}
    by_ttl = {r["ttl"]: r for r in rows}
    # Hops 1 and 2 are the lab's routers (time exceeded), then the target answers port unreachable.
    assert [by_ttl[t]["icmp_type"] for t in (1, 2)] == [3, 3] and by_ttl[1]["reply_from"] != by_ttl[2]["reply_from"]
    assert by_ttl[3]["reply_from"] == by_ttl[4]["reply_from"] == TARGET_V6
    assert [by_ttl[t]["icmp_type"] for t in (3, 4)] == [1, 1] and by_ttl[3]["icmp_code"] == 4
    assert all(0 <= r["rtt_ms"] < 1000 for r in rows)
