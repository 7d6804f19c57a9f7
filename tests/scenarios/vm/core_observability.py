# testScript of checks.x86_64-linux.core-observability. Nodes: core.
# The core role on one VM: Prometheus (every job up, every alert rule loaded),
# Grafana (provisioned datasources and dashboards, through its HTTP API), Loki
# (ready, and holding the journal Alloy ships). The scenario is
# tests/scenarios/observability.py.
from scenarios.observability import CoreObservability, run

start_all()
for unit in ("prometheus.service", "grafana.service", "loki.service", "alloy.service", "risotto.service"):
    core.wait_for_unit(unit)

scenario = CoreObservability(
    core=core,
    jobs=("risotto", "pesto", "saimiris-gateway", "node", "bird", "kafka", "clickhouse", "prometheus"),
    rules_dir="/etc/nxthdr-test/rules",
    dashboards_dir="/etc/nxthdr-test/dashboards",
    grafana_password_file="/etc/nxthdr-test/secrets/grafana-admin-password",
    timeout=600,
)
with core.nested("core observability: Prometheus, Grafana, Loki"):
    run(scenario)
