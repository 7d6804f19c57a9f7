"""`Machine` backed by a network namespace (or the root namespace), for pytest.

A machine runs shell commands with `ip netns exec NS sh -c CMD`. Services are
"units" in a small registry: a name mapped to a process started in the
namespace (or adopted, for routers the router helpers start themselves), with
its output in a log file; `wait_for_unit` is true while that process runs and
fails at once, with the log tail, if it died. `wait_for_open_port` reads the
namespace's own /proc/net/tcp{,6} for a listening socket.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.netns import Namespace

from .machine import Machine

_LOCAL = {"localhost", "127.0.0.1", "::1"}


class MachineError(AssertionError):
    """A command or unit did not do what the scenario required."""


@dataclass
class Unit:
    name: str
    proc: subprocess.Popen
    log: Path

    def running(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return f"(no log for {self.name})"
        return f"--- {self.name} ({self.log}) ---\n" + "\n".join(text)


@dataclass
class NetnsMachine:
    name: str
    ns: Namespace | None  # None: the root namespace (where the test's Kafka broker runs)
    logdir: Path
    units: dict[str, Unit] = field(default_factory=dict)
    _last_stderr: str = field(default="", repr=False)

    def _argv(self, *args: str) -> list[str]:
        return self.ns.cmd(*args) if self.ns is not None else list(args)

    # -- commands ---------------------------------------------------------------------------

    def execute(self, command: str, check_return: bool = True, check_output: bool = True,
                timeout: int | None = 900) -> tuple[int, str]:
        try:
            cp = subprocess.run(self._argv("sh", "-c", command), capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise MachineError(f"{self.name}: `{command}` ran longer than {timeout}s") from e
        self._last_stderr = cp.stderr.decode(errors="replace")
        return cp.returncode, cp.stdout.decode(errors="replace")

    def succeed(self, *commands: str, timeout: int | None = None) -> str:
        out = []
        for command in commands:
            status, stdout = self.execute(command, timeout=timeout)
            if status != 0:
                raise MachineError(f"{self.name}: `{command}` failed (exit code {status})\n"
                                   f"{stdout}{self._last_stderr}")
            out.append(stdout)
        return "".join(out)

    def fail(self, *commands: str, timeout: int | None = None) -> str:
        out = []
        for command in commands:
            status, stdout = self.execute(command, timeout=timeout)
            if status == 0:
                raise MachineError(f"{self.name}: `{command}` unexpectedly succeeded\n{stdout}")
            out.append(stdout)
        return "".join(out)

    def wait_until_succeeds(self, command: str, timeout: int = 900) -> str:
        deadline = time.monotonic() + timeout
        while True:
            status, stdout = self.execute(command, timeout=timeout)
            if status == 0:
                return stdout
            if time.monotonic() >= deadline:
                raise MachineError(f"{self.name}: `{command}` still failing after {timeout}s (exit code {status})\n"
                                   f"{stdout}{self._last_stderr}")
            time.sleep(0.3)

    # -- units ------------------------------------------------------------------------------

    def start_unit(self, unit: str, argv: list[str], env: dict[str, str] | None = None) -> Unit:
        log = self.logdir / f"{self.name}-{unit}.log"
        with open(log, "ab") as out:
            # A new session: a signal aimed at the test's process group never reaches it.
            proc = subprocess.Popen(self._argv(*argv), stdout=out, stderr=subprocess.STDOUT,
                                    env=dict(os.environ, **(env or {})), start_new_session=True)
        return self.adopt_unit(unit, proc, log)

    def adopt_unit(self, unit: str, proc: subprocess.Popen, log: Path) -> Unit:
        if unit in self.units and self.units[unit].running():
            raise MachineError(f"{self.name}: unit {unit} is already running")
        self.units[unit] = Unit(unit, proc, log)
        return self.units[unit]

    def stop_unit(self, unit: str, timeout: float = 15.0) -> int | None:
        u = self.units[unit]
        if u.running():
            u.proc.send_signal(signal.SIGTERM)
            try:
                u.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                u.proc.kill()
                u.proc.wait()
        return u.proc.returncode

    def wait_for_unit(self, unit: str, user: str | None = None, timeout: int = 900) -> None:
        if unit not in self.units:
            raise MachineError(f"{self.name}: no unit {unit} (units: {', '.join(self.units) or 'none'})")
        u = self.units[unit]
        if not u.running():
            raise MachineError(f"{self.name}: unit {unit} exited with {u.proc.returncode}\n{u.tail()}")

    def logs(self) -> str:
        return "\n".join(u.tail() for u in self.units.values())

    def close(self) -> None:
        for unit in reversed(list(self.units)):
            self.stop_unit(unit)

    # -- ports ------------------------------------------------------------------------------

    def listening(self, port: int, addr: str = "localhost") -> bool:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            status, text = self.execute(f"cat {table}")
            if status != 0:
                continue
            for line in text.splitlines()[1:]:
                fields = line.split()
                local, state = fields[1], fields[3]
                host_hex, port_hex = local.rsplit(":", 1)
                if state != "0A" or int(port_hex, 16) != port:
                    continue
                if addr in _LOCAL or set(host_hex) == {"0"} or _hex_addr(host_hex) == addr:
                    return True
        return False

    def wait_for_open_port(self, port: int, addr: str = "localhost", timeout: int = 900) -> None:
        deadline = time.monotonic() + timeout
        while not self.listening(port, addr):
            if time.monotonic() >= deadline:
                raise MachineError(f"{self.name}: nothing listens on {addr}:{port} after {timeout}s\n{self.logs()}")
            time.sleep(0.2)


def _hex_addr(host_hex: str) -> str:
    """/proc/net/tcp addresses: 32-bit words in host (little-endian) order."""
    import ipaddress

    raw = b"".join(bytes.fromhex(host_hex[i:i + 8])[::-1] for i in range(0, len(host_hex), 8))
    return str(ipaddress.ip_address(raw))


def _conforms(m: NetnsMachine) -> Machine:
    """mypy checks here that NetnsMachine satisfies the scenario interface."""
    return m
