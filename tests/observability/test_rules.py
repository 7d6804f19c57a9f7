"""Prometheus alert rules: promtool validates them and runs their unit tests, and
every alert has at least one test case where it fires and one where it does not."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.conftest import require
from tests.observability.paths import OBS, RULE_TESTS, RULES

# The platform spec's list, by the alert that covers it.
EXPECTED_ALERTS = {
    "ServiceDown", "ServiceDisappeared",  # service down / disappeared
    "DiskFilling", "DiskFull",  # disk filling / full
    "OutOfMemory", "OomKill",  # out of memory
    "BmpNoEstablishedPeer",  # BMP collector has no established peer
    "BmpNoDataToKafka", "SflowNoDataToKafka",  # no BMP or sFlow data reaching Kafka for 15 min
    "ProbingRepliesMissing",  # probing replies missing while probes are sent
    "ProbingCaptureDrops",  # the agent's capture socket overflows (beyond the reference list)
    "BgpSessionDown",  # a BGP session down
    "BirdExporterSilent",  # BIRD exporter silent
}


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    require(path is not None, "promtool not installed (Debian package prometheus; run .ci/install)")
    assert path is not None
    return path


def alerts_in_rules() -> dict[str, str]:
    out: dict[str, str] = {}
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    assert rule["alert"] not in out, f"alert {rule['alert']} defined twice"
                    out[rule["alert"]] = rule["expr"]
    return out


def test_rule_files_exist() -> None:
    assert RULES and RULE_TESTS, f"no rules or rule tests under {OBS}"


def test_the_platform_alert_list_is_covered() -> None:
    assert set(alerts_in_rules()) == EXPECTED_ALERTS


def test_promtool_check_rules(promtool: str) -> None:
    cp = subprocess.run([promtool, "check", "rules", *map(str, RULES)], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stdout + cp.stderr


def test_promtool_unit_tests(promtool: str) -> None:
    # promtool resolves rule_files relative to each test file.
    cp = subprocess.run([promtool, "test", "rules", *map(str, RULE_TESTS)], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "SUCCESS" in cp.stdout


def test_promtool_unit_tests_can_fail(promtool: str, tmp_path) -> None:
    """A test that expects the wrong thing must fail: promtool really evaluates the rules."""
    src = RULE_TESTS[0]
    doc = yaml.safe_load(src.read_text())
    doc["rule_files"] = [str((src.parent / f).resolve()) for f in doc["rule_files"]]
    for case in doc["tests"]:
        for t in case.get("alert_rule_test", []):
            t["exp_alerts"] = [] if t.get("exp_alerts") else [{"exp_labels": {"severity": "none"}}]
    bad = tmp_path / "inverted.test.yaml"
    bad.write_text(yaml.safe_dump(doc))
    cp = subprocess.run([promtool, "test", "rules", str(bad)], capture_output=True, text=True)
    assert cp.returncode != 0, cp.stdout


def test_every_alert_is_tested_firing_and_quiet() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for t in case.get("alert_rule_test", []):
                (fired if t.get("exp_alerts") else quiet).add(t["alertname"])
    alerts = set(alerts_in_rules())
    assert alerts - fired == set(), "alerts never tested firing"
    assert alerts - quiet == set(), "alerts never tested staying quiet"


def test_every_alert_has_severity_and_text() -> None:
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
                assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
