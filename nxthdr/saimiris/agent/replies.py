"""Encoded replies from the capture threads to the Kafka sink (batched there into records)."""

from __future__ import annotations

import asyncio

from nxthdr.core.kafka import KafkaSink
from nxthdr.core.metrics import Metrics


class ReplyOutput:
    """Thread-safe entry (`deliver`) in front of the asyncio-only KafkaSink; counts when output is disabled."""

    def __init__(self, sink: KafkaSink | None, metrics: Metrics) -> None:
        self.sink = sink
        self.loop: asyncio.AbstractEventLoop | None = None
        self.discarded = metrics.fast_counter("replies_discarded_total", "Replies not produced (kafka.out_enable off)")
        self.extra = []  # in-process consumers (tests, benchmarks): callables taking a list of messages

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def deliver(self, messages: list[bytes]) -> None:
        """Called from a capture thread."""
        loop = self.loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._emit, messages)
        except RuntimeError:  # loop closed at shutdown
            pass

    def _emit(self, messages: list[bytes]) -> None:
        if self.sink is not None:
            emit = self.sink.emit
            for m in messages:
                emit(m)
        else:
            self.discarded.inc((), len(messages))
        for consumer in self.extra:
            consumer(messages)
