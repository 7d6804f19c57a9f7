"""Program configurations for tests: schema defaults, loopback ports, overrides, validated."""

from __future__ import annotations

from nxthdr.core import config


def program_config(schema: str, base: dict, over: dict) -> dict:
    """Defaults of `schema`, then `base` (section -> {key: value} or top-level value), then
    `over` given as `section__key=value` (or `key=value` for a top-level setting)."""
    cfg = config.defaults(config.load_schema(schema))
    for section, values in base.items():
        if isinstance(values, dict):
            cfg[section].update(values)
        else:
            cfg[section] = values
    for k, v in over.items():
        section, _, key = k.partition("__")
        if key:
            cfg[section][key] = v
        else:
            cfg[section] = v
    config.validate(config.load_schema(schema), cfg)
    return cfg
