"""`nxthdr query "SQL"`: read the embedded store, from a running appliance or a data directory.

Where the SQL goes: `--url` (an appliance's query endpoint, or any ClickHouse
HTTP endpoint), else the appliance running on `--data-dir` (it writes its URL
there), else the data directory opened directly (only when no appliance holds
it: chdb is one engine per process and a data directory has one writer).
Output: `table` (aligned columns for people), `csv` (with a header line) or
`json` (an array of objects). A FORMAT clause in the SQL is passed through
untouched. Only reads run (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from nxthdr.storage.endpoint import ReadOnlyError, check_read_only

_FORMAT_CLAUSE = re.compile(r"\bFORMAT\s+[A-Za-z]+\s*;?\s*$", re.I)
_BIG_INT = re.compile(r"^U?Int(64|128|256)$")
_NUMERIC = re.compile(r"^(Nullable\()?(U?Int\d+|Float\d+|Decimal.*)\)?$")


class QueryError(Exception):
    pass


def run_http(url: str, sql: str, fmt: str, timeout: float = 300.0, user: str | None = None,
             password: str | None = None) -> bytes:
    full = url.rstrip("/") + "/?" + urllib.parse.urlencode({"default_format": fmt})
    # ClickHouse's own authentication headers (a server; the appliance's endpoint needs none).
    headers = {"X-ClickHouse-User": user, "X-ClickHouse-Key": password or ""} if user else {}
    req = urllib.request.Request(full, data=sql.encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.read()
    except urllib.error.HTTPError as e:
        raise QueryError(e.read().decode(errors="replace").strip() or f"HTTP {e.code}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise QueryError(f"cannot reach {url}: {reason}") from None


def run_local(data_dir: str, sql: str, fmt: str) -> bytes:
    from nxthdr.storage.store import DataDirBusy, Store, StoreError, StoreUnavailable

    store = Store(data_dir)
    try:
        store.open()
    except DataDirBusy as e:
        raise QueryError(f"{e}; give its query endpoint with --url") from None
    except StoreUnavailable as e:
        raise QueryError(str(e)) from None
    try:
        return store.query(sql, fmt)
    except StoreError as e:
        raise QueryError(str(e)) from None
    finally:
        store.close()


def _cell(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, dict)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def render_table(result: dict) -> str:
    names = [c["name"] for c in result["meta"]]
    right = [bool(_NUMERIC.match(c["type"])) for c in result["meta"]]
    rows = [[_cell(v) for v in r] for r in result["data"]]
    widths = [max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if ra else c.ljust(w) for c, w, ra in zip(cells, widths, right)).rstrip()

    out = [line(names), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]
    n = len(rows)
    out.append(f"({n} row{'s' if n != 1 else ''})")
    return "\n".join(out)


def render_json(result: dict) -> str:
    names = [c["name"] for c in result["meta"]]
    big = [bool(_BIG_INT.match(c["type"])) for c in result["meta"]]
    objs = [{n: (int(v) if b and isinstance(v, str) else v) for n, v, b in zip(names, r, big)}
            for r in result["data"]]
    return json.dumps(objs, indent=1)


def query(sql: str, *, url: str | None = None, data_dir: str | None = None, fmt: str = "table",
          user: str | None = None, password: str | None = None) -> str | bytes:
    """The formatted result (str), or the raw bytes when the SQL carries its own FORMAT clause."""
    check_read_only(sql)
    raw = bool(_FORMAT_CLAUSE.search(sql.strip()))
    wire = "CSVWithNames" if fmt == "csv" else "JSONCompact"
    if url is None and data_dir is not None:
        from nxthdr.storage.store import read_endpoint

        url = read_endpoint(data_dir)
    body = run_http(url, sql, wire, user=user, password=password) if url \
        else run_local(data_dir or "nxthdr-data", sql, wire)
    if raw or fmt == "csv":
        return body
    result = json.loads(body)
    return render_table(result) if fmt == "table" else render_json(result)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="nxthdr query", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sql", help="the query (use - to read it from stdin)")
    ap.add_argument("--url", default=os.environ.get("NXTHDR_QUERY_URL"),
                    help="query endpoint of a running appliance, e.g. http://127.0.0.1:8123/ "
                         "[env NXTHDR_QUERY_URL]")
    ap.add_argument("-d", "--data-dir", default=os.environ.get("NXTHDR_DATA_DIR", "nxthdr-data"),
                    help="data directory of the embedded store: its running appliance is asked, or the directory "
                         "is opened directly (default: nxthdr-data) [env NXTHDR_DATA_DIR]")
    ap.add_argument("-f", "--format", choices=("table", "csv", "json"), default="table",
                    help="output: table (aligned columns), csv (with header) or json (array of objects); "
                         "default table")
    ap.add_argument("--time", action="store_true", help="print the elapsed time on stderr")
    args = ap.parse_args(argv)
    sql = sys.stdin.read() if args.sql == "-" else args.sql
    t0 = time.monotonic()
    try:
        out = query(sql, url=args.url, data_dir=args.data_dir, fmt=args.format)
    except ReadOnlyError as e:
        print(f"nxthdr query: refused: {e}", file=sys.stderr)
        return 2
    except QueryError as e:
        print(f"nxthdr query: {e}", file=sys.stderr)
        return 1
    if isinstance(out, bytes):
        sys.stdout.buffer.write(out)
    else:
        print(out)
    if args.time:
        print(f"{time.monotonic() - t0:.3f} s", file=sys.stderr)
    return 0
