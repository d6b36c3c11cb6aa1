"""Reads of the read models: totals, projects, conventions, territories, reference, status."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.answers.reads import (
    ConventionOut,
    ConventionsOut,
    DirectorateOut,
    Label,
    LeaderOut,
    ProjectionErrorOut,
    ProjectionOut,
    ProjectionsOut,
    ProjectsPage,
    ProjectSummaryOut,
    ReferenceOut,
    TerritoriesOut,
    TerritoryOut,
    TotalsOut,
)
from api.answers.replica import replica_answer
from api.bodies import Day
from api.cache import AnswerCache, live_state, remember_raw
from api.csv_rows import looks_like_formula
from api.deps import LedgerDep, Reader, ReadModelsDep, Services, ServicesDep
from api.problems import problem_responses
from api.query_params import ExtraQuery
from api.read_source import ReadingDep
from domain.reference import DIRECTORATES, INSTRUMENT_LABELS, PROGRAMMES, THEMES
from domain.reference.territories import Band, TerritoryLevel, load_territories
from projections import reading
from projections.db import ReadModelDatabase
from projections.leaders import leaders
from projections.live import State
from projections.projector import status
from projections.projects import queries as project_queries
from projections.totals import labels as totals_labels
from projections.totals import queries as totals_queries
from projections.totals.territories import territories_totals

# Every role may read these: no 403.
router = APIRouter(prefix="/v1", tags=["reads"], responses=problem_responses(401, 503))

TOTALS_PARAMS = frozenset({"group_by", "from", "to", "format", "sep", "min_position"})
# The totals' `<dimension>=value` filters as the OpenAPI document describes them
# (`reading.condition` checks them); several filters all apply.
FILTERS = {
    "territory": "Only the projects in this territory or below it: `region:32`, "
    "`departement:59`, `epci:200068500` or `commune:59350` (see /v1/territories).",
    "region": "Only this région: `region:32` or `32`.",
    "departement": "Only this département: `departement:59` or `59`.",
    "epci": "Only this EPCI (its SIREN): `epci:200068500` or `200068500`.",
    "commune": "Only this commune (its INSEE code): `commune:59350` or `59350`.",
    "band": f"Only this population band: {', '.join(band.value for band in Band)}.",
    "theme": "Only this theme (a code of /v1/reference).",
    "instrument": "Only this instrument (a code of /v1/reference).",
    "programme": "Only this programme (a code of /v1/reference).",
    "directorate": "Only this directorate (a code of /v1/reference).",
    "convention": "Only this convention (its id).",
    "year": "Only this year of the effective date, like 2024.",
    "quarter": "Only this quarter of the effective date, like 2024-Q1.",
    "month": "Only this month of the effective date, like 2024-03.",
}


def totals_filters() -> dict[str, str]:
    """The totals' filters, each with its description, for `ExtraQuery` to document."""
    described = {}
    for name in (reading.TERRITORY_FILTER, *reading.DIMENSIONS):
        text = FILTERS.get(name, f"Only this {name}.")
        if name in reading.NULLABLE:
            text += f" Empty: only those without a {name}."
        described[name] = text
    return described


TOTALS_FILTERS = ExtraQuery(totals_filters())
DateFrom = Annotated[
    Day | None,
    Query(alias="from", description="Only effective dates on or after this day (YYYY-MM-DD)."),
]
DateTo = Annotated[
    Day | None,
    Query(alias="to", description="Only effective dates on or before this day (YYYY-MM-DD)."),
]
Output = Annotated[
    str,
    Query(alias="format", pattern="^(json|csv)$", description="`json`, or `csv` for a file."),
]


