"""`saimiris agent` (also `nxthdr saimiris agent`): the probing agent."""

from __future__ import annotations

import argparse
import json
import sys

from nxthdr.core import cli, config
from nxthdr.saimiris.agent.config import ENV_PREFIX, SCHEMA

DESCRIPTION = """Probing agent: reads probes from Kafka (its own consumer group; only records
carrying a header whose key is agent.id), sends them from raw sockets at each
instance's rate, captures the ICMP replies (AF_PACKET, kernel timestamps) and
produces Reply records to Kafka. Reports to the gateway when gateway.url is set.

Needs CAP_NET_RAW (raw sockets and packet capture), nothing else.

The prober instances (`caracat:` list) come from the YAML file (--config);
every other setting can also come from an environment variable
(SAIMIRIS_AGENT_<SECTION>_<KEY>, shown with each flag) or a flag; flags win."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="saimiris agent", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_common(p)
    config.add_arguments(p, config.options(config.load_schema(SCHEMA), ENV_PREFIX))
    return p


def shown(cfg: dict) -> dict:
    out = json.loads(json.dumps(cfg))
    for section, key in (("kafka", "auth_sasl_password"), ("gateway", "agent_key"), ("gateway", "agent_secret")):
        if out[section].get(key):
            out[section][key] = "<hidden>"
    return out


def main(argv: list[str] | None = None) -> int:
    from nxthdr.saimiris.agent import config as agent_config

    p = parser()
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    cfg = cli.resolve(p, args, SCHEMA, ENV_PREFIX)
    problems = agent_config.check(cfg)
    if problems:
        print(f"{p.prog}: invalid configuration:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    if args.check_config:
        print(json.dumps(shown(cfg), indent=2))
        print("configuration OK", file=sys.stderr)
        return 0
    import asyncio

    from nxthdr.saimiris.agent.app import build

    try:
        agent = build(cfg)
        asyncio.run(agent.run())
    except KeyboardInterrupt:
        pass
    except config.ConfigError as e:
        print(f"{p.prog}: " + "\n  ".join(e.problems), file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{p.prog}: {e}", file=sys.stderr)
        return 1
    return 0
