"""Hypothesis on the two small parsers/writers of nxthdr.clickhouse: string literals
(every value that goes into the SQL) and the Kafka settings reader (engine_full)."""

from __future__ import annotations

from hypothesis import example, given, settings, strategies as st

from nxthdr.clickhouse.migrate import kafka_settings
from nxthdr.clickhouse.tables import TemplateError, parse_settings, quote_string, render

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(text)
@example("a\x85b\u2028c'\\\n\x00")  # line separators, quote, backslash, newline, NUL
@settings(max_examples=60, deadline=None)
def test_any_string_survives_the_engine_unchanged(engine, s):
    # The engine itself reads the literal back: nothing escapes, nothing is lost.
    assert engine.rows(f"SELECT {quote_string(s)} AS v")[0]["v"] == s


@given(st.dictionaries(st.from_regex(r"kafka_[a-z_]{1,12}", fullmatch=True), text, max_size=5))
def test_settings_round_trip(d):
    written = ", ".join(f"{k} = {quote_string(v)}" for k, v in d.items())
    assert parse_settings(written) == {k: quote_string(v) for k, v in d.items()}
    assert kafka_settings("Kafka SETTINGS " + written) == {k: quote_string(v) for k, v in d.items()}


@given(text)
def test_settings_reader_fails_only_with_value_error(s):
    try:
        parse_settings(s)
        kafka_settings("Kafka" + s)
    except ValueError:
        pass


@given(text)
def test_render_fails_only_with_template_error(s):
    try:
        render(s, {"topic": s, "database": s, "retention_days": 7})
    except TemplateError:
        pass
