"""What the reads answer: projects, totals, conventions, territories, reference data."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator

from api.answers.replica import ReplicaOut
from domain.outcomes import RecordedEvent
from domain.project import Project
from domain.reference.territories import Territory
from domain.values import ProjectStatus
from projections.leaders import Leader

# Money goes out as a JSON string with exactly 2 decimals ("35000000.00").
Money = Annotated[Decimal, PlainSerializer(lambda d: f"{d:.2f}", return_type=str, when_used="json")]


class CommitmentOut(BaseModel):
    """A commitment with the money moved under it."""

    commitment_id: UUID
    instrument: str
    amount: Money
    committed_on: date
    cancelled: Money
    net_committed: Money
    disbursed: Money
    to_disburse: Money
    repaid: Money
    outstanding: Money
    delivered_on: date | None
    details: dict[str, Any]


class IndicatorOut(BaseModel):
    """An impact indicator and its measures."""

    indicator: str
    unit: str
    baseline: Decimal | None
    target: Decimal
    due_on: date
    measurements: list[tuple[date, Decimal]]


class FiguresOut(BaseModel):
    """A project's figures, summed over its commitments."""

    committed: Money
    cancelled: Money
    net_committed: Money
    disbursed: Money
    to_disburse: Money
    repaid: Money
    outstanding: Money
    commitments: int


class ProjectOut(BaseModel):
    """A project as recorded: its details, commitments, indicators and figures."""

    id: UUID
    version: int
    name: str
    territory: str
    theme: str
    programme: str | None
    directorate: str
    estimated_cost: Money | None
    identified_on: date
    reference: str | None
    status: ProjectStatus
    closed_on: date | None
    conventions: list[UUID]
    figures: FiguresOut
    commitments: list[CommitmentOut]
    indicators: list[IndicatorOut]

    @classmethod
    def of(cls, project: Project) -> ProjectOut:
        """Build the view of a project aggregate."""
        commitments = [
            CommitmentOut(
                commitment_id=cid,
                instrument=c.instrument.value,
                amount=c.amount,
                committed_on=c.committed_on,
                cancelled=c.cancelled,
                net_committed=c.net_committed,
                disbursed=c.disbursed,
                to_disburse=c.to_disburse,
                repaid=c.repaid,
                outstanding=c.outstanding,
                delivered_on=c.delivered_on,
                details={k: v for k, v in c.details.items() if v is not None},
            )
            for cid, c in project.commitments.items()
        ]
        zero = Decimal("0.00")
        figures = FiguresOut(
            committed=sum((c.amount for c in commitments), zero),
            cancelled=sum((c.cancelled for c in commitments), zero),
            net_committed=sum((c.net_committed for c in commitments), zero),
            disbursed=sum((c.disbursed for c in commitments), zero),
            to_disburse=sum((c.to_disburse for c in commitments), zero),
            repaid=sum((c.repaid for c in commitments), zero),
            outstanding=sum((c.outstanding for c in commitments), zero),
            commitments=len(commitments),
        )
        return cls(
            id=project.id,
            version=project.version,
            name=project.name,
            territory=project.territory,
            theme=project.theme,
            programme=project.programme,
            directorate=project.directorate,
            estimated_cost=project.estimated_cost,
            identified_on=project.identified_on,
            reference=project.reference,
            status=project.status,
            closed_on=project.closed_on,
            conventions=list(project.conventions),
            figures=figures,
            commitments=commitments,
            indicators=[
                IndicatorOut(
                    indicator=code,
                    unit=i.unit,
                    baseline=i.baseline,
                    target=i.target,
                    due_on=i.due_on,
                    measurements=list(i.measurements),
                )
                for code, i in project.indicators.items()
            ],
        )


class EventOut(BaseModel):
    """One stored event of a project."""

    version: int
    position: int
    recorded_at: datetime
    type: str
    actor: str
    directorate: str | None
    correlation_id: str | None
    data: dict[str, Any]

    @classmethod
    def of(cls, e: RecordedEvent) -> EventOut:
        """Build the view of a recorded event."""
        return cls(
            version=e.version,
            position=e.position,
            recorded_at=e.recorded_at,
            type=e.type,
            actor=e.meta.get("actor", ""),
            directorate=e.meta.get("directorate") or None,
            correlation_id=e.meta.get("correlation_id"),
            data=e.data,
        )


class EventsOut(BaseModel):
    """A project's events, in order."""

    project_id: UUID
    events: list[EventOut]


class Health(BaseModel):
    """Liveness or readiness."""

    status: str
    position: int | None = None


class FiguresMixin(BaseModel):
    """The figures every total, project and convention carries."""

    committed: Money
    cancelled: Money
    net_committed: Money
    disbursed: Money
    to_disburse: Money
    repaid: Money
    outstanding: Money
    projects: int
    commitments: int
    leverage: Decimal | None = Field(
        default=None, description="Σ estimated cost / Σ net committed, over costed projects."
    )


