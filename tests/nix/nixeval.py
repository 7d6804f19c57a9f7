"""Evaluate the project's Nix modules with the Nix library (nixpkgs.lib) and nix-instantiate.

The library is found through NXTHDR_NIXPKGS_LIB (a checked-out `lib/` tree of
nix-community/nixpkgs.lib) or `.cache/nixpkgs.lib/lib`, where `.ci/install`
clones it when github.com is reachable. The library comes from no package
registry, so when it is absent the tests that need it are skipped, in CI too,
with a reason saying so (`pytest -rs` lists it); a missing nix-instantiate
fails them in CI like any other missing tool.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "tests" / "nix" / "eval.nix"


def lib_path() -> Path:
    env = os.environ.get("NXTHDR_NIXPKGS_LIB")
    path = Path(env) if env else ROOT / ".cache" / "nixpkgs.lib" / "lib"
    if not (path / "default.nix").is_file():
        pytest.skip(f"Nix library (nix-community/nixpkgs.lib) not found at {path}: module evaluation "
                    "not run; set NXTHDR_NIXPKGS_LIB to a checkout of its lib/ or let .ci/install clone it")
    return path


def nix_instantiate() -> str:
    exe = shutil.which("nix-instantiate")
    require(exe is not None, "nix-instantiate not installed (Debian nix-bin; run .ci/install)")
    return exe


def nix_eval_json(expr_file: Path, **args: str) -> object:
    cmd = [nix_instantiate(), "--eval", "--strict", "--json", str(expr_file)]
    for name, value in args.items():
        cmd += ["--arg", name, value]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        raise AssertionError(f"nix evaluation failed:\n{res.stderr[-4000:]}")
    return json.loads(res.stdout)


def evaluate(modules: str, host: str = "test") -> dict:
    """Our service modules plus `modules` (a Nix list expression), with the stubs."""
    return nix_eval_json(EVAL, libPath=str(lib_path()), modules=modules, hostName=json.dumps(host))


_STORE_BIN = re.compile(r"/nix/store/[0-9a-f]{32}-nxthdr/bin/(\w+)")


def local_command(line: str, files: dict[str, Path]) -> list[str]:
    """An ExecStart or check line with the package's programs replaced by this checkout's
    (`python -m nxthdr <program>`) and rendered store files by their local copies."""
    for store, local in files.items():
        line = line.replace(store, str(local))
    argv = line.split()
    out: list[str] = []
    for tok in argv:
        m = _STORE_BIN.fullmatch(tok)
        if m:
            prog = m.group(1)
            out += [sys.executable, "-m", "nxthdr"] + ([] if prog == "nxthdr" else [prog])
        else:
            out.append(tok)
    return out


def run_local(argv: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, cwd=cwd)


def program_help(program: list[str]) -> str:
    res = run_local([sys.executable, "-m", "nxthdr", *program, "--help"])
    assert res.returncode == 0, res.stderr
    return res.stdout
