"""The flows pipeline scenario on namespace machines, with the real programs:

    src ══ veth ══ agent (pmacctd sfprobe, 1-in-4 sampling) ── sFlow ──> core: pesto ──> Kafka
        ──> core: appliance consumer ──> chdb (flows.records)

`core` is the root namespace (the test's Kafka broker listens on its loopback);
the agent exports over its uplink, which it does not sample. The appliance is
ClickHouse reading Kafka without a ClickHouse server; the records are read with
the VM test's SQL (`clickhouse_rows`) through `nxthdr query --url`, so the
traffic estimate (bytes = length x sampling rate) is the storage view's.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid

import pytest

from tests.conftest import require
from tests.scenarios.appliance_store import UNIT as APPLIANCE_UNIT, ApplianceStore
from tests.scenarios.flows_pipeline import FlowsPipeline, clickhouse_rows, run
from tests.scenarios.netns_machine import NetnsMachine
from tests.sflow import agent as sflow_agent
from tests.support.netns import Topology

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("netns")]

SRC_V4, AGENT_V4 = "10.78.0.1", "10.78.0.2"
SAMPLING_RATE = 4
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def test_flows_pipeline(kafka, tmp_path) -> None:
    reason = sflow_agent.available()
    require(reason is None, reason or "")
    topic = f"scenario-flows-{uuid.uuid4().hex[:8]}"
    sflow_port = free_udp_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        metrics_port = s.getsockname()[1]
    with Topology(prefix="fl") as topo:
        src_ns, agent_ns = topo.add("src"), topo.add("agent")
        _, agent_if = topo.link(src_ns, [f"{SRC_V4}/24"], agent_ns, [f"{AGENT_V4}/24"])
        uplink = topo.uplink(agent_ns)
        core = NetnsMachine("core", None, tmp_path)
        src = NetnsMachine("src", src_ns, tmp_path)
        agent = NetnsMachine("agent", agent_ns, tmp_path)
        store = ApplianceStore(core, kafka.bootstrap, {"flows": topic}, tmp_path)
        try:
            store.start()
            core.start_unit("pesto.service", [
                sys.executable, "-m", "nxthdr", "pesto", "--sflow-address", f"{uplink.root_v4}:{sflow_port}",
                "--metrics-address", f"127.0.0.1:{metrics_port}", "--kafka-brokers", kafka.bootstrap,
                "--kafka-topic", topic, "--kafka-batch-wait-time", "100", "--kafka-batch-wait-interval", "20"],
                env={"PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))})
            conf = tmp_path / "pmacctd.conf"
            conf.write_text(
                "daemonize: false\n"
                f"pcap_interface: {agent_if}\n"
                "plugins: sfprobe\n"
                f"sfprobe_receiver: {uplink.root_v4}:{sflow_port}\n"
                f"sfprobe_agentip: {uplink.ns_v4}\n"
                f"sampling_rate: {SAMPLING_RATE}\n")
            agent.start_unit("pmacctd.service", ["pmacctd", "-f", str(conf)])

            scenario = FlowsPipeline(src=src, agent=agent, core=core, src_addr=SRC_V4, target=AGENT_V4,
                                     sampling_rate=SAMPLING_RATE, timeout=60)
            try:
                run(scenario, clickhouse_rows(core, query_command=store.query_command))
            except AssertionError as e:
                raise AssertionError(f"{e}\n{core.logs()}\n{agent.logs()}") from None
        finally:
            agent.close()
            core.close()
    assert core.units["pesto.service"].proc.returncode == 0, core.logs()
    assert core.units[APPLIANCE_UNIT].proc.returncode == 0, core.logs()
