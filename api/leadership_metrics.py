"""Prometheus metrics of projector leadership: who leads each read model, who waits."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from projections.db import ReadModelDatabase
from projections.leaders import leaders


class LeadershipCollector(Collector):
    """Reads, at scrape time, which process leads each read model (from the database)."""

    def __init__(self, read_models: ReadModelDatabase) -> None:
        self.read_models = read_models

    def collect(self) -> Iterable[Any]:
        leader = GaugeMetricFamily(
            "funding_projector_leader",
            "1 when the projector of this process (or of the `funding serve` that started "
            "it) leads the read model.",
            labels=["read_model"],
        )
        since = GaugeMetricFamily(
            "funding_projector_leader_since_seconds",
            "When the process leading the read model took the lead (Unix time), by its "
            "process id and host.",
            labels=["read_model", "pid", "host"],
        )
        followers = GaugeMetricFamily(
            "funding_projector_followers",
            "Projector processes waiting to take a read model over (PostgreSQL).",
            labels=["read_model"],
        )
        for name, found in leaders(self.read_models).items():
            current = found.leader
            leader.add_metric([name], 1 if current is not None and current.is_this_process() else 0)
            if current is not None:
                since.add_metric([name, str(current.pid), current.host], current.since.timestamp())
            if found.followers is not None:
                followers.add_metric([name], found.followers)
        yield from (leader, since, followers)
