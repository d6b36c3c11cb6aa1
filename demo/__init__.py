"""Demo and synthetic data, written as the ledger's commands: `funding demo` and benchmarks."""

from demo.planned import demo_id
from demo.stories import (
    BASSIN_MINIER_CONVENTION_ID,
    DemoSummary,
    holds_projects,
    load_demo,
    plan_demo,
)
from demo.synthetic import generate

__all__ = [
    "BASSIN_MINIER_CONVENTION_ID",
    "DemoSummary",
    "demo_id",
    "generate",
    "holds_projects",
    "load_demo",
    "plan_demo",
]
