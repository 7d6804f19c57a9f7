"""The BMP pipeline scenario on namespace machines, with the real programs:

    peer (GoBGP AS65010) ══ IPv4 + IPv6 sessions ══ ixp (GoBGP AS65001) ── BMP ──> core: risotto ──> Kafka
        ──> core: appliance consumer ──> chdb (bmp.updates)

`core` is the root namespace, where the test's Kafka broker runs (it listens on
loopback); risotto and the appliance (ClickHouse reading Kafka, without a
ClickHouse server) are started there as units, the routers in their
namespaces. The rows are read with the VM test's SQL (`clickhouse_rows`)
through `nxthdr query --url`.
"""

from __future__ import annotations

import os
import sys
import uuid

import pytest

from tests.scenarios.appliance_store import UNIT as APPLIANCE_UNIT, ApplianceStore
from tests.scenarios.bmp_pipeline import BmpPipeline, Route, clickhouse_rows, run
from tests.scenarios.netns_machine import NetnsMachine
from tests.support.netns import Topology
from tests.support.routers import BmpServer, GoBgp, Neighbor, Policy
from tests.support.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("router_env")]

PEER_AS, IXP_AS = 65010, 65001
PEER_V4, IXP_V4, PEER_V6, IXP_V6 = "10.0.1.10", "10.0.1.1", "fd01::10", "fd01::1"
ROUTES = (Route("10.10.0.0/24", PEER_V4), Route("2001:db8:10::/48", PEER_V6))
GOBGP_API = 50051  # gobgp's default: the CLI needs no -p in the scenario (each namespace has its own loopback)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_bmp_pipeline(kafka, tmp_path) -> None:
    topic = f"scenario-bmp-{uuid.uuid4().hex[:8]}"
    bmp_port, metrics_port = free_port(), free_port()
    routers: list[GoBgp] = []
    with Topology() as topo:
        peer_ns, ixp_ns = topo.add("peer"), topo.add("ixp")
        topo.link(peer_ns, [f"{PEER_V4}/24", f"{PEER_V6}/64"], ixp_ns, [f"{IXP_V4}/24", f"{IXP_V6}/64"])
        uplink = topo.uplink(ixp_ns)
        core = NetnsMachine("core", None, tmp_path)
        peer = NetnsMachine("peer", peer_ns, tmp_path)
        ixp = NetnsMachine("ixp", ixp_ns, tmp_path)
        store = ApplianceStore(core, kafka.bootstrap, {"bmp": topic}, tmp_path)
        try:
            store.start()
            core.start_unit("risotto.service", [
                sys.executable, "-m", "nxthdr", "risotto", "--bmp-address", f"[::]:{bmp_port}",
                "--metrics-address", f"127.0.0.1:{metrics_port}", "--kafka-brokers", kafka.bootstrap,
                "--kafka-topic", topic, "--kafka-batch-wait-time", "100", "--kafka-batch-wait-interval", "20",
                "--curation-state-path", str(tmp_path / "state.bin")],
                env={"PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))})
            peer_router = GoBgp(peer_ns, PEER_AS, PEER_V4, [PEER_V4, PEER_V6], api_port=GOBGP_API,
                                neighbors=[Neighbor(IXP_V4, IXP_AS), Neighbor(IXP_V6, IXP_AS)])
            routers.append(peer_router)
            ixp_router = GoBgp(ixp_ns, IXP_AS, IXP_V4, [IXP_V4, IXP_V6], api_port=GOBGP_API,
                               neighbors=[Neighbor(PEER_V4, PEER_AS), Neighbor(PEER_V6, PEER_AS)],
                               bmp_servers=[BmpServer(uplink.root_v4, bmp_port, "all")],
                               # Post-policy rows must differ from pre-policy ones to be told apart.
                               import_policy=Policy("ixp-in", add_communities=("65001:999",)))
            routers.append(ixp_router)
            for machine, router in ((peer, peer_router), (ixp, ixp_router)):
                assert router.proc is not None
                machine.adopt_unit("gobgpd.service", router.proc, router.log_path)

            scenario = BmpPipeline(peer=peer, ixp=ixp, core=core, sessions=(PEER_V4, PEER_V6), routes=ROUTES,
                                   bmp_port=bmp_port, metrics_port=metrics_port, timeout=60)
            try:
                run(scenario, clickhouse_rows(core, query_command=store.query_command))
            except AssertionError as e:
                raise AssertionError(f"{e}\n{core.logs()}\n{ixp_router.logs()}\n{peer_router.logs()}") from None
        finally:
            for r in routers:
                r.close()
            core.close()
    # risotto stops cleanly on SIGTERM (it flushes Kafka and writes its state), then the appliance.
    assert core.units["risotto.service"].proc.returncode == 0, core.logs()
    assert core.units[APPLIANCE_UNIT].proc.returncode == 0, core.logs()
