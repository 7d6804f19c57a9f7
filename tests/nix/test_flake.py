"""Flake-level contracts that can be checked without Nix's flake evaluator."""

from __future__ import annotations

import re

from tests.nix.nixeval import ROOT

FLAKE = (ROOT / "flake.nix").read_text()


def test_default_module_and_vm_tests_never_set_nixpkgs_options():
    # runNixOSTest sets node.pkgs: every nixpkgs.* option is read-only in test
    # nodes and nixpkgs.overlays is types.unique (nixpkgs
    # nixos/lib/testing/nodes.nix, nixos/modules/misc/nixpkgs/read-only.nix).
    assert re.search(r"^\s*default = \./modules;", FLAKE, re.M), "nixosModules.default must be ./modules alone"
    for path in [*(ROOT / "modules").rglob("*.nix"), *(ROOT / "nix" / "tests").rglob("*.nix")]:
        assert not re.search(r"\bnixpkgs\.(overlays|config|pkgs)\b", path.read_text()), path


def test_no_nixfmt_check_in_checks():
    # nixfmt never ran over this tree: a check that fails for every user is not kept.
    assert "nixfmt --check" not in FLAKE
    assert "formatter = forAllSystems (pkgs: pkgs.nixfmt-tree);" in FLAKE


def test_demo_app_only_where_chdb_exists():
    # nix/chdb-core.nix installs an x86_64 wheel only.
    assert 'apps = lib.genAttrs [ "x86_64-linux" ]' in FLAKE


def test_core_observability_gives_caddy_real_hashes_and_waits_for_it():
    nix = (ROOT / "nix" / "tests" / "core-observability.nix").read_text()
    assert 'caddy-env = "";' not in nix and "$2b$10$" in nix
    script = (ROOT / "tests" / "scenarios" / "vm" / "core_observability.py").read_text()
    for unit in ("caddy.service", "headscale.service", "nxthdr-kafka-setup.service", "nxthdr-clickhouse-migrate.service"):
        assert f'"{unit}"' in script


def _vm_node(extra: str = "[ ]") -> object:
    from tests.nix.nixeval import lib_path, nix_eval_json
    return nix_eval_json(ROOT / "tests" / "nix" / "vmnode.nix", libPath=str(lib_path()), extra=extra)


def test_vm_test_node_evaluates_with_the_default_module():
    out = _vm_node("[ { services.nxthdr.risotto.enable = true; } ]")
    assert out["overlays"] == 0 and "risotto" in out["units"]


def test_vm_test_node_refuses_a_module_setting_nixpkgs_overlays():
    # What the flake's default module did before (issue 12, defect 1).
    import pytest
    with pytest.raises(AssertionError, match="nixpkgs.overlays is set to read-only"):
        _vm_node("[ { nixpkgs.overlays = [ (final: prev: { }) ]; } ]")
