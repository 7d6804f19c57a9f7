"""The migration PLANNER: wanted objects + what the server's system tables show
-> the statements that bring the server to the wanted state. Pure: no I/O.

Rules (never lose stored data):
- missing database / table / view: create it;
- storage table: a missing column is added (ALTER TABLE ADD COLUMN), a changed
  retention is a MODIFY TTL; a changed ORDER BY, PARTITION BY or column type,
  or a storage table that is not a MergeTree, is a PROBLEM: the plan refuses and
  says why, since fixing it means copying data into a new table by hand;
- Kafka (or Null input) table with other columns or settings: drop and recreate
  it with its view (they hold no data; the consumer group keeps the offsets);
- view whose COMMENT fingerprint differs from the one we would create: drop and
  recreate it.
Columns on the server that we do not want are left in place and noted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

from nxthdr.clickhouse.tables import VIEW, Column, DatabaseObjects, parse_settings, quote_string

# Values ClickHouse prints instead of secrets in engine_full / SHOW CREATE.
_HIDDEN = {"'[HIDDEN]'", "'[hidden]'"}
# Positional Kafka(...) arguments, in the order ClickHouse documents them.
_KAFKA_POSITIONAL = ("kafka_broker_list", "kafka_topic_list", "kafka_group_name", "kafka_format",
                     "kafka_row_delimiter", "kafka_schema", "kafka_num_consumers")
_DROPPABLE_INPUT_ENGINES = ("Kafka", "Null")


@dataclass(frozen=True)
class TableRow:
    """One row of system.tables with its system.columns."""

    database: str
    name: str
    engine: str
    engine_full: str = ""
    create_table_query: str = ""
    comment: str = ""
    sorting_key: str = ""
    partition_key: str = ""
    columns: tuple[Column, ...] = ()


@dataclass(frozen=True)
class Observed:
    databases: frozenset[str]
    tables: Mapping[tuple[str, str], TableRow]

    def table(self, database: str, name: str) -> TableRow | None:
        return self.tables.get((database, name))

    @classmethod
    def from_rows(cls, databases: Iterable[str], tables: Iterable[Mapping],
                  columns: Iterable[Mapping]) -> "Observed":
        """From the rows of the three queries of `observe_queries` (dicts keyed by column name)."""
        cols: dict[tuple[str, str], list[tuple[int, Column]]] = {}
        for c in columns:
            cols.setdefault((c["database"], c["table"]), []).append((int(c["position"]), Column(c["name"], c["type"])))
        out = {}
        for t in tables:
            key = (t["database"], t["name"])
            out[key] = TableRow(t["database"], t["name"], t["engine"], t.get("engine_full") or "",
                                t.get("create_table_query") or "", t.get("comment") or "",
                                t.get("sorting_key") or "", t.get("partition_key") or "",
                                tuple(c for _, c in sorted(cols.get(key, []), key=lambda x: x[0])))
        return cls(frozenset(databases), out)


def observe_queries(databases: Sequence[str]) -> dict[str, str]:
    """The system-table queries whose rows feed Observed.from_rows."""
    names = ", ".join(quote_string(d) for d in databases) or "''"
    return {
        "databases": f"SELECT name FROM system.databases WHERE name IN ({names})",
        "tables": ("SELECT database, name, engine, engine_full, create_table_query, comment, sorting_key, "
                   f"partition_key FROM system.tables WHERE database IN ({names})"),
        "columns": f"SELECT database, table, name, type, position FROM system.columns WHERE database IN ({names})",
    }


def observe_with(rows: Callable[[str], list[Mapping]], databases: Sequence[str]) -> Observed:
    """Run the system-table queries through `rows(sql) -> list of dicts` (a server client,
    or a chdb session for the embedded store) and build the Observed state."""
    q = observe_queries(databases)
    return Observed.from_rows([r["name"] for r in rows(q["databases"])], rows(q["tables"]), rows(q["columns"]))


@dataclass(frozen=True)
class Statement:
    sql: str
    reason: str
    shown: str = ""  # the statement with secrets masked, for printing and logs

    def __str__(self) -> str:
        return self.shown or self.sql


@dataclass
class Plan:
    statements: list[Statement] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # drift we refuse to fix automatically
    notes: list[str] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        return not self.statements and not self.problems


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _key(text: str) -> str:
    """ORDER BY / PARTITION BY as system.tables shows it: no outer parentheses, no spaces."""
    t = _norm(text)
    if t.startswith("(") and t.endswith(")"):
        depth = 0
        for i, ch in enumerate(t):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(t) - 1:
                return t  # the parentheses do not wrap the whole key
        t = t[1:-1]
    return t


def table_ttl(engine_full: str) -> str | None:
    m = re.search(r"\bTTL (.+?)(?= SETTINGS |$)", engine_full)
    return m.group(1).strip() if m else None


def kafka_settings(engine_full: str) -> dict[str, str]:
    """Settings of a Kafka table from system.tables.engine_full (SETTINGS or positional form)."""
    text = engine_full.strip()
    if not text.startswith("Kafka"):
        return {}
    rest = text[len("Kafka"):].strip()
    out: dict[str, str] = {}
    if rest.startswith("("):
        depth, end = 0, len(rest)
        for i, ch in enumerate(rest):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0:
                end = i
                break
        args = _split_args(rest[1:end])
        out.update({k: v for k, v in zip(_KAFKA_POSITIONAL, args)})
        rest = rest[end + 1:].strip()
    if rest.startswith("SETTINGS"):
        out.update(parse_settings(rest[len("SETTINGS"):]))
    return out


def _split_args(text: str) -> list[str]:
    parsed = parse_settings(", ".join(f"a{i} = {a}" for i, a in enumerate(_split_top(text))))
    return list(parsed.values())


def _split_top(text: str) -> list[str]:
    """Comma-separated arguments, commas inside quotes ignored."""
    out, buf, quoted, i = [], [], False, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quoted and i + 1 < len(text):
            buf.append(text[i:i + 2])
            i += 2
            continue
        if ch == "'":
            quoted = not quoted
        if ch == "," and not quoted:
            out.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
        i += 1
    if "".join(buf).strip():
        out.append("".join(buf).strip())
    return out


def _columns_differ(have: Sequence[Column], want: Sequence[Column]) -> bool:
    return [(c.name, _norm(c.type)) for c in have] != [(c.name, _norm(c.type)) for c in want]


def _mask(sql: str, secrets: Sequence[str]) -> str:
    for s in secrets:
        sql = sql.replace(quote_string(s), "'[HIDDEN]'")
    return sql


def plan(wanted: Sequence[DatabaseObjects], observed: Observed) -> Plan:
    p = Plan()
    for w in wanted:
        _plan_database(p, w, observed)
    return p


def _plan_database(p: Plan, w: DatabaseObjects, obs: Observed) -> None:
    db = w.database

    def add(sql: str, reason: str) -> None:
        p.statements.append(Statement(sql, reason, _mask(sql, w.secret_values)))

    if db not in obs.databases:
        add(w.create_database, f"database {db} is missing")

    # -- storage table: only additive changes, never a drop -----------------------------
    storage = obs.table(db, w.storage_table)
    target = f"{db}.{w.storage_table}"
    if storage is None:
        add(w.create_storage, f"table {target} is missing")
    elif not storage.engine.endswith("MergeTree"):
        p.problems.append(f"{target} is a {storage.engine} table, not a MergeTree: move it away by hand")
    else:
        if _key(storage.sorting_key) != _key(w.order_by):
            p.problems.append(f"{target}: ORDER BY is ({storage.sorting_key}), wanted {w.order_by}; "
                              "changing it needs a new table and a copy of the data, not done automatically")
        if _key(storage.partition_key) != _key(w.partition_by):
            p.problems.append(f"{target}: PARTITION BY is {storage.partition_key or '(none)'}, wanted "
                              f"{w.partition_by}; not changed automatically")
        have = {c.name: c for c in storage.columns}
        previous = None
        for col in w.storage_columns:
            got = have.get(col.name)
            if got is None:
                where = f" AFTER {previous}" if previous else " FIRST"
                add(f"ALTER TABLE {target} ADD COLUMN IF NOT EXISTS {col.name} {col.type}{where}",
                    f"{target} has no column {col.name}")
            elif _norm(got.type) != _norm(col.type):
                p.problems.append(f"{target}.{col.name} is {got.type}, wanted {col.type}; "
                                  "not converted automatically")
            previous = col.name
        wanted_names = {c.name for c in w.storage_columns}
        extra = [c.name for c in storage.columns if c.name not in wanted_names]
        if extra:
            p.notes.append(f"{target} has columns this version does not write (kept): {', '.join(extra)}")
        ttl = table_ttl(storage.engine_full)
        if ttl is None or _norm(ttl) != _norm(w.ttl):
            add(f"ALTER TABLE {target} MODIFY TTL date + INTERVAL {w.retention_days} DAY DELETE",
                f"{target}: TTL is {ttl or '(none)'}, wanted {w.ttl}")

    # -- input table (Kafka or Null): holds nothing, recreated when it differs ------------
    source = obs.table(db, w.input_table)
    name = f"{db}.{w.input_table}"
    recreate_input = None
    if source is None:
        recreate_input = f"table {name} is missing"
    elif source.engine not in _DROPPABLE_INPUT_ENGINES:
        p.problems.append(f"{name} is a {source.engine} table, expected {w.input_engine}: "
                          "it may hold data, move it away by hand")
    elif source.engine != w.input_engine:
        recreate_input = f"{name} is a {source.engine} table, wanted {w.input_engine}"
    elif _columns_differ(source.columns, w.input_columns):
        recreate_input = f"{name}: columns differ from the Cap'n Proto layout"
    elif w.input_engine == "Kafka":
        have = kafka_settings(source.engine_full)
        diffs = []
        for key in sorted(set(have) | set(w.kafka_settings)):
            got, want = have.get(key), w.kafka_settings.get(key)
            if got in _HIDDEN and want is not None:
                continue  # the server hides secrets: a changed password alone is not seen
            if got != want:
                shown = _mask(want, w.secret_values) if want else "(unset)"
                diffs.append(f"{key} {got or '(unset)'} -> {shown}")
        if diffs:
            recreate_input = f"{name}: Kafka settings changed: " + "; ".join(diffs)

    # -- view: recreated when its fingerprint differs or its source is recreated ---------
    view = obs.table(db, VIEW)
    vname = f"{db}.{VIEW}"
    recreate_view = None
    if view is not None and view.engine != "MaterializedView":
        p.problems.append(f"{vname} is a {view.engine} table, not a materialized view: move it away by hand")
        return
    if view is None:
        recreate_view = f"view {vname} is missing"
    elif recreate_input:
        recreate_view = f"its source {name} is recreated"
    elif view.comment != w.view_fingerprint:
        recreate_view = f"{vname} differs from this version's view ({view.comment or 'no fingerprint'})"

    if recreate_view and view is not None:
        add(f"DROP VIEW IF EXISTS {vname} SYNC", recreate_view)
    if recreate_input:
        if source is not None:
            add(f"DROP TABLE IF EXISTS {name} SYNC", recreate_input)
        add(w.create_input, recreate_input)
    if recreate_view:
        add(w.create_view, recreate_view)
