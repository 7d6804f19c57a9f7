"""One datagram in, records out: decode, count, encode, emit.

The guard around the decoder is what keeps a collector alive: an `SFlowError`
(the peer broke sFlow) and any unexpected exception (our bug) are both counted
as a parse error with a reason and logged at a bounded rate; the caller's
receive loop never sees them. Every record of a datagram is emitted before
`handle` returns, so a sink that seals a full batch in the middle of a datagram
(the Kafka sink does) keeps the rest of it: the reference lost it (defect 6).
"""

from __future__ import annotations

import logging
import socket
import time

from nxthdr.core import logs
from nxthdr.core.addr import V4_MAPPED
from nxthdr.core.metrics import Metrics
from nxthdr.core.sinks import Sink
from nxthdr.sflow import SFlowError, SFlowRecordEncoder, decode_datagram

log = logging.getLogger("nxthdr.pesto")

OTHER = "other"


class Processor:
    def __init__(self, sink: Sink, metrics: Metrics, *, key_mode: str = "none", max_exporters: int = 1000,
                 clock_ns=time.time_ns) -> None:
        self.sink = sink
        self._emit = sink.emit
        self.key_mode = key_mode
        self.max_exporters = max_exporters
        self.clock_ns = clock_ns
        self.encoder = SFlowRecordEncoder()
        self._log = logs.RateLimited(log)
        # UDP source host text → (16-byte address, metric label); bounded like the label set.
        self._exporters: dict[str, tuple[bytes, str]] = {}
        m = metrics
        self.m_datagrams = m.fast_counter("sflow_datagrams_total", "sFlow datagrams received, by decode outcome",
                                          ("status",))
        self.m_samples = m.fast_counter("sflow_samples_total", "sFlow samples received (all formats)")
        self.m_samples_received = m.fast_counter("sflow_samples_received_total",
                                                 "sFlow samples received, by type (flow, counter, other)", ("type",))
        self.m_records = m.fast_counter("sflow_records_total", "Flow records produced to the sinks")
        self.m_parse_errors = m.fast_counter("sflow_parse_errors_total",
                                             "Datagrams that could not be decoded, by reason", ("reason",))
        self.m_exporter = m.fast_counter("sflow_exporter_datagrams_total",
                                         "Datagrams per exporter (UDP source address), by decode outcome",
                                         ("exporter", "status"))
        # Pre-bound keys: the hot path then touches dicts only.
        self._ok, self._err = ("success",), ("parse_error",)
        self._flow, self._counter, self._other = ("flow",), ("counter",), ("other",)

    def exporter(self, host: str) -> tuple[bytes, str]:
        got = self._exporters.get(host)
        if got is None:
            # Dual-stack sockets report IPv4 exporters as ::ffff:a.b.c.d; one form for both.
            text = host.split("%", 1)[0]
            if ":" in text:
                addr16 = socket.inet_pton(socket.AF_INET6, text)
                label = socket.inet_ntop(socket.AF_INET, addr16[12:]) if addr16[:12] == V4_MAPPED else text
            else:
                addr16 = V4_MAPPED + socket.inet_pton(socket.AF_INET, text)
                label = text
            if len(self._exporters) >= self.max_exporters:
                label = OTHER
            if len(self._exporters) < 100_000:
                self._exporters[host] = got = (addr16, label)
            else:
                got = (addr16, label)
        return got

    def handle(self, data: bytes, host: str, port: int) -> int:
        """Decode one datagram from (host, port) and emit its records; returns the number of records."""
        addr16, label = self.exporter(host)
        try:
            dgram = decode_datagram(data)
            msgs = self.encoder.encode(dgram, self.clock_ns(), addr16, port)
        except SFlowError as e:
            self._failed(label, e.reason, e, port)
            return 0
        except Exception as e:  # a decoder bug must cost one datagram, never the listener
            self._failed(label, "internal_error", e, port, exc=True)
            return 0
        self.m_datagrams.values[self._ok] += 1
        self.m_exporter.values[(label, "success")] += 1
        nflow = len(dgram.flow_samples)
        self.m_samples.values[()] += nflow + dgram.counter_samples + dgram.skipped_samples
        self.m_samples_received.values[self._flow] += nflow
        if dgram.counter_samples:
            self.m_samples_received.values[self._counter] += dgram.counter_samples
        if dgram.skipped_samples:
            self.m_samples_received.values[self._other] += dgram.skipped_samples
        if msgs:
            self.m_records.values[()] += len(msgs)
            emit = self._emit
            key = addr16 if self.key_mode == "exporter" else b""
            for m in msgs:
                emit(m, key)
        return len(msgs)

    def _failed(self, label: str, reason: str, err: Exception, port: int, exc: bool = False) -> None:
        self.m_datagrams.values[self._err] += 1
        self.m_parse_errors.values[(reason,)] += 1
        self.m_exporter.values[(label, "parse_error")] += 1
        level = logging.ERROR if exc else logging.WARNING
        msg = "unexpected error decoding an sFlow datagram" if exc else "malformed sFlow datagram"
        self._log.event((label, reason), level, msg, exporter=label, port=port, reason=reason,
                        error=f"{type(err).__name__}: {err}" if exc else str(err))
