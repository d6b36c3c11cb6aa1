"""A new project that repeats an open one's name, territory and directorate: 409 unless confirmed.

Checked against the projects read model, once it has caught up with the log's head (for a
second at most, and never longer than the read-wait timeout: a stopped projector must not
hold every new project), so the same project posted twice in a row is caught; the money
facts are checked by the ledger itself (`domain.duplicates`).
"""

from __future__ import annotations

import anyio.from_thread
from fastapi import Request

from domain.commands import IdentifyProject
from domain.errors import PossibleDuplicateError
from projections.db import ReadModelDatabase
from projections.live import LiveStates
from projections.projects.queries import open_namesakes
from projections.registry import PROJECTS

# The longest wait for the projects read model before looking for an earlier namesake.
MAX_WAIT = 1.0


def refuse_namesake(
    request: Request, head: int, read_models: ReadModelDatabase, command: IdentifyProject
) -> None:
    """Refuse (409 possible-duplicate) a project repeating an open one (in a worker thread)."""
    states: LiveStates = request.app.state.live_states
    timeout = min(MAX_WAIT, request.app.state.services.settings.read_wait_timeout)
    anyio.from_thread.run(lambda: states.reach(head, timeout=timeout, read_models=(PROJECTS,)))
    found = open_namesakes(read_models, command.directorate, command.territory, command.name)
    if not found:
        return
    earlier = found[0]
    raise PossibleDuplicateError(
        f"project {earlier['project_id']} ({earlier['name']!r}) is already open in "
        f"{command.territory} for directorate {command.directorate!r}: if both are meant, "
        "send it again with ?confirm_duplicate=true",
        {
            "kind": "project",
            "project_id": earlier["project_id"],
            "name": earlier["name"],
            "territory": command.territory,
            "directorate": command.directorate,
            "position": earlier["position"],
        },
    )
