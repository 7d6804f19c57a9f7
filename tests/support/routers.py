"""Real BGP routers (GoBGP, FRR bgpd) inside test namespaces, configured from Python data.

Each router writes its config and logs into its own temporary directory, runs in
the foreground as a child of this process, and is stopped with `stop()` (also via
the context manager). `close()` additionally deletes the directory unless
NX_KEEP_ROUTER_LOGS is set. `logs()` returns the log tail for failure messages.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .bmp_recorder import BmpRecorder  # noqa: F401  (re-exported: routers and recorder are used together)
from .netns import Namespace
from .wait import wait_until

# Debian installs the FRR daemons outside PATH; NX_FRR_BGPD points elsewhere if needed.
FRR_BGPD = os.environ.get("NX_FRR_BGPD", "/usr/lib/frr/bgpd")
_api_ports = itertools.count(50151)


def _family(addr_or_prefix: str) -> str:
    return "ipv6" if ":" in addr_or_prefix else "ipv4"


@dataclass(frozen=True)
class Policy:
    """A route policy both routers can express: reject some prefixes, then modify what is left.

    Rendered as GoBGP policy-definitions or as an FRR route-map of the same name.
    """

    name: str
    reject_prefixes: tuple[str, ...] = ()
    add_communities: tuple[str, ...] = ()
    add_large_communities: tuple[str, ...] = ()
    set_local_pref: int | None = None
    set_med: int | None = None


@dataclass(frozen=True)
class Neighbor:
    """A BGP session as seen from the router being configured.

    `families` defaults to the session's own address family (IPv6 routes over an
    IPv4 session would need an IPv6 next hop the routers do not invent).
    `add_paths_send`: advertise up to N paths per prefix (FRR: all paths when > 0).
    """

    address: str
    asn: int
    local_address: str | None = None
    families: tuple[str, ...] | None = None
    add_paths_send: int = 0
    add_paths_receive: bool = False
    import_policy: Policy | None = None
    export_policy: Policy | None = None
    passive: bool = False

    @property
    def afi_safis(self) -> tuple[str, ...]:
        return self.families or (f"{_family(self.address)}-unicast",)


@dataclass(frozen=True)
class BmpServer:
    """Where a router streams BMP.

    GoBGP policies: pre-policy, post-policy, local-rib, all (= pre + post + Loc-RIB).
    GoBGP 3.10 still parses "both" but it is obsolete and streams no Route
    Monitoring at all, so it is refused here. FRR monitors: a sequence of
    pre-policy / post-policy ("both" expands to the two).
    """

    address: str
    port: int
    policy: str | Sequence[str] = "both"


def _bmp_server(s: BmpServer | tuple) -> BmpServer:
    return s if isinstance(s, BmpServer) else BmpServer(*s)


class _Daemon:
    """Process bookkeeping shared by both routers."""

    kind = "daemon"

    def __init__(self, ns: Namespace) -> None:
        self.ns = ns
        self.dir = Path(tempfile.mkdtemp(prefix=f"nx-{self.kind}-"))
        self.log_path = self.dir / "daemon.log"
        self.proc: subprocess.Popen | None = None

    def _spawn(self, *argv: str) -> None:
        with open(self.log_path, "ab") as log:
            # A new session so a stray signal to the test's process group cannot
            # reach the router, and `ip netns exec` execs the daemon (same pid).
            self.proc = self.ns.popen(*argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def logs(self, tail: int = 60) -> str:
        parts = []
        for path in sorted(self.dir.glob("*.log")):
            try:
                lines = path.read_text(errors="replace").splitlines()[-tail:]
            except OSError:
                continue
            parts.append(f"--- {self.kind} {path.name} (in {self.ns.name}) ---\n" + "\n".join(lines))
        return "\n".join(parts)

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def close(self) -> None:
        self.stop()
        if not os.environ.get("NX_KEEP_ROUTER_LOGS"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ----------------------------------------------------------------------------- GoBGP


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # TOML basic strings accept JSON escapes
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _gobgp_policy(p: Policy) -> list[str]:
    lines: list[str] = []
    # GoBGP prefix sets hold one address family each.
    by_family: dict[str, list[str]] = {}
    for prefix in p.reject_prefixes:
        by_family.setdefault(_family(prefix), []).append(prefix)
    for fam, prefixes in by_family.items():
        lines += ["[[defined-sets.prefix-sets]]", f"  prefix-set-name = {_toml(f'{p.name}-reject-{fam}')}"]
        for prefix in prefixes:
            lines += ["  [[defined-sets.prefix-sets.prefix-list]]", f"    ip-prefix = {_toml(prefix)}"]
    lines += ["[[policy-definitions]]", f"  name = {_toml(p.name)}"]
    for fam in by_family:
        lines += [
            "  [[policy-definitions.statements]]",
            f"    name = {_toml(f'{p.name}-reject-{fam}')}",
            "    [policy-definitions.statements.conditions.match-prefix-set]",
            f"      prefix-set = {_toml(f'{p.name}-reject-{fam}')}",
            '      match-set-options = "any"',
            "    [policy-definitions.statements.actions]",
            '      route-disposition = "reject-route"',
        ]
    lines += [
        "  [[policy-definitions.statements]]",
        f"    name = {_toml(f'{p.name}-modify')}",
        "    [policy-definitions.statements.actions]",
        '      route-disposition = "accept-route"',
        "    [policy-definitions.statements.actions.bgp-actions]",
    ]
    if p.set_local_pref is not None:
        lines.append(f"      set-local-pref = {p.set_local_pref}")
    if p.set_med is not None:
        lines.append(f"      set-med = {_toml(str(p.set_med))}")  # a string: GoBGP also takes "+10"/"-10"
    if p.add_communities:
        lines += [
            "    [policy-definitions.statements.actions.bgp-actions.set-community]",
            '      options = "add"',
            "      [policy-definitions.statements.actions.bgp-actions.set-community.set-community-method]",
            f"        communities-list = {_toml(list(p.add_communities))}",
        ]
    if p.add_large_communities:
        lines += [
            "    [policy-definitions.statements.actions.bgp-actions.set-large-community]",
            '      options = "add"',
            "      [policy-definitions.statements.actions.bgp-actions.set-large-community.set-large-community-method]",
            f"        communities-list = {_toml(list(p.add_large_communities))}",
        ]
    return lines


class GoBgp(_Daemon):
    """gobgpd in `ns`, driven through its gRPC API with the `gobgp` CLI.

    `import_policy`/`export_policy` are global in GoBGP (they apply to every
    neighbor); per-neighbor policies only exist for route-server clients there.
    """

    kind = "gobgp"

    def __init__(
        self,
        ns: Namespace,
        asn: int,
        router_id: str,
        listen_addrs: str | Iterable[str] = (),
        neighbors: Iterable[Neighbor] = (),
        bmp_servers: Iterable[BmpServer | tuple] = (),
        api_port: int | None = None,
        import_policy: Policy | None = None,
        export_policy: Policy | None = None,
        listen_port: int = 179,
        log_level: str = "info",
        start: bool = True,
    ) -> None:
        super().__init__(ns)
        self.asn = asn
        self.router_id = router_id
        self.listen_addrs = [listen_addrs] if isinstance(listen_addrs, str) else list(listen_addrs)
        self.neighbors = list(neighbors)
        self.bmp_servers = [_bmp_server(s) for s in bmp_servers]
        self.api_port = api_port if api_port is not None else next(_api_ports)
        self.import_policy = import_policy
        self.export_policy = export_policy
        self.listen_port = listen_port
        self.log_level = log_level
        self.config_path = self.dir / "gobgpd.toml"
        self.config_path.write_text(self.render_config())
        if start:
            self.start()

    def render_config(self) -> str:
        lines = [
            "[global.config]",
            f"  as = {self.asn}",
            f"  router-id = {_toml(self.router_id)}",
            f"  port = {self.listen_port}",
        ]
        if self.listen_addrs:
            lines.append(f"  local-address-list = {_toml(self.listen_addrs)}")
        if self.import_policy or self.export_policy:
            lines.append("[global.apply-policy.config]")
            if self.import_policy:
                lines += [f"  import-policy-list = {_toml([self.import_policy.name])}", '  default-import-policy = "accept-route"']
            if self.export_policy:
                lines += [f"  export-policy-list = {_toml([self.export_policy.name])}", '  default-export-policy = "accept-route"']
        for n in self.neighbors:
            lines += [
                "",
                "[[neighbors]]",
                "  [neighbors.config]",
                f"    neighbor-address = {_toml(n.address)}",
                f"    peer-as = {n.asn}",
                # Retry fast: tests should not wait for GoBGP's default back-off.
                "  [neighbors.timers.config]",
                "    connect-retry = 1",
                "    hold-time = 9",
                "    keepalive-interval = 3",
                "  [neighbors.transport.config]",
                f"    passive-mode = {_toml(n.passive)}",
            ]
            if n.local_address:
                lines.append(f"    local-address = {_toml(n.local_address)}")
            for afi_safi in n.afi_safis:
                lines += ["  [[neighbors.afi-safis]]", "    [neighbors.afi-safis.config]", f"      afi-safi-name = {_toml(afi_safi)}"]
                if n.add_paths_send or n.add_paths_receive:
                    lines += [
                        "    [neighbors.afi-safis.add-paths.config]",
                        f"      receive = {_toml(n.add_paths_receive)}",
                        f"      send-max = {n.add_paths_send}",
                    ]
        for s in self.bmp_servers:
            policy = s.policy if isinstance(s.policy, str) else "+".join(s.policy)
            if policy not in ("pre-policy", "post-policy", "local-rib", "all"):
                raise ValueError(
                    f"GoBGP route-monitoring-policy {policy!r}: use pre-policy, post-policy, local-rib or all "
                    '("both" is obsolete in GoBGP 3.10 and sends no Route Monitoring)'
                )
            lines += [
                "",
                "[[bmp-servers]]",
                "  [bmp-servers.config]",
                f"    address = {_toml(s.address)}",
                f"    port = {s.port}",
                f"    route-monitoring-policy = {_toml(policy)}",
            ]
        for p in filter(None, (self.import_policy, self.export_policy)):
            lines += [""] + _gobgp_policy(p)
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        self._spawn(
            "gobgpd", "-f", str(self.config_path), "-p", "-l", self.log_level,
            "--api-hosts", f"127.0.0.1:{self.api_port}", "--pprof-disable",
        )  # fmt: skip
        wait_until(self._api_up, 15, f"gobgpd API on port {self.api_port} in {self.ns.name}", details=self.logs)

    def _api_up(self) -> bool:
        if not self.running():
            raise AssertionError(f"gobgpd exited with {self.proc.returncode if self.proc else None}\n{self.logs()}")
        return self.cli("global", check=False).returncode == 0

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run `gobgp` against this daemon; a failure raises with the CLI's own message."""
        cp = self.ns.run("gobgp", "-p", str(self.api_port), *args, check=False)
        if check and cp.returncode != 0:
            raise RuntimeError(f"gobgp {' '.join(args)} failed: {cp.stderr.decode(errors='replace') or cp.stdout.decode(errors='replace')}")
        return cp

    def add_route(
        self,
        prefix: str,
        nexthop: str,
        communities: Sequence[str] = (),
        large_communities: Sequence[str] = (),
        ext_communities: Sequence[str] = (),
        med: int | None = None,
        local_pref: int | None = None,
        as_path: Sequence[int] | None = None,
        origin: str | None = None,
        identifier: int | None = None,
    ) -> None:
        """Originate (or replace) a route in GoBGP's global RIB.

        `ext_communities` are route targets ("65000:100", "192.0.2.1:7"): the only
        extended community the CLI accepts for unicast routes. `identifier` is the
        ADD-PATH path id, so several paths of one prefix can coexist.
        """
        args = ["global", "rib", "-a", _family(prefix), "add", prefix]
        if identifier is not None:
            args += ["identifier", str(identifier)]
        if origin is not None:
            args += ["origin", origin]
        if as_path:
            args += ["aspath", ",".join(str(a) for a in as_path)]
        args += ["nexthop", nexthop]  # without one the peer sees a withdraw
        if med is not None:
            args += ["med", str(med)]
        if local_pref is not None:
            args += ["local-pref", str(local_pref)]
        if communities:
            args += ["community", ",".join(communities)]
        if large_communities:
            args += ["large-community", ",".join(large_communities)]
        if ext_communities:
            args += ["rt", *ext_communities]
        self.cli(*args)

    def del_route(self, prefix: str, identifier: int | None = None) -> None:
        args = ["global", "rib", "-a", _family(prefix), "del", prefix]
        if identifier is not None:
            args += ["identifier", str(identifier)]
        self.cli(*args)

    def neighbor_state(self, neighbor: str) -> str:
        cp = self.cli("neighbor", neighbor, "-j", check=False)
        if cp.returncode != 0:
            return "unknown"
        state = json.loads(cp.stdout).get("state", {}).get("session_state")
        # The JSON carries the gRPC enum: 6 is ESTABLISHED.
        return {6: "established"}.get(state, str(state)) if isinstance(state, int) else str(state).lower()

    def wait_established(self, neighbor: str, timeout: float = 30.0) -> None:
        wait_until(
            lambda: self.neighbor_state(neighbor) == "established",
            timeout,
            f"GoBGP session to {neighbor} in {self.ns.name}",
            interval=0.2,
            details=self.logs,
        )

    def shutdown_neighbor(self, neighbor: str) -> None:
        """Administratively stop the session (Cease), which BMP reports as Peer Down."""
        self.cli("neighbor", neighbor, "disable")

    def enable_neighbor(self, neighbor: str) -> None:
        self.cli("neighbor", neighbor, "enable")

    def reset_neighbor(self, neighbor: str) -> None:
        """Hard reset: the session drops and comes back by itself."""
        self.cli("neighbor", neighbor, "reset")

    def softreset_out(self, neighbor: str) -> None:
        """Re-send every route to `neighbor` without dropping the session."""
        self.cli("neighbor", neighbor, "softresetout")

    def rib(self, neighbor: str | None = None, family: str = "ipv4", table: str = "adj-in") -> str:
        """Text dump for debugging: the global RIB, or a neighbor's adj-in / adj-out / local."""
        if neighbor is None:
            return self.cli("global", "rib", "-a", family, check=False).stdout.decode(errors="replace")
        return self.cli("neighbor", neighbor, table, "-a", family, check=False).stdout.decode(errors="replace")

    def mrt_inject(self, path: str | os.PathLike, nexthop: str | None = None, timeout: float = 600) -> None:
        """Load a TABLE_DUMP_V2 file into the global RIB (`gobgp mrt inject global`)."""
        args = ["gobgp", "-p", str(self.api_port), "mrt", "inject", "global", str(path)]
        if nexthop:
            args += ["--nexthop", nexthop]
        subprocess.run(self.ns.cmd(*args), check=True, timeout=timeout, capture_output=True)


