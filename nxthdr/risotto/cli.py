"""`risotto` (also `nxthdr risotto`): the BMP collector.

Accepts every flag of the reference collector with the same defaults, so existing
unit files keep working; adds a YAML config file, environment overrides and the
`replay` subcommand.
"""

from __future__ import annotations

import argparse
import sys

from nxthdr.core import cli, config
from nxthdr.risotto.app import build

DESCRIPTION = """BMP collector: receives BGP Monitoring Protocol (RFC 7854) sessions from routers,
curates the prefixes they report and produces one Cap'n Proto `Update` per prefix
to Kafka (and/or a file).

Subcommands:
  risotto replay FILE --to HOST:PORT   stream a recorded BMP file to a collector

Every setting can come from the YAML file (--config), an environment variable
(RISOTTO_<SECTION>_<KEY>, shown with each flag) or a flag; flags win."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="risotto", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_common(p)
    config.add_arguments(p, config.options(config.load_schema("risotto"), "RISOTTO"))
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "replay":
        from nxthdr.risotto import replay

        return replay.main(argv[1:])
    return cli.run_service(parser(), argv, "risotto", "RISOTTO", build)


if __name__ == "__main__":
    sys.exit(main())
