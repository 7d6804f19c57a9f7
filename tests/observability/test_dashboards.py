"""Grafana dashboards: valid JSON, up to date with their generator, datasources that
provisioning defines, ClickHouse SQL that runs on the storage tables, Loki
selectors on labels the journal shipper sets."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest
import yaml

from tests.conftest import require
from tests.observability import grafana
from tests.observability.paths import DASHBOARDS, OBS
from tests.observability.storage import Store
from tests.observability.third_party_metrics import KAFKA_JMX

EXPECTED = {"bmp", "traffic", "probing", "kafka", "clickhouse", "hosts", "bird"}


def _generator():
    spec = importlib.util.spec_from_file_location("dashboards_generate", OBS / "grafana" / "generate.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_dashboard_parses_and_is_a_dashboard() -> None:
    assert {p.stem for p in DASHBOARDS} == EXPECTED
    uids = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        assert board["uid"] and board["title"] and board["panels"], path.name
        assert board["uid"] not in uids, f"duplicate uid {board['uid']}"
        uids.add(board["uid"])
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for p in board["panels"]:
            if p["type"] != "row":
                assert p.get("targets"), f"{path.name}: panel {p['title']!r} has no query"


def test_committed_json_matches_the_generator() -> None:
    rendered = _generator().render()
    for path in DASHBOARDS:
        assert path.read_text() == rendered[path.name], (
            f"{path.name} is stale: run python3 modules/observability/grafana/generate.py")


def test_datasources_are_provisioned() -> None:
    prov = yaml.safe_load((OBS / "grafana" / "provisioning" / "datasources.yaml").read_text())
    defined = {d["uid"]: d["type"] for d in prov["datasources"]}
    used = set()
    for q in grafana.queries():
        uid, kind = q.datasource.get("uid"), q.datasource.get("type")
        assert uid in defined, f"{q.where}: datasource uid {uid!r} not provisioned"
        assert defined[uid] == kind, f"{q.where}: datasource {uid} is {defined[uid]}, query says {kind}"
        used.add(uid)
    assert used == set(defined), "a provisioned datasource no dashboard uses"
    assert "GRAFANA_CLICKHOUSE_PASSWORD" in json.dumps(prov), "the password comes from the environment"


def test_dashboard_provider_reads_the_dashboards_directory() -> None:
    prov = yaml.safe_load((OBS / "grafana" / "provisioning" / "dashboards.yaml").read_text())
    (provider,) = prov["providers"]
    assert provider["type"] == "file" and provider["options"]["path"] == "dashboards"


@pytest.fixture(scope="module")
def store():
    require(importlib.util.find_spec("chdb") is not None, "chdb not installed (extra `embedded`; run .ci/install)")
    s = Store()
    yield s
    s.close()


def test_clickhouse_panels_run_on_the_storage_tables(store: Store) -> None:
    sql_queries = grafana.by_type("grafana-clickhouse-datasource")
    assert {q.dashboard for q in sql_queries} >= {"bmp", "traffic", "probing", "clickhouse"}
    errors = []
    for q in sql_queries:
        try:
            store.query(grafana.expand_macros(q.text))
        except Exception as e:  # every failing panel is reported, not just the first
            errors.append(f"{q.where}: {str(e).splitlines()[0]}")
    assert not errors, f"tables from {store.source}:\n" + "\n".join(errors)


def test_clickhouse_panels_read_the_sample_rows(store: Store) -> None:
    """The time filter keeps the rows just inserted: the queries see data, not only a schema."""
    q = next(q for q in grafana.by_type("grafana-clickhouse-datasource") if q.panel == "Traffic")
    out = store.query(grafana.expand_macros(q.text)).strip().splitlines()
    assert len(out) == 1 and float(out[0].split(",")[1]) == 8400 * 8 / 60


def test_a_wrong_column_fails(store: Store) -> None:
    bad = "SELECT count() FROM bmp.updates WHERE $__timeFilter(time_recieved_ns)"
    with pytest.raises(Exception, match="time_recieved_ns"):
        store.query(grafana.expand_macros(bad))


def test_unknown_macros_are_refused() -> None:
    with pytest.raises(ValueError):
        grafana.expand_macros("SELECT 1 WHERE $__unixEpochFilter(x)")


def _alloy_labels() -> set[str]:
    text = (OBS / "loki" / "journal.alloy").read_text()
    return set(re.findall(r'target_label\s*=\s*"([^"]+)"', text)) | set(re.findall(r"(\w+)\s*=\s*\"", text.split(
        "labels", 1)[1].split("}", 1)[0]))


def test_loki_selectors_use_labels_the_journal_shipper_sets() -> None:
    labels = _alloy_labels()
    assert {"unit", "host"} <= labels
    loki = grafana.by_type("loki")
    assert loki
    for q in loki:
        m = re.match(r"\s*\{([^}]*)\}", q.text) or re.match(r"label_values\((\w+)\)", q.text)
        assert m, f"{q.where}: no stream selector in {q.text!r}"
        used = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", m.group(1))) or {m.group(1)}
        assert used <= labels, f"{q.where}: labels {used - labels} are never set by journal.alloy"


def test_alloy_files_reference_what_they_define() -> None:
    journal = (OBS / "loki" / "journal.alloy").read_text()
    assert "loki.relabel.journal.rules" in journal and 'loki.relabel "journal"' in journal
    assert "loki.write.default.receiver" in journal
    for name in ("write-local.alloy", "write-remote.alloy"):
        text = (OBS / "loki" / name).read_text()
        assert 'loki.write "default"' in text, name
        assert text.count("{") == text.count("}"), name
    assert journal.count("{") == journal.count("}")


def test_loki_config_is_single_node_with_retention() -> None:
    cfg = yaml.safe_load((OBS / "loki" / "loki.yaml").read_text())
    assert cfg["auth_enabled"] is False
    assert cfg["common"]["ring"]["kvstore"]["store"] == "inmemory"
    assert cfg["compactor"]["retention_enabled"] is True and cfg["limits_config"]["retention_period"]
    assert cfg["schema_config"]["configs"][-1]["schema"] == "v13"


def test_kafka_jmx_rules_produce_the_declared_names() -> None:
    cfg = yaml.safe_load((OBS / "kafka" / "jmx-exporter.yaml").read_text())
    produced = set()
    for rule in cfg["rules"]:
        name = rule["name"]
        groups = re.findall(r"\(([^()]*)\)", rule["pattern"])
        if "$1" in name:
            for alt in groups[0].split("|"):
                produced.add(name.replace("$1", alt).lower())
        else:
            produced.add(name.lower())
    assert KAFKA_JMX == produced
