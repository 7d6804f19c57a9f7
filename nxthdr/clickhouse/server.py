"""The migration EXECUTOR: read a ClickHouse server's system tables and send a plan's
statements, through clickhouse-connect (HTTP). Every failure becomes a ServerError
whose message names the server and the cause."""

from __future__ import annotations

import logging
import re
from typing import Sequence
from urllib.parse import urlsplit

from nxthdr.clickhouse.migrate import Observed, Statement, observe_with
from nxthdr.core import logs

log = logging.getLogger("nxthdr.clickhouse")

# ClickHouse error codes worth a plain-words explanation.
_CODES = {
    192: "unknown user",
    193: "wrong password",
    194: "a password is required",
    497: "permission denied",
    516: "authentication failed (user or password)",
    81: "database does not exist",
    60: "table does not exist",
}


class ServerError(Exception):
    """The server could not be reached or refused; the message says which and why."""


def describe(url: str, exc: BaseException) -> str:
    """One line: the server, then the cause in plain words plus ClickHouse's own message."""
    text = str(exc)
    m = re.search(r"Code: (\d+)\. (DB::Exception: )?(.*?)(?: \(version [^)]*\)|$)", text, re.S)
    if m:
        code = int(m.group(1))
        detail = " ".join(m.group(3).split())[:300]
        what = _CODES.get(code, "the server refused")
        return f"ClickHouse at {url}: {what} (code {code}: {detail})"
    low = text.lower()
    if "connection refused" in low:
        cause = "connection refused (is ClickHouse running and listening there?)"
    elif "timed out" in low or "timeout" in low:
        cause = "no answer within the connect timeout"
    elif "name or service not known" in low or "nodename nor servname" in low or "name resolution" in low:
        cause = "host name does not resolve"
    elif "certificate" in low or "ssl" in low:
        cause = "TLS failure: " + " ".join(text.split())[:200]
    else:
        cause = " ".join(text.split())[:300]
    return f"ClickHouse at {url}: {cause}"


def connect(url: str, user: str, password: str, *, connect_timeout: int = 10, verify: bool = True):
    """An open clickhouse-connect client, or ServerError."""
    import clickhouse_connect

    # Their retry warnings repeat what ServerError reports once, in plain words
    # (set after the import: clickhouse-connect sets urllib3's level when imported).
    for noisy in ("urllib3", "clickhouse_connect"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    try:
        return clickhouse_connect.get_client(
            host=parts.hostname or "localhost", port=parts.port or (8443 if secure else 8123),
            username=user, password=password, secure=secure, verify=verify,
            connect_timeout=connect_timeout, send_receive_timeout=300,
            # One statement per request; CREATE/ALTER need no session.
            autogenerate_session_id=False)
    except Exception as e:  # clickhouse-connect raises its own and urllib3's errors
        raise ServerError(describe(url, e)) from e


def observe(client, url: str, databases: Sequence[str]) -> Observed:
    try:
        return observe_with(lambda sql: list(client.query(sql).named_results()), databases)
    except Exception as e:
        raise ServerError(describe(url, e)) from e


def execute(client, url: str, statements: Sequence[Statement]) -> int:
    """Send the statements in order; stop at the first failure (ServerError naming it)."""
    for i, st in enumerate(statements):
        logs.event(log, logging.INFO, "applying", reason=st.reason, statement=str(st).splitlines()[0])
        try:
            client.command(st.sql)
        except Exception as e:
            first = str(st).splitlines()[0]
            raise ServerError(f"{describe(url, e)}\n  while running statement {i + 1}/{len(statements)}: "
                              f"{first} ...") from e
    return len(statements)
