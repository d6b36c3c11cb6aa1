"""Prometheus metrics: requests by route and status, latency, events, projection lag and stops."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from api.leadership_metrics import LeadershipCollector
from api.replica_metrics import ReplicaCollector
from domain.application import Ledger
from projections.db import ReadModelDatabase
from projections.projector import status
from projections.replica import ReplicaStates

REQUESTS = Counter(
    "funding_http_requests_total", "HTTP requests answered.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "funding_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


class LedgerCollector(Collector):
    """Reads the log head and each read model's lag at scrape time (true across workers)."""

    def __init__(self, ledger: Ledger, read_models: ReadModelDatabase) -> None:
        self.ledger = ledger
        self.read_models = read_models

    def collect(self) -> Iterable[Any]:
        appended = GaugeMetricFamily(
            "funding_events_appended", "Events in the global log (its head position)."
        )
        position = GaugeMetricFamily(
            "funding_projection_position", "Log position a read model reached.", labels=["name"]
        )
        lag_events = GaugeMetricFamily(
            "funding_projection_lag_events", "Events not yet applied.", labels=["name"]
        )
        lag_seconds = GaugeMetricFamily(
            "funding_projection_lag_seconds",
            "Age of the oldest event not yet applied.",
            labels=["name"],
        )
        stopped = GaugeMetricFamily(
            "funding_projection_stopped",
            "1 when a read model stopped before an event it cannot apply (see /v1/projections).",
            labels=["name"],
        )
        found = status(self.ledger, self.read_models)
        appended.add_metric([], found[0].head if found else self.ledger.head_position())
        for s in found:
            position.add_metric([s.name], s.position)
            lag_events.add_metric([s.name], s.lag_events)
            lag_seconds.add_metric([s.name], s.lag_seconds)
            stopped.add_metric([s.name], 1 if s.error is not None else 0)
        yield from (appended, position, lag_events, lag_seconds, stopped)


def render(
    ledger: Ledger, read_models: ReadModelDatabase, replica: ReplicaStates | None = None
) -> tuple[bytes, str]:
    """Return the metrics page and its content type."""
    registry = CollectorRegistry()
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        # Several workers: add up what each process counted.
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(REQUESTS)
        registry.register(LATENCY)
    registry.register(LedgerCollector(ledger, read_models))
    registry.register(LeadershipCollector(read_models))
    if replica is not None:
        registry.register(ReplicaCollector(read_models, replica))
    return generate_latest(registry), CONTENT_TYPE_LATEST