# ----------------------------------------------------------------------------- FRR


def _frr_policy(p: Policy) -> list[str]:
    lines: list[str] = []
    seq = 5
    for fam, keyword in (("ipv4", "ip"), ("ipv6", "ipv6")):
        prefixes = [x for x in p.reject_prefixes if _family(x) == fam]
        if not prefixes:
            continue
        for i, prefix in enumerate(prefixes):
            lines.append(f"{keyword} prefix-list {p.name}-reject-{fam} seq {5 * (i + 1)} permit {prefix}")
        lines += [f"route-map {p.name} deny {seq}", f" match {keyword} address prefix-list {p.name}-reject-{fam}", "exit"]
        seq += 1
    lines.append(f"route-map {p.name} permit 100")
    if p.add_communities:
        lines.append(f" set community {' '.join(p.add_communities)} additive")
    if p.add_large_communities:
        lines.append(f" set large-community {' '.join(p.add_large_communities)} additive")
    if p.set_local_pref is not None:
        lines.append(f" set local-preference {p.set_local_pref}")
    if p.set_med is not None:
        lines.append(f" set metric {p.set_med}")
    lines.append("exit")
    return lines


@dataclass(frozen=True)
class Network:
    """A prefix FRR originates (`network` statement), optionally through a route-map
    that sets its attributes (communities, local-pref, MED)."""

    prefix: str
    policy: Policy | None = None


