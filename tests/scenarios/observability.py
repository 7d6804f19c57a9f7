"""Core observability scenario: on a core host, Prometheus scrapes every job the
rules and dashboards expect and has loaded every alert rule; Grafana answers
with its provisioned datasources and dashboards; Loki is ready and holds the
journal Alloy ships.

Machine: `core` (the core role). Expected rule names and dashboards are read
from files the node holds (`rules_dir`, `dashboards_dir`: the repository's
directories as the role provisions them), so nothing is listed twice.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from .machine import Machine, wait_for


@dataclass(frozen=True)
class CoreObservability:
    core: Machine
    jobs: tuple[str, ...]  # scrape jobs that must be up
    rules_dir: str
    dashboards_dir: str
    grafana_password_file: str
    prometheus: str = "http://127.0.0.1:9090"
    grafana: str = "http://127.0.0.1:3000"
    loki: str = "http://127.0.0.1:3100"
    log_unit: str = "risotto.service"  # a unit whose journal must reach Loki
    timeout: int = 300


def _json(m: Machine, command: str) -> dict:
    value = json.loads(m.succeed(command))
    assert isinstance(value, dict), f"{command}: not a JSON object"
    return value


def prometheus(t: CoreObservability) -> None:
    def health() -> dict[str, str]:
        targets = _json(t.core, f"curl -sf {t.prometheus}/api/v1/targets")["data"]["activeTargets"]
        return {x["labels"]["job"]: x["health"] for x in targets}

    def all_up() -> bool:
        h = health()
        return all(h.get(job) == "up" for job in t.jobs)

    wait_for(all_up, t.timeout, f"scrape jobs {', '.join(t.jobs)} up", details=lambda: str(health()))

    expected = {line.split(":", 1)[1].strip() for line in
                t.core.succeed(f"grep -h -E '^ *- alert:' {t.rules_dir}/*.yaml").splitlines()}
    assert expected, f"no alert rule in {t.rules_dir}"
    groups = _json(t.core, f"curl -sf {t.prometheus}/api/v1/rules")["data"]["groups"]
    loaded = {r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting"}
    assert loaded == expected, f"alert rules loaded {sorted(loaded)}, in the files {sorted(expected)}"
    for g in groups:
        for r in g["rules"]:
            assert r.get("health") != "err", f"rule {r['name']}: {r.get('lastError')}"


def grafana(t: CoreObservability) -> None:
    t.core.wait_until_succeeds(f"curl -sf {t.grafana}/api/health", timeout=t.timeout)
    auth = f"-u admin:\"$(cat {shlex.quote(t.grafana_password_file)})\""
    datasources = json.loads(t.core.succeed(f"curl -sf {auth} {t.grafana}/api/datasources"))
    uids = {d["uid"]: d["type"] for d in datasources}
    assert uids == {"prometheus": "prometheus", "loki": "loki", "clickhouse": "grafana-clickhouse-datasource"}, uids
    for uid in ("prometheus", "loki"):
        health = _json(t.core, f"curl -sf {auth} {t.grafana}/api/datasources/uid/{uid}/health")
        assert health.get("status") == "OK", f"datasource {uid}: {health}"

    files = t.core.succeed(f"ls {t.dashboards_dir}/*.json").split()
    expected = {}
    for f in files:
        d = json.loads(t.core.succeed(f"cat {shlex.quote(f)}"))
        expected[d["uid"]] = d["title"]
    assert expected, f"no dashboard in {t.dashboards_dir}"

    def provisioned() -> dict[str, str]:
        found = json.loads(t.core.succeed(f"curl -sf {auth} '{t.grafana}/api/search?type=dash-db'"))
        return {d["uid"]: d["title"] for d in found}

    wait_for(lambda: provisioned() == expected, 60, "every dashboard provisioned",
             details=lambda: f"provisioned {provisioned()}, files {expected}")


def loki(t: CoreObservability) -> None:
    t.core.wait_until_succeeds(f"curl -sf {t.loki}/ready | grep -q ready", timeout=t.timeout)
    selector = shlex.quote(f'query={{unit="{t.log_unit}"}}')

    def streams() -> int:
        out = _json(t.core, f"curl -sf -G --data-urlencode {selector} {t.loki}/loki/api/v1/query_range")
        return len(out["data"]["result"])

    wait_for(streams, t.timeout, f"journal of {t.log_unit} in Loki (shipped by Alloy)")


def run(t: CoreObservability) -> None:
    prometheus(t)
    grafana(t)
    loki(t)
