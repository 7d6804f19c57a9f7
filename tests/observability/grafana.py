"""Reading the dashboards: their queries by datasource, and Grafana's ClickHouse macros expanded."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tests.observability.paths import DASHBOARDS


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    datasource: dict
    text: str

    @property
    def where(self) -> str:
        return f"{self.dashboard}: {self.panel!r}"


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def _panels(panels: list[dict]) -> Iterator[dict]:
    for p in panels:
        yield p
        yield from _panels(p.get("panels", []))


def queries(paths: list[Path] = DASHBOARDS) -> Iterator[Query]:
    """Every panel target and every templating variable, with its datasource."""
    for path in paths:
        board = load(path)
        for panel in _panels(board.get("panels", [])):
            for t in panel.get("targets", []):
                ds = t.get("datasource") or panel.get("datasource") or {}
                text = t.get("rawSql") if "rawSql" in t else t.get("expr", "")
                yield Query(path.stem, panel.get("title", ""), ds, text)
        for var in board.get("templating", {}).get("list", []):
            q = var.get("query")
            if isinstance(q, dict):
                text = q.get("query") or (f"label_values({q['label']})" if "label" in q else "")
            else:
                text = q or ""
            yield Query(path.stem, f"variable ${var['name']}", var.get("datasource") or {}, text)


def by_type(kind: str) -> list[Query]:
    return [q for q in queries() if q.datasource.get("type") == kind]


# Grafana ClickHouse plugin macros, expanded the way the plugin does for a
# 6-hour range and a 60-second interval.
_MACROS = [
    (re.compile(r"\$__timeFilter\(\s*([^()]+?)\s*\)"), r"(\1 >= now() - INTERVAL 6 HOUR AND \1 <= now())"),
    (re.compile(r"\$__dateFilter\(\s*([^()]+?)\s*\)"), r"(\1 >= toDate(now() - INTERVAL 6 HOUR) AND \1 <= today())"),
    (re.compile(r"\$__timeInterval\(\s*([^()]+?)\s*\)"), r"toStartOfInterval(\1, INTERVAL 60 second)"),
    (re.compile(r"\$__fromTime\b"), "toDateTime(now() - INTERVAL 6 HOUR)"),
    (re.compile(r"\$__toTime\b"), "now()"),
    (re.compile(r"\$__interval_s\b"), "60"),
]


def expand_macros(sql: str) -> str:
    for pattern, repl in _MACROS:
        sql = pattern.sub(repl, sql)
    if "$" in sql:
        raise ValueError(f"unexpanded Grafana macro or variable in: {sql}")
    return sql
