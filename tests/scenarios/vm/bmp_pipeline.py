# testScript of checks.x86_64-linux.bmp-pipeline. Nodes: core, ixp, peer.
# The scenario is tests/scenarios/bmp_pipeline.py, the same code pytest runs on
# network namespaces; here the rows come from ClickHouse on the core.
from scenarios.bmp_pipeline import BmpPipeline, Route, clickhouse_rows, run

start_all()
core.wait_for_unit("clickhouse.service")
core.wait_for_unit("apache-kafka.service")
core.wait_for_open_port(9092)

scenario = BmpPipeline(
    peer=peer,
    ixp=ixp,
    core=core,
    sessions=("192.168.1.3",),
    routes=(Route("198.51.100.0/24", "192.168.1.3"), Route("203.0.113.0/24", "192.168.1.3")),
    bmp_port=4000,
    metrics_port=8080,
    timeout=300,
)
with core.nested("BMP pipeline: peer -> ixp -> BMP -> risotto -> Kafka -> ClickHouse"):
    run(scenario, clickhouse_rows(core))