class Frr(_Daemon):
    """FRR's bgpd alone (no zebra, `--no_kernel`) in `ns`, with the BMP module loaded.

    Runtime changes go through `vtysh -d bgpd` on this bgpd's private vty socket.
    `soft_reconfiguration` (default on) keeps the Adj-RIB-In that BMP pre-policy
    monitoring needs; turn it off to reproduce FRR's withdraw-only pre-policy stream.
    """

    kind = "frr"

    def __init__(
        self,
        ns: Namespace,
        asn: int,
        router_id: str,
        neighbors: Iterable[Neighbor] = (),
        networks: Iterable[Network | str] = (),
        bmp_targets: Iterable[BmpServer | tuple] = (),
        route_maps: Iterable[Policy] = (),
        bmp_mirror: bool = False,
        bmp_stats_ms: int | None = None,
        soft_reconfiguration: bool = True,
        start: bool = True,
    ) -> None:
        super().__init__(ns)
        self.asn = asn
        self.router_id = router_id
        self.neighbors = list(neighbors)
        self.networks = [n if isinstance(n, Network) else Network(n) for n in networks]
        self.bmp_targets = [_bmp_server(s) for s in bmp_targets]
        self.route_maps = list(route_maps)
        self.bmp_mirror = bmp_mirror
        self.bmp_stats_ms = bmp_stats_ms
        self.soft_reconfiguration = soft_reconfiguration
        self.config_path = self.dir / "bgpd.conf"
        self.config_path.write_text(self.render_config())
        # bgpd drops to user frr right away and must still read and write here.
        shutil.chown(self.dir, "frr", "frr")
        shutil.chown(self.config_path, "frr", "frr")
        if start:
            self.start()

    def _policies(self) -> list[Policy]:
        seen: dict[str, Policy] = {p.name: p for p in self.route_maps}
        for n in self.neighbors:
            for p in (n.import_policy, n.export_policy):
                if p:
                    seen.setdefault(p.name, p)
        for net in self.networks:
            if net.policy:
                seen.setdefault(net.policy.name, net.policy)
        return list(seen.values())

    def render_config(self) -> str:
        lines = [
            f"hostname frr-{self.router_id}",
            f"log file {self.dir / 'bgpd.log'} informational",
        ]
        for p in self._policies():
            lines += _frr_policy(p)
        lines += [
            f"router bgp {self.asn}",
            f" bgp router-id {self.router_id}",
            # eBGP without policy would exchange nothing (RFC 8212 default in FRR).
            " no bgp ebgp-requires-policy",
            # No zebra, so no RIB to check `network` statements against.
            " no bgp network import-check",
            " no bgp default ipv4-unicast",
        ]
        for n in self.neighbors:
            lines += [
                f" neighbor {n.address} remote-as {n.asn}",
                f" neighbor {n.address} timers connect 1",
                f" neighbor {n.address} timers 3 9",
                f" neighbor {n.address} advertisement-interval 0",
            ]
            if n.local_address:
                lines.append(f" neighbor {n.address} update-source {n.local_address}")
            if n.passive:
                lines.append(f" neighbor {n.address} passive")
        for fam in ("ipv4", "ipv6"):
            lines.append(f" address-family {fam} unicast")
            for n in self.neighbors:
                if f"{fam}-unicast" not in n.afi_safis:
                    continue
                lines.append(f"  neighbor {n.address} activate")
                if self.soft_reconfiguration:
                    # FRR's BMP pre-policy monitor reads the stored Adj-RIB-In; without
                    # it, FRR 8.4 reports every received route pre-policy as a withdraw.
                    lines.append(f"  neighbor {n.address} soft-reconfiguration inbound")
                if n.import_policy:
                    lines.append(f"  neighbor {n.address} route-map {n.import_policy.name} in")
                if n.export_policy:
                    lines.append(f"  neighbor {n.address} route-map {n.export_policy.name} out")
                if n.add_paths_send:
                    lines.append(f"  neighbor {n.address} addpath-tx-all-paths")
            for net in self.networks:
                if _family(net.prefix) == fam:
                    lines.append(f"  network {net.prefix}" + (f" route-map {net.policy.name}" if net.policy else ""))
            lines.append(" exit-address-family")
        for i, t in enumerate(self.bmp_targets):
            monitors = [t.policy] if isinstance(t.policy, str) else list(t.policy)
            if monitors == ["both"]:
                monitors = ["pre-policy", "post-policy"]
            lines += [f" bmp targets t{i}", f"  bmp connect {t.address} port {t.port} min-retry 100 max-retry 1000"]
            for fam in ("ipv4", "ipv6"):
                lines += [f"  bmp monitor {fam} unicast {m}" for m in monitors]
            if self.bmp_mirror:
                lines.append("  bmp mirror")
            if self.bmp_stats_ms:
                lines.append(f"  bmp stats interval {self.bmp_stats_ms}")
            lines.append(" exit")
        lines += ["exit", ""]
        return "\n".join(lines)

    def start(self) -> None:
        d = self.dir
        self._spawn(
            FRR_BGPD, "-f", str(self.config_path), "-i", str(d / "bgpd.pid"), "-z", str(d / "zserv.api"),
            "--vty_socket", str(d), "-M", "bmp", "--no_kernel", "-u", "frr", "-g", "frr",
        )  # fmt: skip
        wait_until(self._vty_up, 15, f"bgpd vty in {self.ns.name}", details=self.logs)

    def _vty_up(self) -> bool:
        if not self.running():
            raise AssertionError(f"bgpd exited with {self.proc.returncode if self.proc else None}\n{self.logs()}")
        return (self.dir / "bgpd.vty").exists() and self.vtysh("show version", check=False).returncode == 0

    def vtysh(self, *commands: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run commands against this bgpd only (its private vty socket; no other daemons needed)."""
        argv = ["vtysh", "--vty_socket", str(self.dir), "-d", "bgpd"]
        for c in commands:
            argv += ["-c", c]
        cp = subprocess.run(argv, capture_output=True)
        out = cp.stdout.decode(errors="replace")
        # vtysh reports some command errors only in its output, with exit status 0.
        if check and (cp.returncode != 0 or "% " in out):
            raise RuntimeError(f"vtysh {commands} failed ({cp.returncode}): {out}{cp.stderr.decode(errors='replace')}")
        return cp

    def configure(self, *lines: str) -> None:
        """Apply configuration lines under `router bgp` at runtime."""
        self.vtysh("configure terminal", f"router bgp {self.asn}", *lines)

    def add_network(self, prefix: str, policy: Policy | None = None) -> None:
        if policy is not None:
            self.vtysh("configure terminal", *_frr_policy(policy))
        self.configure(
            f"address-family {_family(prefix)} unicast",
            f"network {prefix}" + (f" route-map {policy.name}" if policy else ""),
        )

    def del_network(self, prefix: str) -> None:
        self.configure(f"address-family {_family(prefix)} unicast", f"no network {prefix}")

    def neighbor_state(self, neighbor: str) -> str:
        cp = self.vtysh(f"show bgp neighbors {neighbor} json", check=False)
        try:
            return str(json.loads(cp.stdout).get(neighbor, {}).get("bgpState", "unknown")).lower()
        except ValueError:
            return "unknown"

    def wait_established(self, neighbor: str, timeout: float = 30.0) -> None:
        wait_until(
            lambda: self.neighbor_state(neighbor) == "established",
            timeout,
            f"FRR session to {neighbor} in {self.ns.name}",
            interval=0.2,
            details=self.logs,
        )

    def shutdown_neighbor(self, neighbor: str) -> None:
        self.configure(f"neighbor {neighbor} shutdown")

    def enable_neighbor(self, neighbor: str) -> None:
        self.configure(f"no neighbor {neighbor} shutdown")

    def rib(self, neighbor: str | None = None, family: str = "ipv4", table: str = "routes") -> str:
        """Text dump for debugging: `show bgp` or a neighbor's routes / advertised-routes."""
        cmd = f"show bgp {family} unicast" + (f" neighbors {neighbor} {table}" if neighbor else "")
        return self.vtysh(cmd, check=False).stdout.decode(errors="replace")
