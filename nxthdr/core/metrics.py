"""Prometheus metrics: one registry per program, cheap counters for hot paths,
and the HTTP endpoint serving `/metrics` and `/health`.

prometheus_client's labelled counters cost about a microsecond per `labels()`
call; per-prefix and per-sample counting uses `FastCounter` instead (a dict
updated in place, exposed at scrape time), and gauges that mirror collector state
(peers up, stored prefixes) are computed when Prometheus scrapes, so they are
always consistent with the state, including after it is loaded from disk.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Callable, Iterable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from nxthdr.core.http import HttpServer

class FastCounter:
    """A labelled counter whose increments are a dict update."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...]) -> None:
        self.name = name[:-6] if name.endswith("_total") else name
        self.documentation = documentation
        self.labelnames = labelnames
        self.values: defaultdict[tuple, float] = defaultdict(float)

    def inc(self, labels: tuple, amount: float = 1) -> None:
        self.values[labels] += amount

    def get(self, labels: tuple) -> float:
        return self.values.get(labels, 0.0)

    def collect(self) -> Iterable[CounterMetricFamily]:
        fam = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, v in list(self.values.items()):
            fam.add_metric(list(labels), v)
        yield fam


class CallbackGauge:
    """A labelled gauge whose samples are computed at scrape time."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...],
                 source: Callable[[], Iterable[tuple[tuple, float]]]) -> None:
        self.name, self.documentation, self.labelnames, self.source = name, documentation, labelnames, source
        self.extra: list[Callable[[], Iterable[tuple[tuple, float]]]] = []

    def collect(self) -> Iterable[GaugeMetricFamily]:
        fam = GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)
        if not self.extra:
            for labels, v in self.source():
                fam.add_metric(list(labels), v)
        else:
            total: dict[tuple, float] = {}
            for src in [self.source, *self.extra]:
                for labels, v in src():
                    total[labels] = total.get(labels, 0.0) + v
            for labels, v in total.items():
                fam.add_metric(list(labels), v)
        yield fam


class _ConstLabels:
    """A registry view adding the same labels to every sample (e.g. `agent` on every saimiris agent metric)."""

    def __init__(self, registry: CollectorRegistry, labels: dict[str, str]) -> None:
        self.registry, self.labels = registry, labels

    def collect(self):
        for fam in self.registry.collect():
            fam.samples = [s._replace(labels={**self.labels, **s.labels}) for s in fam.samples]
            yield fam


class Metrics:
    """The registry of one program, with factory methods so names are declared in one place."""

    def __init__(self, namespace: str, const_labels: dict[str, str] | None = None) -> None:
        self.namespace = namespace
        self.registry = CollectorRegistry(auto_describe=True)
        self._exposed = _ConstLabels(self.registry, const_labels) if const_labels else self.registry
        self.health_checks: dict[str, Callable[[], tuple[bool, str]]] = {}
        self._declared: dict[str, object] = {}

    def _declare(self, name: str, make: Callable[[str], object]):
        """One metric per name: components of the same kind (two Kafka sinks) share it."""
        full = f"{self.namespace}_{name}"
        got = self._declared.get(full)
        if got is None:
            got = self._declared[full] = make(full)
        return got

    def fast_counter(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> FastCounter:
        def make(full: str) -> FastCounter:
            c = FastCounter(full, doc, labels)
            self.registry.register(c)
            return c

        return self._declare(name, make)

    def counter(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
        return self._declare(name, lambda full: Counter(full, doc, labels, registry=self.registry))

    def gauge(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return self._declare(name, lambda full: Gauge(full, doc, labels, registry=self.registry))

    def callback_gauge(self, name: str, doc: str, labels: tuple[str, ...],
                       source: Callable[[], Iterable[tuple[tuple, float]]]) -> CallbackGauge:
        """Several sources of one gauge are summed per label set."""
        def make(full: str) -> CallbackGauge:
            g = CallbackGauge(full, doc, labels, source)
            self.registry.register(g)
            return g

        g = self._declare(name, make)
        if g.source is not source and source not in g.extra:
            g.extra.append(source)
        return g

    def histogram(self, name: str, doc: str, buckets: tuple[float, ...] | None = None) -> Histogram:
        kw = {"buckets": buckets} if buckets else {}
        return self._declare(name, lambda full: Histogram(full, doc, registry=self.registry, **kw))

    def add_health(self, name: str, check: Callable[[], tuple[bool, str]]) -> None:
        self.health_checks[name] = check

    def health(self) -> tuple[bool, dict]:
        out, ok = {}, True
        for name, check in self.health_checks.items():
            try:
                good, detail = check()
            except Exception as e:  # a failing check reports unhealthy, it never breaks /health
                good, detail = False, f"check failed: {e}"
            ok &= good
            out[name] = {"ok": good, "detail": detail}
        return ok, out

    def exposition(self) -> bytes:
        return generate_latest(self._exposed)


class MetricsServer(HttpServer):
    """HTTP endpoint: GET /metrics (Prometheus text format) and GET /health (JSON, 200 or 503)."""

    def __init__(self, metrics: Metrics, address: str) -> None:
        self.metrics = metrics
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/health", self._health)
        app.router.add_get("/healthz", self._health)
        super().__init__(app, address, name="metrics")

    async def _metrics(self, request: web.Request) -> web.Response:
        body = await asyncio.get_running_loop().run_in_executor(None, self.metrics.exposition)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _health(self, request: web.Request) -> web.Response:
        ok, detail = self.metrics.health()
        return web.Response(text=json.dumps({"status": "ok" if ok else "unhealthy", "checks": detail}),
                            status=200 if ok else 503, content_type="application/json")
