"""Flags, configuration layers, --check-config, --help, and SIGTERM on the real command."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from nxthdr.core import config
from tests.pesto.helpers import read_records, send

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_pesto(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nxthdr", "pesto", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)


def test_reference_defaults():
    cfg = config.defaults(config.load_schema("pesto"))
    assert cfg["sflow"]["address"] == "0.0.0.0:6343"
    assert cfg["metrics"]["address"] == "0.0.0.0:8080"
    k = cfg["kafka"]
    assert (k["topic"], k["auth_sasl_username"], k["auth_sasl_password"]) == ("pesto-sflow", "pesto", "pesto")
    assert (k["brokers"], k["auth_protocol"], k["auth_sasl_mechanism"]) == ("localhost:9092", "PLAINTEXT",
                                                                            "SCRAM-SHA-512")
    assert (k["message_max_bytes"], k["message_timeout_ms"], k["batch_wait_time"], k["batch_wait_interval"],
            k["mpsc_buffer_size"]) == (990000, 500000, 1000, 100, 100000)
    assert k["disable"] is False


def test_check_config_accepts_reference_flags_and_hides_secrets():
    flags = ["--sflow-address", "[::]:6343", "--metrics-address", "0.0.0.0:8080", "--kafka-brokers", "k:9092",
             "--kafka-disable", "--kafka-topic", "pesto-sflow", "--kafka-auth-protocol", "SASL_PLAINTEXT",
             "--kafka-auth-sasl-username", "u", "--kafka-auth-sasl-password", "secret",
             "--kafka-auth-sasl-mechanism", "SCRAM-SHA-512", "--kafka-message-max-bytes", "990000",
             "--kafka-message-timeout-ms", "500000", "--kafka-batch-wait-time", "1000",
             "--kafka-batch-wait-interval", "100", "--kafka-mpsc-buffer-size", "100000", "-v", "--check-config"]
    proc = run_pesto(*flags)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["sflow"]["address"] == "[::]:6343" and shown["kafka"]["auth_sasl_password"] == "<hidden>"
    assert shown["kafka"]["disable"] is True
    assert "secret" not in proc.stdout


def test_file_env_and_flags_layer(tmp_path):
    cfg_file = tmp_path / "pesto.yaml"
    cfg_file.write_text("sflow:\n  workers: 2\n  receive_buffer: 1048576\nkafka:\n  topic: from-file\n")
    proc = run_pesto("--config", str(cfg_file), "--kafka-topic", "from-flag", "--check-config",
                     env={"PESTO_SFLOW_WORKERS": "3", "PESTO_KAFKA_BROKERS": "env:9092"})
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["sflow"]["workers"] == 3 and shown["sflow"]["receive_buffer"] == 1048576
    assert shown["kafka"]["topic"] == "from-flag" and shown["kafka"]["brokers"] == "env:9092"


@pytest.mark.parametrize("args, expected", [
    (["--sflow-workers", "0"], "sflow.workers: 0 is less than the minimum of 1"),
    (["--sflow-workers", "many"], "sflow.workers: flag --sflow-workers value 'many' is not a valid integer"),
    (["--sflow-address", "6343"], "sflow.address: '6343' does not match"),
    (["--kafka-key", "router"], "invalid choice"),
])
def test_bad_values_name_the_key(args, expected):
    proc = run_pesto(*args, "--check-config")
    assert proc.returncode == 2
    assert expected in proc.stderr


def test_unknown_file_key_is_named(tmp_path):
    cfg_file = tmp_path / "bad.yaml"
    cfg_file.write_text("sflow:\n  adress: x:1\n")
    proc = run_pesto("--config", str(cfg_file), "--check-config")
    assert proc.returncode == 2 and "sflow.adress: unknown setting (did you mean 'address'?)" in proc.stderr


def test_help_documents_every_flag():
    proc = run_pesto("--help")
    assert proc.returncode == 0
    for o in config.options(config.load_schema("pesto"), "PESTO"):
        assert o.flag in proc.stdout and o.env in proc.stdout
    for flag in ("--sflow-address", "--sflow-workers", "--kafka-disable", "--file-output", "--config",
                 "--check-config", "-v", "-q"):
        assert flag in proc.stdout
    top = subprocess.run([sys.executable, "-m", "nxthdr", "--help"], cwd=REPO, capture_output=True, text=True)
    assert "pesto" in top.stdout


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_flushes_the_file(tmp_path, pmacct_datagrams, workers):
    out = tmp_path / "records.bin"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "nxthdr", "pesto", "--sflow-address", f"127.0.0.1:{port}",
                             "--metrics-address", "127.0.0.1:0", "--kafka-disable", "--file-output", str(out),
                             "--sflow-workers", str(workers)], cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        lines = []
        # The supervisor reports "started" once every worker serves its socket.
        while not any("nxthdr.supervisor: started" in x for x in lines):
            lines.append(proc.stderr.readline())
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
        send(port, pmacct_datagrams)
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "signal received" in "".join(lines) + err
    files = [out] if workers == 1 else [tmp_path / f"records.bin.{i}" for i in range(workers)]
    rows = [r for f in files for r in read_records(f.read_bytes())]
    assert len(rows) == 43  # the fixture's flow samples, flushed at shutdown (file flush interval is 1 s)
