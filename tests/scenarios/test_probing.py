"""The probing scenario on namespace machines, with the real programs:

    core (root namespace): gateway (SQLite, dev-mode user), Kafka, `saimiris client`,
        the appliance consuming the replies topic into chdb (saimiris.replies)
    vlt: the agent ══ r1 ══ r2 ══ target   (the agent's namespace lab, tests/saimiris/agent/lab.py)

Probes are IPv6, as the gateway accepts only IPv6 sources (the platform probes
from its IPv6 prefixes). The agent reaches the gateway and the broker through
loopback forwards. Its replies go through Kafka into the appliance's store
(ClickHouse reading Kafka, without a ClickHouse server) and are read with the
VM test's SQL (`clickhouse_rows`) through `nxthdr query --url`.
"""

from __future__ import annotations

import sys
import uuid

import pytest

from tests.saimiris.agent import lab
from tests.saimiris.agent import test_gateway as gateway
from tests.scenarios.appliance_store import UNIT as APPLIANCE_UNIT, ApplianceStore
from tests.scenarios.netns_machine import NetnsMachine
from tests.scenarios.probing import Probing, clickhouse_rows, run

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("netns")]


def test_probing(kafka, tmp_path) -> None:
    in_topic = f"saimiris-probes-{uuid.uuid4().hex[:8]}"
    out_topic = f"saimiris-replies-{uuid.uuid4().hex[:8]}"
    lab.create_topics(kafka.bootstrap, in_topic, out_topic)
    gw = gateway.GatewayProcess(kafka, in_topic)
    topo = lab.Lab()
    core = NetnsMachine("core", None, tmp_path)
    vlt = NetnsMachine("vlt", topo.agent, tmp_path)
    store = ApplianceStore(core, kafka.bootstrap, {"saimiris": out_topic}, tmp_path)
    try:
        store.start()
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
            run(scenario, clickhouse_rows(core, query_command=store.query_command))
        except AssertionError as e:
            raise AssertionError(f"{e}\n{agent.log()}\n{gw.log()}\n{core.logs()}") from None
    finally:
        topo.close()
        gw.stop()
        core.close()
    assert core.units[APPLIANCE_UNIT].proc.returncode == 0, core.logs()
