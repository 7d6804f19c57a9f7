"""`saimiris gateway` as a program: configuration checks, dispatch, a real start and stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from nxthdr.cli import main as nxthdr_main
from nxthdr.saimiris.cli import main as saimiris_main
from tests.services.kafka import free_port

REPO = Path(__file__).resolve().parents[3]


def test_dispatch_and_usage(capsys):
    assert saimiris_main([]) == 0 and "gateway" in capsys.readouterr().out
    assert saimiris_main(["nope"]) == 2 and "unknown subcommand" in capsys.readouterr().err
    assert nxthdr_main(["--help"]) == 0 and "saimiris" in capsys.readouterr().out


def test_check_config(tmp_path, capsys, monkeypatch):
    key = tmp_path / "agent.key"
    key.write_text("k3y\n")
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(f"""
auth:
  agent_key_file: {key}
  issuer: https://id.example/oidc
  audience: https://api.example
database:
  url: postgresql://gw:pw@db.example/gw
limits:
  daily_probe_limit: 500
""")
    monkeypatch.setenv("SAIMIRIS_GATEWAY_KAFKA_BROKERS", "k1:9092,k2:9092")
    assert nxthdr_main(["saimiris", "gateway", "-c", str(cfg), "--check-config", "--limits-agent-expiry", "300"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["limits"] == {"daily_probe_limit": 500, "agent_expiry": 300, "max_probes_per_request": 1000000}
    assert shown["kafka"]["brokers"] == "k1:9092,k2:9092" and shown["kafka"]["topic"] == "saimiris-probes"
    assert shown["database"]["url"] == "postgresql://gw:<hidden>@db.example/gw"
    assert shown["gateway"]["address"] == "0.0.0.0:8080" and shown["metrics"]["address"] == "0.0.0.0:9090"

    bad = tmp_path / "bad.yaml"
    bad.write_text("auth:\n  audiance: x\nlimits:\n  daily_probe_limit: -1\n")
    with pytest.raises(SystemExit) as exit_info:
        saimiris_main(["gateway", "-c", str(bad), "--check-config"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "auth.audiance: unknown setting (did you mean 'audience'?)" in err and "daily_probe_limit" in err

    monkeypatch.delenv("SAIMIRIS_GATEWAY_KAFKA_BROKERS")
    assert saimiris_main(["gateway", "--check-config"]) == 2
    err = capsys.readouterr().err
    assert "auth.agent_key_file: required" in err and "auth.issuer: required" in err and "auth.audience" in err


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_the_program_serves_the_api_and_metrics_and_stops_on_sigterm(tmp_path):
    api, metrics = free_port(), free_port()
    env = dict(os.environ, SAIMIRIS_GATEWAY_AUTH_AGENT_KEY="k3y", PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "nxthdr", "saimiris", "gateway", "--auth-dev-mode",
                             "--gateway-address", f"127.0.0.1:{api}", "--metrics-address", f"127.0.0.1:{metrics}",
                             "--database-url", f"sqlite:///{tmp_path / 'gw.db'}", "--kafka-brokers", "127.0.0.1:1"],
                            cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status, body = _get(f"http://127.0.0.1:{api}/openapi.json")
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert status == 200 and json.loads(body)["openapi"] == "3.1.0"
        assert _get(f"http://127.0.0.1:{api}/api/agents") == (200, b"[]")
        status, body = _get(f"http://127.0.0.1:{metrics}/metrics")
        expected = b'saimiris_gateway_http_requests_total{method="GET",route="/api/agents",status="200"}'
        assert status == 200 and expected in body
        status, body = _get(f"http://127.0.0.1:{metrics}/health")
        assert status == 503 and not json.loads(body)["checks"]["kafka:saimiris-probes"]["ok"]
        assert _get(f"http://127.0.0.1:{api}/metrics")[0] == 404  # not on the public listener
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        err = proc.stderr.read()
    assert rc == 0, err
    assert "DEV MODE" in err and "database ready" in err
