"""The registry: every event a read model reads is an event class of the domain."""

from __future__ import annotations

import pytest
from eventsourcing.utils import get_topic, resolve_topic

from domain.convention import Convention
from domain.project import Project
from projections.events import PROJECT_TOPIC
from projections.registry import KINDS, READ_MODELS, REGISTERED, registered

READ_TOPICS = sorted({(model.name, topic) for model in REGISTERED for topic in model.topics})


def domain_event(topic: str) -> type[Project.Event | Convention.Event]:
    """The domain event class a topic names, or AssertionError."""
    try:
        found = resolve_topic(topic)
    except Exception as error:
        raise AssertionError(f"{topic} names no class of the domain: {error}") from error
    assert isinstance(found, type), f"{topic} is not a class"
    assert issubclass(found, Project.Event | Convention.Event), f"{topic} is no domain event"
    assert get_topic(found) == topic, f"{topic} is recorded as {get_topic(found)}"
    return found


@pytest.mark.parametrize(("read_model", "topic"), READ_TOPICS)
def test_every_event_a_read_model_reads_is_a_domain_event(read_model: str, topic: str) -> None:
    event = domain_event(topic)

    assert KINDS[topic][1] == event.__name__


def test_a_misspelled_event_name_fails() -> None:
    with pytest.raises(AssertionError, match="names no class"):
        domain_event(PROJECT_TOPIC + "LoanGrantd")


def test_an_unknown_read_model_is_refused_naming_the_registered_ones() -> None:
    with pytest.raises(ValueError, match="expected one of totals, projects"):
        registered("budgets")
    assert READ_MODELS == ("totals", "projects")
