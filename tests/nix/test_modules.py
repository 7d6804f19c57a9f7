"""The service modules evaluated with the Nix library: what they render is accepted by
the programs themselves, their command lines use real flags, ports and firewall agree,
secrets stay paths, and every unit is hardened."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from nxthdr.resources import schema_path
from tests.nix.nixeval import evaluate, local_command, program_help, run_local

GATEWAY_AUTH = 'settings.auth = { issuer = "https://id.example.org"; audience = "https://api.example.org"; };'

# service option set -> (unit, program argv, extra Nix settings making the config complete)
PROGRAMS = {
    "risotto": ("risotto", ["risotto"], ""),
    "pesto": ("pesto", ["pesto"], ""),
    "saimiris-gateway": ("saimiris-gateway", ["saimiris", "gateway"],
                         GATEWAY_AUTH + ' agentKeyFile = "/run/secrets/agent-key";'),
    "saimiris-agent": ("saimiris-agent", ["saimiris", "agent"], ""),
}

SECRET = "hunter2-not-in-the-store"


def _available(program: list[str]) -> bool:
    # The agent lands on main from its own branch; until then its schema is absent here.
    name = "-".join(program)
    return schema_path(f"{name}.config.schema.json").is_file()


def _enable(name: str, extra: str = "", base: str | None = None) -> str:
    base = PROGRAMS[name][2] if base is None else base
    return f"[ {{ services.nxthdr.{name} = {{ enable = true; {base} {extra} }}; }} ]"


def _write_files(unit: dict, tmp_path: Path) -> dict[str, Path]:
    files = {}
    for i, trig in enumerate(unit["restartTriggers"]):
        if trig["text"] is None:
            continue
        local = tmp_path / f"rendered-{i}.yaml"
        local.write_text(trig["text"])
        files[trig["path"]] = local
        if trig["file"]:
            files[trig["file"]] = local
    return files


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_rendered_config_is_accepted_by_the_program(name, tmp_path):
    unit_name, program, _ = PROGRAMS[name]
    if not _available(program):
        pytest.skip(f"`{' '.join(program)}` is not in this checkout yet")
    out = evaluate(_enable(name))
    assert out["assertions"] == []
    unit = out["systemd"][unit_name]
    files = _write_files(unit, tmp_path)
    # The build-time check (the runCommand script) and the unit's own command line.
    (trigger,) = [t for t in unit["restartTriggers"] if t["script"]]
    build = tmp_path / "build"
    build.mkdir()
    (build / "check.yaml").write_text(trigger["checkFile"])
    for line in trigger["script"].splitlines():
        if line.startswith("echo "):
            run_local(["sh", "-c", line], cwd=build)
        elif "--check-config" in line:
            check = line.replace('"$checkFile"', str(build / "check.yaml")).replace("> /dev/null", "")
            res = run_local(local_command(check, files), cwd=build)
            assert res.returncode == 0, res.stderr
    res = run_local(local_command(unit["serviceConfig"]["ExecStart"], files) + ["--check-config"])
    assert res.returncode == 0, res.stderr
    shown = json.loads(res.stdout)
    rendered = json.loads(trigger["text"])
    assert json.loads(trigger["checkFile"]).keys() == rendered.keys()
    for section, values in rendered.items():
        if isinstance(values, dict):
            for key, value in values.items():
                assert shown[section][key] == value, (section, key)


@pytest.mark.parametrize("name", ["risotto", "pesto"])
def test_the_check_refuses_a_bad_setting(name, tmp_path):
    """The build-time check is real: a setting the program refuses fails it."""
    unit_name, program, _ = PROGRAMS[name]
    section = {"risotto": "bmp", "pesto": "sflow"}[name]
    out = evaluate(_enable(name, f'settings.{section}.address = "nowhere";'))
    unit = out["systemd"][unit_name]
    files = _write_files(unit, tmp_path)
    res = run_local(local_command(unit["serviceConfig"]["ExecStart"], files) + ["--check-config"])
    assert res.returncode == 2
    assert f"{section}.address" in res.stderr


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_exec_start_uses_real_flags(name):
    unit_name, program, _ = PROGRAMS[name]
    if not _available(program):
        pytest.skip(f"`{' '.join(program)}` is not in this checkout yet")
    out = evaluate(_enable(name))
    line = out["systemd"][unit_name]["serviceConfig"]["ExecStart"]
    flags = [tok for tok in line.split() if tok.startswith("-")]
    assert flags, line
    help_text = program_help(program)
    for flag in flags:
        assert re.search(rf"(^|[\s,\[]){re.escape(flag)}\b", help_text), f"{flag} not in `{' '.join(program)} --help`"


@pytest.mark.parametrize("name,setting,proto", [
    ("risotto", 'settings.bmp.address = "[::]:4100";', "TCP"),
    ("pesto", 'settings.sflow.address = "0.0.0.0:6400";', "UDP"),
    ("saimiris-gateway", 'settings.gateway.address = "[::]:8181";', "TCP"),
])
def test_firewall_opens_the_configured_port(name, setting, proto):
    port = int(setting.rsplit(":", 1)[1].rstrip('";'))
    closed = evaluate(_enable(name, setting))
    assert port not in closed["firewall"].get(f"allowed{proto}Ports", [])
    opened = evaluate(_enable(name, setting + " openFirewall = true;"))
    assert opened["firewall"][f"allowed{proto}Ports"] == [port]


def test_metrics_port_opening_follows_its_address():
    out = evaluate(_enable("risotto", 'settings.metrics.address = "[::]:9555"; openMetricsFirewall = true;'))
    assert out["firewall"]["allowedTCPPorts"] == [9555]


SECRET_OPTIONS = {
    "risotto": ("risotto", {"kafkaPasswordFile": ("kafka", "auth_sasl_password_file", "kafka-password")}),
    "pesto": ("pesto", {"kafkaPasswordFile": ("kafka", "auth_sasl_password_file", "kafka-password")}),
    "saimiris-gateway": ("saimiris-gateway", {
        "kafkaPasswordFile": ("kafka", "auth_sasl_password_file", "kafka-password"),
        "agentKeyFile": ("auth", "agent_key_file", "agent-key"),
        "databasePasswordFile": ("database", "password_file", "database-password"),
    }),
    "saimiris-agent": ("saimiris-agent", {
        "kafkaPasswordFile": ("kafka", "auth_sasl_password_file", "kafka-password"),
        "agentKeyFile": ("gateway", "agent_key_file", "agent-key"),
        "agentSecretFile": ("gateway", "agent_secret_file", "agent-secret"),
    }),
}


@pytest.mark.parametrize("name", list(SECRET_OPTIONS))
def test_secrets_are_credentials_not_values(name, tmp_path):
    unit_name, options = SECRET_OPTIONS[name]
    # A real secret file on "the host": its content must never be in what Nix renders.
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET)
    extra = " ".join(f'{opt} = "{secret_file}-{opt}";' for opt in options)
    out = evaluate(_enable(name, extra, base=GATEWAY_AUTH if name == "saimiris-gateway" else ""))
    unit = out["systemd"][unit_name]
    rendered = json.loads(next(t["text"] for t in unit["restartTriggers"] if t["text"]))
    creds = unit["serviceConfig"]["LoadCredential"]
    for opt, (section, key, cred) in options.items():
        assert rendered[section][key] == f"/run/credentials/{unit_name}.service/{cred}"
        assert f"{cred}:{secret_file}-{opt}" in creds
    assert SECRET not in json.dumps(out)


@pytest.mark.parametrize("name,setting", [
    ("saimiris-gateway", 'settings.auth.agent_key = "literal";'),
    ("saimiris-agent", 'settings.gateway.agent_secret = "literal";'),
])
def test_literal_secrets_in_settings_are_refused(name, setting):
    out = evaluate(_enable(name, setting))
    assert any("Nix store" in m for m in out["assertions"])


def test_gateway_without_agent_key_is_refused():
    out = evaluate('[ { services.nxthdr.saimiris-gateway = { enable = true; ' + GATEWAY_AUTH + " }; } ]")
    assert any("agentKeyFile" in m for m in out["assertions"])


ALL_UNITS = ("[ { services.nxthdr = { risotto.enable = true; pesto.enable = true; "
             "saimiris-gateway = { enable = true; " + GATEWAY_AUTH + ' agentKeyFile = "/k"; }; '
             "saimiris-agent.enable = true; clickhouse.enable = true; "
             'sflow-agent = { enable = true; interface = "eth0"; collector = "[2001:db8::1]:6343"; }; }; } ]')


def test_every_unit_is_hardened():
    out = evaluate(ALL_UNITS)
    units = {n: u for n, u in out["systemd"].items() if n != "postgresql"}
    assert {"risotto", "pesto", "saimiris-gateway", "saimiris-agent", "nxthdr-clickhouse-migrate",
            "nxthdr-sflow-agent"} <= set(units)
    for name, unit in units.items():
        sc = unit["serviceConfig"]
        assert sc["DynamicUser"] is True, name
        assert sc["ProtectSystem"] == "strict", name
        assert sc["NoNewPrivileges"] is True, name
        assert sc["RestrictAddressFamilies"] and "AF_NETLINK" not in sc["RestrictAddressFamilies"] \
            or name == "nxthdr-sflow-agent", name
        assert "CapabilityBoundingSet" in sc, name
        assert sc["ExecStart"].startswith("/nix/store/"), name
    assert out["systemd"]["risotto"]["serviceConfig"]["StateDirectory"] == "risotto"
    assert json.loads(out["systemd"]["risotto"]["restartTriggers"][0]["text"])["curation"]["state_path"] \
        .startswith("/var/lib/risotto/")


def test_cap_net_raw_only_where_packets_are_crafted_or_captured():
    out = evaluate(ALL_UNITS)
    for name, unit in out["systemd"].items():
        sc = unit["serviceConfig"]
        caps = set(sc.get("CapabilityBoundingSet", [])) | set(sc.get("AmbientCapabilities", []))
        if name == "saimiris-agent":
            assert sc["AmbientCapabilities"] == ["CAP_NET_RAW"]
            assert sc["CapabilityBoundingSet"] == ["CAP_NET_RAW"]
            assert sc["PrivateUsers"] is False
        elif name == "nxthdr-sflow-agent":
            # pmacctd's pcap capture (not an nxthdr program).
            assert caps == {"CAP_NET_RAW", "CAP_NET_ADMIN"}
        else:
            assert caps <= {""}, (name, caps)
            assert sc.get("PrivateUsers", True) is True, name


def test_pesto_raises_rmem_max_to_its_receive_buffer():
    out = evaluate(_enable("pesto", "settings.sflow.receive_buffer = 33554432;"))
    assert out["sysctl"]["net.core.rmem_max"] == 33554432


def test_clickhouse_module():
    out = evaluate('[ { services.nxthdr.clickhouse = { enable = true; listenAddresses = [ "::" ]; '
                   'openFirewall = true; migrate.settings.bmp.retention_days = 30; }; } ]')
    server = out["services"]["clickhouse"]["serverConfig"]
    assert server["listen_host"] == ["::"]
    assert server["format_schema_path"].endswith("/share/nxthdr/schemas/")
    assert server["prometheus"]["port"] == 9363
    users = out["services"]["clickhouse"]["usersConfig"]
    assert users["profiles"]["public"]["readonly"] == 2
    assert users["users"]["public"]["profile"] == "public"
    assert all(q.startswith("GRANT SELECT ON ") for q in users["users"]["public"]["grants"]["query"])
    assert sorted(out["firewall"]["allowedTCPPorts"]) == [8123, 9000]
    migrate = out["systemd"]["nxthdr-clickhouse-migrate"]
    assert migrate["after"][0] == "clickhouse.service" and "clickhouse.service" in migrate["requires"]
    assert migrate["serviceConfig"]["Type"] == "oneshot"
    assert " clickhouse migrate --config " in migrate["serviceConfig"]["ExecStart"]
    rendered = json.loads(migrate["restartTriggers"][0]["text"])
    assert rendered["bmp"]["retention_days"] == 30
    assert rendered["clickhouse"]["url"] == "http://localhost:8123"
    if schema_path("clickhouse.config.schema.json").is_file():
        import jsonschema

        schema = json.loads(schema_path("clickhouse.config.schema.json").read_text())
        jsonschema.validate(rendered, schema)
        assert "--config" in program_help(["clickhouse", "migrate"])


def test_kafka_module(tmp_path):
    out = evaluate('[ { services.nxthdr.kafka = { enable = true; clusterId = "ak2fIHr4S8WWarOF_ODD0g"; '
                   'external = { enable = true; advertisedHost = "kafka.example.net"; openFirewall = true; }; '
                   'users.vltcdg01 = { passwordFile = "/run/secrets/kafka-vltcdg01"; '
                   'consume = [ "saimiris-probes" ]; produce = [ "saimiris-replies" ]; }; }; } ]')
    kafka = out["services"]["apache-kafka"]
    s = kafka["settings"]
    assert kafka["clusterId"] and kafka["formatLogDirs"] is True
    assert "EXTERNAL://[::]:9093" in s["listeners"]
    assert "EXTERNAL://kafka.example.net:9093" in s["advertised.listeners"]
    assert "EXTERNAL:SASL_PLAINTEXT" in s["listener.security.protocol.map"]
    assert s["sasl.enabled.mechanisms"] == ["SCRAM-SHA-512"]
    assert all(not l.startswith("INTERNAL://[::]") for l in s["listeners"])
    assert out["firewall"]["allowedTCPPorts"] == [9093]
    setup = out["systemd"]["nxthdr-kafka-setup"]
    assert "apache-kafka.service" in setup["after"]
    assert setup["serviceConfig"]["LoadCredential"] == ["user-vltcdg01:/run/secrets/kafka-vltcdg01"]
    script = setup["restartTriggers"][0]["text"]
    for topic in ("risotto-updates", "pesto-sflow", "saimiris-probes", "saimiris-replies"):
        assert f"--topic '{topic}'" in script
    assert "--add-config-file" in script and "SCRAM-SHA-512" in script
    assert "--allow-principal 'User:vltcdg01' --operation Read --operation Describe --topic 'saimiris-probes'" in script
    assert "--operation Write --operation Describe --topic 'saimiris-replies'" in script
    assert "--group 'saimiris-agent-vltcdg01'" in script
    # The script is valid shell.
    sh = tmp_path / "setup.sh"
    sh.write_text(script)
    assert run_local(["bash", "-n", str(sh)]).returncode == 0


# Issue 12: defects the stand-ins must catch here.

def test_kafka_setup_retries_and_refuses_unparsable_passwords(tmp_path):
    out = evaluate('[ { services.nxthdr.kafka = { enable = true; clusterId = "ak2fIHr4S8WWarOF_ODD0g"; '
                   'users.u1.passwordFile = "/run/secrets/k"; }; } ]')
    setup = out["systemd"]["nxthdr-kafka-setup"]
    assert setup["serviceConfig"]["Restart"] == "on-failure" and setup["serviceConfig"]["RestartSec"] > 0
    assert setup["startLimitBurst"] > 1
    script = setup["restartTriggers"][0]["text"]
    assert '*,* | *]* | *=* | "")' in script


@pytest.mark.parametrize("cid", ["bnh0aGRyLWthZmthLTAx", "bnh0aGRyLXZtLXRlc3Q", "ak2fIHr4S8WWarOF_ODD0=", "ak2fIHr4S8WWarOF_ODD0h"])
def test_kraft_cluster_id_not_a_16_byte_uuid_is_refused(cid):
    with pytest.raises(AssertionError, match="is not of type"):
        evaluate(f'[ {{ services.nxthdr.kafka = {{ enable = true; clusterId = "{cid}"; }}; }} ]')


def test_secret_files_are_strings_not_store_paths():
    with pytest.raises(AssertionError, match="is not of type"):
        evaluate('[ { services.nxthdr.risotto = { enable = true; kafkaPasswordFile = ./eval.nix; }; } ]')


def test_sflow_agent_renders_booleans():
    out = evaluate('[ { services.nxthdr.sflow-agent = { enable = true; interface = "eth0"; '
                   'collector = "[::1]:6343"; settings.sfprobe_direction = true; settings.x = false; }; } ]')
    text = out["systemd"]["nxthdr-sflow-agent"]["restartTriggers"][0]["text"]
    assert "sfprobe_direction: true\n" in text and "x: false\n" in text


def test_grafana_user_without_environment_file_is_asserted():
    out = evaluate('[ { services.nxthdr.clickhouse = { enable = true; grafanaUser.enable = true; }; } ]')
    assert any("grafanaUser.environmentFile" in a for a in out["assertions"])


def test_units_ordered_after_what_they_need():
    out = evaluate('[ { services.nxthdr.clickhouse.enable = true; services.nxthdr.saimiris-gateway = '
                   '{ enable = true; agentKeyFile = "/run/k"; settings.auth.dev_mode = true; }; } ]')
    # nixpkgs 26.05: ensureDatabases/ensureUsers run in postgresql-setup.service.
    gw = out["systemd"]["saimiris-gateway"]
    assert "postgresql-setup.service" in gw["after"] and "postgresql-setup.service" in gw["requires"]
    assert "nxthdr-kafka-setup.service" in out["systemd"]["nxthdr-clickhouse-migrate"]["after"]


def test_an_option_nixpkgs_does_not_have_fails_evaluation():
    # nixpkgs has no Redpanda module (spec/nix.md).
    with pytest.raises(AssertionError, match="The option `services.redpanda' does not exist"):
        evaluate('[ { services.redpanda.enable = true; } ]')