class TotalsRow(FiguresMixin):
    """One group of the totals: its dimension values (null: not applicable), beside each
    territory, band, theme, instrument, programme, directorate or convention its label as
    `<dimension>_label` (`region_label`: "Hauts-de-France"; null for a null value), and its
    figures."""

    model_config = ConfigDict(extra="allow")


class TotalsOut(BaseModel):
    """Totals grouped by dimensions, their grand total, and the log position they reflect."""

    rows: list[TotalsRow]
    total: FiguresMixin
    position: int


class ProjectSummaryOut(FiguresMixin):
    """A project as the read model holds it: current details and figures."""

    project_id: UUID
    name: str
    territory: str
    level: str
    region: str | None
    departement: str | None
    epci: str | None
    commune: str | None
    band: str | None
    theme: str
    programme: str | None
    directorate: str
    status: ProjectStatus
    identified_on: date
    closed_on: date | None
    reference: str | None
    estimated_cost: Money | None
    conventions: list[UUID]
    version: int
    position: int


class ProjectsPage(BaseModel):
    """A page of projects; pass `next_cursor` as `cursor` for the next one."""

    items: list[ProjectSummaryOut]
    next_cursor: str | None
    position: int


class ConventionOut(FiguresMixin):
    """A convention, the summed figures of its projects, and what remains of its envelope."""

    convention_id: UUID
    title: str
    directorate: str
    signatories: list[str]
    themes: list[str]
    signed_on: date
    ends_on: date | None
    ended_on: date | None
    envelope: Money | None
    version: int
    position: int
    project_ids: list[UUID] | None = None
    remaining: Money | None = Field(
        default=None,
        description="The envelope less what its projects committed (net): negative past it; "
        "null without an envelope.",
    )
    over_envelope: bool = Field(
        default=False, description="Its projects committed (net) more than its envelope."
    )

    @model_validator(mode="after")
    def _envelope_used(self) -> ConventionOut:
        if self.envelope is not None:
            self.remaining = self.envelope - self.net_committed
            self.over_envelope = self.net_committed > self.envelope
        return self


class ConventionsOut(BaseModel):
    """Every convention."""

    items: list[ConventionOut]
    position: int


class TerritoryOut(BaseModel):
    """A territory of the COG 2026, and the totals of the projects in it and below."""

    code: str
    name: str
    level: str
    parents: list[str]
    population: int | None
    band: str | None
    totals: FiguresMixin | None = None
    position: int | None = None

    @classmethod
    def of(
        cls, territory: Territory, totals: dict[str, Any] | None = None, position: int | None = None
    ) -> TerritoryOut:
        """Build the view of a territory."""
        return cls(
            **territory.as_dict(),
            totals=None if totals is None else FiguresMixin.model_validate(totals),
            position=position,
        )


class TerritoriesOut(BaseModel):
    """Territories found."""

    items: list[TerritoryOut]


class Label(BaseModel):
    """A code and its French label."""

    code: str
    label: str


class DirectorateOut(Label):
    """A regional directorate and the regions it covers."""

    regions: list[str]


class ReferenceOut(BaseModel):
    """The reference vocabularies."""

    themes: list[Label]
    programmes: list[Label]
    instruments: list[Label]
    directorates: list[DirectorateOut]


class ProjectionErrorOut(BaseModel):
    """The event a stopped read model cannot apply: its log position, and why."""

    position: int
    reason: str


class LeaderOut(BaseModel):
    """The projector process applying a read model now."""

    pid: int = Field(description="its process id")
    host: str = Field(description="the host it runs on")
    since: datetime = Field(description="when it took the lead")
    term: int | None = Field(
        None, description="PostgreSQL: how many leaderships this read model has had, this one's"
    )

    @classmethod
    def of(cls, leader: Leader | None) -> LeaderOut | None:
        """The answer for a leader found in the database (None: no leader)."""
        if leader is None:
            return None
        return cls(pid=leader.pid, host=leader.host, since=leader.since, term=leader.term)


class ProjectionOut(BaseModel):
    """Where a read model stands against the log (`stopped`: see `error`)."""

    name: str
    state: str = Field(description="live, rebuilding or stopped")
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    rebuild_position: int | None
    error: ProjectionErrorOut | None = None
    leader: LeaderOut | None = Field(
        None, description="the projector process applying it (null: none runs now)"
    )
    followers: int | None = Field(
        None, description="PostgreSQL: projector processes waiting to take over (SQLite: null)"
    )


class ProjectionsOut(BaseModel):
    """Every read model's status."""

    items: list[ProjectionOut]
    replica: ReplicaOut | None = Field(
        default=None, description="The streaming replica reads go to (null without one)."
    )
