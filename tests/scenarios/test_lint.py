"""The scenarios and the VM test scripts, checked the way the NixOS test driver
checks a testScript: pyflakes with the driver's globals and node names as
builtins, and mypy with every node typed as the driver's Machine (stub in
stubs/test_driver). The scenario modules themselves get mypy against the
typed Machine interface, and both machine kinds must satisfy it.

pyflakes and mypy are the driver's own tools (test extras, .ci/install).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
VM_SCRIPTS = sorted((HERE / "vm").glob("*.py"))
SCENARIO_MODULES = sorted(p for p in HERE.glob("*.py") if not p.name.startswith("test_"))
# Globals the driver defines for every testScript, besides one Machine per node.
DRIVER_GLOBALS = ("start_all", "test_script", "machines", "vlans", "driver", "log", "os", "create_machine",
                  "subtest", "run_tests", "join_all", "retry", "serial_stdout_off", "serial_stdout_on",
                  "polling_condition", "Machine", "t", "dump_machine_ssh")
# Header the driver puts before the script for mypy (its machine and helper types).
DRIVER_HEADER = """\
from typing import Callable, Iterator, ContextManager, Optional, List, Dict, Any, Union
from test_driver.machine import Machine
start_all: Callable[[], None]
subtest: Callable[[str], ContextManager[None]]
retry: Callable[..., None]
join_all: Callable[[], None]
serial_stdout_off: Callable[[], None]
serial_stdout_on: Callable[[], None]
"""


def _tool(module: str) -> None:
    import importlib.util

    require(importlib.util.find_spec(module) is not None, f"{module} not installed (test extras; run .ci/install)")


def nodes_of(script: Path) -> list[str]:
    """The node names a VM script declares in its first comment ("Nodes: a, b.")."""
    m = re.search(r"Nodes:\s*([\w ,]+)\.", script.read_text())
    assert m, f"{script.name}: first lines must name the nodes (# ... Nodes: core, ixp.)"
    return [n.strip() for n in m.group(1).split(",")]


def pyflakes(paths: list[Path], builtins: list[str] = ()) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYFLAKES_BUILTINS=",".join(builtins))
    return subprocess.run([sys.executable, "-m", "pyflakes", *map(str, paths)], capture_output=True, text=True,
                          env=env)


def mypy(paths: list[Path], mypypath: list[Path], *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, MYPYPATH=os.pathsep.join(map(str, mypypath)))
    return subprocess.run([sys.executable, "-m", "mypy", "--no-implicit-optional", "--no-color-output",
                           "--no-error-summary", "--cache-dir", os.devnull, "--python-version", "3.11", *extra,
                           *map(str, paths)], capture_output=True, text=True, env=env, cwd=TESTS.parent)


def vm_script_with_types(script: Path, tmp: Path) -> Path:
    header = DRIVER_HEADER + "".join(f"{n}: Machine\n" for n in nodes_of(script))
    out = tmp / script.name
    out.write_text(header + script.read_text())
    return out


def test_there_is_something_to_check() -> None:
    assert VM_SCRIPTS and {"machine.py", "bmp_pipeline.py", "netns_machine.py"} <= {p.name for p in SCENARIO_MODULES}


def test_pyflakes_scenario_modules() -> None:
    _tool("pyflakes")
    cp = pyflakes(SCENARIO_MODULES + [Path(__file__)])
    assert cp.returncode == 0, cp.stdout + cp.stderr


def test_pyflakes_vm_scripts() -> None:
    _tool("pyflakes")
    for script in VM_SCRIPTS:
        cp = pyflakes([script], [*DRIVER_GLOBALS, *nodes_of(script)])
        assert cp.returncode == 0, cp.stdout + cp.stderr


def test_mypy_scenario_modules() -> None:
    _tool("mypy")
    # netns_machine.py holds the conformance check: NetnsMachine must be a Machine.
    cp = mypy(SCENARIO_MODULES, [TESTS.parent], "--follow-imports=silent", "--disallow-untyped-defs",
              "--check-untyped-defs", "--warn-unused-ignores", "--ignore-missing-imports")
    assert cp.returncode == 0, cp.stdout + cp.stderr


def test_mypy_vm_scripts(tmp_path: Path) -> None:
    _tool("mypy")
    for script in VM_SCRIPTS:
        typed = vm_script_with_types(script, tmp_path)
        cp = mypy([typed], [HERE / "stubs", TESTS])
        assert cp.returncode == 0, f"{script.name}:\n{cp.stdout}{cp.stderr}"


def test_the_driver_machine_is_a_scenario_machine(tmp_path: Path) -> None:
    _tool("mypy")
    check = tmp_path / "conformance.py"
    check.write_text("import test_driver.machine\nimport scenarios.machine\n\n"
                     "def conforms(m: test_driver.machine.Machine) -> scenarios.machine.Machine:\n    return m\n")
    cp = mypy([check], [HERE / "stubs", TESTS])
    assert cp.returncode == 0, cp.stdout + cp.stderr


@pytest.mark.parametrize("body, tool, message", [
    ("import json\nstart_all()\n", "pyflakes", "imported but unused"),
    ("start_all()\ncroe.succeed('true')\n", "pyflakes", "undefined name 'croe'"),
    ("start_all()\ncore.wait_for_open_port('9092')\n", "mypy", "incompatible type"),
    ("x: int = core.succeed('true')\n", "mypy", "Incompatible types in assignment"),
])
def test_the_checks_catch_mistakes(tmp_path: Path, body: str, tool: str, message: str) -> None:
    _tool(tool)
    script = tmp_path / "bad.py"
    script.write_text("# testScript. Nodes: core.\n" + body)
    if tool == "pyflakes":
        cp = pyflakes([script], [*DRIVER_GLOBALS, "core"])
    else:
        (tmp_path / "typed").mkdir()
        cp = mypy([vm_script_with_types(script, tmp_path / "typed")], [HERE / "stubs", TESTS])
    assert cp.returncode != 0 and message in cp.stdout, cp.stdout + cp.stderr


# -- the VM tests on the Nix side ------------------------------------------------------------

ROOT = TESTS.parent
DRIVER_PACKAGE = ROOT / "nix" / "tests" / "scenarios.nix"


def nix_test_of(script: Path) -> Path:
    return ROOT / "nix" / "tests" / (script.stem.replace("_", "-") + ".nix")


@pytest.mark.parametrize("script", VM_SCRIPTS, ids=lambda p: p.name)
def test_every_vm_script_is_a_flake_check_with_its_nodes(script: Path) -> None:
    nix = nix_test_of(script)
    assert nix.is_file(), f"{script.name}: no {nix.relative_to(ROOT)}"
    text = nix.read_text()
    assert f"testScript = builtins.readFile ../../tests/scenarios/vm/{script.name};" in text
    assert "extraPythonPackages = p: [ (p.callPackage ./scenarios.nix { }) ];" in text
    # The driver defines one Machine per node: the script's header must name exactly those.
    assert sorted(re.findall(r"^\s*nodes\.(\w+)\s*=", text, re.M)) == sorted(nodes_of(script))
    check = script.stem.replace("_", "-")
    assert f"{check} = ./nix/tests/{nix.name};" in (ROOT / "flake.nix").read_text()


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(modules of the scenarios package, other top-level modules) a file imports."""
    import ast

    ours, others = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: a sibling module
                ours.add(node.module or "")
            elif node.module and node.module.split(".")[0] == "scenarios":
                ours.add(node.module.split(".", 1)[1])
            else:
                others.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Import):
            others |= {a.name.split(".")[0] for a in node.names}
    return ours, others


def test_the_driver_package_holds_what_the_scripts_import() -> None:
    listed = set(re.findall(r'^\s*"([\w.]+)"$', DRIVER_PACKAGE.read_text(), re.M))
    assert {"__init__.py", "py.typed"} <= listed
    assert (HERE / "py.typed").is_file()  # mypy in the driver reads the package only with it
    needed: set[str] = set()
    todo = [*VM_SCRIPTS]
    while todo:
        ours, others = _imports(todo.pop())
        for mod in ours - needed:
            needed.add(mod)
            todo.append(HERE / f"{mod}.py")
        # The driver's Python has the standard library and the driver: nothing of ours outside the package.
        assert others <= set(sys.stdlib_module_names) | {"__future__"}, others
    assert {f"{m}.py" for m in needed} <= listed, needed
    for name in listed - {"py.typed"}:
        assert (HERE / name).is_file(), name
        _, others = _imports(HERE / name)
        assert others <= set(sys.stdlib_module_names) | {"__future__"}, (name, others)
