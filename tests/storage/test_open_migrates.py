"""The embedded store migrates the data directory it opens (the planner of `nxthdr clickhouse migrate`).

An older release's directory is made for real on the engine: the tables as
this version creates them, then the column an older release lacked taken out
of the storage table and of the view, and another retention. Opening it with
this version must keep every row, add the column, recreate the view and take
the new retention.
"""

from __future__ import annotations

import json

import pytest

from nxthdr.storage.store import Store, StoreUnavailable
from tests.storage.helpers import bmp_messages


def rows(store: Store, sql: str) -> list[dict]:
    return [json.loads(line) for line in store.query(sql, "JSONEachRow").decode().split("\n") if line]


def count(store: Store) -> int:
    return int(rows(store, "SELECT count() AS n FROM bmp.updates")[0]["n"])


def make_old_release(path, retention_days: int) -> int:
    s = Store(path, pipelines=("bmp",), retention_days=retention_days)
    s.open()
    s.query("DROP VIEW bmp.from_kafka_mv SYNC")
    s.query("ALTER TABLE bmp.updates DROP COLUMN is_loc_rib")
    view = s.query("SELECT create_table_query FROM system.tables WHERE database = 'bmp' "
                   "AND name = 'from_kafka_mv'")
    assert view == b""
    # The older release's view: the same SQL without the column it did not know.
    from nxthdr.clickhouse import tables

    objs = tables.objects("bmp", retention_days=retention_days, input="null", input_table="input")
    old_view = objs.create_view.replace(",\n    isLocRib != 0 AS is_loc_rib", "")
    assert old_view != objs.create_view
    s.query(old_view.replace("COMMENT '", "COMMENT 'older release "))
    n = s.insert_messages("bmp", list(bmp_messages()))
    s.close()
    return n


def test_a_directory_of_an_older_release_is_migrated_and_keeps_every_row(tmp_path):
    stored = make_old_release(tmp_path, retention_days=30)
    s = Store(tmp_path, pipelines=("bmp",), retention_days=7)
    s.open()
    try:
        assert count(s) == stored
        cols = [r["name"] for r in rows(s, "SELECT name FROM system.columns WHERE database = 'bmp' "
                                          "AND table = 'updates' ORDER BY position")]
        assert cols[-1] == "is_loc_rib"
        engine = rows(s, "SELECT engine_full FROM system.tables WHERE database = 'bmp' AND name = 'updates'")
        assert "toIntervalDay(7)" in engine[0]["engine_full"]
        assert s._migrate() == 0  # nothing left to change
        # The recreated view writes the new column: new rows go in, the old ones are still there.
        assert s.insert_messages("bmp", list(bmp_messages())) == stored
        assert count(s) == 2 * stored
    finally:
        s.close()


def test_drift_the_planner_will_not_repair_refuses_with_its_reasons(tmp_path):
    s = Store(tmp_path, pipelines=("bmp",))
    s.open()
    s.query("DROP VIEW bmp.from_kafka_mv SYNC")
    s.query("DROP TABLE bmp.updates SYNC")
    s.query("CREATE TABLE bmp.updates (date Date, time_received_ns DateTime64(9)) ENGINE = MergeTree "
            "ORDER BY date")
    s.close()
    with pytest.raises(StoreUnavailable, match="ORDER BY is"):
        Store(tmp_path, pipelines=("bmp",)).open()
