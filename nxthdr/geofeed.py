"""`nxthdr geofeed INVENTORY`: the platform's RFC 8805 geofeed, written from the inventory.

One line per prefix a host announces, located where that host is; the anycast
prefix, announced from every vantage point, has no single location and is
listed with empty location fields (RFC 8805 section 2.1.1.2 allows them).
"""

from __future__ import annotations

import argparse
import csv
import io
import ipaddress
import json
import sys
import tomllib
from pathlib import Path

import jsonschema

from nxthdr.resources import schema_path


class InventoryError(Exception):
    pass


def load_inventory(path: str | Path) -> dict:
    """The inventory, validated against schemas/inventory.schema.json."""
    try:
        with open(path, "rb") as f:
            inventory = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise InventoryError(f"{path}: {e}") from None
    schema = json.loads(schema_path("inventory.schema.json").read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(inventory), key=lambda e: list(e.path))
    if errors:
        raise InventoryError("\n".join(f"{'.'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in errors))
    return inventory


def geofeed_rows(inventory: dict) -> list[tuple[str, str, str, str, str]]:
    rows: dict[str, tuple[str, str, str, str, str]] = {}
    for name, host in sorted(inventory["hosts"].items()):
        loc = host["location"]
        for prefix in host.get("announces", []):
            net = str(ipaddress.ip_network(prefix, strict=True))
            if net in rows:
                raise InventoryError(f"{prefix} is announced by two hosts (second: {name})")
            rows[net] = (net, loc["country"], loc["region"], loc["city"], "")
    anycast = str(ipaddress.ip_network(inventory["platform"]["anycast_prefix"], strict=True))
    rows.setdefault(anycast, (anycast, "", "", "", ""))
    return [rows[k] for k in sorted(rows, key=lambda p: ipaddress.ip_network(p))]


def render(inventory: dict) -> str:
    out = io.StringIO()
    out.write(f"# RFC 8805 geofeed of AS{inventory['platform']['asn']}, generated from the inventory\n")
    csv.writer(out, lineterminator="\n").writerows(geofeed_rows(inventory))
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nxthdr geofeed",
        description="Write the platform's RFC 8805 geofeed (CSV) from the inventory to stdout.")
    parser.add_argument("inventory", help="inventory file (hosts/inventory.toml)")
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(render(load_inventory(args.inventory)))
    except InventoryError as e:
        print(f"nxthdr geofeed: invalid inventory:\n{e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
