#!/usr/bin/env python3
"""Writes the Grafana dashboards (dashboards/*.json) from the panel lists below.

The JSON files are committed (Grafana provisioning and the Nix module read them
as they are); this script is their source, and a test checks they are up to
date. Run it after editing a panel: `python3 modules/observability/grafana/generate.py`.

Datasource uids are the ones provisioning/datasources.yaml defines. ClickHouse
panels read the storage tables (bmp.updates, flows.records, saimiris.replies)
with the Grafana ClickHouse plugin's macros ($__timeFilter, $__timeInterval,
$__interval_s); Prometheus panels read our programs' metrics, node_exporter,
bird_exporter, the Kafka JMX exporter (kafka/jmx-exporter.yaml) and ClickHouse's
own Prometheus endpoint.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}
CLICKHOUSE = {"type": "grafana-clickhouse-datasource", "uid": "clickhouse"}
LOKI = {"type": "loki", "uid": "loki"}

OUT = Path(__file__).resolve().parent / "dashboards"
RI = "$__rate_interval"


class Board:
    """Panels laid out two per row (full width for tables and logs)."""

    def __init__(self, uid: str, title: str, tags: list[str], variables: list[dict] | None = None) -> None:
        self.uid, self.title, self.tags = uid, title, tags
        self.variables = variables or []
        self.panels: list[dict] = []
        self._x = self._y = 0

    def _place(self, panel: dict, wide: bool) -> dict:
        w, h = (24, 9) if wide else (12, 8)
        if wide and self._x:
            self._x, self._y = 0, self._y + 8
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"x": self._x, "y": self._y, "w": w, "h": h}
        self._x += w
        if self._x >= 24:
            self._x, self._y = 0, self._y + h
        self.panels.append(panel)
        return panel

    def row(self, title: str) -> None:
        if self._x:
            self._x, self._y = 0, self._y + 8
        self.panels.append({"id": len(self.panels) + 1, "type": "row", "title": title, "collapsed": False,
                            "gridPos": {"x": 0, "y": self._y, "w": 24, "h": 1}, "panels": []})
        self._y += 1

    def prom(self, title: str, *queries: tuple[str, str], unit: str = "short", kind: str = "timeseries",
             wide: bool = False, stack: bool = False) -> None:
        targets = [{"refId": chr(65 + i), "datasource": PROMETHEUS, "expr": expr, "legendFormat": legend,
                    "instant": kind in ("stat", "table")}
                   for i, (expr, legend) in enumerate(queries)]
        custom = {"stacking": {"mode": "normal" if stack else "none"}} if kind == "timeseries" else {}
        self._place({"type": kind, "title": title, "datasource": PROMETHEUS, "targets": targets,
                     "fieldConfig": {"defaults": {"unit": unit, "custom": custom}, "overrides": []}}, wide)

    def sql(self, title: str, sql: str, kind: str = "timeseries", unit: str = "short", wide: bool = False) -> None:
        fmt, qtype = (0, "timeseries") if kind == "timeseries" else (1, "table")
        target = {"refId": "A", "datasource": CLICKHOUSE, "editorType": "sql", "format": fmt, "queryType": qtype,
                  "rawSql": " ".join(sql.split())}
        self._place({"type": kind, "title": title, "datasource": CLICKHOUSE, "targets": [target],
                     "fieldConfig": {"defaults": {"unit": unit}, "overrides": []}}, wide or kind == "table")

    def logs(self, title: str, query: str) -> None:
        self._place({"type": "logs", "title": title, "datasource": LOKI,
                     "targets": [{"refId": "A", "datasource": LOKI, "expr": query}],
                     "options": {"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending"}}, True)

    def json(self) -> dict:
        return {
            "uid": self.uid,
            "title": self.title,
            "tags": ["nxthdr", *self.tags],
            "timezone": "utc",
            "editable": False,
            "graphTooltip": 1,
            "schemaVersion": 39,
            "refresh": "1m",
            "time": {"from": "now-6h", "to": "now"},
            "templating": {"list": self.variables},
            "annotations": {"list": []},
            "panels": self.panels,
        }


def prom_variable(name: str, label: str, metric: str, all_value: bool = True) -> dict:
    return {"name": name, "label": label, "type": "query", "datasource": PROMETHEUS,
            "query": {"query": f"label_values({metric}, {label})", "refId": "vars"},
            "definition": f"label_values({metric}, {label})", "refresh": 2, "includeAll": all_value,
            "multi": True, "current": {}, "sort": 1, **({"allValue": ".*"} if all_value else {})}


def loki_variable(name: str, label: str) -> dict:
    return {"name": name, "label": label, "type": "query", "datasource": LOKI,
            "query": {"type": 1, "label": label, "refId": "LokiVariableQueryEditor-VariableQuery"},
            "definition": f"label_values({label})", "refresh": 2, "includeAll": True, "multi": True,
            "allValue": ".*", "current": {}, "sort": 1}


def bmp() -> Board:
    b = Board("nxthdr-bmp", "BMP (risotto)", ["bmp", "risotto"])
    b.row("Collector")
    b.prom("BMP sessions (routers connected)", ("sum by (instance) (risotto_bmp_sessions)", "{{instance}}"))
    b.prom("Established peers per router", ("sum by (router) (risotto_peer_established)", "{{router}}"))
    b.prom("BMP messages by type", (f"sum by (type) (rate(risotto_bmp_messages_total[{RI}]))", "{{type}}"),
           unit="ops", stack=True)
    b.prom("Prefix updates in / out",
           (f"sum (rate(risotto_rx_updates_total[{RI}]))", "received"),
           (f"sum (rate(risotto_tx_updates_total[{RI}]))", "forwarded after curation"), unit="ops")
    b.prom("Synthetic withdraws by cause",
           (f"sum by (cause) (rate(risotto_synthetic_withdraws_total[{RI}]))", "{{cause}}"), unit="ops")
    b.prom("Decode errors", (f"sum by (router) (rate(risotto_decode_errors_total[{RI}]))", "{{router}}"), unit="ops")
    b.prom("Kafka records by outcome", (f"sum by (status) (rate(risotto_kafka_messages_total[{RI}]))", "{{status}}"),
           unit="ops")
    b.prom("Prefixes in the curation state", ("sum by (router, peer) (risotto_state_updates)", "{{router}} / {{peer}}"))
    b.prom("State dump duration (p90)",
           (f"histogram_quantile(0.9, sum by (le) (rate(risotto_state_dump_duration_seconds_bucket[{RI}])))", "p90"),
           (f"rate(risotto_state_dump_failures_total[{RI}])", "failures"), unit="s")
    b.row("Stored updates (ClickHouse bmp.updates)")
    b.sql("Updates stored per interval", """
        SELECT $__timeInterval(time_received_ns) AS time,
               countIf(announced) AS announces,
               countIf(NOT announced AND NOT synthetic) AS withdraws,
               countIf(synthetic) AS synthetic_withdraws
        FROM bmp.updates WHERE $__timeFilter(time_received_ns)
        GROUP BY time ORDER BY time""")
    b.sql("Busiest peers", """
        SELECT toString(router_addr) AS router, toString(peer_addr) AS peer, peer_asn,
               count() AS updates, countIf(announced) AS announces, uniqExact(prefix_addr, prefix_len) AS prefixes
        FROM bmp.updates WHERE $__timeFilter(time_received_ns)
        GROUP BY router, peer, peer_asn ORDER BY updates DESC LIMIT 20""", kind="table")
    b.sql("Origin ASes (announced prefixes)", """
        SELECT as_path[-1] AS origin_asn, uniqExact(prefix_addr, prefix_len) AS prefixes, count() AS updates
        FROM bmp.updates WHERE $__timeFilter(time_received_ns) AND announced AND length(as_path) > 0
        GROUP BY origin_asn ORDER BY prefixes DESC LIMIT 20""", kind="table")
    b.sql("Latest updates", """
        SELECT time_received_ns, toString(router_addr) AS router, toString(peer_addr) AS peer, peer_asn,
               concat(toString(prefix_addr), '/', toString(prefix_len)) AS prefix,
               is_post_policy, announced, synthetic, arrayStringConcat(as_path, ' ') AS path,
               toString(next_hop) AS next_hop, local_preference, multi_exit_disc
        FROM bmp.updates WHERE $__timeFilter(time_received_ns)
        ORDER BY time_received_ns DESC LIMIT 100""", kind="table")
    b.logs("risotto logs", '{unit="risotto.service"}')
    return b


def traffic() -> Board:
    b = Board("nxthdr-traffic", "Traffic (sFlow, pesto)", ["sflow", "pesto", "flows"])
    b.row("Estimated traffic (ClickHouse flows.records: bytes = length x sampling rate)")
    b.sql("Traffic", """
        SELECT $__timeInterval(time_received_ns) AS time,
               sum(bytes) * 8 / $__interval_s AS bits_per_second
        FROM flows.records WHERE $__timeFilter(time_received_ns)
        GROUP BY time ORDER BY time""", unit="bps")
    b.sql("Packets", """
        SELECT $__timeInterval(time_received_ns) AS time, sum(packets) / $__interval_s AS packets_per_second
        FROM flows.records WHERE $__timeFilter(time_received_ns)
        GROUP BY time ORDER BY time""", unit="pps")
    b.sql("By IP protocol", """
        SELECT $__timeInterval(time_received_ns) AS time,
               multiIf(protocol = 6, 'TCP', protocol = 17, 'UDP', protocol = 1, 'ICMP', protocol = 58, 'ICMPv6',
                       toString(protocol)) AS proto,
               sum(bytes) * 8 / $__interval_s AS bps
        FROM flows.records WHERE $__timeFilter(time_received_ns)
        GROUP BY time, proto ORDER BY time""", unit="bps")
    b.sql("Top sources", """
        SELECT toString(src_addr) AS source, sum(bytes) AS bytes, sum(packets) AS packets
        FROM flows.records WHERE $__timeFilter(time_received_ns)
        GROUP BY source ORDER BY bytes DESC LIMIT 20""", kind="table", unit="decbytes")
    b.sql("Top destinations and ports", """
        SELECT toString(dst_addr) AS destination, protocol, dst_port, sum(bytes) AS bytes, sum(packets) AS packets
        FROM flows.records WHERE $__timeFilter(time_received_ns)
        GROUP BY destination, protocol, dst_port ORDER BY bytes DESC LIMIT 20""", kind="table", unit="decbytes")
    b.sql("Samplers", """
        SELECT toString(sampler_address) AS sampler, any(sampling_rate) AS sampling_rate, count() AS samples,
               sum(bytes) AS estimated_bytes
        FROM flows.records WHERE $__timeFilter(time_received_ns)
        GROUP BY sampler ORDER BY samples DESC""", kind="table")
    b.row("Collector")
    b.prom("Datagrams by outcome", (f"sum by (status) (rate(pesto_sflow_datagrams_total[{RI}]))", "{{status}}"),
           unit="ops")
    b.prom("Samples by type", (f"sum by (type) (rate(pesto_sflow_samples_received_total[{RI}]))", "{{type}}"),
           (f"sum (rate(pesto_sflow_records_total[{RI}]))", "records exported"), unit="ops")
    b.prom("Datagrams per exporter", (f"sum by (exporter) (rate(pesto_sflow_exporter_datagrams_total[{RI}]))",
                                      "{{exporter}}"), unit="ops")
    b.prom("Losses", (f"sum (rate(pesto_kernel_receive_drops_total[{RI}]))", "kernel receive drops"),
           (f"sum (rate(pesto_sflow_parse_errors_total[{RI}]))", "parse errors"),
           (f'sum (rate(pesto_kafka_messages_total{{status!="success"}}[{RI}]))', "Kafka not delivered"), unit="ops")
    b.prom("Kafka records by outcome", (f"sum by (status) (rate(pesto_kafka_messages_total[{RI}]))", "{{status}}"),
           unit="ops")
    b.prom("Receive buffer", ("max by (instance) (pesto_sflow_receive_buffer_bytes)", "{{instance}}"), unit="bytes")
    b.logs("pesto logs", '{unit="pesto.service"}')
    return b


def probing() -> Board:
    agent = prom_variable("agent", "agent", "saimiris_sender_sent_total")
    b = Board("nxthdr-probing", "Probing (saimiris agents and gateway)", ["probing", "saimiris"], [agent])
    b.row("Agents")
    b.prom("Probes sent", (f'sum by (agent) (rate(saimiris_sender_sent_total{{agent=~"$agent"}}[{RI}]))',
                           "{{agent}}"), unit="pps")
    b.prom("Replies captured", (f'sum by (agent) (rate(saimiris_receiver_received_total{{agent=~"$agent"}}[{RI}]))',
                                "{{agent}}"), unit="pps")
    b.prom("Reply ratio", (
        f'sum by (agent) (rate(saimiris_receiver_received_total{{agent=~"$agent"}}[{RI}]))'
        f' / sum by (agent) (rate(saimiris_sender_sent_total{{agent=~"$agent"}}[{RI}]))', "{{agent}}"),
        unit="percentunit")
    b.prom("Send failures and filtered probes",
           (f'sum by (agent) (rate(saimiris_sender_failed_total{{agent=~"$agent"}}[{RI}]))', "{{agent}} failed"),
           (f'sum by (agent, filter) (rate(saimiris_sender_filtered_total{{agent=~"$agent"}}[{RI}]))',
            "{{agent}} filtered ({{filter}})"), unit="pps")
    b.prom("Invalid and erroneous captures",
           (f'sum by (agent) (rate(saimiris_receiver_received_invalid_total{{agent=~"$agent"}}[{RI}]))',
            "{{agent}} invalid"),
           (f'sum by (agent) (rate(saimiris_receiver_received_error_total{{agent=~"$agent"}}[{RI}]))',
            "{{agent}} errors"), unit="pps")
    b.prom("Agent Kafka records by outcome",
           (f'sum by (agent, status) (rate(saimiris_kafka_messages_total{{agent=~"$agent"}}[{RI}]))',
            "{{agent}} {{status}}"), unit="ops")
    b.row("Gateway")
    b.prom("Registered agents by health", ("sum by (state) (saimiris_gateway_agents)", "{{state}}"), kind="stat")
    b.prom("Probes submitted (probes x agents)", (f"sum (rate(saimiris_gateway_probes_submitted_total[{RI}]))",
                                                  "accepted"), unit="pps")
    b.prom("Refused probes by reason", (f"sum by (reason) (rate(saimiris_gateway_rejected_probes_total[{RI}]))",
                                        "{{reason}}"), unit="pps")
    b.prom("Measurements by event", (f"sum by (event) (rate(saimiris_gateway_measurements_total[{RI}]))", "{{event}}"),
           unit="ops")
    b.prom("HTTP requests by route and status",
           (f"sum by (route, status) (rate(saimiris_gateway_http_requests_total[{RI}]))", "{{route}} {{status}}"),
           unit="reqps")
    b.prom("Gateway Kafka records", (f"sum by (kind, status) (rate(saimiris_gateway_kafka_records_total[{RI}]))",
                                     "{{kind}} {{status}}"), unit="ops")
    b.row("Replies (ClickHouse saimiris.replies)")
    b.sql("Replies stored per agent", """
        SELECT $__timeInterval(time_received_ns) AS time, agent_id, count() AS replies
        FROM saimiris.replies WHERE $__timeFilter(time_received_ns)
        GROUP BY time, agent_id ORDER BY time""")
    b.sql("Median RTT per agent", """
        SELECT $__timeInterval(time_received_ns) AS time, agent_id, quantile(0.5)(rtt) / 10 AS rtt_ms
        FROM saimiris.replies WHERE $__timeFilter(time_received_ns)
        GROUP BY time, agent_id ORDER BY time""", unit="ms")
    b.sql("Replies by kind", """
        SELECT agent_id, reply_protocol, reply_icmp_type, reply_icmp_code, count() AS replies,
               uniqExact(reply_src_addr) AS responders, uniqExact(probe_dst_addr) AS targets
        FROM saimiris.replies WHERE $__timeFilter(time_received_ns)
        GROUP BY agent_id, reply_protocol, reply_icmp_type, reply_icmp_code ORDER BY replies DESC""", kind="table")
    b.logs("agent and gateway logs", '{unit=~"saimiris-agent.service|saimiris-gateway.service"}')
    return b


def kafka() -> Board:
    b = Board("nxthdr-kafka", "Kafka", ["kafka"])
    b.row("Broker (JMX exporter)")
    b.prom("Messages in by topic",
           (f"sum by (topic) (rate(kafka_server_brokertopicmetrics_messagesin_total{{topic!=\"\"}}[{RI}]))",
            "{{topic}}"), unit="ops", stack=True)
    b.prom("Bytes in / out by topic",
           (f"sum by (topic) (rate(kafka_server_brokertopicmetrics_bytesin_total{{topic!=\"\"}}[{RI}]))", "in {{topic}}"),
           (f"sum by (topic) (rate(kafka_server_brokertopicmetrics_bytesout_total{{topic!=\"\"}}[{RI}]))",
            "out {{topic}}"), unit="Bps")
    b.prom("Log size by topic", ("sum by (topic) (kafka_log_log_size)", "{{topic}}"), unit="bytes")
    b.prom("Partitions", ("sum (kafka_server_replicamanager_partitioncount)", "partitions"),
           ("sum (kafka_server_replicamanager_underreplicatedpartitions)", "under-replicated"),
           ("sum (kafka_controller_kafkacontroller_offlinepartitionscount)", "offline"),
           ("sum (kafka_controller_kafkacontroller_activecontrollercount)", "active controllers"))
    b.row("Producers (our programs)")
    b.prom("Records produced by outcome",
           (f"sum by (status) (rate(risotto_kafka_messages_total[{RI}]))", "risotto {{status}}"),
           (f"sum by (status) (rate(pesto_kafka_messages_total[{RI}]))", "pesto {{status}}"),
           (f"sum by (status) (rate(saimiris_kafka_messages_total[{RI}]))", "agents {{status}}"),
           (f"sum by (status) (rate(saimiris_gateway_kafka_records_total[{RI}]))", "gateway {{status}}"),
           unit="ops")
    b.row("Consumer (ClickHouse Kafka engine)")
    b.prom("Kafka engine reads",
           (f"sum (rate(ClickHouseProfileEvents_KafkaMessagesRead[{RI}]))", "messages"),
           (f"sum (rate(ClickHouseProfileEvents_KafkaRowsRead[{RI}]))", "rows"),
           (f"sum (rate(ClickHouseProfileEvents_KafkaRowsRejected[{RI}]))", "rows rejected"), unit="ops")
    b.prom("Kafka engine consumers", ("sum (ClickHouseMetrics_KafkaConsumers)", "consumers"),
           ("sum (ClickHouseMetrics_KafkaConsumersInUse)", "in use"))
    b.logs("broker logs", '{unit="apache-kafka.service"}')
    return b


def clickhouse() -> Board:
    b = Board("nxthdr-clickhouse", "ClickHouse", ["clickhouse"])
    b.row("Server (ClickHouse Prometheus endpoint)")
    b.prom("Queries", (f"sum (rate(ClickHouseProfileEvents_SelectQuery[{RI}]))", "select"),
           (f"sum (rate(ClickHouseProfileEvents_InsertQuery[{RI}]))", "insert"),
           (f"sum (rate(ClickHouseProfileEvents_FailedQuery[{RI}]))", "failed"), unit="qps")
    b.prom("Rows inserted", (f"sum (rate(ClickHouseProfileEvents_InsertedRows[{RI}]))", "rows"), unit="rowsps")
    b.prom("Running queries and connections", ("sum (ClickHouseMetrics_Query)", "queries"),
           ("sum (ClickHouseMetrics_TCPConnection)", "native connections"),
           ("sum (ClickHouseMetrics_HTTPConnection)", "HTTP connections"))
    b.prom("Memory tracked", ("sum (ClickHouseMetrics_MemoryTracking)", "bytes"), unit="bytes")
    b.prom("Merges and parts", ("sum (ClickHouseMetrics_Merge)", "running merges"),
           ("sum (ClickHouseMetrics_PartsActive)", "active parts"))
    b.row("Storage (system tables)")
    b.sql("Table sizes", """
        SELECT database, table, sum(rows) AS rows, sum(bytes_on_disk) AS bytes_on_disk,
               count() AS parts, min(min_date) AS oldest_day
        FROM system.parts WHERE active AND database IN ('bmp', 'flows', 'saimiris')
        GROUP BY database, table ORDER BY bytes_on_disk DESC""", kind="table")
    b.sql("Rows stored per interval", """
        SELECT time, pipeline, rows FROM (
          SELECT $__timeInterval(time_received_ns) AS time, 'bmp' AS pipeline, count() AS rows
          FROM bmp.updates WHERE $__timeFilter(time_received_ns) GROUP BY time
          UNION ALL
          SELECT $__timeInterval(time_received_ns) AS time, 'flows' AS pipeline, count() AS rows
          FROM flows.records WHERE $__timeFilter(time_received_ns) GROUP BY time
          UNION ALL
          SELECT $__timeInterval(time_received_ns) AS time, 'saimiris' AS pipeline, count() AS rows
          FROM saimiris.replies WHERE $__timeFilter(time_received_ns) GROUP BY time
        ) ORDER BY time""")
    b.sql("Ingestion delay (received by collector -> inserted)", """
        SELECT 'bmp' AS pipeline, quantile(0.5)(dateDiff('millisecond', time_received_ns, time_inserted_ns)) AS p50_ms,
               max(dateDiff('millisecond', time_received_ns, time_inserted_ns)) AS max_ms
        FROM bmp.updates WHERE $__timeFilter(time_received_ns)
        UNION ALL
        SELECT 'flows', quantile(0.5)(dateDiff('millisecond', time_received_ns, time_inserted_ns)),
               max(dateDiff('millisecond', time_received_ns, time_inserted_ns))
        FROM flows.records WHERE $__timeFilter(time_received_ns)
        UNION ALL
        SELECT 'saimiris', quantile(0.5)(dateDiff('millisecond', time_received_ns, time_inserted_ns)),
               max(dateDiff('millisecond', time_received_ns, time_inserted_ns))
        FROM saimiris.replies WHERE $__timeFilter(time_received_ns)""", kind="table")
    b.logs("ClickHouse logs", '{unit="clickhouse.service"}')
    return b


def hosts() -> Board:
    inst = prom_variable("instance", "instance", "node_uname_info")
    # Journal logs carry the host name, scrape targets an address: two variables.
    host = loki_variable("host", "host")
    b = Board("nxthdr-hosts", "Hosts", ["hosts", "node"], [inst, host])
    sel = 'instance=~"$instance"'
    fs = f'{sel},fstype!~"tmpfs|ramfs|overlay|squashfs"'
    b.prom("Targets up", ("sum by (job) (up)", "{{job}} up"), ("count by (job) (up)", "{{job}} total"), kind="stat",
           wide=True)
    b.prom("CPU busy", (f'1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle",{sel}}}[{RI}]))',
                        "{{instance}}"), unit="percentunit")
    b.prom("Load (1 min) per CPU", (
        f'node_load1{{{sel}}} / on (instance) count by (instance) (node_cpu_seconds_total{{mode="idle",{sel}}})',
        "{{instance}}"))
    b.prom("Memory available", (
        f"node_memory_MemAvailable_bytes{{{sel}}} / node_memory_MemTotal_bytes{{{sel}}}", "{{instance}}"),
        unit="percentunit")
    b.prom("Disk space available", (
        f"node_filesystem_avail_bytes{{{fs}}} / node_filesystem_size_bytes{{{fs}}}", "{{instance}} {{mountpoint}}"),
        unit="percentunit")
    b.prom("Network received", (
        f'sum by (instance, device) (rate(node_network_receive_bytes_total{{{sel},device!="lo"}}[{RI}])) * 8',
        "{{instance}} {{device}}"), unit="bps")
    b.prom("Network sent", (
        f'sum by (instance, device) (rate(node_network_transmit_bytes_total{{{sel},device!="lo"}}[{RI}])) * 8',
        "{{instance}} {{device}}"), unit="bps")
    b.prom("Disk I/O", (
        f"sum by (instance) (rate(node_disk_read_bytes_total{{{sel}}}[{RI}]))", "{{instance}} read"),
        (f"sum by (instance) (rate(node_disk_written_bytes_total{{{sel}}}[{RI}]))", "{{instance}} written"),
        unit="Bps")
    b.prom("OOM kills", (f"increase(node_vmstat_oom_kill{{{sel}}}[1h])", "{{instance}}"))
    b.prom("Failed systemd units", (f'sum by (instance) (node_systemd_unit_state{{state="failed",{sel}}})',
                                    "{{instance}}"))
    b.logs("errors in the journal", '{host=~"$host"} |~ "(?i)error|fail"')
    return b


def bird() -> Board:
    inst = prom_variable("instance", "instance", "bird_protocol_up")
    b = Board("nxthdr-bird", "BIRD", ["bird", "bgp"], [inst])
    sel = 'proto="BGP",instance=~"$instance"'
    b.prom("BGP sessions", (f"bird_protocol_up{{{sel}}}", "{{instance}} {{name}}"), kind="table", wide=True)
    b.prom("Sessions up / total",
           (f"sum by (instance) (bird_protocol_up{{{sel}}})", "{{instance}} up"),
           (f"count by (instance) (bird_protocol_up{{{sel}}})", "{{instance}} total"))
    b.prom("Session uptime", (f"bird_protocol_uptime{{{sel}}}", "{{instance}} {{name}}"), unit="s")
    b.prom("Prefixes imported", (f"bird_protocol_prefix_import_count{{{sel}}}", "{{instance}} {{name}}"))
    b.prom("Prefixes exported", (f"bird_protocol_prefix_export_count{{{sel}}}", "{{instance}} {{name}}"))
    b.prom("Prefixes filtered on import", (f"bird_protocol_prefix_filter_count{{{sel}}}", "{{instance}} {{name}}"))
    # bird_exporter exposes these cumulative counts as gauges; they only grow while
    # the session is up, so rate() reads them like counters.
    b.prom("Updates received", (
        f"rate(bird_protocol_changes_update_import_receive_count{{{sel}}}[{RI}])", "{{instance}} {{name}}"),
        (f"rate(bird_protocol_changes_withdraw_import_receive_count{{{sel}}}[{RI}])",
         "{{instance}} {{name}} withdraws"), unit="ops")
    b.logs("BIRD logs", '{unit="bird.service"}')
    return b


BOARDS = {"bmp": bmp, "traffic": traffic, "probing": probing, "kafka": kafka, "clickhouse": clickhouse,
          "hosts": hosts, "bird": bird}


def render() -> dict[str, str]:
    return {f"{name}.json": json.dumps(make().json(), indent=2) + "\n" for name, make in BOARDS.items()}


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT.name}/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