@router.get(
    "/totals",
    response_model=TotalsOut,
    openapi_extra=TOTALS_FILTERS.openapi_extra(),
    dependencies=[Depends(TOTALS_FILTERS)],
    responses={
        200: {
            "description": "JSON, or with `format=csv` a CSV file (the grand total last).",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        422: {
            **problem_responses(422)[422],
            "description": "An invalid field, a min_position beyond the log's head, or an "
            "answer of more rows than the limit: narrow the question.",
        },
    },
)
async def get_totals(
    request: Request,
    _: Reader,
    read: ReadingDep,
    group_by: Annotated[
        str, Query(description=f"Comma-separated dimensions: {', '.join(reading.DIMENSIONS)}")
    ] = "",
    date_from: DateFrom = None,
    date_to: DateTo = None,
    output: Output = "json",
    sep: Annotated[str, Query(pattern="^[,;]$", description="CSV separator")] = ",",
) -> Any:
    """Figures grouped by dimensions, with their grand total; filter with `<dimension>=value`
    or `territory=<code>` (that territory and everything below), `from`/`to` (effective dates).

    An answer holds at most FUNDING_TOTALS_MAX_ROWS rows (10,000 by default): a question
    with more groups is refused (422, saying the limit) and is to be narrowed, with fewer
    `group_by` dimensions or a filter (`territory=`, `year=`, `from`/`to`…).
    """
    services: Services = request.app.state.services
    max_rows = services.settings.totals_max_rows
    filters = {k: v for k, v in request.query_params.items() if k not in TOTALS_PARAMS}
    dims = [d.strip() for d in group_by.split(",") if d.strip()]
    if output == "csv":

        def labelled_answer(db: ReadModelDatabase) -> totals_queries.Totals:
            answer = totals_queries.totals(db, dims, filters, date_from, date_to, max_rows)
            totals_labels.labelled(db, answer.rows, dims)
            return answer

        answer = await run_in_threadpool(read.run, labelled_answer)
        return _csv(dims, answer, sep, read.headers)

    # A repeated question is answered from memory while the read model has not moved: its
    # state is followed in memory (PostgreSQL), else read in one statement.
    cache: AnswerCache = request.app.state.totals_cache
    key = (tuple(dims), tuple(sorted(filters.items())), date_from, date_to)
    # Convention titles may change while the totals do not move: such answers are not kept.
    cacheable = "convention" not in dims
    live = request.app.state.live_states
    state = None if read.min_position or not cacheable else live.current("totals")
    if state is not None and (body := cache.get(key, state)) is not None:
        remember_raw(cache, request.scope, state, body)
        return Response(body, media_type="application/json")

    def compute(db: ReadModelDatabase) -> tuple[State, bytes]:
        # The state known in memory is the primary's: a replica's is read from it.
        seen = state if state is not None and db is read.primary else live_state(db, "totals")
        cached = cache.get(key, seen) if cacheable else None
        if cached is not None:
            return seen, cached
        answer = totals_queries.totals(db, dims, filters, date_from, date_to, max_rows)
        totals_labels.labelled(db, answer.rows, dims)
        body = (
            TotalsOut.model_validate(
                {"rows": answer.rows, "total": answer.total, "position": answer.position}
            )
            .model_dump_json()
            .encode()
        )
        if cacheable:
            cache.put(key, seen, body)
        return seen, body

    seen, computed = await run_in_threadpool(read.run, compute)
    if state is not None:
        remember_raw(cache, request.scope, seen, computed)
    return Response(computed, media_type="application/json", headers=read.headers)


def _csv(
    dims: list[str], answer: totals_queries.Totals, sep: str, headers: dict[str, str]
) -> Response:
    return Response(
        content=totals_csv(dims, answer, sep),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="totals.csv"',
            "X-Position": str(answer.position),
            **headers,
        },
    )


def totals_csv(dims: list[str], answer: totals_queries.Totals, sep: str) -> str:
    """A totals answer as CSV text (UTF-8 BOM first, the grand total last)."""
    # A French spreadsheet reads `;`-separated files with decimal commas.
    decimal_comma = sep == ";"

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, Decimal):
            text = f"{value:.2f}"
            return text.replace(".", ",") if decimal_comma else text
        text = str(value)
        # A text recorded before imports refused formulas must not run as one in a spreadsheet.
        return f"'{text}" if isinstance(value, str) and looks_like_formula(text) else text

    keys = totals_labels.label_columns(dims)
    columns = [*keys, *reading.FIGURES]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator="\r\n")
    writer.writerow(columns)
    for row in answer.rows:
        writer.writerow([cell(row.get(c)) for c in columns])
    label = ["total", *[""] * (len(keys) - 1)] if keys else []
    writer.writerow([*label, *[cell(answer.total[f]) for f in reading.FIGURES]])
    return "\ufeff" + buffer.getvalue()


ProjectsFrom = Annotated[
    Day | None,
    Query(
        alias="from",
        description="Only the projects with a commitment whose effective date (granted, "
        "invested or launched on) is on or after this day (YYYY-MM-DD), as `/v1/totals` "
        "counts it; with `instrument`, one commitment of that instrument.",
    ),
]
ProjectsTo = Annotated[
    Day | None,
    Query(
        alias="to",
        description="Only the projects with a commitment whose effective date is on or "
        "before this day (YYYY-MM-DD); with `from`, in the period, both days included.",
    ),
]


