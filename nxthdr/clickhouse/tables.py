"""The ClickHouse objects of the three pipelines, from the SQL in `clickhouse-tables/`.

Each database directory holds three templates, one statement each:
    from_kafka.sql     Kafka engine table, camelCase columns named like the Cap'n Proto fields
    <storage>.sql      MergeTree table, snake_case columns, PARTITION BY date, TTL
    from_kafka_mv.sql  materialized view from_kafka -> storage table

Placeholders are `{{ name }}` and are rendered here, never by string pasting
elsewhere: each parameter has a kind that decides how its value is written.
    database, input_table                      identifier ([A-Za-z_][A-Za-z0-9_]*, written as is)
    kafka_brokers, topic, consumer_group,
    format_schema                              string literal ('...', quotes and backslashes escaped)
    retention_days, num_consumers              integer (written as digits)
    kafka_extra_settings                       optional `, kafka_x = '...'` list (names checked, values quoted)

`objects(name, ...)` gives the rendered statements of one database. With
`input="null"` the Kafka table becomes a Null-engine table with the same
columns (the embedded store, whose ClickHouse build has no CapnProto format,
inserts rows there and the same view carries them to the same storage table).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

DATABASES = ("bmp", "flows", "saimiris")


@dataclass(frozen=True)
class Spec:
    """Per-database facts that are not deployment settings."""

    storage_table: str
    capnp_file: str
    capnp_struct: str
    topic: str
    consumer_group: str
    format_schema: str


SPECS: dict[str, Spec] = {
    "bmp": Spec("updates", "update.capnp", "Update", "risotto-updates", "clickhouse-risotto-group",
                "update.capnp:Update"),
    "flows": Spec("records", "sflow.capnp", "SFlowFlowRecord", "pesto-sflow", "clickhouse-pesto-group",
                  "sflow:SFlowFlowRecord"),
    "saimiris": Spec("replies", "reply.capnp", "Reply", "saimiris-replies", "clickhouse-saimiris-group",
                     "reply.capnp:Reply"),
}

KAFKA_TABLE = "from_kafka"
VIEW = "from_kafka_mv"
DEFAULT_RETENTION_DAYS = 7

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SETTING = re.compile(r"kafka_[a-z0-9_]+\Z")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_KINDS = {
    "database": "identifier",
    "input_table": "identifier",
    "kafka_brokers": "string",
    "topic": "string",
    "consumer_group": "string",
    "format_schema": "string",
    "retention_days": "integer",
    "num_consumers": "integer",
    "kafka_extra_settings": "settings",
}


class TemplateError(ValueError):
    """A template or a parameter value is wrong (names the file or parameter)."""


@functools.cache
def tables_dir() -> Path:
    """`clickhouse-tables/`: a source checkout's own first, else the installed package data."""
    candidate = Path(__file__).resolve().parent.parent.parent / "clickhouse-tables"
    if (candidate / "bmp" / "from_kafka.sql").is_file():
        return candidate
    try:
        from importlib.resources import files

        candidate = Path(str(files("nxthdr.clickhouse_tables")))
        if (candidate / "bmp" / "from_kafka.sql").is_file():
            return candidate
    except (ModuleNotFoundError, TypeError):
        pass
    raise FileNotFoundError("cannot find the clickhouse-tables directory (bmp/from_kafka.sql)")


def template(database: str, filename: str) -> str:
    return (tables_dir() / database / filename).read_text(encoding="utf-8")


def quote_string(value: str) -> str:
    """A ClickHouse string literal."""
    if not isinstance(value, str):
        raise TemplateError(f"expected a string, got {type(value).__name__}")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _render_value(name: str, value: object) -> str:
    kind = _KINDS.get(name)
    if kind is None:
        raise TemplateError(f"unknown placeholder {{{{ {name} }}}}")
    if kind == "identifier":
        if not isinstance(value, str) or not _IDENT.match(value):
            raise TemplateError(f"{name}: {value!r} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)")
        return value
    if kind == "string":
        return quote_string(value)  # type: ignore[arg-type]
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise TemplateError(f"{name}: {value!r} is not a non-negative integer")
        return str(value)
    # settings: a mapping of extra Kafka engine settings appended to the SETTINGS list
    if not isinstance(value, Mapping):
        raise TemplateError(f"{name}: expected a mapping of kafka_* settings")
    out = []
    for key, v in value.items():
        if not isinstance(key, str) or not _SETTING.match(key):
            raise TemplateError(f"{name}: {key!r} is not a kafka_* setting name")
        if isinstance(v, bool):
            rendered = "1" if v else "0"
        elif isinstance(v, int):
            rendered = str(v)
        else:
            rendered = quote_string(str(v))
        out.append(f",\n    {key} = {rendered}")
    return "".join(out)


