"""The migration planner against chdb's real system tables, the statements it would
send, and the executor's and the CLI's error paths.

chdb cannot create Kafka tables (see test_sql.py), so on chdb the planner runs on
the embedded layout (Null input table); the Kafka-table comparisons use a
system.tables row built from ClickHouse's own formatting of our CREATE
(formatQuery), which is the text a server shows in engine_full.
"""

from __future__ import annotations

import http.server
import socket
import threading
from dataclasses import replace

import pytest

from nxthdr.clickhouse import migrate, server, tables
from nxthdr.clickhouse.migrate import Observed, TableRow, kafka_settings, observe_with, plan
from nxthdr.clickhouse.migrate_cli import main as migrate_main
from nxthdr.clickhouse.tables import DATABASES, KafkaParams, objects


def observe(engine, wanted) -> Observed:
    return observe_with(engine.rows, [w.database for w in wanted])


def apply(engine, p: migrate.Plan) -> None:
    assert not p.problems, p.problems
    for st in p.statements:
        engine.run(st.sql)


def null_objects(prefix, **kw):
    return [objects(n, database=prefix + n, input="null", **kw) for n in DATABASES]


def test_fresh_server_gets_every_create_then_nothing(engine, prefix):
    wanted = null_objects(prefix)
    p = plan(wanted, observe(engine, wanted))
    assert [s.sql.split("\n")[0] for s in p.statements] == [
        line for n in DATABASES for line in (
            f"CREATE DATABASE IF NOT EXISTS {prefix}{n}",
            f"CREATE TABLE IF NOT EXISTS {prefix}{n}.{tables.SPECS[n].storage_table}",
            f"CREATE TABLE IF NOT EXISTS {prefix}{n}.from_kafka",
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {prefix}{n}.from_kafka_mv TO {prefix}{n}.{tables.SPECS[n].storage_table}",
        )]
    apply(engine, p)
    again = plan(wanted, observe(engine, wanted))
    assert again.up_to_date and again.statements == [] and again.notes == []


def _installed(engine, prefix, **kw):
    wanted = null_objects(prefix, **kw)
    apply(engine, plan(wanted, observe(engine, wanted)))
    return wanted


def _count(engine, table):
    return engine.scalar(f"SELECT count() FROM {table}")


def _store_one(engine, w):
    from tests.clickhouse.rows import insert
    import time
    insert(engine, f"{w.database}.from_kafka", w.input_columns, [{"timeReceivedNs": time.time_ns()}])
    return _count(engine, f"{w.database}.{w.storage_table}")


def test_added_column_is_altered_in_and_data_is_kept(engine, prefix):
    wanted = _installed(engine, prefix)
    bmp = wanted[0]
    assert _store_one(engine, bmp) == 1
    # An older version of the table: without the last two columns.
    engine.run(f"ALTER TABLE {bmp.database}.updates DROP COLUMN is_loc_rib")
    engine.run(f"ALTER TABLE {bmp.database}.updates DROP COLUMN next_hop_link_local")
    p = plan(wanted, observe(engine, wanted))
    assert [s.sql for s in p.statements] == [
        f"ALTER TABLE {bmp.database}.updates ADD COLUMN IF NOT EXISTS next_hop_link_local IPv6 AFTER peer_type",
        f"ALTER TABLE {bmp.database}.updates ADD COLUMN IF NOT EXISTS is_loc_rib Bool AFTER next_hop_link_local",
    ]
    apply(engine, p)
    assert plan(wanted, observe(engine, wanted)).up_to_date
    assert _count(engine, f"{bmp.database}.updates") == 1
    assert _store_one(engine, bmp) == 2  # the view writes the new columns again


def test_changed_retention_is_a_modify_ttl(engine, prefix):
    wanted = _installed(engine, prefix)
    flows = objects("flows", database=prefix + "flows", input="null", retention_days=30)
    p = plan([flows], observe(engine, [flows]))
    assert [s.sql for s in p.statements] == [
        f"ALTER TABLE {prefix}flows.records MODIFY TTL date + INTERVAL 30 DAY DELETE"]
    assert "toIntervalDay(7)" in p.statements[0].reason
    apply(engine, p)
    full = engine.scalar(f"SELECT engine_full FROM system.tables WHERE database = '{prefix}flows' AND name = 'records'")
    assert "TTL date + toIntervalDay(30)" in full
    assert plan([flows], observe(engine, [flows])).up_to_date
    assert plan(wanted, observe(engine, wanted)).statements[0].sql.endswith("INTERVAL 7 DAY DELETE")


