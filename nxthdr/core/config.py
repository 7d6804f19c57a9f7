"""Layered configuration: schema defaults < YAML file < environment < command-line flags.

Each program describes its settings once, in a JSON schema shipped in
`schemas/<program>.config.schema.json`. From that schema come the defaults, the
validation (errors name the key and the reason), the command-line flags
(`kafka.auth_sasl_username` is `--kafka-auth-sasl-username`, exactly the
reference collectors' flags) and the environment overrides
(`RISOTTO_KAFKA_AUTH_SASL_USERNAME`). A flag or variable can also be declared
explicitly with `x-flag` / `x-env` where the derived name would differ.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import jsonschema
import yaml

from nxthdr.resources import schema_path


class ConfigError(Exception):
    """The configuration is invalid; the message lists every problem, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Option:
    path: tuple[str, ...]
    type: str  # string, integer, number, boolean, array
    default: Any
    description: str
    flag: str
    env: str
    enum: tuple | None = None
    short: str | None = None


@functools.cache
def load_schema(name: str) -> dict:
    with open(schema_path(f"{name}.config.schema.json"), encoding="utf-8") as f:
        return json.load(f)


def options(schema: Mapping, env_prefix: str) -> list[Option]:
    """Every leaf setting of a schema (objects are walked, arrays of objects are leaves)."""
    out: list[Option] = []

    def walk(node: Mapping, path: tuple[str, ...]) -> None:
        for key, prop in node.get("properties", {}).items():
            p = path + (key,)
            if prop.get("type") == "object" and "properties" in prop:
                walk(prop, p)
                continue
            if prop.get("x-no-flag"):
                continue
            flag = prop.get("x-flag", "--" + "-".join(p).replace("_", "-"))
            env = prop.get("x-env", (env_prefix + "_" + "_".join(p)).upper())
            typ = prop.get("type", "string")
            if isinstance(typ, list):
                typ = next(t for t in typ if t != "null")
            out.append(Option(p, typ, prop.get("default"), prop.get("description", ""), flag, env,
                              tuple(prop["enum"]) if "enum" in prop else None, prop.get("x-short")))

    walk(schema, ())
    return out


def defaults(schema: Mapping) -> dict:
    """Nested dict of the schema's defaults."""
    out: dict = {}
    for key, prop in schema.get("properties", {}).items():
        if prop.get("type") == "object" and "properties" in prop:
            out[key] = defaults(prop)
        elif "default" in prop:
            out[key] = copy.deepcopy(prop["default"])
    return out


def add_arguments(parser: argparse.ArgumentParser, opts: list[Option]) -> None:
    """One flag per option; values stay unset unless given, so the layers below show through."""
    for o in opts:
        help_text = o.description
        if o.default not in (None, "", [], False):
            help_text += f" (default: {_show(o.default)})"
        help_text += f" [env {o.env}]"
        names = [o.flag] + ([o.short] if o.short else [])
        dest = "cfg__" + "__".join(o.path)
        if o.type == "boolean":
            parser.add_argument(*names, dest=dest, action="store_true", default=argparse.SUPPRESS, help=help_text)
        else:
            parser.add_argument(*names, dest=dest, metavar=o.path[-1].upper(), default=argparse.SUPPRESS,
                                choices=list(o.enum) if o.enum else None, help=help_text.replace("%", "%%"))


def _show(v: Any) -> str:
    if isinstance(v, list):
        return ",".join(map(str, v))
    if isinstance(v, bool):
        return str(v).lower()
    return str(v)


def _coerce(o: Option, raw: str, origin: str) -> Any:
    """Text from a flag or environment variable to the option's type."""
    try:
        if o.type == "integer":
            return int(raw, 0)
        if o.type == "number":
            return float(raw)
        if o.type == "boolean":
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if o.type == "array":
            return [x.strip() for x in raw.split(",") if x.strip()]
        return raw
    except ValueError:
        raise ConfigError([f"{'.'.join(o.path)}: {origin} value {raw!r} is not a valid {o.type}"]) from None


def _set(tree: dict, path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


def _merge(base: dict, over: Mapping) -> dict:
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = copy.deepcopy(v)
    return base


def read_file(path: str | os.PathLike) -> dict:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([f"{p}: cannot read configuration file: {e.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError([f"{p}: not valid YAML: {e}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{p}: the configuration must be a mapping of settings, not {type(data).__name__}"])
    return data


def validate(schema: Mapping, config: Mapping) -> None:
    """Raise ConfigError naming each offending key and the reason."""
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for err in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        msg = err.message
        if err.validator == "additionalProperties":
            node = schema
            for part in err.absolute_path:
                node = node.get("properties", {}).get(part, {}) if isinstance(part, str) else node.get("items", {})
            known = list(node.get("properties", {}))
            extra = [k for k in err.instance if k not in known] if isinstance(err.instance, dict) else []
            for k in extra:
                hint = difflib.get_close_matches(k, known, n=1)
                key = f"{where}.{k}" if where != "(top level)" else k
                problems.append(f"{key}: unknown setting" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
            continue
        problems.append(f"{where}: {msg}")
    if problems:
        raise ConfigError(problems)


def resolve(schema: Mapping, env_prefix: str, *, config_file: str | os.PathLike | None = None,
            env: Mapping[str, str] | None = None, args: argparse.Namespace | None = None) -> dict:
    """Merge the layers and validate the result."""
    opts = options(schema, env_prefix)
    merged = defaults(schema)
    if config_file:
        _merge(merged, read_file(config_file))
    env = os.environ if env is None else env
    for o in opts:
        if o.env in env:
            _set(merged, o.path, _coerce(o, env[o.env], f"environment variable {o.env}"))
    if args is not None:
        for o in opts:
            dest = "cfg__" + "__".join(o.path)
            if hasattr(args, dest):
                v = getattr(args, dest)
                _set(merged, o.path, v if o.type == "boolean" else _coerce(o, v, f"flag {o.flag}"))
    validate(schema, merged)
    return merged


def parse_address(text: str, default_host: str = "0.0.0.0") -> tuple[str, int]:
    """`host:port`, `[v6]:port` or `:port` to (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"address {text!r}: expected [host]:port")
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            raise ValueError(f"address {text!r}: expected host:port")
        if ":" in host:
            raise ValueError(f"address {text!r}: put IPv6 addresses in brackets, [host]:port")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"address {text!r}: port must be 0..65535")
    return (host or default_host), int(port)


def read_secret(value: str | None, file: str | None, what: str) -> str | None:
    """A secret given inline or, preferably, as a file path (systemd credentials, sops, agenix)."""
    if file:
        try:
            return Path(file).read_text(encoding="utf-8").rstrip("\n")
        except OSError as e:
            raise ConfigError([f"{what}_file: cannot read {file}: {e.strerror}"]) from None
    return value
