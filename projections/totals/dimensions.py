"""A project's dimensions as the facts of `totals` carry them, and the cubes' keys over them."""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from projections.state import place
from projections.totals.tables import CUBES, PROJECT_DIMENSIONS

PERIODS = ("instrument", "year", "quarter", "month")


@dataclass(frozen=True, slots=True)
class CubeSpec:
    """A cube: its key's project part (dimensions of the project) and whether it is monthly."""

    name: str
    key: tuple[str, ...]
    base: tuple[str, ...]  # the key's columns that are project dimensions
    monthly: bool

    @property
    def base_indices(self) -> tuple[int, ...]:
        """Where the base columns sit in ProjectDims.dims."""
        return tuple(PROJECT_DIMENSIONS.index(column) for column in self.base)


CUBE_SPECS = tuple(
    CubeSpec(name, key, tuple(k for k in key if k not in PERIODS), "month" in key)
    for name, key in CUBES.items()
)
BASE_INDICES = tuple(spec.base_indices for spec in CUBE_SPECS)
# A page sums its facts once, by a fine key holding every column of every cube's key, then
# rolls those sums up into each cube.
FINE_BASE = tuple(c for c in PROJECT_DIMENSIONS if any(c in spec.base for spec in CUBE_SPECS))
FINE_BASE_OF = itemgetter(*(PROJECT_DIMENSIONS.index(column) for column in FINE_BASE))
FINE_KEY = (*FINE_BASE, *PERIODS)
ROLL_UPS = tuple(
    itemgetter(*(FINE_KEY.index(column) for column in spec.key)) for spec in CUBE_SPECS
)


@dataclass(slots=True)
class ProjectDims:
    """A project's dimensions as its facts carry them, and its estimated cost."""

    dims: tuple[Any, ...]  # in the order of PROJECT_DIMENSIONS
    estimated_cost: int | None
    _bases: tuple[tuple[Any, ...], ...] | None = field(default=None, init=False, compare=False)

    @property
    def bases(self) -> tuple[tuple[Any, ...], ...]:
        """The project's part of each cube's key, in the order of CUBE_SPECS."""
        if self._bases is None:
            d = self.dims
            self._bases = tuple(tuple(d[i] for i in indices) for indices in BASE_INDICES)
        return self._bases

    @property
    def territory(self) -> str:
        """The finest territory code among the dimensions: the project's own territory."""
        region, departement, epci, commune = self.dims[:4]
        return str(commune or epci or departement or region)


def project_dims(
    territory: str,
    theme: str,
    programme: str,
    directorate: str,
    convention: str,
    estimated_cost: int | None,
) -> ProjectDims:
    """Return the dimensions of a project from its details."""
    p = place(territory)
    return ProjectDims(
        (
            p.region,
            p.departement,
            p.epci,
            p.commune,
            p.band,
            theme,
            programme,
            directorate,
            convention,
            0 if estimated_cost is None else 1,
        ),
        estimated_cost,
    )
