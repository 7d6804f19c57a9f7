"""`nxthdr`: one entry point for every program of the platform."""

from __future__ import annotations

import sys

COMMANDS = {
    "demo": ("nxthdr.demo", "the appliance on real router and sFlow recordings, with summaries from the store"),
    "appliance": ("nxthdr.appliance.cli",
                  "the single-node platform: BMP and sFlow collectors, embedded store, query endpoint"),
    "query": ("nxthdr.storage.query", "run SQL on the embedded store (a running appliance, or a data directory)"),
    "risotto": ("nxthdr.risotto.cli", "BMP collector (also the `risotto` command)"),
    "pesto": ("nxthdr.pesto.cli", "sFlow collector (also the `pesto` command)"),
    "clickhouse": ("nxthdr.clickhouse.cli", "ClickHouse tables: `clickhouse migrate` creates or updates them"),
    "geofeed": ("nxthdr.geofeed", "write the RFC 8805 geofeed from the inventory (hosts/inventory.toml)"),
    "saimiris": ("nxthdr.saimiris.cli", "active measurements: `saimiris gateway|agent|client` (also the `saimiris` command)"),
}


def usage() -> str:
    lines = ["usage: nxthdr COMMAND [ARGS...]", "", "commands:"]
    for name, (_, doc) in COMMANDS.items():
        lines.append(f"  {name:<12} {doc}")
    lines.append("")
    lines.append("`nxthdr COMMAND --help` documents each command's flags.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        from nxthdr import __version__

        print(__version__)
        return 0
    entry = COMMANDS.get(argv[0])
    if entry is None:
        print(f"nxthdr: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    import importlib

    module = importlib.import_module(entry[0])
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
