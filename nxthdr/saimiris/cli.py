"""`saimiris` (also `nxthdr saimiris`): the active-measurement programs, one subcommand each.

Each subcommand lives in its own module exposing `main(argv) -> int`; adding
one (the agent, the client) is one line in SUBCOMMANDS.
"""

from __future__ import annotations

import sys

from nxthdr.core import cli

SUBCOMMANDS = {
    "gateway": ("nxthdr.saimiris.gateway.cli", "HTTP API: users submit measurements, agents register"),
    "agent": ("nxthdr.saimiris.agent.cli", "probing agent: probes from Kafka, raw sockets, replies to Kafka"),
    "client": ("nxthdr.saimiris.client", "submit probes (CSV) through the gateway or straight to Kafka"),
}


def main(argv: list[str] | None = None) -> int:
    return cli.dispatch("saimiris", SUBCOMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
