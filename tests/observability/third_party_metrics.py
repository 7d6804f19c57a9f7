"""Metric names of programs that cannot run here, declared by hand.

Everything else the rules and dashboards read is collected by running the
program (see metric_sources.py). Each list says where its names come from; a
name added here must be one the program really exports.
"""

from __future__ import annotations

# Prometheus itself adds these to every scraped (or remote-written) target.
PROMETHEUS = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

# node_exporter's systemd collector: enabled on the hosts by the Nix module,
# but it needs a running systemd, which the test machine does not have (every
# other node_exporter name is scraped from the real exporter).
NODE_EXPORTER_SYSTEMD = {"node_systemd_unit_state"}

# czerwonk/bird_exporter (services.prometheus.exporters.bird), new metric format
# ("bird_protocol" prefix, labels name, proto, ip_version, import_filter,
# export_filter): metrics/generic_exporter.go. Counts are exported as gauges.
BIRD_EXPORTER = {
    "bird_protocol_up",
    "bird_protocol_uptime",
    "bird_protocol_prefix_import_count",
    "bird_protocol_prefix_export_count",
    "bird_protocol_prefix_filter_count",
    "bird_protocol_prefix_preferred_count",
    *(f"bird_protocol_changes_{kind}_{way}_{what}_count"
      for kind in ("update", "withdraw") for way in ("import", "export")
      for what in ("receive", "reject", "filter", "ignore", "accept")),
}

# The Kafka broker's JMX exporter with modules/observability/kafka/jmx-exporter.yaml:
# these are the names its rules produce (test_dashboards checks the rules do).
KAFKA_JMX = {
    "kafka_server_brokertopicmetrics_messagesin_total",
    "kafka_server_brokertopicmetrics_bytesin_total",
    "kafka_server_brokertopicmetrics_bytesout_total",
    "kafka_server_replicamanager_partitioncount",
    "kafka_server_replicamanager_underreplicatedpartitions",
    "kafka_controller_kafkacontroller_activecontrollercount",
    "kafka_controller_kafkacontroller_offlinepartitionscount",
    "kafka_log_log_size",
}

ALL = PROMETHEUS | NODE_EXPORTER_SYSTEMD | BIRD_EXPORTER | KAFKA_JMX
