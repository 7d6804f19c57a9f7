"""Every metric an alert rule or a dashboard reads is one that something exports.

Our programs (the probing agent included) and node_exporter are started and scraped; ClickHouse's names come
from chdb; the rest (bird_exporter, the Kafka JMX exporter, Prometheus' own,
the systemd collector) are declared in third_party_metrics.py.
"""

from __future__ import annotations

import importlib.util

import pytest
import yaml

from tests.conftest import require
from tests.observability import grafana, metric_sources, third_party_metrics
from tests.observability.paths import RULES
from tests.observability.promql import grafana_metric_names, metric_names


@pytest.fixture(scope="module")
def exported() -> dict[str, set[str]]:
    require(importlib.util.find_spec("chdb") is not None, "chdb not installed (extra `embedded`; run .ci/install)")
    require(metric_sources.node_exporter() is not None,
            "node_exporter not installed (Debian package prometheus-node-exporter; run .ci/install)")
    names = metric_sources.scrape_programs()
    names["clickhouse"] = metric_sources.clickhouse_names()
    names["declared"] = third_party_metrics.ALL
    return names


def rule_exprs() -> list[tuple[str, str]]:
    out = []
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                out.append((f"{path.name}: {rule.get('alert') or rule.get('record')}", rule["expr"]))
    return out


def test_scraped_programs_export_their_documented_metrics(exported: dict[str, set[str]]) -> None:
    # The names operators know from collectors.md must be among what is scraped,
    # or the scrape itself is broken and the check below would prove nothing.
    assert {"risotto_bmp_messages_total", "risotto_peer_established", "risotto_kafka_messages_total",
            "risotto_state_dump_duration_seconds_bucket"} <= exported["risotto"]
    assert {"pesto_sflow_datagrams_total", "pesto_sflow_records_total", "pesto_kafka_messages_total"} <= exported["pesto"]
    assert {"saimiris_gateway_http_requests_total", "saimiris_gateway_agents"} <= exported["saimiris-gateway"]
    assert {"node_filesystem_avail_bytes", "node_memory_MemAvailable_bytes"} <= exported["node_exporter"]
    assert "ClickHouseProfileEvents_InsertedRows" in exported["clickhouse"]


def test_rules_name_only_exported_metrics(exported: dict[str, set[str]]) -> None:
    known = set().union(*exported.values())
    missing = {}
    for where, expr in rule_exprs():
        unknown = metric_names(expr) - known
        if unknown:
            missing[where] = sorted(unknown)
    assert not missing, f"rules read metrics nothing exports: {missing}"


def test_dashboards_name_only_exported_metrics(exported: dict[str, set[str]]) -> None:
    known = set().union(*exported.values())
    prom = grafana.by_type("prometheus")
    assert len(prom) > 50
    missing = {}
    for q in prom:
        unknown = grafana_metric_names(q.text) - known
        if unknown:
            missing[q.where] = sorted(unknown)
    assert not missing, f"dashboards read metrics nothing exports: {missing}"


def test_every_dashboard_metric_source_is_used(exported: dict[str, set[str]]) -> None:
    """Each program's metrics appear somewhere: a dashboard per component, none forgotten."""
    used = set()
    for q in grafana.by_type("prometheus"):
        used |= grafana_metric_names(q.text)
    for source in ("risotto", "pesto", "saimiris-gateway", "saimiris-agent", "node_exporter", "clickhouse"):
        assert used & exported[source], f"no dashboard reads {source}"
    for declared in (third_party_metrics.BIRD_EXPORTER, third_party_metrics.KAFKA_JMX):
        assert used & declared


def test_a_misspelled_metric_is_caught(exported: dict[str, set[str]]) -> None:
    known = set().union(*exported.values())
    assert metric_names("rate(risotto_bmp_message_total[5m])") - known == {"risotto_bmp_message_total"}
