"""`nxthdr geofeed`: the RFC 8805 geofeed written from the inventory."""

from __future__ import annotations

import csv
import io
import ipaddress
import subprocess
import sys
import tomllib

import pytest

from nxthdr import geofeed
from tests.nix.nixeval import ROOT

INVENTORY = ROOT / "hosts" / "inventory.toml"


def _inventory() -> dict:
    return geofeed.load_inventory(INVENTORY)


def test_rows_follow_rfc8805():
    text = geofeed.render(_inventory())
    rows = [r for r in csv.reader(io.StringIO(text)) if r and not r[0].startswith("#")]
    assert rows
    for prefix, country, region, city, postal in rows:
        ipaddress.ip_network(prefix, strict=True)
        assert country == "" or (len(country) == 2 and country.isupper())
        assert region == "" or region.startswith(country + "-")
        assert postal == ""  # RFC 8805 deprecates postal codes


def test_every_announced_prefix_is_located_where_its_host_is():
    inv = _inventory()
    rows = {r[0]: r for r in geofeed.geofeed_rows(inv)}
    for host in inv["hosts"].values():
        for prefix in host.get("announces", []):
            assert rows[prefix][1:4] == (host["location"]["country"], host["location"]["region"],
                                         host["location"]["city"])
    # The anycast prefix is everywhere: no location.
    assert rows[inv["platform"]["anycast_prefix"]][1:] == ("", "", "", "")


def test_cli_writes_the_feed():
    res = subprocess.run([sys.executable, "-m", "nxthdr", "geofeed", str(INVENTORY)], capture_output=True,
                         text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert res.stdout == geofeed.render(_inventory())


def test_invalid_inventory_is_refused_with_the_key(tmp_path):
    inv = tomllib.loads(INVENTORY.read_text())
    text = INVENTORY.read_text().replace('country = "FR"', 'country = "France"')
    bad = tmp_path / "inventory.toml"
    bad.write_text(text)
    res = subprocess.run([sys.executable, "-m", "nxthdr", "geofeed", str(bad)], capture_output=True, text=True,
                         cwd=ROOT)
    assert res.returncode == 2
    assert "hosts.vltcdg01.location.country" in res.stderr
    assert inv  # the original parses


def test_a_prefix_announced_twice_is_refused():
    inv = _inventory()
    inv["hosts"]["vltewr01"]["announces"] = list(inv["hosts"]["vltcdg01"]["announces"])
    with pytest.raises(geofeed.InventoryError, match="announced by two hosts"):
        geofeed.geofeed_rows(inv)
