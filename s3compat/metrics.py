"""Prometheus metrics of a gateway or chunk daemon: one registry per process (no globals)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RequestMetrics:
    """Requests by operation and status, latency, and bytes in and out."""

    def __init__(self, prefix: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            f"{prefix}_requests_total", "Requests answered", ["operation", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            f"{prefix}_request_seconds", "Time to answer (headers sent, or whole body when "
            "it was not streamed)", ["operation"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.bytes_in = Counter(
            f"{prefix}_received_bytes_total", "Request body bytes declared", ["operation"],
            registry=self.registry,
        )  # fmt: skip
        self.bytes_out = Counter(
            f"{prefix}_sent_bytes_total", "Response body bytes declared", ["operation"],
            registry=self.registry,
        )  # fmt: skip

    def add(self, collector: Collector) -> None:
        self.registry.register(collector)

    def middleware(self, operation_of: Callable[[web.Request], str]) -> Middleware:
        """An aiohttp middleware recording every request under `operation_of(request)`."""

        @web.middleware
        async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
            started = time.monotonic()
            status, sent = 500, 0
            try:
                response = await handler(request)
                status, sent = response.status, response.content_length or 0
                return response
            except web.HTTPException as error:
                status = error.status
                raise
            finally:
                operation = operation_of(request)
                self.requests.labels(operation, str(status)).inc()
                self.latency.labels(operation).observe(time.monotonic() - started)
                self.bytes_in.labels(operation).inc(request.content_length or 0)
                self.bytes_out.labels(operation).inc(sent)

        return record

    async def handle(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE}
        )


class GaugeCollector(Collector):
    """Gauges computed at scrape time from a callable returning (labels, value) pairs."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labels: list[str],
        values: Callable[[], Iterable[tuple[list[str], float]]],
    ) -> None:
        self.name, self.documentation, self.labels, self.values = (
            name,
            documentation,
            labels,
            values,
        )

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        for label_values, value in self.values():
            family.add_metric(label_values, value)
        yield family
