"""`nxthdr clickhouse migrate`: bring a ClickHouse server to the tables of this version.

Reads the server's system tables, plans (nxthdr.clickhouse.migrate) and sends only
what differs. Exit status: 0 done or already up to date, 1 the server could not be
reached or refused a statement, 2 invalid configuration, 3 drift that needs a
manual migration (nothing was changed).
"""

from __future__ import annotations

import argparse
import filecmp
import logging
import shutil
import sys
from pathlib import Path

from nxthdr.clickhouse import config as chconfig
from nxthdr.clickhouse import migrate, server
from nxthdr.clickhouse.tables import SPECS
from nxthdr.core import cli, config, logs
from nxthdr.resources import schema_path

log = logging.getLogger("nxthdr.clickhouse")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nxthdr clickhouse migrate",
        description="Create or update the ClickHouse databases bmp, flows and saimiris: Kafka tables, "
                    "MergeTree storage tables and materialized views. Idempotent: only what differs is "
                    "changed, and stored data is never dropped.",
        epilog="Exit status: 0 up to date, 1 server unreachable or refusing, 2 invalid configuration, "
               "3 drift needing a manual migration (nothing changed).")
    cli.add_common(p)
    p.add_argument("--dry-run", action="store_true",
                   help="print the statements that would be sent (secrets masked) and change nothing; "
                        "without a reachable server, print the statements of a fresh install")
    p.add_argument("--install-schemas", metavar="DIR",
                   help="first copy the Cap'n Proto schemas (update.capnp, sflow.capnp, reply.capnp) into DIR, "
                        "ClickHouse's format_schema_path (e.g. /var/lib/clickhouse/format_schemas)")
    config.add_arguments(p, config.options(config.load_schema(chconfig.SCHEMA_NAME), chconfig.ENV_PREFIX))
    return p


def install_schemas(directory: str, dry_run: bool) -> int:
    """Copy the shipped .capnp files; files already identical are left alone."""
    dest = Path(directory)
    copied = 0
    for spec in SPECS.values():
        src = schema_path(spec.capnp_file)
        target = dest / spec.capnp_file
        if target.is_file() and filecmp.cmp(src, target, shallow=False):
            continue
        copied += 1
        if dry_run:
            print(f"-- would copy {src.name} to {target}")
            continue
        dest.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        shutil.copyfile(src, tmp)
        tmp.chmod(0o644)  # ClickHouse runs as its own user
        tmp.replace(target)
        logs.event(log, logging.INFO, "schema installed", file=str(target))
    return copied


def print_plan(p: migrate.Plan) -> None:
    for st in p.statements:
        print(f"-- {st.reason}\n{st};\n")
    for n in p.notes:
        print(f"-- note: {n}")
    for pr in p.problems:
        print(f"-- PROBLEM: {pr}")


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    cfg = cli.resolve(ap, args, chconfig.SCHEMA_NAME, chconfig.ENV_PREFIX)
    if args.check_config:
        cli.show_config(cfg)
        return 0
    try:
        wanted = chconfig.wanted(cfg)
        password = chconfig.password(cfg)
    except config.ConfigError as e:
        print(f"{ap.prog}: invalid configuration:", file=sys.stderr)
        for pr in e.problems:
            print(f"  {pr}", file=sys.stderr)
        return 2
    if args.install_schemas:
        try:
            install_schemas(args.install_schemas, args.dry_run)
        except OSError as e:
            print(f"{ap.prog}: cannot install the schemas into {args.install_schemas}: {e.strerror or e}",
                  file=sys.stderr)
            return 1
    ch = cfg["clickhouse"]
    url = ch["url"].rstrip("/")
    try:
        client = server.connect(url, ch["user"], password, connect_timeout=ch["connect_timeout"],
                                verify=ch["verify"])
        observed = server.observe(client, url, [w.database for w in wanted])
    except server.ServerError as e:
        if args.dry_run:
            # Still useful offline: what a fresh server would receive.
            print(f"-- {e}\n-- statements for a fresh server:\n")
            print_plan(migrate.plan(wanted, migrate.Observed(frozenset(), {})))
            return 1
        print(f"{ap.prog}: {e}", file=sys.stderr)
        return 1
    plan = migrate.plan(wanted, observed)
    if args.dry_run:
        print_plan(plan)
        if plan.up_to_date:
            print(f"-- {url}: up to date, nothing to do")
        return 3 if plan.problems else 0
    for n in plan.notes:
        logs.event(log, logging.WARNING, n)
    if plan.problems:
        for pr in plan.problems:
            print(f"{ap.prog}: {pr}", file=sys.stderr)
        print(f"{ap.prog}: nothing changed on {url}: resolve the problems above first", file=sys.stderr)
        return 3
    try:
        n = server.execute(client, url, plan.statements)
    except server.ServerError as e:
        print(f"{ap.prog}: {e}", file=sys.stderr)
        return 1
    finally:
        client.close()
    logs.event(log, logging.INFO, "up to date" if n == 0 else "migrated", server=url, statements=n,
               databases=",".join(w.database for w in wanted))
    return 0


if __name__ == "__main__":
    sys.exit(main())
