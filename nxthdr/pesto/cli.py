"""`pesto` (also `nxthdr pesto`): the sFlow collector.

Accepts every flag of the reference collector with the same defaults, so existing
unit files keep working; adds a YAML config file and environment overrides.
"""

from __future__ import annotations

import argparse
import sys

from nxthdr.core import cli, config
from nxthdr.pesto.app import build

DESCRIPTION = """sFlow collector: receives sFlow v5 datagrams over UDP, decodes their flow
samples and produces one Cap'n Proto `SFlowFlowRecord` per IP-carrying sample
to Kafka (and/or a file). Counter samples are counted, not exported.

Every setting can come from the YAML file (--config), an environment variable
(PESTO_<SECTION>_<KEY>, shown with each flag) or a flag; flags win."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pesto", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_common(p)
    config.add_arguments(p, config.options(config.load_schema("pesto"), "PESTO"))
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return cli.run_service(parser(), argv, "pesto", "PESTO", build)


if __name__ == "__main__":
    sys.exit(main())
