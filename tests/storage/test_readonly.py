"""Store.read against the real engine: attacks from ClickHouse's own syntax change nothing and read nothing."""

from __future__ import annotations

import pytest

from nxthdr.storage.readonly import ReadLimits, Refused
from nxthdr.storage.store import Store, StoreError


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("ro")
    (d / "canary.txt").write_text("canary-secret\n")
    s = Store(d / "data")
    s.open()
    yield s, d
    s.close()


ATTACKS = [
    "SELECT '--', * FROM file('{c}', 'LineAsString')", "SELECT * FROM `file`('{c}', 'LineAsString')",
    "SELECT file('{c}')", "SELECT \"file\"('{c}')", "SELECT '#', 1 /* */ ; SELECT * FROM file('{c}')",
    "SELECT '--'; INSERT INTO FUNCTION file('{d}/w.txt', 'LineAsString') SELECT 'x'",
    "/* /* */ SELECT */ CREATE TABLE bmp.evil (a UInt8) ENGINE = Memory", "SELECT '--'; DROP TABLE bmp.updates",
    "SELECT $$;$$; DROP TABLE bmp.updates", "DROP TABLE bmp.updates", "TRUNCATE TABLE bmp.updates",
    "ALTER TABLE bmp.updates DELETE WHERE 1", "INSERT INTO bmp.input SELECT * FROM bmp.input",
    "SELECT 1 INTO OUTFILE '{d}/o.txt'", "SELECT 1 SETTINGS readonly = 0", "SET readonly = 0",
    "SELECT count() FROM numbers(10) SETTINGS max_result_rows = 0", "KILL QUERY WHERE 1", "SYSTEM STOP MERGES",
    "OPTIMIZE TABLE bmp.updates FINAL", "ATTACH TABLE bmp.x (a UInt8) ENGINE = Memory", "DETACH TABLE bmp.updates",
    "SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString', 'l String')",
    "SELECT * FROM executable('cat {c}', 'LineAsString', 'l String')", "SELECT * FROM sqlite('{c}', 't')",
    "USE system", "CREATE TEMPORARY TABLE t (a UInt8)",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_is_refused_and_changes_nothing(store, attack):
    s, d = store
    before = s.query("SELECT database, name FROM system.tables WHERE database IN ('bmp','flows','saimiris') "
                     "ORDER BY 1, 2")
    with pytest.raises((Refused, StoreError)):
        s.read(attack.format(c=d / "canary.txt", d=d))
    assert s.query("SELECT database, name FROM system.tables WHERE database IN ('bmp','flows','saimiris') "
                   "ORDER BY 1, 2") == before
    assert sorted(p.name for p in d.iterdir()) == ["canary.txt", "data"]


def test_reads_and_limits(store):
    s, _ = store
    assert s.read("WITH 1 AS x SELECT x -- c\n") == b"1\n"
    assert s.read("/* /* nested */ */ SELECT 'a;--b'") == b"a;--b\n"
    assert b"updates" in s.read("SHOW TABLES FROM bmp")
    with pytest.raises(StoreError) as e:
        s.read("SELECT number FROM numbers(100)", limits=ReadLimits(max_result_rows=10))
    assert e.value.code == 396
    with pytest.raises(StoreError) as e:
        s.read("SELECT count() FROM numbers(100000000000)", limits=ReadLimits(max_execution_time=1))
    assert e.value.code == 159
