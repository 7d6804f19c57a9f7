"""Several workers under a burst: every datagram sent is either decoded or counted by the kernel as dropped.

The sender is a second process on loopback, using several source ports so that
SO_REUSEPORT spreads the load over the workers' sockets. The receive buffer is
kept small on purpose so the kernel does drop: the test proves that the drop
counter accounts for exactly what the collector did not read.
"""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap

from nxthdr.pesto.app import build
from tests.pesto.helpers import counter, pesto_config, wait_for

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SENDER = textwrap.dedent("""
    import socket, sys
    from pathlib import Path
    from tests.sflow.pcap import read_framed
    port, total, nsocks = map(int, sys.argv[1:4])
    dgs = read_framed(Path("tests/fixtures/sflow/pmacct-sfprobe.bin").read_bytes())
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(nsocks)]
    sent = 0
    for i in range(total):
        socks[i % nsocks].sendto(dgs[i % len(dgs)], ("127.0.0.1", port))
        sent += 1
    print(sent)
""")


def test_burst_over_two_workers_nothing_lost_below_the_drop_counter(tmp_path):
    total = 20000

    async def scenario():
        cfg = pesto_config(tmp_path, sflow__workers=2, sflow__receive_buffer=256 * 1024, file_output=None)
        app = build(cfg)
        await app.supervisor.start()
        try:
            await wait_for(lambda: all(w.latest for w in app.pool.workers), timeout=20)  # workers up
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", SENDER, str(app.listener.bound_port), str(total), "16", cwd=REPO,
                stdout=asyncio.subprocess.PIPE)
            out, _ = await proc.communicate()
            sent = int(out)

            def received():
                return (counter(app, "pesto_sflow_datagrams_total", status="success")
                        + counter(app, "pesto_sflow_datagrams_total", status="parse_error"))

            await wait_for(lambda: received() + app.listener.drops() >= sent, timeout=30)
            await asyncio.sleep(1.0)  # nothing more arrives
            per_worker = [sum(v for n, _t, _d, _l, s in w.latest if n == "pesto_sflow_datagrams" for _, v in s)
                          for w in app.pool.workers]
            return sent, received(), counter(app, "pesto_kernel_receive_drops_total"), per_worker
        finally:
            await app.supervisor.stop()

    sent, received, drops, per_worker = asyncio.run(scenario())
    assert sent == total
    assert received + drops == sent, (received, drops)
    assert drops > 0  # the small buffer overflowed: the counter is live
    print(f"sent {sent}, decoded {received:.0f}, kernel drops {drops:.0f}, per worker {per_worker}")
    assert all(n > 0 for n in per_worker), per_worker  # both workers took a share
