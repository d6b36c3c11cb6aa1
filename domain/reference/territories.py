"""French territories of the Code Officiel Géographique 2026: régions to communes, with EPCI."""

from __future__ import annotations

import gzip
import heapq
import json
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

from domain.errors import InvalidValueError, UnknownTerritoryError

DATA_FORMAT = 1
SMALL_LIMIT = 20_000
LARGE_LIMIT = 100_000


class TerritoryLevel(StrEnum):
    """How fine a territory is, from the whole region down to a single commune."""

    REGION = "region"
    DEPARTEMENT = "departement"
    EPCI = "epci"
    COMMUNE = "commune"


_DEPTH = {level: depth for depth, level in enumerate(TerritoryLevel)}


class Band(StrEnum):
    """Population size band of a commune or EPCI."""

    RURAL_SMALL = "rural_small"
    MEDIUM = "medium"
    LARGE = "large"


def band_for(population: int | None) -> Band | None:
    """Return the band of a population: < 20,000, 20,000–100,000 inclusive, > 100,000."""
    if population is None:
        return None
    if population < SMALL_LIMIT:
        return Band.RURAL_SMALL
    if population <= LARGE_LIMIT:
        return Band.MEDIUM
    return Band.LARGE


@dataclass(frozen=True, slots=True)
class Territory:
    """One territory, its ancestors (nearest first) and its population."""

    code: str
    name: str
    level: TerritoryLevel
    parents: tuple[str, ...]
    population: int | None
    band: Band | None

    @property
    def local_code(self) -> str:
        """The official code without its level prefix (INSEE, SIREN or COG code)."""
        return self.code.partition(":")[2]

    @property
    def parent(self) -> str | None:
        """The code of the nearest ancestor, or None for a region."""
        return self.parents[0] if self.parents else None

    def at_level(self, level: TerritoryLevel) -> str | None:
        """Return the code of this territory's ancestor at a level, or its own code at its level.

        None when the level is finer than this territory's, or when it has no ancestor there
        (a commune outside any EPCI).
        """
        if level is self.level:
            return self.code
        prefix = f"{level.value}:"
        for code in self.parents:
            if code.startswith(prefix):
                return code
        return None

    def as_dict(self) -> dict[str, Any]:
        """Return the territory as plain JSON types."""
        return {
            "code": self.code,
            "name": self.name,
            "level": self.level.value,
            "parents": list(self.parents),
            "population": self.population,
            "band": self.band.value if self.band is not None else None,
        }


