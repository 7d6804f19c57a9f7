"""Flows pipeline scenario: real traffic crosses a link an sFlow agent samples;
the agent exports to pesto on the core; the records must carry the sampled
packets' IP length and the agent's sampling rate, so that the traffic estimate
(bytes = length x sampling rate, what the ClickHouse view stores) matches what
was sent.

Machines: `src` (sends pings), `agent` (pmacctd sfprobe on the link from src,
exporting to the core), `core` (pesto). How records are read is the caller's:
`clickhouse_rows` runs the same SQL on ClickHouse in the VM test and, through
`nxthdr query --url`, on the appliance's embedded store in the namespace test.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from typing import Callable

from .machine import Machine, wait_for


@dataclass(frozen=True)
class FlowRow:
    """The fields of a flow record the scenario looks at."""

    src: str
    dst: str
    protocol: int
    length: int  # IP length of the sampled packet
    sampling_rate: int
    bytes: int  # the traffic this sample stands for, as the store estimates it (length x sampling rate)


FlowsReader = Callable[[], list[FlowRow]]


@dataclass(frozen=True)
class FlowsPipeline:
    src: Machine
    agent: Machine
    core: Machine
    src_addr: str  # src's address on the sampled link
    target: str  # the agent's address on that link (the pings' destination)
    sampling_rate: int
    packets: int = 400
    payload: int = 1000  # ICMP echo payload bytes
    pesto_unit: str = "pesto.service"
    agent_unit: str = "pmacctd.service"
    timeout: int = 120

    @property
    def ip_length(self) -> int:
        header = 40 if ":" in self.target else 20
        return header + 8 + self.payload

    @property
    def protocol(self) -> int:
        return 58 if ":" in self.target else 1


def _echo_requests(t: FlowsPipeline, rows: list[FlowRow]) -> list[FlowRow]:
    return [r for r in rows if r.src == t.src_addr and r.dst == t.target and r.protocol == t.protocol]


def run(t: FlowsPipeline, rows: FlowsReader) -> None:
    t.core.wait_for_unit(t.pesto_unit)
    t.agent.wait_for_unit(t.agent_unit)
    ping = "ping -6" if ":" in t.target else "ping"

    # The agent opens its capture a little after it starts: ping until samples arrive.
    def sampled() -> bool:
        t.src.execute(f"{ping} -q -c 20 -i 0.01 -W 1 {shlex.quote(t.target)}")
        return bool(_echo_requests(t, rows()))

    wait_for(sampled, t.timeout, f"first sFlow samples of pings from {t.src_addr}")
    baseline = len(rows())

    t.src.succeed(f"{ping} -q -c {t.packets} -i 0.01 -s {t.payload} {shlex.quote(t.target)}")
    sent_bytes = t.packets * t.ip_length

    def measured() -> list[FlowRow]:
        return [r for r in _echo_requests(t, rows()[baseline:]) if r.length == t.ip_length]

    wait_for(lambda: sum(r.bytes for r in measured()) >= sent_bytes // 2, t.timeout,
             f"samples of {t.packets} pings of {t.ip_length} bytes")
    # Let the last datagrams through the agent, pesto's batch and Kafka.
    last = -1
    while len(rows()) != last:
        last = len(rows())
        time.sleep(2)

    samples = measured()
    rates = {r.sampling_rate for r in samples}
    assert rates == {t.sampling_rate}, f"sampling rates {rates} in the records, the agent samples 1 in {t.sampling_rate}"
    wrong = [r for r in samples if r.bytes != r.length * r.sampling_rate]
    assert not wrong, f"estimated bytes are not length x sampling rate: {wrong[:5]}"
    estimate = sum(r.bytes for r in samples)
    assert 0.5 * sent_bytes <= estimate <= 1.5 * sent_bytes, (
        f"estimated {estimate} bytes from {len(samples)} samples, sent {sent_bytes}")
    # With 1-in-N sampling the sample count is about packets / N.
    expected = t.packets / t.sampling_rate
    assert 0.5 * expected <= len(samples) <= 1.5 * expected, f"{len(samples)} samples, expected ~{expected:.0f}"


def clickhouse_rows(core: Machine, database: str = "flows",
                    query_command: str = "clickhouse-client --query") -> FlowsReader:
    """Records as the VM test reads them: from ClickHouse's flows.records on the core."""
    query = (f"SELECT toString(src_addr) AS src, toString(dst_addr) AS dst, protocol, packet_length, sampling_rate,"
             f" bytes FROM {database}.records ORDER BY time_received_ns FORMAT JSONEachRow")

    def unmap(addr: str) -> str:
        return addr.removeprefix("::ffff:")

    def read() -> list[FlowRow]:
        out = core.succeed(f"{query_command} {shlex.quote(query)}")
        return [FlowRow(unmap(r["src"]), unmap(r["dst"]), int(r["protocol"]), int(r["packet_length"]),
                        int(r["sampling_rate"]), int(r["bytes"]))
                for r in map(json.loads, out.splitlines())]

    return read