def render(text: str, params: Mapping[str, object]) -> str:
    """Fill every `{{ name }}`; a placeholder without a value is an error."""

    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name not in params:
            raise TemplateError(f"no value for placeholder {{{{ {name} }}}}")
        return _render_value(name, params[name])

    return _PLACEHOLDER.sub(sub, text)


def strip_comments(sql: str) -> str:
    """Drop `--` comment lines (our templates put comments on their own lines only)."""
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--")).strip()


@dataclass(frozen=True)
class Column:
    name: str
    type: str


def parse_columns(sql: str) -> tuple[Column, ...]:
    """The column list of one of our CREATE TABLE templates: one `name Type` per line
    between the line `(` and the line `)` (the layout every file here keeps)."""
    lines = strip_comments(sql).splitlines()
    try:
        start = lines.index("(")
        end = lines.index(")", start)
    except ValueError:
        raise TemplateError("CREATE TABLE template without its `(` ... `)` column block") from None
    cols = []
    for line in lines[start + 1:end]:
        line = line.strip().rstrip(",")
        name, _, typ = line.partition(" ")
        if not _IDENT.match(name) or not typ:
            raise TemplateError(f"cannot read column line {line!r}")
        cols.append(Column(name, typ.strip()))
    return tuple(cols)


def _clause(sql: str, keyword: str) -> str:
    m = re.search(rf"^{keyword} (.+)$", sql, re.MULTILINE)
    if not m:
        raise TemplateError(f"storage template without {keyword}")
    return m.group(1).strip()


def fingerprint(sql: str) -> str:
    """Stable digest of a statement (whitespace-insensitive), kept in the object's COMMENT
    so a later run can tell whether a view is the one it would create."""
    canonical = " ".join(sql.split())
    return "nxthdr:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class KafkaParams:
    """Deployment settings of one database's Kafka table."""

    brokers: str = "localhost:9092"
    topic: str | None = None  # None: the platform default of the database
    consumer_group: str | None = None
    format_schema: str | None = None
    num_consumers: int = 1
    extra_settings: Mapping[str, object] = field(default_factory=dict)  # e.g. kafka_sasl_username
    secret_settings: frozenset[str] = frozenset({"kafka_sasl_password"})  # masked when printed


@dataclass(frozen=True)
class DatabaseObjects:
    """Everything one database needs, rendered. Statements are ready to send."""

    name: str  # logical name: bmp, flows, saimiris
    database: str  # name on the server (prefix + name)
    spec: Spec
    input_engine: str  # "Kafka" or "Null"
    input_table: str
    input_columns: tuple[Column, ...]  # camelCase, as the Cap'n Proto fields
    storage_columns: tuple[Column, ...]  # snake_case
    partition_by: str
    order_by: str
    retention_days: int
    kafka_settings: dict[str, str]  # wanted Kafka engine settings, values as written ('' for Null)
    secret_values: tuple[str, ...]  # substrings to mask when statements are printed
    create_database: str
    create_input: str  # the Kafka table, or the Null input table
    create_storage: str
    create_view: str  # carries COMMENT '<fingerprint>'
    view_select: str  # the SELECT part of the view, reading from `database.input_table`
    view_fingerprint: str

    @property
    def storage_table(self) -> str:
        return self.spec.storage_table

    @property
    def ttl(self) -> str:
        """The TTL expression as ClickHouse reports it back in system.tables.engine_full."""
        return f"date + toIntervalDay({self.retention_days})"

    def statements(self) -> list[str]:
        """Creation order for a fresh server (every statement is IF NOT EXISTS)."""
        return [self.create_database, self.create_storage, self.create_input, self.create_view]


def _kafka_setting_values(rendered_input: str) -> dict[str, str]:
    """The SETTINGS of a rendered Kafka CREATE as name -> literal text."""
    _, _, settings = rendered_input.partition("\nSETTINGS\n")
    return parse_settings(settings)