@router.get("/projects", response_model=ProjectsPage)
def list_projects(
    _: Reader,
    read: ReadingDep,
    territory: Annotated[str | None, Query(description=FILTERS["territory"])] = None,
    theme: Annotated[str | None, Query(description=FILTERS["theme"])] = None,
    programme: Annotated[str | None, Query(description=FILTERS["programme"])] = None,
    instrument: Annotated[
        str | None,
        Query(
            description="Only the projects holding a commitment (not voided) of this "
            "instrument: `loan`, `equity` or `study` (see /v1/reference)."
        ),
    ] = None,
    directorate: Annotated[str | None, Query(description=FILTERS["directorate"])] = None,
    status: Annotated[
        str | None,
        Query(
            description="Only this status: active, completed, abandoned or voided "
            "(a voided project is listed only when asked for)."
        ),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200, description="Words in the name or reference (case and accents aside)."
        ),
    ] = None,
    date_from: ProjectsFrom = None,
    date_to: ProjectsTo = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> ProjectsPage:
    """A page of projects with their figures, ordered by name; `next_cursor` for the next
    (with the same filters)."""
    filters = {
        name: value
        for name, value in (
            ("territory", territory),
            ("theme", theme),
            ("programme", programme),
            ("instrument", instrument),
            ("directorate", directorate),
            ("status", status),
            ("q", q),
        )
        if value is not None
    }
    page = read.run(
        lambda db: project_queries.list_projects(
            db, filters, limit, cursor, date_from=date_from, date_to=date_to
        )
    )
    return ProjectsPage(
        items=[ProjectSummaryOut.model_validate(item) for item in page.items],
        next_cursor=page.next_cursor,
        position=page.position,
    )


@router.get("/conventions", response_model=ConventionsOut)
def list_conventions(_: Reader, read: ReadingDep) -> ConventionsOut:
    """Conventions with their projects' summed figures."""
    conventions, position = read.run(
        lambda db: (project_queries.list_conventions(db), reading.position(db, "projects"))
    )
    return ConventionsOut(
        items=[ConventionOut.model_validate(c) for c in conventions], position=position
    )


@router.get("/conventions/{convention_id}", response_model=ConventionOut)
def get_convention(convention_id: UUID, _: Reader, read: ReadingDep) -> ConventionOut:
    """One convention with its projects and their summed figures."""
    return ConventionOut.model_validate(
        read.run(lambda db: project_queries.convention_row(db, convention_id))
    )


@router.get("/territories", response_model=TerritoriesOut)
def list_territories(
    _: Reader,
    read: ReadingDep,
    level: TerritoryLevel | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> TerritoriesOut:
    """Territories of the Code Officiel Géographique 2026, by level and name or code, each
    with the totals of the projects in it and below it."""
    found = load_territories().search(q, level, limit)
    figures, position = read.run(lambda db: territories_totals(db, found))
    return TerritoriesOut(items=[TerritoryOut.of(t, figures[t.code], position) for t in found])


@router.get("/territories/{code}", response_model=TerritoryOut)
def get_territory(code: str, _: Reader, read: ReadingDep) -> TerritoryOut:
    """A territory (name, level, parents, population, band) and the totals of its projects."""
    territory = load_territories().get(code)
    answer = read.run(lambda db: totals_queries.totals(db, [], {"territory": territory.code}))
    return TerritoryOut.of(territory, answer.total, answer.position)


@router.get("/reference", response_model=ReferenceOut)
def get_reference(_: Reader) -> ReferenceOut:
    """Themes, programmes, instruments and directorates, with their French labels."""
    return ReferenceOut(
        themes=[Label(code=c, label=label) for c, label in THEMES.items()],
        programmes=[Label(code=c, label=label) for c, label in PROGRAMMES.items()],
        instruments=[Label(code=i.value, label=label) for i, label in INSTRUMENT_LABELS.items()],
        directorates=[
            DirectorateOut(code=d.code, label=d.label, regions=sorted(d.regions))
            for d in DIRECTORATES.values()
        ],
    )


@router.get("/projections", response_model=ProjectionsOut)
def get_projections(
    ledger: LedgerDep, read_models: ReadModelsDep, _: Reader, services: ServicesDep
) -> ProjectionsOut:
    """Per read model: position, log head, lag in events and seconds, state (stopped: error),
    and the projector process that leads it, with how many wait to take over; with a read
    replica, its replay lag and its read models' positions there."""
    led = leaders(read_models)
    return ProjectionsOut(
        items=[
            ProjectionOut(
                name=s.name,
                state=s.state.value,
                position=s.position,
                head=s.head,
                lag_events=s.lag_events,
                lag_seconds=round(s.lag_seconds, 3),
                rebuild_position=s.rebuild_position,
                error=None
                if s.error is None
                else ProjectionErrorOut(position=s.error.position, reason=s.error.reason),
                leader=LeaderOut.of(led[s.name].leader),
                followers=led[s.name].followers,
            )
            for s in status(ledger, read_models)
        ],
        replica=replica_answer(read_models, services.replica),
    )
