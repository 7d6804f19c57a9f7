"""`saimiris gateway`: the measurement API."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from nxthdr.core import cli, config
from nxthdr.saimiris.gateway.db import DatabaseError, redact

SCHEMA = "saimiris-gateway"
ENV_PREFIX = "SAIMIRIS_GATEWAY"

DESCRIPTION = """Measurement gateway: users submit probes (OIDC bearer tokens), the gateway checks
them (IPv6 only, source inside the user's prefix, daily limit counted as probes x
agents) and publishes them to Kafka for the agents; agents register, report their
configuration, health and progress (shared agent key + their own X-Agent-Secret).

API on gateway.address (OpenAPI at /openapi.json); Prometheus /metrics and /health
on metrics.address. State in SQLite (default) or PostgreSQL, migrated at start.

Every setting can come from the YAML file (--config), an environment variable
(SAIMIRIS_GATEWAY_<SECTION>_<KEY>, shown with each flag) or a flag; flags win."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="saimiris gateway", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_common(p)
    config.add_arguments(p, config.options(config.load_schema(SCHEMA), ENV_PREFIX))
    return p


def shown(cfg: dict) -> dict:
    out = json.loads(json.dumps(cfg))
    if out["kafka"].get("auth_sasl_password"):
        out["kafka"]["auth_sasl_password"] = "<hidden>"
    if out["auth"].get("agent_key"):
        out["auth"]["agent_key"] = "<hidden>"
    out["database"]["url"] = redact(out["database"]["url"])
    return out


def main(argv: list[str] | None = None) -> int:
    from nxthdr.saimiris.gateway.app import build, check

    p = parser()
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    cfg = cli.resolve(p, args, SCHEMA, ENV_PREFIX)
    problems = check(cfg)
    if problems:
        print(f"{p.prog}: invalid configuration:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    if args.check_config:
        print(json.dumps(shown(cfg), indent=2))
        print("configuration OK", file=sys.stderr)
        return 0
    try:
        gateway = build(cfg)
        asyncio.run(gateway.run())
    except KeyboardInterrupt:
        pass
    except config.ConfigError as e:
        print(f"{p.prog}: " + "\n  ".join(e.problems), file=sys.stderr)
        return 2
    except (OSError, DatabaseError) as e:
        print(f"{p.prog}: {e}", file=sys.stderr)
        return 1
    return 0
