"""Worker processes: a dead worker is restarted on the same socket and the totals never go backwards."""

from __future__ import annotations

import asyncio
import os
import signal

from nxthdr.pesto.app import build
from tests.pesto.helpers import counter, pesto_config, send, wait_for


def test_killed_worker_is_restarted_and_counters_are_kept(tmp_path, pmacct_datagrams):
    async def scenario():
        app = build(pesto_config(tmp_path, sflow__workers=2, file_output=None))
        app.pool.restart_delay = 0.1
        await app.supervisor.start()
        try:
            await wait_for(lambda: all(w.latest for w in app.pool.workers), timeout=20)
            port = app.listener.bound_port
            for _ in range(10):  # ten source ports: both workers get some
                send(port, pmacct_datagrams)
            await wait_for(lambda: counter(app, "pesto_sflow_datagrams_total", status="success") == 70)
            victim = app.pool.workers[0]
            old_pid = victim.proc.pid
            os.kill(old_pid, signal.SIGKILL)
            await wait_for(lambda: counter(app, "pesto_worker_restarts_total") == 1)
            assert not app.metrics.health()[0] or victim.proc.pid != old_pid
            await wait_for(lambda: victim.proc.pid != old_pid and bool(victim.latest), timeout=20)
            # Counted before the kill, still counted; and the new worker serves its socket.
            assert counter(app, "pesto_sflow_datagrams_total", status="success") == 70
            for _ in range(10):
                send(port, pmacct_datagrams)
            await wait_for(lambda: counter(app, "pesto_sflow_datagrams_total", status="success") == 140)
            await wait_for(lambda: app.metrics.health()[0])
        finally:
            await app.supervisor.stop()
        return counter(app, "pesto_sflow_datagrams_total", status="success")

    assert asyncio.run(scenario()) == 140