def parse_settings(text: str) -> dict[str, str]:
    """`a = 'x', b = 1` (also as ClickHouse prints engine_full) -> {a: "'x'", b: "1"}.
    Values keep their literal form so quoting differences do not matter: strings are
    re-quoted canonically."""
    out: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n,":
            i += 1
        if i >= n:
            break
        m = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*").match(text, i)
        if not m:
            raise ValueError(f"cannot read settings at {text[i:i + 30]!r}")
        key, i = m.group(1), m.end()
        if i < n and text[i] == "'":
            j, buf = i + 1, []
            while j < n and text[j] != "'":
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            out[key] = quote_string("".join(buf))
            i = j + 1
        else:
            m = re.compile(r"[^,\s]+").match(text, i)
            if not m:
                raise ValueError(f"setting {key} without a value")
            out[key] = m.group(0)
            i = m.end()
    return out


def objects(name: str, *, database: str | None = None, kafka: KafkaParams | None = None,
            retention_days: int = DEFAULT_RETENTION_DAYS, input: str = "kafka",
            input_table: str = KAFKA_TABLE) -> DatabaseObjects:
    """Rendered objects of database `name` (bmp, flows or saimiris).

    input="kafka": the Kafka engine table reading the collectors' topic (servers).
    input="null":  a Null-engine table with the same columns (embedded store: insert
                   rows there, the view carries them into the storage table).
    """
    if name not in SPECS:
        raise TemplateError(f"unknown database {name!r} (expected one of {', '.join(DATABASES)})")
    if input not in ("kafka", "null"):
        raise TemplateError(f"input must be 'kafka' or 'null', not {input!r}")
    spec = SPECS[name]
    kafka = kafka or KafkaParams()
    db = database or name
    params = {
        "database": db,
        "input_table": input_table,
        "kafka_brokers": kafka.brokers,
        "topic": kafka.topic or spec.topic,
        "consumer_group": kafka.consumer_group or spec.consumer_group,
        "format_schema": kafka.format_schema or spec.format_schema,
        "retention_days": retention_days,
        "num_consumers": kafka.num_consumers,
        "kafka_extra_settings": dict(kafka.extra_settings),
    }
    if isinstance(retention_days, bool) or not isinstance(retention_days, int) or retention_days < 1:
        raise TemplateError(f"retention_days: {retention_days!r} is not a positive integer")
    kafka_sql = strip_comments(render(template(name, "from_kafka.sql"), params))
    input_columns = parse_columns(kafka_sql)
    if input == "kafka":
        if input_table != KAFKA_TABLE:
            raise TemplateError("the Kafka table is always named from_kafka")
        create_input, engine = kafka_sql, "Kafka"
        settings = _kafka_setting_values(kafka_sql)
    else:
        cols = ",\n".join(f"    {c.name} {c.type}" for c in input_columns)
        create_input = f"CREATE TABLE IF NOT EXISTS {db}.{input_table}\n(\n{cols}\n)\nENGINE = Null"
        engine, settings = "Null", {}
    storage_sql = strip_comments(render(template(name, f"{spec.storage_table}.sql"), params))
    view_sql = strip_comments(render(template(name, "from_kafka_mv.sql"), params))
    fp = fingerprint(view_sql)
    select = view_sql[view_sql.index("AS SELECT") + 3:]
    secrets = tuple(str(v) for k, v in kafka.extra_settings.items() if k in kafka.secret_settings and v)
    return DatabaseObjects(
        name=name, database=db, spec=spec, input_engine=engine, input_table=input_table,
        input_columns=input_columns, storage_columns=parse_columns(storage_sql),
        partition_by=_clause(storage_sql, "PARTITION BY"), order_by=_clause(storage_sql, "ORDER BY"),
        retention_days=retention_days, kafka_settings=settings, secret_values=secrets,
        create_database=f"CREATE DATABASE IF NOT EXISTS {db}",
        create_input=create_input, create_storage=storage_sql,
        create_view=f"{view_sql}\nCOMMENT {quote_string(fp)}",
        view_select=select, view_fingerprint=fp,
    )


def all_objects(*, prefix: str = "", input: str = "kafka", **kw) -> list[DatabaseObjects]:
    """The three databases with default settings (database names `prefix + name`)."""
    return [objects(n, database=prefix + n, input=input, **kw) for n in DATABASES]
