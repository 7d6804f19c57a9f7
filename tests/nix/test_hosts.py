"""The hosts: one inventory, validated by its schema, drives every configuration;
each host's role renders configurations the programs and BIRD accept."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest

from nxthdr.resources import schema_path
from tests.conftest import require
from tests.nix.nixeval import ROOT, lib_path, nix_eval_json, run_local

INVENTORY = ROOT / "hosts" / "inventory.toml"
HOST_DIRS = sorted(p.name for p in (ROOT / "hosts").iterdir() if p.is_dir())


@functools.cache
def _hosts() -> dict:
    return nix_eval_json(ROOT / "tests" / "nix" / "hosts.nix", libPath=str(lib_path()))


def _inventory() -> dict:
    return tomllib.loads(INVENTORY.read_text())


def test_inventory_validates_against_its_schema():
    schema = json.loads(schema_path("inventory.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(_inventory(), schema)


@pytest.mark.parametrize("mutate", [
    lambda inv: inv["hosts"]["vltcdg01"].pop("upstream"),
    lambda inv: inv["hosts"]["ixpams01"]["bgp"][0].update(kind="customer"),
    lambda inv: inv["hosts"].update(webserver01=dict(inv["hosts"]["vltcdg01"])),
    lambda inv: inv["hosts"]["coreams01"]["wireguard"].update(public_key="not-a-key"),
])
def test_schema_refuses_broken_inventories(mutate):
    schema = json.loads(schema_path("inventory.schema.json").read_text())
    inv = _inventory()
    mutate(inv)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(inv, schema)


def test_every_inventory_host_has_a_directory_and_back():
    assert sorted(_inventory()["hosts"]) == HOST_DIRS
    for name in HOST_DIRS:
        assert (ROOT / "hosts" / name / "default.nix").is_file()
        hardware = (ROOT / "hosts" / name / "hardware.nix").read_text()
        assert "SITE-SPECIFIC" in hardware


def test_nix_reads_the_same_inventory_as_python():
    assert _hosts()["inventory"] == _inventory()


def test_flake_configurations_are_the_inventory_hosts():
    flake = (ROOT / "flake.nix").read_text()
    # nixosConfigurations maps over the inventory's hosts, through nix/hosts.nix.
    assert re.search(r"nixosConfigurations = lib\.mapAttrs \(\s*name: _:.*?hosts\.modulesOf name.*?\) hosts\.inventory\.hosts;",
                     flake, re.S)
    assert sorted(_hosts()["hosts"]) == HOST_DIRS


@pytest.mark.parametrize("name", HOST_DIRS)
def test_host_evaluates(name):
    host = _hosts()["hosts"][name]
    assert host["assertions"] == []
    assert host["hostName"] == name


def _without_bmp(config: str) -> str:
    # Debian's BIRD 2.0.12 is built without BMP; the platform runs BIRD 3.
    return re.sub(r"protocol bmp \w+ \{.*?\n\}", "", config, flags=re.S)


@pytest.mark.parametrize("name", HOST_DIRS)
def test_bird_accepts_the_configuration(name, tmp_path):
    require(shutil.which("bird") is not None, "bird (Debian bird2) not installed (run .ci/install)")
    bird = _hosts()["hosts"][name]["bird"]
    (tmp_path / "bird.conf").write_text(_without_bmp(bird["config"]))
    # As nixpkgs' checkConfig does: preCheckConfig in the directory of bird.conf.
    subprocess.run(bird["preCheckConfig"] or "true", shell=True, cwd=tmp_path, check=True)
    res = subprocess.run(["bird", "-p", "-c", "bird.conf"], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    (tmp_path / "broken.conf").write_text(_without_bmp(bird["config"]).replace("protocol device {}", "protocol device {"))
    res = subprocess.run(["bird", "-p", "-c", "broken.conf"], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode != 0


def test_ixp_policy_bmp_and_tunnel():
    inv = _inventory()
    core = inv["hosts"]["coreams01"]
    for name, spec in inv["hosts"].items():
        if spec["role"] != "ixp":
            continue
        host = _hosts()["hosts"][name]
        conf = host["bird"]["config"]
        wg = spec["wireguard"]
        assert f"station address ip {wg['core_address']} port 4000;" in conf
        assert "monitoring rib in pre_policy;" in conf and "monitoring rib in post_policy;" in conf
        assert "bgp_path.delete(PRIVATE_ASNS);" in conf and "64512..65534" in conf
        assert "if !(net ~ PLATFORM_PREFIXES) then reject;" in conf
        assert "roa_check(rpki6, net, bgp_path.last) = ROA_INVALID then reject" in conf
        for n in spec["bgp"]:
            block = conf[conf.index(f"protocol bgp {n['name']} {{"):]
            block = block[:block.index("\n}")]
            assert f"neighbor {n['address']} as {n['asn']};" in block
            assert "import filter import_external;" in block and "export filter export_external;" in block
            assert "import table on;" in block  # pre-policy BMP needs the adj-RIB-in
        # The core's own /48 is not originated here, only the aggregate.
        assert "route 2a06:de00:50::/44 unreachable;" in conf
        assert "route 2a06:de00:50::/48 unreachable;" not in conf
        (iface,) = host["wireguard"]["interfaces"].values()
        assert iface["ips"] == [f"{wg['address']}/{wg['prefix_length']}"]
        assert iface["peers"][0]["publicKey"] == core["wireguard"]["public_key"]
        assert iface["privateKeyFile"].startswith("/run/")
        assert host["firewall"]["allowedUDPPorts"] == [wg["port"]]
        assert host["prometheus"]["exporters"]["bird"]["enable"] is True


def test_core_tunnels_and_bird_match_the_ixp_hosts():
    inv = _inventory()
    core = _hosts()["hosts"]["coreams01"]
    (iface,) = core["wireguard"]["interfaces"].values()
    ixps = {n: h for n, h in inv["hosts"].items() if h["role"] == "ixp"}
    assert sorted(iface["ips"]) == sorted(f"{h['wireguard']['core_address']}/126" for h in ixps.values())
    assert sorted(p["publicKey"] for p in iface["peers"]) == sorted(h["wireguard"]["public_key"] for h in ixps.values())
    for name, h in ixps.items():
        assert f"neighbor {h['wireguard']['address']} as {inv['platform']['asn']};" in core["bird"]["config"]


def test_vlt_probing_setup():
    inv = _inventory()
    for name, spec in inv["hosts"].items():
        if spec["role"] != "vlt":
            continue
        host = _hosts()["hosts"][name]
        conf = host["bird"]["config"]
        assert 'include "secrets/upstream-password.conf";' in conf
        assert "password" not in conf.replace('include "secrets/upstream-password.conf";', "")
        assert host["etc"]["bird/secrets/upstream-password.conf"].startswith("/run/secrets/")
        assert f"multihop {spec['upstream']['multihop']};" in conf
        for prefix in (inv["platform"]["anycast_prefix"], spec["unicast_prefix"]):
            assert f"route {prefix} unreachable;" in conf
            addr, length = prefix.split("/")
            assert {"address": addr, "prefixLength": int(length), "type": "local"} in host["routes"]
        assert host["sysctl"]["net.ipv6.ip_nonlocal_bind"] == 1
        agent = host["settings"]["saimiris-agent"]
        assert [i["src_ipv6_prefix"] for i in agent["caracat"]] == [inv["platform"]["anycast_prefix"],
                                                                    spec["unicast_prefix"]]
        assert agent["kafka"]["auth_sasl_username"] == name
        assert agent["kafka"]["auth_sasl_password_file"] == "/run/credentials/saimiris-agent.service/kafka-password"
        sc = host["units"]["saimiris-agent"]["serviceConfig"]
        assert sc["AmbientCapabilities"] == ["CAP_NET_RAW"]
    # The core's broker has one SCRAM user per agent.
    assert _hosts()["hosts"]["coreams01"]["kafkaUsers"] == sorted(
        n for n, h in inv["hosts"].items() if h["role"] == "vlt")


_PROGRAMS = {"risotto": ["risotto"], "pesto": ["pesto"], "saimiris-gateway": ["saimiris", "gateway"],
             "saimiris-agent": ["saimiris", "agent"]}


@pytest.mark.parametrize("name", HOST_DIRS)
def test_rendered_configs_pass_check_config(name, tmp_path):
    host = _hosts()["hosts"][name]
    checked = 0
    for unit, program in _PROGRAMS.items():
        if unit not in host["units"]:
            continue
        if not schema_path("-".join(program) + ".config.schema.json").is_file():
            continue  # not merged into this checkout yet
        (text,) = [t for t in host["units"][unit]["restartTriggers"] if t]
        # The credentials systemd provides at run time, as files here.
        secret = tmp_path / "secret"
        secret.write_text("placeholder")
        text = re.sub(r"/run/credentials/[^\"]+", str(secret), text)
        path = tmp_path / f"{unit}.yaml"
        path.write_text(text)
        res = run_local([sys.executable, "-m", "nxthdr", *program, "--config", str(path), "--check-config"])
        assert res.returncode == 0, (unit, res.stderr)
        checked += 1
    assert checked or _inventory()["hosts"][name]["role"] != "core"


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def _jmx_port(jvm_options: list[str]) -> int:
    """-javaagent:<jar>=<host>:<port>:<config> -> port."""
    (agent,) = [o for o in jvm_options if o.startswith("-javaagent:")]
    return int(agent.split("=", 1)[1].split(":")[1])


def test_core_listeners_do_not_collide():
    core = _hosts()["hosts"]["coreams01"]
    s = core["settings"]
    prom = core["prometheus"]
    tcp = [
        _port(s["risotto"]["bmp"]["address"]), _port(s["risotto"]["metrics"]["address"]),
        _port(s["pesto"]["metrics"]["address"]),
        _port(s["saimiris-gateway"]["gateway"]["address"]), _port(s["saimiris-gateway"]["metrics"]["address"]),
        9092, 9093, 9094,  # Kafka internal, external, controller
        8123, 9000, 9363,  # ClickHouse
        prom["port"], prom["alertmanager"]["port"], prom["exporters"]["node"]["port"],
        prom["exporters"]["bird"]["port"], 3000, 3100, 8085, 80, 443, 179,
        _jmx_port(core["kafka"]["jvmOptions"]),
    ]
    assert len(tcp) == len(set(tcp)), sorted(tcp)
    # Every local scrape target is a port something listens on.
    targets = [t for job in prom["scrapeConfigs"] for sc in job["static_configs"] for t in sc["targets"]]
    for target in targets:
        assert _port(target) in tcp, target


def test_core_publishes_the_geofeed_and_the_api():
    caddy = _hosts()["hosts"]["coreams01"]["caddy"]
    assert "file_server" in caddy["geofeed.nxthdr.dev"]["extraConfig"]
    assert "reverse_proxy 127.0.0.1:8080" in caddy["api.nxthdr.dev"]["extraConfig"]
    assert "basic_auth" in caddy["prometheus.nxthdr.dev"]["extraConfig"]


def test_no_secret_file_content_is_rendered():
    # Every secret is referenced by a path under /run; no literal key, password or secret value.
    dump = json.dumps(_hosts()["hosts"])
    for key in ("auth_sasl_password\"", "agent_key\"", "agent_secret\""):
        assert key not in dump, key
    assert "privateKey\"" not in dump


# Issue 12, defects 2, 4, 5, 6, 12: what a real nixos-rebuild would meet.

def test_every_host_has_resolvers_and_admin_keys_from_the_inventory():
    platform = _inventory()["platform"]
    for name, h in _hosts()["hosts"].items():
        assert h["nameservers"] == platform["nameservers"] != [], name
        assert h["rootKeys"] == platform["admin_ssh_keys"] != [], name


def test_admin_keys_are_valid_openssh_keys():
    import base64
    import struct
    for line in _inventory()["platform"]["admin_ssh_keys"]:
        kind, body = line.split()[:2]
        blob = base64.b64decode(body, validate=True)
        (n,) = struct.unpack(">I", blob[:4])
        assert blob[4:4 + n].decode() == kind
        if kind == "ssh-ed25519":
            (m,) = struct.unpack(">I", blob[4 + n:8 + n])
            assert m == 32 and len(blob) == 8 + n + m


@pytest.mark.parametrize("key", ["nameservers", "admin_ssh_keys"])
def test_schema_refuses_an_inventory_without(key):
    schema = json.loads(schema_path("inventory.schema.json").read_text())
    inv = _inventory()
    inv["platform"][key] = []
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(inv, schema)


def test_headscale_has_global_nameservers_and_metrics_off_9090():
    core = _hosts()["hosts"]["coreams01"]
    hs = core["headscale"]
    assert hs["dns"]["nameservers"]["global"]
    assert not hs["metrics_listen_addr"].endswith(":9090")
    assert not any("headscale" in a for a in core["assertions"])


def test_kraft_cluster_id_is_a_16_byte_uuid():
    import base64
    cid = _hosts()["hosts"]["coreams01"]["kafka"]["clusterId"]
    assert len(cid) == 22 and len(base64.urlsafe_b64decode(cid + "==")) == 16
    for test in (ROOT / "nix" / "tests").glob("*.nix"):
        for found in re.findall(r'clusterId = "([^"]*)"', test.read_text()):
            assert len(found) == 22 and len(base64.urlsafe_b64decode(found + "==")) == 16, test


def test_bgp_only_on_the_tunnel_of_the_core():
    fw = _hosts()["hosts"]["coreams01"]["firewall"]
    assert 179 not in fw.get("allowedTCPPorts", [])
    assert fw["interfaces"]["wg-ixp"]["allowedTCPPorts"] == [179]


def test_prometheus_vhost_proxies_only_remote_write():
    vhost = _hosts()["hosts"]["coreams01"]["caddy"]["prometheus.nxthdr.dev"]["extraConfig"]
    assert "@write path /api/v1/write" in vhost and "handle @write" in vhost
    assert vhost.rstrip().endswith("respond 404")
