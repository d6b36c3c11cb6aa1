"""Prometheus metrics of the streaming replica: up, lag in bytes and seconds, read models there."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from projections.db import ReadModelDatabase
from projections.replica import ReplicaState, ReplicaStates, replica_status


class ReplicaCollector(Collector):
    """Reads the replica's replay and its read models' positions at scrape time."""

    def __init__(self, primary: ReadModelDatabase, replica: ReplicaStates) -> None:
        self.primary = primary
        self.replica = replica

    def collect(self) -> Iterable[Any]:
        up = GaugeMetricFamily(
            "funding_replica_up",
            "1 when the read replica answers, else 0 (reads go to the primary).",
        )
        paused = GaugeMetricFamily(
            "funding_replica_replay_paused", "1 when its WAL replay is paused."
        )
        lag_bytes = GaugeMetricFamily(
            "funding_replica_lag_bytes", "WAL the primary wrote that the replica has not replayed."
        )
        lag_seconds = GaugeMetricFamily(
            "funding_replica_lag_seconds",
            "Age of the last transaction replayed while received WAL waits (0: all replayed).",
        )
        position = GaugeMetricFamily(
            "funding_replica_projection_position",
            "Log position a read model reached on the replica.",
            labels=["name"],
        )
        lag_events = GaugeMetricFamily(
            "funding_replica_projection_lag_events",
            "Events the primary's copy of a read model has applied beyond the replica's.",
            labels=["name"],
        )
        found = replica_status(self.primary, self.replica.db)
        up.add_metric([], 0 if found.state is ReplicaState.DOWN else 1)
        paused.add_metric([], 1 if found.state is ReplicaState.PAUSED else 0)
        if found.lag_bytes is not None:
            lag_bytes.add_metric([], found.lag_bytes)
        if found.lag_seconds is not None:
            lag_seconds.add_metric([], found.lag_seconds)
        for name, reached in found.positions.items():
            position.add_metric([name], reached)
            ahead = found.primary_positions.get(name, reached) - reached
            lag_events.add_metric([name], max(ahead, 0))
        yield from (up, paused, lag_bytes, lag_seconds, position, lag_events)
