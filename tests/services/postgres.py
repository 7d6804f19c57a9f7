"""A private PostgreSQL server for the tests: its own data directory, port and socket directory.

The server binaries come from PATH, NXTHDR_PG_BIN, or Debian's versioned
layout. PostgreSQL refuses to run as root: when the tests run as root the
server runs as the `postgres` system user (through `runuser`), in a temporary
directory it owns. Authentication is `trust` on loopback only.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.ports import free_port


def bin_dir() -> Path | None:
    env = os.environ.get("NXTHDR_PG_BIN")
    if env:
        return Path(env)
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(candidates[-1]).parent if candidates else None


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def available() -> tuple[bool, str]:
    b = bin_dir()
    if b is None or not (b / "initdb").exists():
        return False, "PostgreSQL server binaries (initdb, pg_ctl) not found"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return False, "running as root needs a `postgres` system user to run the server"
        if shutil.which("runuser") is None:
            return False, "running as root needs runuser (util-linux)"
    return True, ""


class PostgresServer:
    def __init__(self) -> None:
        self.bin = bin_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="nxthdr-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.user = "postgres"
        self._started = False

    def _cmd(self, name: str, *args: str) -> list[str]:
        return _run_as() + [str(self.bin / name), *args]

    def start(self, timeout: float = 60.0) -> None:
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700)
        subprocess.run(self._cmd("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8",
                                 "--no-sync", "--locale=C"),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
        log = self.dir / "server.log"
        for attempt in range(5):
            options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.dir} "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
            res = subprocess.run(self._cmd("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(log),
                                           "-w", "-t", str(int(timeout)), "start"),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout + 5)
            if res.returncode == 0:
                self._started = True
                return
            text = log.read_text(errors="replace") if log.exists() else ""
            if "could not bind" not in text and "Address already in use" not in text:
                raise subprocess.CalledProcessError(res.returncode, res.args, stderr=res.stderr)
            # Another socket took the port between free_port() and the server's bind.
            log.unlink()
            self.port = free_port()
        raise RuntimeError("PostgreSQL could not bind a port after 5 attempts")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        subprocess.run(_run_as() + [str(self.bin / "createdb") if (self.bin / "createdb").exists() else "createdb",
                                    "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)
        return self.url(name)

    def close(self) -> None:
        if self._started:
            subprocess.run(self._cmd("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
            self._started = False
        shutil.rmtree(self.dir, ignore_errors=True)


if __name__ == "__main__":
    server = PostgresServer()
    t = time.monotonic()
    server.start()
    print("started in", round(time.monotonic() - t, 2), "s:", server.url())
    print(server.create_database("probe"))
    server.close()
