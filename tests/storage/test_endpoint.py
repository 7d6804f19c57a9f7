"""The read-only gate of the query endpoint, and the appliance's command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nxthdr.core import config
from nxthdr.storage.endpoint import ReadOnlyError, check_read_only

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("sql", [
    "SELECT 1", "  select count() from bmp.updates;", "WITH 1 AS x SELECT x", "SHOW TABLES FROM flows",
    "DESCRIBE TABLE flows.records", "DESC bmp.updates", "EXPLAIN SELECT 1", "EXISTS TABLE bmp.updates",
    "(SELECT 1) UNION ALL (SELECT 2)", "-- a comment\nSELECT 'a;b'", "SELECT 'DROP TABLE x; --'",
    "/* note */ SELECT 1 FORMAT JSON"])
def test_reads_pass(sql):
    assert check_read_only(sql)


@pytest.mark.parametrize("sql", [
    "INSERT INTO flows.records VALUES (1)", "DROP TABLE bmp.updates", "TRUNCATE bmp.updates",
    "ALTER TABLE bmp.updates DELETE WHERE 1", "CREATE TABLE t (a UInt8) ENGINE = Memory", "SET readonly = 0",
    "SELECT 1; DROP TABLE bmp.updates", "SELECT 1 INTO OUTFILE '/tmp/x'", "/* SELECT */ DELETE FROM bmp.updates",
    "-- SELECT\nOPTIMIZE TABLE bmp.updates", "", "   ;  ", "SYSTEM STOP MERGES", "KILL QUERY WHERE 1",
    "ATTACH TABLE x", "RENAME TABLE a TO b", "GRANT ALL ON *.* TO x", "USE bmp",
    "SELECT * FROM file('/etc/passwd', 'LineAsString')", "SELECT file ('/etc/hostname')",
    "SELECT * FROM url('http://example.org/', 'CSV')", "SELECT * FROM remote('h', system.one)",
    "WITH (SELECT 1) AS x SELECT * FROM executable('sh', 'TSV', 'a String')", "SELECT * FROM S3('x')"])
def test_everything_else_is_refused(sql):
    with pytest.raises(ReadOnlyError):
        check_read_only(sql)


@given(st.text(max_size=200))
def test_gate_never_crashes(sql):
    try:
        check_read_only(sql)
    except ReadOnlyError:
        pass


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nxthdr", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_appliance_help_documents_every_flag():
    out = run("appliance", "--help").stdout
    for o in config.options(config.load_schema("appliance"), "APPLIANCE"):
        assert o.flag in out and o.env in out
    assert "appliance" in run("--help").stdout and "query" in run("--help").stdout
    q = run("query", "--help").stdout
    for flag in ("--url", "--data-dir", "--format"):
        assert flag in q


def test_appliance_check_config(tmp_path):
    ok = run("appliance", "--check-config", "--storage-mode", "kafka", "--kafka-auth-sasl-password", "s3cret")
    assert ok.returncode == 0 and '"mode": "kafka"' in ok.stdout and "s3cret" not in ok.stdout
    bad = run("appliance", "--check-config", "--storage-mode", "cloud")
    assert bad.returncode == 2 and "cloud" in bad.stderr
    cfg = tmp_path / "a.yaml"
    cfg.write_text("storage:\n  retention_dayz: 3\n")
    bad = run("appliance", "--check-config", "-c", str(cfg))
    assert bad.returncode == 2 and "retention_dayz" in bad.stderr and "retention_days" in bad.stderr
    env = run("appliance", "--check-config")
    assert env.returncode == 0 and '"data_dir": "nxthdr-data"' in env.stdout
