"""The probing scenario on namespace machines, with the real programs:

    core (root namespace): gateway (SQLite, dev-mode user), Kafka, `saimiris client`
    vlt: the agent ══ r1 ══ r2 ══ target   (the agent's namespace lab, tests/saimiris/agent/lab.py)

Probes are IPv6, as the gateway accepts only IPv6 sources (the platform probes
from its IPv6 prefixes). The agent reaches the gateway and the broker through loopback forwards; its
replies are read back from Kafka (ClickHouse in the VM test).
"""

from __future__ import annotations

import sys
import uuid

import pytest

from tests.scenarios.kafka_rows import KafkaRows, reply_row
from tests.scenarios.netns_machine import NetnsMachine
from tests.scenarios.probing import Probing, run

lab = pytest.importorskip("tests.saimiris.agent.lab", reason="the probing agent's namespace lab is not in this checkout yet")
gateway = pytest.importorskip("tests.saimiris.agent.test_gateway", reason="the agent's gateway helper is not in this checkout yet")

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("netns")]


def test_probing(kafka, tmp_path) -> None:
    in_topic = f"saimiris-probes-{uuid.uuid4().hex[:8]}"
    out_topic = f"saimiris-replies-{uuid.uuid4().hex[:8]}"
    lab.create_topics(kafka.bootstrap, in_topic, out_topic)
    gw = gateway.GatewayProcess(kafka, in_topic)
    topo = lab.Lab()
    rows = KafkaRows(kafka.bootstrap, out_topic, "reply.capnp", "Reply", reply_row)
    core = NetnsMachine("core", None, tmp_path)
    vlt = NetnsMachine("vlt", topo.agent, tmp_path)
    try:
        topo.forward(int(kafka.bootstrap.rsplit(":", 1)[1]))
        topo.forward(gw.port)
        secret = tmp_path / "agent-secret"
        secret.write_text("agent-p-secret\n")
        cfg = lab.agent_config("agent-p", kafka.bootstrap, in_topic, out_topic,
                               [{"name": "main", "interface": topo.agent_if, "probing_rate": 100}],
                               agent={"health_interval": 1},
                               gateway={"url": gw.url, "agent_key": gateway.AGENT_KEY,
                                        "agent_secret_file": str(secret)})
        agent = lab.AgentProcess(topo, cfg)
        vlt.adopt_unit("saimiris-agent.service", agent.proc, agent.log_path)
        scenario = Probing(client=core, agent=vlt, agent_id="agent-p", src_addr=lab.AGENT_V6, target=lab.TARGET_V6,
                           hops=tuple(lab.HOPS_V6), gateway_url=gw.url,
                           client_command=f"{sys.executable} -m nxthdr saimiris client", timeout=60)
        try:
            run(scenario, rows)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{agent.log()}\n{gw.log()}") from None
    finally:
        rows.stop()
        topo.close()
        gw.stop()