def _fold(text: str) -> str:
    """Lower-case, strip accents and turn punctuation into single spaces, for matching."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    # Œ and Æ do not decompose, yet French users type them as two letters.
    letters = decomposed.replace("œ", "oe").replace("æ", "ae")
    kept = "".join(ch if ch.isalnum() else " " for ch in letters if not unicodedata.combining(ch))
    return " ".join(kept.split())


@dataclass(frozen=True, slots=True)
class _Entry:
    folded: str
    code: str
    local: str
    territory: Territory


class Territories:
    """The territory reference: lookup by prefixed code, search, and the tree of children."""

    def __init__(
        self, territories: Iterable[Territory], source: dict[str, Any] | None = None
    ) -> None:
        self._by_code: dict[str, Territory] = {t.code: t for t in territories}
        self.source: dict[str, Any] = dict(source or {})
        children: dict[str, list[Territory]] = {}
        for territory in self._by_code.values():
            if territory.parents:
                children.setdefault(territory.parents[0], []).append(territory)
        self._children = {
            code: tuple(sorted(kids, key=lambda t: (_DEPTH[t.level], t.code)))
            for code, kids in children.items()
        }
        # Folding every name costs more than the rest of loading; only search needs it.
        self._entries: list[_Entry] | None = None

    def get(self, code: str) -> Territory:
        """Return the territory with this prefixed code, or raise UnknownTerritoryError."""
        try:
            return self._by_code[code]
        except (KeyError, TypeError):
            raise UnknownTerritoryError(str(code)) from None

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code in self._by_code

    def __len__(self) -> int:
        return len(self._by_code)

    def __iter__(self) -> Iterator[Territory]:
        return iter(self._by_code.values())

    def children(self, code: str) -> list[Territory]:
        """Return the territories whose nearest parent is this one, coarsest level first.

        A département's children are the EPCI centred on it and its communes outside any EPCI;
        the communes inside an EPCI are that EPCI's children.
        """
        self.get(code)
        return list(self._children.get(code, ()))

    def search(
        self, q: str | None, level: TerritoryLevel | None = None, limit: int = 20
    ) -> list[Territory]:
        """Return up to `limit` territories whose name contains `q` or whose code starts with it.

        Matching ignores case, accents and punctuation. Exact matches come first, then
        prefixes, then matches at a word start, then any substring; ties go to coarser
        levels, then to larger populations.
        """
        if limit < 0:
            raise InvalidValueError("limit", "must be 0 or more")
        entries = self._search_entries()
        if level is not None:
            entries = [e for e in entries if e.territory.level is level]
        needle = _fold(q or "")
        raw = (q or "").strip().casefold()
        if not needle and not raw:
            ranked = ((0, e) for e in entries)
        else:
            ranked = ((rank, e) for e in entries if (rank := _rank(e, needle, raw)) is not None)
        best = heapq.nsmallest(
            limit,
            ranked,
            key=lambda item: (
                item[0],
                _DEPTH[item[1].territory.level],
                -(item[1].territory.population or 0),
                item[1].folded,
                item[1].code,
            ),
        )
        return [entry.territory for _, entry in best]

    def _search_entries(self) -> list[_Entry]:
        if self._entries is None:
            self._entries = [
                _Entry(_fold(t.name), t.code.casefold(), t.local_code.casefold(), t)
                for t in self._by_code.values()
            ]
        return self._entries

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Territories:
        """Build the reference from the parsed data file written by scripts/build_territories.py."""
        if document.get("format") != DATA_FORMAT:
            raise ValueError(f"territories data format {document.get('format')!r} is unsupported")
        territories: list[Territory] = []
        region_of: dict[str, str] = {}
        commune_population: dict[str, int] = {}
        region_population: dict[str, int] = {}

        for dep_code, _name, region in document["departements"]:
            region_of[dep_code] = f"region:{region}"

        communes: list[Territory] = []
        shared_parents: dict[tuple[str | None, str], tuple[str, ...]] = {}
        for code, name, population, dep_code, epci in document["communes"]:
            key = (epci, dep_code)
            parents = shared_parents.get(key)
            if parents is None:
                dep = f"departement:{dep_code}"
                # Four island communes and the overseas collectivities belong to no EPCI.
                own = (dep, region_of[dep_code])
                parents = shared_parents[key] = (f"epci:{epci}", *own) if epci else own
            communes.append(
                Territory(
                    f"commune:{code}",
                    name,
                    TerritoryLevel.COMMUNE,
                    parents,
                    population,
                    band_for(population),
                )
            )
            if population is not None:
                commune_population[dep_code] = commune_population.get(dep_code, 0) + population

        for dep_code, region in region_of.items():
            if dep_code in commune_population:
                region_population[region] = (
                    region_population.get(region, 0) + commune_population[dep_code]
                )

        for code, name in document["regions"]:
            territories.append(
                Territory(
                    f"region:{code}",
                    name,
                    TerritoryLevel.REGION,
                    (),
                    region_population.get(f"region:{code}"),
                    None,
                )
            )
        for code, name, _region in document["departements"]:
            territories.append(
                Territory(
                    f"departement:{code}",
                    name,
                    TerritoryLevel.DEPARTEMENT,
                    (region_of[code],),
                    commune_population.get(code),
                    None,
                )
            )
        for siren, name, population, dep_code in document["epci"]:
            territories.append(
                Territory(
                    f"epci:{siren}",
                    name,
                    TerritoryLevel.EPCI,
                    (f"departement:{dep_code}", region_of[dep_code]),
                    population,
                    band_for(population),
                )
            )
        territories.extend(communes)
        return cls(territories, document.get("source"))


def _rank(entry: _Entry, needle: str, raw: str) -> int | None:
    """Return how well an entry matches (lower is better), or None if it does not."""
    if raw and (entry.code == raw or entry.local == raw):
        return 0
    if needle and entry.folded == needle:
        return 0
    if raw and (entry.code.startswith(raw) or entry.local.startswith(raw)):
        return 1
    if not needle:
        return None
    position = entry.folded.find(needle)
    if position < 0:
        return None
    if position == 0:
        return 1
    return 2 if entry.folded[position - 1] == " " else 3


@cache
def load_territories() -> Territories:
    """Return the territory reference packaged with the domain (loaded once, no network)."""
    data = resources.files("domain.reference").joinpath("data").joinpath("territories.json.gz")
    document = json.loads(gzip.decompress(data.read_bytes()))
    if not isinstance(document, dict):
        raise ValueError("territories data is not a JSON object")
    return Territories.from_document(document)
