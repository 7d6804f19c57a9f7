"""`nxthdr appliance`: the platform on one machine, in one process."""

from __future__ import annotations

import argparse
import sys

from nxthdr.core import cli, config

DESCRIPTION = """The single-node platform in one command: the BMP collector (risotto, TCP),
the sFlow collector (pesto, UDP) and, by default, the embedded store (chdb in
--storage-data-dir) with a read-only ClickHouse-compatible query endpoint on
loopback (`nxthdr query` uses it). With --storage-mode kafka the collectors
produce to Kafka instead and a ClickHouse server reads the topics (its tables
come from `nxthdr clickhouse migrate`).

--consume-bmp-enable, --consume-flows-enable and --consume-saimiris-enable
read the pipelines' Kafka topics into the embedded store, one consumer group
each, as ClickHouse's Kafka tables do on a server: with the collectors off
(bmp.enable and sflow.enable false in the file or environment), the appliance
is "ClickHouse reading Kafka" on a machine without a ClickHouse server.

Every setting can come from the YAML file (--config), an environment variable
(APPLIANCE_<SECTION>_<KEY>, shown with each flag) or a flag; flags win."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nxthdr appliance", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_common(p)
    config.add_arguments(p, config.options(config.load_schema("appliance"), "APPLIANCE"))
    return p


def main(argv: list[str] | None = None) -> int:
    from nxthdr.appliance.app import build
    from nxthdr.storage.store import StoreUnavailable

    argv = sys.argv[1:] if argv is None else argv

    def checked_build(cfg: dict):
        try:
            return build(cfg)
        except ValueError as e:
            print(f"nxthdr appliance: {e}", file=sys.stderr)
            raise SystemExit(2)

    try:
        return cli.run_service(parser(), argv, "appliance", "APPLIANCE", checked_build)
    except StoreUnavailable as e:
        print(f"nxthdr appliance: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
