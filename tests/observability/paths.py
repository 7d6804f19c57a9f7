"""Where the observability-as-code files live (the Nix modules read the same paths)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OBS = ROOT / "modules" / "observability"
RULES = sorted((OBS / "prometheus" / "rules").glob("*.yaml"))
RULE_TESTS = sorted((OBS / "prometheus" / "tests").glob("*.yaml"))
DASHBOARDS = sorted((OBS / "grafana" / "dashboards").glob("*.json"))
