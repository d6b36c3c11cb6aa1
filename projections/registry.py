"""The read models the projector feeds, rebuilds and the API reads: one entry each.

Adding a read model is adding its package (tables, feed, queries) and its entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from projections.db import ReadModelDatabase
from projections.events import Change, kind
from projections.layout import ReadModelLayout
from projections.projects import feed as projects_feed
from projections.projects import tables as projects_tables
from projections.sql import Cursor
from projections.totals import feed as totals_feed
from projections.totals import tables as totals_tables

# (database, cursor, generation, changes, bulk): applies a page within its transaction.
Applier = Callable[[ReadModelDatabase, Cursor, int, Sequence[Change], bool], None]


@dataclass(frozen=True, slots=True)
class ReadModel:
    """A read model: its tables, how a page of events changes them, and the events it reads."""

    name: str
    layout: ReadModelLayout
    apply: Applier
    # The topics of the events its feed applies (it ignores any other change of a page).
    topics: frozenset[str]


TOTALS = "totals"
PROJECTS = "projects"
# In the order they are fed (and listed by the status).
REGISTERED = (
    ReadModel(TOTALS, totals_tables.LAYOUT, totals_feed.apply_totals, totals_feed.TOPICS),
    ReadModel(PROJECTS, projects_tables.LAYOUT, projects_feed.apply_projects, projects_feed.TOPICS),
)
BY_NAME = {model.name: model for model in REGISTERED}
READ_MODELS = tuple(BY_NAME)
# (aggregate, event name) by topic, of every event some read model reads: the log's other
# events are skipped as they are read.
KINDS = {topic: kind(topic) for model in REGISTERED for topic in sorted(model.topics)}


def registered(name: str) -> ReadModel:
    """Return the read model of this name, or raise ValueError for an unknown name."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(
            f"unknown read model {name!r}: expected one of {', '.join(READ_MODELS)}"
        ) from None
