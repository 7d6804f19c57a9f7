"""Shared command-line conventions: config file, --check-config, -v/-q, errors on stderr."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Callable

from nxthdr.core import config, logs


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", metavar="FILE", help="YAML configuration file (flags and environment override it)")
    parser.add_argument("--check-config", action="store_true",
                        help="validate the configuration (file, environment and flags), print it, and exit")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logs (repeatable)")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="fewer logs (repeatable)")


def resolve(parser: argparse.ArgumentParser, args: argparse.Namespace, schema_name: str, env_prefix: str) -> dict:
    """The merged, validated configuration; exits with status 2 and every problem listed when invalid."""
    try:
        cfg = config.resolve(config.load_schema(schema_name), env_prefix, config_file=args.config, args=args)
    except config.ConfigError as e:
        where = f" ({args.config})" if args.config else ""
        print(f"{parser.prog}: invalid configuration{where}:", file=sys.stderr)
        for p in e.problems:
            print(f"  {p}", file=sys.stderr)
        raise SystemExit(2)
    logs.setup(args.verbose - args.quiet, cfg.get("log", {}).get("format", "text"))
    return cfg


def _hide_secrets(cfg: dict) -> dict:
    out = json.loads(json.dumps(cfg))
    for section in out.values():
        if isinstance(section, dict):
            for key in section:
                secret = "password" in key or "secret" in key or key.endswith("_key")
                if secret and not key.endswith("_file") and section[key]:
                    section[key] = "<hidden>"
    return out


def show_config(cfg: dict, shown: Callable[[dict], dict] | None = None) -> None:
    """--check-config output: the merged configuration with secrets hidden (passwords, secrets,
    keys; `shown` may hide more, e.g. credentials inside a URL)."""
    out = _hide_secrets(cfg)
    print(json.dumps(shown(out) if shown else out, indent=2))
    print("configuration OK", file=sys.stderr)


def run_service(parser: argparse.ArgumentParser, argv: list[str] | None, schema_name: str, env_prefix: str,
                build: Callable[[dict], object], *, check: Callable[[dict], list[str]] | None = None,
                shown: Callable[[dict], dict] | None = None,
                fatal: tuple[type[BaseException], ...] = (OSError,)) -> int:
    """Main of a long-running program: resolve the config, then run until SIGTERM/SIGINT.

    `check` adds the program's own checks of a schema-valid config (problems
    listed, exit 2); `fatal` are the errors at start that end the program with
    its message and exit 1 (the port taken, the database unreachable...).
    """
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    cfg = resolve(parser, args, schema_name, env_prefix)
    problems = check(cfg) if check else []
    if problems:
        print(f"{parser.prog}: invalid configuration:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    if args.check_config:
        show_config(cfg, shown)
        return 0
    try:
        asyncio.run(build(cfg).run())
    except KeyboardInterrupt:
        pass
    except config.ConfigError as e:
        print(f"{parser.prog}: " + "\n  ".join(e.problems), file=sys.stderr)
        return 2
    except fatal as e:
        print(f"{parser.prog}: {e}", file=sys.stderr)
        return 1
    return 0


def dispatch(prog: str, subcommands: dict[str, tuple[str, str]], argv: list[str] | None) -> int:
    """`prog SUBCOMMAND [ARGS...]`: run the `main(argv)` of the module registered for SUBCOMMAND.

    `subcommands` maps a name to (module, one-line description); modules are
    imported only when chosen, so `--help` stays fast and a program does not
    load another's dependencies.
    """
    import importlib

    argv = sys.argv[1:] if argv is None else argv
    lines = [f"usage: {prog} SUBCOMMAND [ARGS...]", "", "subcommands:"]
    lines += [f"  {name:<10} {doc}" for name, (_, doc) in subcommands.items()]
    lines += ["", f"`{prog} SUBCOMMAND --help` documents each subcommand's flags."]
    usage = "\n".join(lines)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage)
        return 0
    entry = subcommands.get(argv[0])
    if entry is None:
        print(f"{prog}: unknown subcommand {argv[0]!r}\n\n{usage}", file=sys.stderr)
        return 2
    return importlib.import_module(entry[0]).main(argv[1:])
