"""The collector as operators run it: TCP sessions, metrics, health, config, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from nxthdr.bmp import builder as b
from nxthdr.core import config
from nxthdr.core.capnp_codec import load_schema
from nxthdr.risotto import replay as replay_mod
from nxthdr.risotto.app import build
from tests.risotto.helpers import announce, peer_up, withdraw
from tests.support.configs import program_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def risotto_config(tmp_path, **over) -> dict:
    """Defaults, loopback ports chosen by the kernel, Kafka off, state and file output in tmp_path."""
    return program_config("risotto", {"bmp": {"address": "127.0.0.1:0"}, "metrics": {"address": "127.0.0.1:0"},
                                      "kafka": {"disable": True},
                                      "curation": {"state_path": str(tmp_path / "state.bin")},
                                      "file_output": str(tmp_path / "updates.bin")}, over)


def read_updates(path) -> list[dict]:
    with open(path, "rb") as f:
        data = f.read()
    return [u.to_dict() for u in load_schema("update.capnp").Update.read_multiple_bytes(data)] if data else []


def stream(port: int, *messages: bytes, close: bool = True) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"".join(messages))
    if close:
        s.close()
    return s


async def wait_for(cond, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_tcp_sessions_rows_metrics_and_final_state(tmp_path):
    async def scenario():
        app = build(risotto_config(tmp_path))
        await app.supervisor.start()
        port = app.server.bound_port
        try:
            sock = stream(port, b.bmp_initiation("r1"), peer_up(), announce(["203.0.113.0/24", "2001:db8::/32"]),
                          close=False)
            await wait_for(lambda: app.processor.rib.stored() == 2)
            # A malformed message in the middle: counted, session continues.
            sock.sendall(b.bmp_message(0, b.per_peer_header("192.0.2.1", 65001) + b"\xff" * 16 + b"\x00\x17\x02"
                                       + b"\x00\xff\x00\x00"))
            sock.sendall(withdraw(["203.0.113.0/24"]))
            await wait_for(lambda: app.processor.rib.stored() == 1)
            status, text = await asyncio.to_thread(http_get, app.metrics_server.bound_port, "/metrics")
            assert status == 200
            assert 'risotto_bmp_messages_total{router="127.0.0.1",type="route_monitoring"} 3.0' in text
            assert 'risotto_decode_errors_total{kind="malformed_message",router="127.0.0.1"} 1.0' in text
            assert 'risotto_peer_established{peer="192.0.2.1",router="127.0.0.1"} 1.0' in text
            status, body = await asyncio.to_thread(http_get, app.metrics_server.bound_port, "/health")
            assert status == 200 and json.loads(body)["status"] == "ok"
            # Broken framing closes that session only; another router keeps working.
            bad = stream(port, b"\x07garbage-not-bmp", close=False)
            other = stream(port, peer_up("192.0.2.7", 65007), announce(["198.51.100.0/24"], address="192.0.2.7",
                                                                        asn=65007), close=False)
            await wait_for(lambda: app.processor.m_decode_errors.get(("127.0.0.1", "framing")) == 1)
            await wait_for(lambda: app.processor.rib.stored() == 2)
            assert bad.recv(10) == b""  # closed by the collector
            bad.close()
            other.close()
            sock.close()
        finally:
            await app.supervisor.stop()

    asyncio.run(scenario())
    rows = read_updates(tmp_path / "updates.bin")
    assert [(r["announced"], r["synthetic"]) for r in rows][:3] == [(True, False), (True, False), (False, False)]
    assert os.path.exists(tmp_path / "state.bin")


def test_sigterm_drains_flushes_and_dumps_state(tmp_path):
    state = tmp_path / "state.bin"
    out = tmp_path / "updates.bin"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "nxthdr", "risotto", "--bmp-address", f"127.0.0.1:{port}",
                             "--metrics-address", "127.0.0.1:0", "--kafka-disable", "--file-output", str(out),
                             "--curation-state-path", str(state), "--curation-state-interval", "3600"],
                            cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                sock = stream(port, peer_up(), announce(["203.0.113.0/24", "198.51.100.0/24"]), close=False)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "collector did not start"
                time.sleep(0.1)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        sock.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "signal received" in err and "curation state saved" in err
    assert len(read_updates(out)) == 2  # flushed, and no synthetic withdraws at our own shutdown
    from nxthdr.risotto import state_file

    assert state_file.load(str(state), now=0).stored() == 2


def test_replay_streams_a_recording(tmp_path):
    recording = tmp_path / "rec.bmp"
    recording.write_bytes(b"".join([b.bmp_initiation("r"), peer_up(), announce(["203.0.113.0/24"]),
                                    announce(["2001:db8::/32"])]) + b"\x03\x00")  # partial trailing header

    async def scenario():
        app = build(risotto_config(tmp_path))
        await app.supervisor.start()
        try:
            n = await asyncio.to_thread(replay_mod.replay, str(recording), f"127.0.0.1:{app.server.bound_port}",
                                        quiet=True)
            assert n == 4
            await wait_for(lambda: not app.processor.sessions)
        finally:
            await app.supervisor.stop()

    asyncio.run(scenario())
    rows = read_updates(tmp_path / "updates.bin")
    # Two announcements, then the session ends: the router is gone, its routes withdrawn.
    assert [(r["announced"], r["synthetic"]) for r in rows] == [(True, False), (True, False), (False, True),
                                                                (False, True)]


def test_config_file_env_and_flags_layer_and_validate(tmp_path):
    cfg_file = tmp_path / "risotto.yaml"
    cfg_file.write_text("kafka:\n  brokers: file:9092\n  topic: from-file\ncuration:\n  state_interval: 30\n")
    env = {"RISOTTO_KAFKA_TOPIC": "from-env", "RISOTTO_CURATION_DISABLE": "true"}
    from nxthdr.risotto.cli import parser

    args = parser().parse_args(["--config", str(cfg_file), "--kafka-topic", "from-flag"])
    cfg = config.resolve(config.load_schema("risotto"), "RISOTTO", config_file=args.config, env=env, args=args)
    assert cfg["kafka"]["brokers"] == "file:9092"
    assert cfg["kafka"]["topic"] == "from-flag"
    assert cfg["curation"]["disable"] is True and cfg["curation"]["state_interval"] == 30
    assert cfg["bmp"]["address"] == "0.0.0.0:4000"  # the reference default


@pytest.mark.parametrize("yaml_text, expected", [
    ("kafka:\n  brokrs: x:1\n", "kafka.brokrs: unknown setting (did you mean 'brokers'?)"),
    ("curation:\n  state_interval: soon\n", "curation.state_interval: 'soon' is not of type 'integer'"),
    ("kafka:\n  auth_protocol: TLS\n", "kafka.auth_protocol: 'TLS' is not one of"),
    ("bmp:\n  address: 4000\n", "bmp.address: 4000 is not of type 'string'"),
    ("- a\n- b\n", "must be a mapping"),
    ("kafka: [\n", "not valid YAML"),
])
def test_config_errors_name_the_key_and_the_reason(tmp_path, yaml_text, expected):
    cfg_file = tmp_path / "bad.yaml"
    cfg_file.write_text(yaml_text)
    proc = subprocess.run([sys.executable, "-m", "nxthdr", "risotto", "--config", str(cfg_file), "--check-config"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2
    assert expected in proc.stderr


def test_check_config_accepts_reference_flags_and_hides_secrets():
    flags = ["--bmp-address", "[::]:4000", "--metrics-address", "0.0.0.0:8080", "--kafka-brokers", "k:9092",
             "--kafka-topic", "risotto-updates", "--kafka-auth-protocol", "SASL_PLAINTEXT",
             "--kafka-auth-sasl-username", "u", "--kafka-auth-sasl-password", "secret",
             "--kafka-auth-sasl-mechanism", "SCRAM-SHA-512", "--kafka-message-max-bytes", "990000",
             "--kafka-message-timeout-ms", "500000", "--kafka-batch-wait-time", "1000",
             "--kafka-batch-wait-interval", "100", "--kafka-mpsc-buffer-size", "100000",
             "--curation-state-path", "/data/state.bin", "--curation-state-interval", "10", "-v", "--check-config"]
    proc = subprocess.run([sys.executable, "-m", "nxthdr", "risotto", *flags], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["bmp"]["address"] == "[::]:4000" and shown["kafka"]["auth_sasl_password"] == "<hidden>"
    assert "secret" not in proc.stdout


def test_help_documents_every_flag():
    proc = subprocess.run([sys.executable, "-m", "nxthdr", "risotto", "--help"], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 0
    for o in config.options(config.load_schema("risotto"), "RISOTTO"):
        assert o.flag in proc.stdout and o.env in proc.stdout
    for flag in ("--kafka-disable", "--curation-disable", "--file-output", "--config", "--check-config", "-v", "-q"):
        assert flag in proc.stdout
