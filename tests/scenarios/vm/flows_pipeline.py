# testScript of checks.x86_64-linux.flows-pipeline. Nodes: agent, core, src.
# src and agent share VLAN 2 (the sampled link); the agent exports sFlow to the
# core over VLAN 1, which it does not sample. The scenario is
# tests/scenarios/flows_pipeline.py; here the records come from ClickHouse.
from scenarios.flows_pipeline import FlowsPipeline, clickhouse_rows, run

start_all()
core.wait_for_unit("clickhouse.service")
core.wait_for_unit("apache-kafka.service")
core.wait_for_open_port(9092)

scenario = FlowsPipeline(
    src=src,
    agent=agent,
    core=core,
    src_addr="192.168.2.3",
    target="192.168.2.1",
    sampling_rate=4,
    agent_unit="nxthdr-sflow-agent.service",
    timeout=300,
)
with core.nested("flows pipeline: pings -> pmacctd sfprobe -> pesto -> Kafka -> ClickHouse"):
    run(scenario, clickhouse_rows(core))
