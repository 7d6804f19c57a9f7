# testScript of checks.x86_64-linux.core-observability. Nodes: core.
# The core role on one VM: Prometheus (every job up, every alert rule loaded),
# Grafana (provisioned datasources and dashboards, through its HTTP API), Loki
# (ready, and holding the journal Alloy ships). The scenario is
# tests/scenarios/observability.py.
from scenarios.observability import CoreObservability, run

start_all()
# Every unit the core role starts: a failed one (caddy without a hash...) fails the test.
for unit in ("apache-kafka.service", "nxthdr-kafka-setup.service", "clickhouse.service",
             "nxthdr-clickhouse-migrate.service", "postgresql.service", "risotto.service", "pesto.service",
             "saimiris-gateway.service", "prometheus.service", "alertmanager.service", "grafana.service",
             "loki.service", "alloy.service", "caddy.service", "headscale.service", "bird.service",
             "prometheus-node-exporter.service", "prometheus-bird-exporter.service"):
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
