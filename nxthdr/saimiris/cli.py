"""`saimiris` (also `nxthdr saimiris`): the active-measurement programs, one subcommand each.

Each subcommand lives in its own module exposing `main(argv) -> int`; adding
one (the agent, the client) is one line in SUBCOMMANDS.
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS = {
    "gateway": ("nxthdr.saimiris.gateway.cli", "HTTP API: users submit measurements, agents register"),
    "agent": ("nxthdr.saimiris.agent.cli", "probing agent: probes from Kafka, raw sockets, replies to Kafka"),
    "client": ("nxthdr.saimiris.client", "submit probes (CSV) through the gateway or straight to Kafka"),
}


def usage() -> str:
    lines = ["usage: saimiris SUBCOMMAND [ARGS...]", "", "subcommands:"]
    for name, (_, doc) in SUBCOMMANDS.items():
        lines.append(f"  {name:<10} {doc}")
    lines += ["", "`saimiris SUBCOMMAND --help` documents each subcommand's flags."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    entry = SUBCOMMANDS.get(argv[0])
    if entry is None:
        print(f"saimiris: unknown subcommand {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    return importlib.import_module(entry[0]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
