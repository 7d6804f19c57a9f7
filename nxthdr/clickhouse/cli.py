"""`nxthdr clickhouse`: the ClickHouse side of the platform, one subcommand each."""

from __future__ import annotations

import sys

from nxthdr.core import cli

SUBCOMMANDS = {
    "migrate": ("nxthdr.clickhouse.migrate_cli", "create or update the bmp, flows and saimiris databases (idempotent)"),
}


def main(argv: list[str] | None = None) -> int:
    return cli.dispatch("nxthdr clickhouse", SUBCOMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
