# testScript of checks.x86_64-linux.probing. Nodes: core, r1, r2, target, vlt.
# vlt (the agent) -- VLAN 2 -- r1 -- VLAN 3 -- r2 -- VLAN 4 -- target; the agent
# reaches the core (gateway, Kafka's SASL listener, ClickHouse) over VLAN 1.
# Probes are IPv6 (2001:db8:<VLAN>::<index>): the gateway takes IPv6 sources only.
# The scenario is tests/scenarios/probing.py; here the replies come from ClickHouse.
from scenarios.probing import Probing, clickhouse_rows, run

start_all()
core.wait_for_unit("clickhouse.service")
core.wait_for_unit("nxthdr-kafka-setup.service")
core.wait_for_unit("nxthdr-clickhouse-migrate.service")
core.wait_for_unit("saimiris-gateway.service")
for router in (r1, r2):
    router.wait_for_unit("network.target")
target.wait_for_unit("network.target")
# The path works before any probe goes out (and neighbours are resolved).
vlt.wait_until_succeeds("ping -6 -c 1 -W 1 2001:db8:4::4", timeout=120)

scenario = Probing(
    client=core,
    agent=vlt,
    agent_id="vlt",
    src_addr="2001:db8:2::5",
    target="2001:db8:4::4",
    hops=("2001:db8:2::2", "2001:db8:3::3", "2001:db8:4::4"),
    gateway_url="http://127.0.0.1:8080",
    timeout=300,
)
with core.nested("probing: gateway API -> Kafka -> agent -> routers -> replies -> Kafka -> ClickHouse"):
    run(scenario, clickhouse_rows(core))
