"""Each request body is its command's fields: nothing added, nothing lost."""

from __future__ import annotations

from dataclasses import fields

import pytest
from fastapi.routing import APIRoute

from api.bodies import BODIES
from api.routes.writes import ROUTES, router
from domain.commands import WRITES, Command

# What the path or the server gives a command instead of its body.
FROM_PATH_OR_SERVER = {
    "project_id",
    "commitment_id",
    "convention_id",
    "indicator",
    "cleared",
    "number",
}


@pytest.mark.parametrize("command", WRITES, ids=lambda c: c.__name__)
def test_every_write_has_a_body_of_its_fields(command: type[Command]) -> None:
    body = BODIES[command]
    names = {f.name for f in fields(command)}

    assert set(body.model_fields) <= names
    assert names - set(body.model_fields) <= FROM_PATH_OR_SERVER


def test_every_write_route_reads_one_of_the_bodies() -> None:
    bodies = set(BODIES.values())
    read = {
        route.path: param.field_info.annotation
        for route in router.routes
        if isinstance(route, APIRoute)
        for param in route.dependant.body_params
    }

    assert len(read) == len(ROUTES)
    assert set(read.values()) <= bodies
