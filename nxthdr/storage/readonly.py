"""How the store runs a query it did not write: read-only in the engine, limited, one statement.

Each user query gets its own chdb connection on the data directory, opened
with ClickHouse settings as start-up arguments: `readonly=1` (no INSERT, DDL,
ALTER, SET, SETTINGS clause, temporary table or table function: file, url, s3,
remote, executable, python ... are all refused by ClickHouse's access check)
and the time and result-size limits. Under readonly=1 ClickHouse refuses any
change of a setting, so neither `SET` nor `SETTINGS readonly=0` nor
`SETTINGS max_execution_time=0` can lift them. A fresh connection per query
also means no session state (`USE`, ...) outlives the request.

readonly=1 leaves four things to the statement's kind, which ClickHouse's own
parser gives (`formatQuerySingleLine`, the SQL passed as a bound parameter,
never spliced): `KILL QUERY` (would cancel the collectors' inserts: same user),
`SYSTEM STOP MERGES` and friends, `INTO OUTFILE` (written by chdb's client
layer, outside the access check) and the scalar `file()` function (reads any
path in an embedded engine). So the normalized text must be one statement of a
read kind, with neither of the last two. This is the engine's tokenizer, not a
regex over raw text: comments, quoting, heredocs and multi-statements are
resolved by ClickHouse before anything is checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

READ_KINDS = ("SELECT", "WITH", "SHOW", "DESCRIBE", "EXPLAIN", "EXISTS")
_FIRST = re.compile(r"[\s(]*([A-Za-z]+)")
# On the normalized text: ClickHouse prints the clause and function names bare (`file`(...) and
# "file"(...) come out as file(...)). A string literal that contains these words is refused too:
# a false refusal, never a false pass.
_OUTFILE = re.compile(r"\bINTO\s+OUTFILE\b", re.I)
_FILE_FUNCTION = re.compile(r"\bfile\s*\(", re.I)


class Refused(ValueError):
    """The query is not a read; the message says why (answered as ClickHouse's READONLY, code 164)."""


@dataclass(frozen=True)
class ReadLimits:
    """Limits ClickHouse enforces on every endpoint query (0: none, as in ClickHouse)."""

    max_execution_time: int = 60
    max_result_rows: int = 1_000_000
    max_result_bytes: int = 256 << 20

    def connection_args(self) -> str:
        # chdb passes connection-string parameters to the engine as start-up settings of this
        # connection only: the collectors' connection keeps readonly=0 and no limits.
        return (f"readonly=1&max_execution_time={self.max_execution_time}"
                f"&max_result_rows={self.max_result_rows}&max_result_bytes={self.max_result_bytes}"
                f"&result_overflow_mode=throw")


def check_normalized(text: str) -> None:
    """Refused unless the parser's normalized statement is a plain read."""
    first = _FIRST.match(text)
    kind = first.group(1).upper() if first else ""
    if kind not in READ_KINDS:
        raise Refused(f"{kind or 'this statement'} is not a read: this endpoint runs {', '.join(READ_KINDS)} only")
    if _OUTFILE.search(text):
        raise Refused("INTO OUTFILE writes a file")
    if _FILE_FUNCTION.search(text):
        raise Refused("file() reads outside the store")
