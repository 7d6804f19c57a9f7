"""Every Nix file of the repository parses (nix-instantiate --parse)."""

from __future__ import annotations

import subprocess

import pytest

from tests.nix.nixeval import ROOT, nix_instantiate

NIX_FILES = sorted(p for p in ROOT.rglob("*.nix") if ".cache" not in p.parts and ".git" not in p.parts)


def test_there_are_nix_files():
    assert len(NIX_FILES) > 20


@pytest.mark.parametrize("path", NIX_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_parses(path):
    res = subprocess.run([nix_instantiate(), "--parse", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_a_syntax_error_is_caught(tmp_path):
    bad = tmp_path / "bad.nix"
    bad.write_text("{ a = 1; b = ; }")
    res = subprocess.run([nix_instantiate(), "--parse", str(bad)], capture_output=True, text=True)
    assert res.returncode != 0


def test_no_machine_paths_in_nix_files():
    for path in NIX_FILES:
        text = path.read_text()
        assert "/work/" not in text and "/tmp/" not in text, path
