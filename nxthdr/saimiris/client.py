"""`saimiris client`: submit probes, read as CSV lines `dst,sport,dport,ttl,PROTO`, to agents.

Two ways: through the gateway (`--gateway URL --token T`; quota, prefixes
and progress tracked there) or straight to Kafka (`--brokers`; for operators
and testbeds: records built by the gateway's own publisher, so agents cannot
tell the difference). Either way the measurement id is printed on stdout.

`--results MID` reads a measurement's replies back from ClickHouse (a server,
or the appliance's embedded store) and prints them as a table, CSV or JSON.

Each action is one function taking the parsed arguments; a new one is a new
flag group and one more branch in `run`.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import sys
import uuid
from typing import Iterable, TextIO

from nxthdr.saimiris.probe import Probe, ProbeError, parse_probes_csv

DESCRIPTION = """Submit probes to saimiris agents and print the measurement id.

Probes are CSV lines dst,sport,dport,ttl,PROTO (PROTO: ICMP, ICMPv6 or UDP;
blank lines and lines starting with # are skipped), read from FILE or stdin.

  saimiris client --gateway https://api.example.org --token-file tok --agent vltcdg01:2a0e:97c0:8a0::10 probes.csv
  saimiris client --brokers kafka:9092 --agent agent01:192.0.2.10 < probes.csv

Reading the replies back (the measurement's agents, sources and time window come
from the gateway, or from --agent and --since without it):

  saimiris client --results MID --gateway https://api.example.org --token-file tok --clickhouse-url http://ch:8123
  saimiris client --results MID --agent agent01:192.0.2.10 --since 2026-11-21T10:00Z -d nxthdr-data -f csv"""


class ClientError(Exception):
    pass


def parse_target(text: str) -> tuple[str, str]:
    """`id:src_ip` (the address may itself contain colons)."""
    agent, sep, src = text.partition(":")
    if not sep or not agent or not src:
        raise ClientError(f"--agent {text!r}: expected AGENT_ID:SOURCE_IP")
    try:
        ip = ipaddress.ip_address(src.strip("[]"))
    except ValueError:
        raise ClientError(f"--agent {text!r}: {src!r} is not an IP address") from None
    return agent, str(ip)


def read_probes(lines: Iterable[str], name: str) -> list[Probe]:
    """Every probe, or ClientError naming the file, line and field of the first bad one."""
    try:
        probes = list(parse_probes_csv(lines))
    except ProbeError as e:
        raise ClientError(f"{name}: {e}") from None
    except UnicodeDecodeError as e:
        raise ClientError(f"{name}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not probes:
        raise ClientError(f"{name}: no probes")
    return probes


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="saimiris client", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", nargs="?", default="-", metavar="FILE",
                   help="CSV file of probes (default: stdin)")
    p.add_argument("--agent", action="append", default=[], metavar="ID:SRC_IP", required=False,
                   help="target agent and the source address it probes from (repeatable; at least one)")
    gw = p.add_argument_group("through the gateway")
    gw.add_argument("--gateway", metavar="URL", help="gateway base URL, e.g. https://saimiris.example.org")
    gw.add_argument("--token", metavar="TOKEN", help="OIDC access token (prefer --token-file)")
    gw.add_argument("--token-file", metavar="FILE", help="read the access token from this file")
    gw.add_argument("--timeout", type=float, default=60.0, metavar="S", help="HTTP timeout in seconds (default: 60)")
    kf = p.add_argument_group("straight to Kafka (no quota, no tracking)")
    kf.add_argument("--brokers", metavar="HOST:PORT[,...]", help="Kafka bootstrap brokers")
    kf.add_argument("--topic", default="saimiris-probes", help="probes topic (default: saimiris-probes)")
    kf.add_argument("--kafka-auth-protocol", default="PLAINTEXT",
                    choices=["PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL"], help="security protocol")
    kf.add_argument("--kafka-sasl-mechanism", default="SCRAM-SHA-512",
                    choices=["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"], help="SASL mechanism")
    kf.add_argument("--kafka-sasl-username", default="", help="SASL username")
    kf.add_argument("--kafka-sasl-password-file", metavar="FILE", help="read the SASL password from this file")
    kf.add_argument("--kafka-ssl-ca-file", metavar="FILE", help="CA bundle to verify the brokers")
    kf.add_argument("--message-max-bytes", type=int, default=990000,
                    help="largest record value; more probes are split into several records (default: 990000)")
    rs = p.add_argument_group("reading results back (--results)")
    rs.add_argument("--results", metavar="MID",
                    help="print the replies of measurement MID instead of submitting probes")
    rs.add_argument("--clickhouse-url", metavar="URL", default=os.environ.get("NXTHDR_QUERY_URL"),
                    help="ClickHouse HTTP endpoint: a server or an appliance's query endpoint "
                         "[env NXTHDR_QUERY_URL]")
    rs.add_argument("-d", "--data-dir", metavar="DIR", default=os.environ.get("NXTHDR_DATA_DIR"),
                    help="the embedded store's data directory (its running appliance is asked, or it is opened) "
                         "when no --clickhouse-url [env NXTHDR_DATA_DIR]")
    rs.add_argument("--clickhouse-user", metavar="USER", help="ClickHouse user (a server)")
    rs.add_argument("--clickhouse-password-file", metavar="FILE", help="read the ClickHouse password from this file")
    rs.add_argument("--database", default="saimiris", help="database holding `replies` (default: saimiris)")
    rs.add_argument("--since", metavar="TIME", help="without --gateway: replies from this time on (ISO 8601 or "
                                                     "Unix seconds; default: 24 hours ago)")
    rs.add_argument("--until", metavar="TIME", help="without --gateway: replies before this time (default: now)")
    rs.add_argument("--limit", type=int, metavar="N", help="print at most N replies")
    rs.add_argument("-f", "--format", choices=("table", "csv", "json"), default="table",
                    help="output: table (aligned columns), csv (with header) or json (array of objects)")
    return p


def _read_text(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as e:
        raise ClientError(f"{what} {path}: {e.strerror}") from None


async def submit_gateway(args, probes: list[Probe], targets: list[tuple[str, str]]) -> dict:
    import aiohttp

    token = args.token or (_read_text(args.token_file, "--token-file") if args.token_file else None)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"metadata": [{"id": a, "ip_address": s} for a, s in targets],
            "probes": [[str(p.dst_ip), p.src_port, p.dst_port, p.ttl, p.protocol] for p in probes]}
    url = args.gateway.rstrip("/") + "/api/probes"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=args.timeout)) as session:
            async with session.post(url, json=body, headers=headers) as resp:
                try:
                    doc = await resp.json(content_type=None)
                except Exception:
                    doc = None
                if resp.status != 200:
                    message = doc.get("error") if isinstance(doc, dict) else None
                    raise ClientError(f"gateway refused the probes: HTTP {resp.status}: {message or resp.reason}")
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
        raise ClientError(f"cannot reach the gateway at {url}: {e or type(e).__name__}") from None
    if not isinstance(doc, dict) or "id" not in doc:
        raise ClientError(f"unexpected gateway answer: {doc!r:.200}")
    return doc


async def submit_kafka(args, probes: list[Probe], targets: list[tuple[str, str]]) -> dict:
    from nxthdr.core.kafka import KafkaSettings
    from nxthdr.core.metrics import Metrics
    from nxthdr.saimiris.gateway.publisher import BrokerError, ProbePublisher

    password = _read_text(args.kafka_sasl_password_file, "--kafka-sasl-password-file") \
        if args.kafka_sasl_password_file else ""
    settings = KafkaSettings(brokers=args.brokers, topic=args.topic, auth_protocol=args.kafka_auth_protocol,
                             sasl_username=args.kafka_sasl_username, sasl_password=password,
                             sasl_mechanism=args.kafka_sasl_mechanism, ssl_cafile=args.kafka_ssl_ca_file,
                             message_max_bytes=args.message_max_bytes)
    publisher = ProbePublisher(settings, Metrics("saimiris_client"), timeout_s=args.timeout)
    mid = str(uuid.uuid4())
    await publisher.start()
    try:
        if not await publisher.wait_connected(args.timeout):
            raise ClientError(f"cannot connect to Kafka at {args.brokers}")
        records = await publisher.publish_measurement(mid, probes, targets)
    except BrokerError as e:
        raise ClientError(str(e)) from None
    finally:
        await publisher.stop()
    return {"id": mid, "probes": len(probes) * len(targets), "records": records,
            "agents": [{"id": a, "ip_address": s} for a, s in targets]}


async def gateway_status(args, mid: str) -> dict:
    import aiohttp

    token = args.token or (_read_text(args.token_file, "--token-file") if args.token_file else None)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = args.gateway.rstrip("/") + f"/api/measurement/{mid}/status"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=args.timeout)) as session:
            async with session.get(url, headers=headers) as resp:
                try:
                    doc = await resp.json(content_type=None)
                except Exception:
                    doc = None
                if resp.status != 200:
                    message = doc.get("error") if isinstance(doc, dict) else None
                    raise ClientError(f"gateway: measurement {mid}: HTTP {resp.status}: {message or resp.reason}")
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
        raise ClientError(f"cannot reach the gateway at {url}: {e or type(e).__name__}") from None
    return doc


def results(args) -> str | bytes:
    """The replies of measurement `args.results`, formatted."""
    import datetime as dt

    from nxthdr.saimiris import results as res
    from nxthdr.storage.endpoint import ReadOnlyError
    from nxthdr.storage.query import QueryError, query

    if args.brokers:
        raise ClientError("--results reads ClickHouse, not Kafka: drop --brokers")
    if args.clickhouse_url is None and args.data_dir is None:
        raise ClientError("--results: give --clickhouse-url URL (a ClickHouse server or an appliance) "
                          "or --data-dir DIR (an embedded store)")
    try:
        if args.gateway:
            sel = res.from_status(asyncio.run(gateway_status(args, args.results)))
        else:
            if not args.agent:
                raise ClientError("--results without --gateway: --agent ID:SRC_IP names the agents and sources")
            now = dt.datetime.now(dt.timezone.utc)
            since = res.parse_time(args.since) if args.since else now - dt.timedelta(days=1)
            until = res.parse_time(args.until) if args.until else None
            sel = res.Selection(tuple(parse_target(t) for t in args.agent), since, until)
        sql = res.sql(sel, args.database, args.limit)
    except ValueError as e:
        raise ClientError(f"--results {args.results}: {e}") from None
    password = _read_text(args.clickhouse_password_file, "--clickhouse-password-file") \
        if args.clickhouse_password_file else None
    try:
        return query(sql, url=args.clickhouse_url, data_dir=args.data_dir, fmt=args.format,
                     user=args.clickhouse_user, password=password)
    except (QueryError, ReadOnlyError) as e:
        raise ClientError(f"cannot read the replies: {e}") from None


def run(args, stdin: TextIO) -> dict:
    if bool(args.gateway) == bool(args.brokers):
        raise ClientError("give exactly one of --gateway URL and --brokers HOST:PORT")
    if not args.agent:
        raise ClientError("--agent ID:SRC_IP: at least one target agent")
    targets = [parse_target(t) for t in args.agent]
    if args.file == "-":
        probes = read_probes(stdin, "stdin")
    else:
        try:
            with open(args.file, encoding="utf-8") as f:
                probes = read_probes(f, args.file)
        except OSError as e:
            raise ClientError(f"{args.file}: {e.strerror}") from None
    if args.gateway:
        return asyncio.run(submit_gateway(args, probes, targets))
    return asyncio.run(submit_kafka(args, probes, targets))


def main(argv: list[str] | None = None, stdin: TextIO | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.results:
            out = results(args)
            if isinstance(out, bytes):
                sys.stdout.buffer.write(out)
            else:
                print(out)
            return 0
        result = run(args, stdin or sys.stdin)
    except ClientError as e:
        print(f"saimiris client: {e}", file=sys.stderr)
        return 2 if "HTTP" not in str(e) and "cannot" not in str(e) else 1
    print(result["id"])
    print(json.dumps(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
