"""The observability files (modules/observability/) as the roles wire them: scrape
jobs named as the rules and dashboards expect, each aimed at the port its
service listens on; the rule files, datasources, dashboards, Loki and Alloy
configurations are the repository's files; the ports they name agree with the
services'; secrets only as paths."""

from __future__ import annotations

import functools
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.nix.nixeval import ROOT, nix_instantiate
from tests.nix.test_hosts import HOST_DIRS, _hosts, _inventory, _jmx_port, _port

OBS = ROOT / "modules" / "observability"
CORE_JOBS = {"risotto", "pesto", "saimiris-gateway", "node", "bird", "kafka", "clickhouse", "prometheus"}
EDGE_JOBS = {"ixp": {"node", "bird"}, "vlt": {"node", "bird", "saimiris-agent"}}


@functools.cache
def _role(name: str) -> str:
    return _inventory()["hosts"][name]["role"]


def _jobs(host: dict) -> dict[str, list[str]]:
    return {job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
            for job in host["prometheus"]["scrapeConfigs"]}


@functools.cache
def _store_to_repo() -> dict[str, Path]:
    """Evaluation only computes the store paths of the files it references (nothing is
    copied here): the store path each observability file and directory would get."""
    paths = [OBS, *sorted(OBS.rglob("*"))]
    expr = "[ " + " ".join(f'"${{{p}}}"' for p in paths) + " ]"
    res = subprocess.run([nix_instantiate(), "--eval", "--strict", "--json", "--readonly-mode", "-E", expr],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return dict(zip(json.loads(res.stdout), paths))


def _repo(store_path: str) -> Path:
    """The repository file or directory a store path of the evaluated configuration stands for."""
    try:
        return _store_to_repo()[store_path]
    except KeyError:
        raise AssertionError(f"{store_path} is no file of modules/observability") from None


def _text(store_path: str) -> str:
    return _repo(store_path).read_text()


def _host_of(target: str) -> str:
    return target.rsplit(":", 1)[0].strip("[]")


def test_core_scrapes_every_job_where_its_service_listens():
    core = _hosts()["hosts"]["coreams01"]
    s, prom = core["settings"], core["prometheus"]
    jobs = _jobs(core)
    assert set(jobs) == CORE_JOBS
    listens = {
        "risotto": s["risotto"]["metrics"]["address"],
        "pesto": s["pesto"]["metrics"]["address"],
        "saimiris-gateway": s["saimiris-gateway"]["metrics"]["address"],
        "node": f"[{prom['exporters']['node']['listenAddress'].strip('[]')}]:{prom['exporters']['node']['port']}",
        "bird": f"[{prom['exporters']['bird']['listenAddress'].strip('[]')}]:{prom['exporters']['bird']['port']}",
        "prometheus": f"{prom['listenAddress']}:{prom['port']}",
    }
    for job, address in listens.items():
        (target,) = jobs[job]
        assert _port(target) == _port(address), (job, target, address)
        assert _host_of(target) == _host_of(address), (job, target, address)
    # The JMX exporter java agent in the broker's JVM, with the repository's rules.
    (agent,) = [o for o in core["kafka"]["jvmOptions"] if o.startswith("-javaagent:")]
    jar, spec = agent.removeprefix("-javaagent:").split("=", 1)
    host, port, rules = spec.split(":", 2)
    assert "jmx_prometheus_javaagent" in jar
    assert jobs["kafka"] == [f"{host}:{port}"]
    assert _text(rules) == (OBS / "kafka" / "jmx-exporter.yaml").read_text()
    # ClickHouse's own Prometheus endpoint.
    ch = core["clickhouse"]["serverConfig"]
    assert ch["prometheus"]["endpoint"] == "/metrics"
    (target,) = jobs["clickhouse"]
    assert _port(target) == ch["prometheus"]["port"] and _host_of(target) in ch["listen_host"]


@pytest.mark.parametrize("name", [n for n in HOST_DIRS if _inventory()["hosts"][n]["role"] != "core"])
def test_edge_hosts_scrape_their_jobs_and_push_them(name):
    host = _hosts()["hosts"][name]
    jobs = _jobs(host)
    assert set(jobs) == EDGE_JOBS[_role(name)]
    prom = host["prometheus"]
    assert jobs["node"] == [f"[::1]:{prom['exporters']['node']['port']}"]
    assert jobs["bird"] == [f"[::1]:{prom['exporters']['bird']['port']}"]
    if "saimiris-agent" in jobs:
        (target,) = jobs["saimiris-agent"]
        assert _port(target) == _port(host["settings"]["saimiris-agent"]["agent"]["metrics_address"])
    (rw,) = prom["remoteWrite"]
    assert rw["url"] == f"https://prometheus.{_inventory()['platform']['domain']}/api/v1/write"
    assert rw["basic_auth"]["username"] == name
    assert rw["basic_auth"]["password_file"].startswith("/run/")


def test_job_names_the_rules_use_are_scraped():
    scraped = CORE_JOBS | set().union(*EDGE_JOBS.values())
    used = set()
    for f in (OBS / "prometheus" / "rules").glob("*.yaml"):
        used |= set(re.findall(r'job\s*=~?\s*"([^"]+)"', f.read_text()))
    assert used, "the rules name no job: the check below would prove nothing"
    for job in used:
        assert any(re.fullmatch(job, j) for j in scraped), job


def test_rule_files_are_the_repository_rules():
    core = _hosts()["hosts"]["coreams01"]
    loaded = sorted(_text(p) for p in core["prometheus"]["ruleFiles"])
    repo = sorted(p.read_text() for p in (OBS / "prometheus" / "rules").glob("*.yaml"))
    assert repo and loaded == repo


def test_node_exporter_has_the_systemd_collector_everywhere():
    for name in HOST_DIRS:
        node = _hosts()["hosts"][name]["prometheus"]["exporters"]["node"]
        assert node["enable"] is True and "systemd" in node["enabledCollectors"], name


def test_grafana_datasources_dashboards_and_secrets():
    core = _hosts()["hosts"]["coreams01"]
    g = core["grafana"]
    prov = g["provision"]
    assert _text(prov["datasources"]["path"]) == (OBS / "grafana" / "provisioning" / "datasources.yaml").read_text()
    assert "settings" not in prov["datasources"]  # nixpkgs refuses path and settings together
    sources = {d["uid"]: d for d in yaml.safe_load((OBS / "grafana" / "provisioning" / "datasources.yaml").read_text())
               ["datasources"]}
    prom = core["prometheus"]
    assert sources["prometheus"]["url"] == f"http://{prom['listenAddress']}:{prom['port']}"
    loki = yaml.safe_load(_text(core["loki"]["configFile"]))
    assert sources["loki"]["url"] == f"http://{loki['server']['http_listen_address']}:{loki['server']['http_listen_port']}"
    ch = core["clickhouse"]["serverConfig"]
    js = sources["clickhouse"]["jsonData"]
    assert js["host"] in ch["listen_host"] and js["port"] == ch["tcp_port"]
    # The datasource's password variable is the one ClickHouse reads for that user,
    # and both units get it from the same file (a path under /run, never a value).
    var = re.fullmatch(r"\$__env\{(\w+)\}", sources["clickhouse"]["secureJsonData"]["password"]).group(1)
    users = core["clickhouse"]["extraUsersConfig"]
    assert f"<{js['username']}>" in users and f'<password from_env="{var}"/>' in users
    gfile = core["units"]["grafana"]["serviceConfig"]["EnvironmentFile"]
    cfile = core["units"]["clickhouse"]["serviceConfig"]["EnvironmentFile"]
    assert gfile == cfile and all(f.startswith("/run/") for f in gfile)
    assert any("grafana-clickhouse-datasource" in p for p in g["declarativePlugins"])
    for key in ("secret_key", "admin_password"):
        assert re.fullmatch(r"\$__file\{/run/[^}]+\}", g["settings"]["security"][key]), key
    # Dashboards: the provider of dashboards.yaml, pointed at the repository's dashboards.
    (provider,) = prov["dashboards"]["settings"]["providers"]
    (expected,) = yaml.safe_load((OBS / "grafana" / "provisioning" / "dashboards.yaml").read_text())["providers"]
    path = provider["options"].pop("path")
    expected["options"].pop("path")
    assert provider == expected
    assert _repo(path) == OBS / "grafana" / "dashboards"


def test_loki_and_alloy_agree_on_where_logs_go():
    inv = _inventory()
    domain = inv["platform"]["domain"]
    core = _hosts()["hosts"]["coreams01"]
    assert _text(core["loki"]["configFile"]) == (OBS / "loki" / "loki.yaml").read_text()
    loki = yaml.safe_load((OBS / "loki" / "loki.yaml").read_text())["server"]
    listen = f"{loki['http_listen_address']}:{loki['http_listen_port']}"
    # The core's Alloy pushes to that listener; Caddy publishes it (and Prometheus) for the edge.
    assert f"http://{listen}/loki/api/v1/push" in (OBS / "loki" / "write-local.alloy").read_text()
    assert f"reverse_proxy {listen}" in core["caddy"][f"loki.{domain}"]["extraConfig"]
    prom = core["prometheus"]
    assert f"reverse_proxy {prom['listenAddress']}:{prom['port']}" in core["caddy"][f"prometheus.{domain}"]["extraConfig"]
    for name in HOST_DIRS:
        host = _hosts()["hosts"][name]
        assert host["alloy"]["enable"] is True, name
        assert _text(host["etc"]["alloy/journal.alloy"]) == (OBS / "loki" / "journal.alloy").read_text()
        write = "write-local.alloy" if _role(name) == "core" else "write-remote.alloy"
        assert _text(host["etc"]["alloy/write.alloy"]) == (OBS / "loki" / write).read_text(), name
        if _role(name) == "core":
            continue
        unit = host["units"]["alloy"]
        env = unit["environment"]
        # Every variable write-remote.alloy reads is set.
        for var in re.findall(r'sys\.env\("(\w+)"\)', (OBS / "loki" / "write-remote.alloy").read_text()):
            assert var in env, (name, var)
        assert env["LOKI_PUSH_URL"] == f"https://loki.{domain}/loki/api/v1/push"
        assert env["LOKI_PUSH_USERNAME"] == name
        (cred,) = unit["serviceConfig"]["LoadCredential"]
        cred_name, cred_file = cred.split(":", 1)
        assert env["LOKI_PUSH_PASSWORD_FILE"] == f"/run/credentials/alloy.service/{cred_name}"
        assert cred_file == host["prometheus"]["remoteWrite"][0]["basic_auth"]["password_file"]
        assert cred_file.startswith("/run/")
        # The core's Caddy knows this host's push user on both endpoints.
        for vhost in (f"loki.{domain}", f"prometheus.{domain}"):
            assert f"{name} {{$PUSH_HASH_{name}}}" in core["caddy"][vhost]["extraConfig"], (vhost, name)
