"""The `projects` read model's tables: each project's row and figures, and the conventions."""

from __future__ import annotations

from projections.db import ReadModelDatabase
from projections.layout import ReadModelLayout, generation_table, index_statement
from projections.sql import Dialect
from projections.state import commitments_ddl

PROJECT_COLUMNS = (
    "project_id",
    "name",
    "search",
    "territory",
    "level",
    "region",
    "departement",
    "epci",
    "commune",
    "band",
    "theme",
    "programme",
    "directorate",
    "status",
    "identified_on",
    "closed_on",
    "reference",
    "estimated_cost",
    "version",
    "position",
    "committed",
    "cancelled",
    "disbursed",
    "repaid",
    "outstanding",
    "commitments",
    "updated_position",
)
CONVENTION_COLUMNS = (
    "convention_id",
    "title",
    "directorate",
    "signatories",
    "themes",
    "signed_on",
    "ends_on",
    "envelope",
    "ended_on",
    "version",
    "position",
)

# The bulk scratch table `project_moves`: what each event of a project moved.
MOVE_COLUMNS = (
    "project_id",
    "commitment_id",
    "version",
    "position",
    "cancelled",
    "disbursed",
    "repaid",
)
MOVE_TYPES = ("text", "text", "int4", "int8", "int8", "int8", "int8")


def _projects_ddl(db: ReadModelDatabase, generation: int, bulk: bool) -> list[str]:
    def t(name: str) -> str:
        return db.table(generation_table(name, generation))

    def index(table: str, *columns: str) -> str:
        return index_statement(db, generation_table(table, generation), columns)

    return [
        f"CREATE TABLE {t('projects')} ("
        "project_id TEXT PRIMARY KEY, name TEXT NOT NULL, search TEXT NOT NULL, "
        "territory TEXT NOT NULL, "
        "level TEXT NOT NULL, region TEXT NOT NULL, departement TEXT NOT NULL, "
        "epci TEXT NOT NULL, commune TEXT NOT NULL, band TEXT NOT NULL, theme TEXT NOT NULL, "
        "programme TEXT NOT NULL, directorate TEXT NOT NULL, status TEXT NOT NULL, "
        f"identified_on {db.date_type} NOT NULL, closed_on {db.date_type}, reference TEXT, "
        "estimated_cost BIGINT, version INTEGER NOT NULL, position BIGINT NOT NULL, "
        "committed BIGINT NOT NULL, cancelled BIGINT NOT NULL, disbursed BIGINT NOT NULL, "
        "repaid BIGINT NOT NULL, outstanding BIGINT NOT NULL, commitments INTEGER NOT NULL, "
        "updated_position BIGINT NOT NULL)",
        f"CREATE TABLE {t('project_conventions')} (project_id TEXT NOT NULL, "
        "convention_id TEXT NOT NULL, position BIGINT NOT NULL, "
        "PRIMARY KEY (project_id, convention_id))",
        f"CREATE TABLE {t('conventions')} (convention_id TEXT PRIMARY KEY, title TEXT NOT NULL, "
        "directorate TEXT NOT NULL, signatories TEXT NOT NULL, themes TEXT NOT NULL, "
        f"signed_on {db.date_type} NOT NULL, ends_on {db.date_type}, envelope BIGINT, "
        f"ended_on {db.date_type}, version INTEGER NOT NULL, position BIGINT NOT NULL)",
        *commitments_ddl(t("projects_commitments")),
        *(
            [
                # One row per event of a project but its identification: what it moved.
                f"CREATE TABLE {t('project_moves')} (project_id TEXT NOT NULL, "
                "commitment_id TEXT, version INTEGER NOT NULL, position BIGINT NOT NULL, "
                "cancelled BIGINT NOT NULL, disbursed BIGINT NOT NULL, repaid BIGINT NOT NULL)"
            ]
            if bulk
            else []
        ),
    ]


def _projects_deferred(db: ReadModelDatabase, generation: int) -> list[str]:
    def index(table: str, *columns: str) -> str:
        return index_statement(db, generation_table(table, generation), columns)

    return [
        index("projects", "name", "project_id"),
        *(
            index("projects", column)
            for column in ("region", "departement", "epci", "commune", "directorate")
        ),
        index("project_conventions", "convention_id"),
        # The instrument and period filters of the projects list probe it per project.
        index("projects_commitments", "project_id", "instrument", "committed_on"),
    ]


def _projects_settling(db: ReadModelDatabase, generation: int) -> list[list[str]]:
    """Set each project's figures from its commitments and its moves, then index."""

    def t(name: str) -> str:
        return db.table(generation_table(name, generation))

    latest = "GREATEST" if db.dialect is Dialect.POSTGRES else "MAX"
    figures = (
        f"UPDATE {t('projects')} AS p SET committed = f.committed, "  # noqa: S608
        "commitments = f.commitments, cancelled = f.cancelled, disbursed = f.disbursed, "
        "repaid = f.repaid, outstanding = f.outstanding, "
        f"version = {latest}(p.version, f.version), "
        f"updated_position = {latest}(p.updated_position, f.position) "
        "FROM (SELECT project_id, SUM(committed) AS committed, "
        "SUM(commitments) AS commitments, SUM(cancelled) AS cancelled, "
        "SUM(disbursed) AS disbursed, SUM(repaid) AS repaid, "
        "SUM(outstanding) AS outstanding, MAX(version) AS version, "
        "MAX(position) AS position FROM ("
        "SELECT project_id, amount AS committed, 1 AS commitments, 0 AS cancelled, "
        "0 AS disbursed, 0 AS repaid, 0 AS outstanding, 0 AS version, 0 AS position "
        f"FROM {t('projects_commitments')} "
        "UNION ALL SELECT m.project_id, 0, 0, m.cancelled, m.disbursed, m.repaid, "
        "CASE WHEN c.instrument = 'loan' THEN m.disbursed ELSE 0 END - m.repaid, "
        f"m.version, m.position FROM {t('project_moves')} AS m "
        f"LEFT JOIN {t('projects_commitments')} AS c ON c.commitment_id = m.commitment_id"
        ") AS moved GROUP BY project_id) AS f WHERE p.project_id = f.project_id"
    )
    *projects_indexes, links_index, commitments_index = _projects_deferred(db, generation)
    return [[figures, *projects_indexes], [links_index, commitments_index]]


LAYOUT = ReadModelLayout(
    tables=("projects", "project_conventions", "conventions", "projects_commitments"),
    views=("projects", "project_conventions", "conventions"),
    ddl=_projects_ddl,
    deferred=_projects_deferred,
    settling=_projects_settling,
    scratch=("project_moves",),
)