def test_changed_view_is_dropped_and_recreated_only(engine, prefix):
    wanted = _installed(engine, prefix)
    sai = wanted[2]
    engine.run(f"DROP VIEW {sai.database}.from_kafka_mv")
    engine.run(f"CREATE MATERIALIZED VIEW {sai.database}.from_kafka_mv TO {sai.database}.replies AS "
               f"SELECT agentId AS agent_id FROM {sai.database}.from_kafka")  # an older, narrower view
    p = plan(wanted, observe(engine, wanted))
    assert [s.sql.split("\n")[0] for s in p.statements] == [
        f"DROP VIEW IF EXISTS {sai.database}.from_kafka_mv SYNC",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {sai.database}.from_kafka_mv TO {sai.database}.replies"]
    apply(engine, p)
    assert plan(wanted, observe(engine, wanted)).up_to_date


def test_changed_input_columns_recreate_input_and_view(engine, prefix):
    wanted = _installed(engine, prefix)
    flows = wanted[1]
    # An input table of another layout (a field since removed from the schema).
    engine.run(f"ALTER TABLE {flows.database}.from_kafka ADD COLUMN retiredField UInt8")
    p = plan(wanted, observe(engine, wanted))
    assert [s.sql.split("\n")[0] for s in p.statements] == [
        f"DROP VIEW IF EXISTS {flows.database}.from_kafka_mv SYNC",
        f"DROP TABLE IF EXISTS {flows.database}.from_kafka SYNC",
        f"CREATE TABLE IF NOT EXISTS {flows.database}.from_kafka",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {flows.database}.from_kafka_mv TO {flows.database}.records"]
    apply(engine, p)
    assert plan(wanted, observe(engine, wanted)).up_to_date


def test_unfixable_drift_is_refused_with_reasons(engine, prefix):
    wanted = null_objects(prefix)
    sai = wanted[2]
    engine.run(f"CREATE DATABASE {sai.database}")
    engine.run(f"CREATE TABLE {sai.database}.replies (date Date, time_received_ns DateTime64(9), agent_id UInt32) "
               "ENGINE = MergeTree ORDER BY time_received_ns")
    engine.run(f"CREATE TABLE {sai.database}.from_kafka (x UInt8) ENGINE = MergeTree ORDER BY x")
    p = plan([sai], observe(engine, [sai]))
    text = "\n".join(p.problems)
    assert "ORDER BY is (time_received_ns)" in text
    assert "PARTITION BY is (none)" in text
    assert f"{sai.database}.replies.agent_id is UInt32, wanted String" in text
    assert f"{sai.database}.from_kafka is a MergeTree table" in text
    # Nothing in the plan drops anything.
    assert not [s for s in p.statements if s.sql.startswith("DROP TABLE")]


# -- Kafka tables: system.tables rows as a server shows them ---------------------------------

def kafka_row(engine, w) -> TableRow:
    formatted = engine.scalar(f"SELECT formatQuery({tables.quote_string(w.create_input)})")
    engine_full = formatted[formatted.index("ENGINE = ") + len("ENGINE = "):]
    return TableRow(w.database, "from_kafka", "Kafka", engine_full, formatted, "", "", "", w.input_columns)


def server_state(engine, prefix, installed_kafka):
    """chdb's real rows for storage and view, plus the Kafka table of `installed_kafka`."""
    nulls = [objects(w.name, database=w.database, input="null", retention_days=w.retention_days)
             for w in installed_kafka]
    apply(engine, plan(nulls, observe(engine, nulls)))
    obs = observe(engine, nulls)
    rows = dict(obs.tables)
    for w in installed_kafka:
        rows[(w.database, "from_kafka")] = kafka_row(engine, w)
    return Observed(obs.databases, rows)


def test_kafka_table_up_to_date_then_new_brokers_recreate_it_and_the_view_only(engine, prefix):
    old = [objects(n, database=prefix + n, kafka=KafkaParams(brokers="old:9092")) for n in DATABASES]
    obs = server_state(engine, prefix, old)
    assert plan(old, obs).up_to_date
    new = [objects(n, database=prefix + n, kafka=KafkaParams(brokers="k1:9092,k2:9092")) for n in DATABASES]
    p = plan(new, obs)
    for w in new:
        mine = [s for s in p.statements if f" {w.database}." in s.sql.split("\n")[0]]
        assert [s.sql.split("\n")[0] for s in mine] == [
            f"DROP VIEW IF EXISTS {w.database}.from_kafka_mv SYNC",
            f"DROP TABLE IF EXISTS {w.database}.from_kafka SYNC",
            f"CREATE TABLE IF NOT EXISTS {w.database}.from_kafka",
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {w.database}.from_kafka_mv TO {w.database}.{w.storage_table}"]
        assert "kafka_broker_list = 'k1:9092,k2:9092'" in mine[2].sql and "ENGINE = Kafka" in mine[2].sql
        assert "kafka_broker_list 'old:9092' -> 'k1:9092,k2:9092'" in mine[1].reason
    assert not [s for s in p.statements if s.sql.startswith("ALTER") or w.storage_table + " " in s.sql.split("\n")[0]
                and s.sql.startswith("DROP")]


def test_kafka_topic_group_and_sasl_changes_are_seen_and_secrets_masked(engine, prefix):
    base = objects("bmp", database=prefix + "bmp")
    obs = server_state(engine, prefix, [base])
    for kp in (KafkaParams(topic="other"), KafkaParams(consumer_group="g2"), KafkaParams(num_consumers=4),
               KafkaParams(format_schema="update:Update")):
        w = objects("bmp", database=prefix + "bmp", kafka=kp)
        assert len(plan([w], obs).statements) == 4, kp
    sasl = objects("bmp", database=prefix + "bmp", kafka=KafkaParams(extra_settings={
        "kafka_security_protocol": "sasl_plaintext", "kafka_sasl_mechanism": "SCRAM-SHA-512",
        "kafka_sasl_username": "clickhouse", "kafka_sasl_password": "s3cr3t"}))
    p = plan([sasl], obs)
    assert len(p.statements) == 4
    shown = "\n".join(str(s) + s.reason for s in p.statements)
    assert "s3cr3t" not in shown and "kafka_sasl_password = '[HIDDEN]'" in shown
    assert "s3cr3t" in p.statements[2].sql  # the server still receives it
    # A server that hides the password in engine_full: the same settings are up to date.
    row = kafka_row(engine, sasl)
    hidden = replace(row, engine_full=row.engine_full.replace("'s3cr3t'", "'[HIDDEN]'"))
    assert "[HIDDEN]" in hidden.engine_full
    assert plan([sasl], Observed(obs.databases, {**obs.tables, (sasl.database, "from_kafka"): hidden})).up_to_date


def test_kafka_settings_read_from_positional_engine_arguments():
    got = kafka_settings("Kafka('b1:9092,b2:9092', 'risotto-updates', 'grp', 'CapnProto') "
                         "SETTINGS kafka_schema = 'update.capnp:Update', kafka_num_consumers = 1")
    assert got == {"kafka_broker_list": "'b1:9092,b2:9092'", "kafka_topic_list": "'risotto-updates'",
                   "kafka_group_name": "'grp'", "kafka_format": "'CapnProto'",
                   "kafka_schema": "'update.capnp:Update'", "kafka_num_consumers": "1"}


def test_null_input_where_kafka_is_wanted_is_replaced(engine, prefix):
    w = objects("saimiris", database=prefix + "saimiris")
    nulls = [objects("saimiris", database=prefix + "saimiris", input="null")]
    apply(engine, plan(nulls, observe(engine, nulls)))
    p = plan([w], observe(engine, [w]))
    assert [s.sql.split("\n")[0] for s in p.statements][:2] == [
        f"DROP VIEW IF EXISTS {w.database}.from_kafka_mv SYNC", f"DROP TABLE IF EXISTS {w.database}.from_kafka SYNC"]
    assert "is a Null table, wanted Kafka" in p.statements[1].reason


# -- executor and CLI errors -------------------------------------------------------------------

def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there any more
    return port


def test_unreachable_server_is_named_with_the_cause():
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(server.ServerError) as e:
        server.connect(url, "default", "", connect_timeout=2)
    assert str(e.value).startswith(f"ClickHouse at {url}: connection refused")


class _RefusingClickHouse(http.server.BaseHTTPRequestHandler):
    """MOCK of a fault: a ClickHouse HTTP endpoint rejecting the credentials. No real
    ClickHouse server can run on these machines (chdb has no server), so the refusal
    is imitated with the status, header and body text a server sends."""

    def do_POST(self):  # noqa: N802
        self._refuse()

    def do_GET(self):  # noqa: N802
        self._refuse()

    def _refuse(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = (b"Code: 516. DB::Exception: migrator: Authentication failed: password is incorrect, or there is "
                b"no user with such name. (AUTHENTICATION_FAILED) (version 25.8.1.1 (official build))\n")
        self.send_response(516)
        self.send_header("X-ClickHouse-Exception-Code", "516")
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def refusing_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RefusingClickHouse)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_refusing_server_is_named_with_the_cause(refusing_server, capsys):
    with pytest.raises(server.ServerError) as e:
        server.connect(refusing_server, "migrator", "wrong", connect_timeout=2)
    msg = str(e.value)
    assert msg.startswith(f"ClickHouse at {refusing_server}: authentication failed")
    assert "code 516" in msg
    rc = migrate_main(["--clickhouse-url", refusing_server, "--clickhouse-user", "migrator"])
    err = capsys.readouterr().err
    assert rc == 1 and f"ClickHouse at {refusing_server}: authentication failed" in err


def test_permission_errors_are_explained():
    exc = Exception("HTTPDriver for http://h:8123 received ClickHouse error code 497\n Code: 497. DB::Exception: "
                    "migrator: Not enough privileges. To execute this query, it's necessary to have the grant "
                    "CREATE DATABASE ON bmp.*. (ACCESS_DENIED) (version 25.8.1.1 (official build))")
    msg = server.describe("http://h:8123", exc)
    assert msg.startswith("ClickHouse at http://h:8123: permission denied (code 497: migrator: Not enough privileges")


def test_cli_unreachable_exits_1_naming_the_server(capsys):
    url = f"http://127.0.0.1:{closed_port()}"
    assert migrate_main(["--clickhouse-url", url]) == 1
    assert f"ClickHouse at {url}: connection refused" in capsys.readouterr().err


def test_cli_dry_run_offline_prints_a_fresh_install_with_secrets_masked(capsys, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("hunter2\n")
    url = f"http://127.0.0.1:{closed_port()}"
    rc = migrate_main(["--dry-run", "--clickhouse-url", url, "--kafka-brokers", "kafka1:9092",
                       "--kafka-auth-protocol", "SASL_PLAINTEXT", "--kafka-auth-sasl-username", "ch",
                       "--kafka-auth-sasl-password-file", str(secret), "--bmp-retention-days", "30",
                       "--clickhouse-database-prefix", "x_"])
    out = capsys.readouterr().out
    assert rc == 1  # the server was not reached, but the statements are printed
    assert "CREATE DATABASE IF NOT EXISTS x_bmp;" in out and "CREATE TABLE IF NOT EXISTS x_flows.records" in out
    assert "TTL date + INTERVAL 30 DAY DELETE" in out and "TTL date + INTERVAL 7 DAY DELETE" in out
    assert "kafka_broker_list = 'kafka1:9092'" in out and "kafka_security_protocol = 'sasl_plaintext'" in out
    assert "hunter2" not in out and "kafka_sasl_password = '[HIDDEN]'" in out


def test_cli_config_file_and_disabled_databases(capsys, tmp_path):
    cfg = tmp_path / "migrate.yaml"
    cfg.write_text("clickhouse:\n  url: http://127.0.0.1:%d\nflows:\n  enabled: false\n"
                   "saimiris:\n  enabled: false\n  retention_days: 3\n" % closed_port())
    migrate_main(["-c", str(cfg), "--dry-run"])
    out = capsys.readouterr().out
    assert "bmp.updates" in out and "flows." not in out and "saimiris." not in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("bmp:\n  retention_dayz: 3\n")
    with pytest.raises(SystemExit) as e:
        migrate_main(["-c", str(bad)])
    assert e.value.code == 2
    assert "bmp.retention_dayz: unknown setting (did you mean 'retention_days'?)" in capsys.readouterr().err


def test_cli_installs_the_schemas_once(tmp_path, capsys):
    from nxthdr.clickhouse.migrate_cli import install_schemas
    d = tmp_path / "format_schemas"
    assert install_schemas(str(d), dry_run=True) == 3 and not d.exists()
    assert install_schemas(str(d), dry_run=False) == 3
    assert sorted(p.name for p in d.iterdir()) == ["reply.capnp", "sflow.capnp", "update.capnp"]
    assert install_schemas(str(d), dry_run=False) == 0  # already identical
    (d / "sflow.capnp").write_text("# stale")
    assert install_schemas(str(d), dry_run=False) == 1
    from nxthdr.resources import schema_path
    assert (d / "sflow.capnp").read_bytes() == schema_path("sflow.capnp").read_bytes()
