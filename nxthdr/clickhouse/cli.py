"""`nxthdr clickhouse`: the ClickHouse side of the platform, one subcommand each."""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS = {
    "migrate": ("nxthdr.clickhouse.migrate_cli", "create or update the bmp, flows and saimiris databases (idempotent)"),
}


def usage() -> str:
    lines = ["usage: nxthdr clickhouse SUBCOMMAND [ARGS...]", "", "subcommands:"]
    for name, (_, doc) in SUBCOMMANDS.items():
        lines.append(f"  {name:<10} {doc}")
    lines += ["", "`nxthdr clickhouse SUBCOMMAND --help` documents each subcommand's flags."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    entry = SUBCOMMANDS.get(argv[0])
    if entry is None:
        print(f"nxthdr clickhouse: unknown subcommand {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    return importlib.import_module(entry[0]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
