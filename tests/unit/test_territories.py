"""The territory reference built from the Code Officiel Géographique 2026."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from domain.errors import UnknownTerritoryError
from domain.reference.territories import (
    Band,
    Territories,
    TerritoryLevel,
    band_for,
    load_territories,
)

ISLANDS_WITHOUT_EPCI = ["22016", "29083", "29155", "85113"]


@pytest.fixture
def territories() -> Territories:
    return load_territories()


def test_wattrelos_lies_in_the_nord_and_hauts_de_france(territories: Territories) -> None:
    wattrelos = territories.get("commune:59650")
    assert wattrelos.name == "Wattrelos"
    assert "departement:59" in wattrelos.parents
    assert "region:32" in wattrelos.parents


def test_wattrelos_parents_run_from_epci_to_region(territories: Territories) -> None:
    parents = territories.get("commune:59650").parents
    assert [p.split(":")[0] for p in parents] == ["epci", "departement", "region"]


def test_wattrelos_is_in_the_medium_band(territories: Territories) -> None:
    assert territories.get("commune:59650").band is Band.MEDIUM


def test_paris_is_in_the_large_band(territories: Territories) -> None:
    assert territories.get("commune:75056").band is Band.LARGE


def test_wallers_is_in_the_rural_small_band(territories: Territories) -> None:
    assert territories.get("commune:59632").band is Band.RURAL_SMALL


@pytest.mark.parametrize(
    ("population", "band"),
    [
        (0, Band.RURAL_SMALL),
        (19_999, Band.RURAL_SMALL),
        (20_000, Band.MEDIUM),
        (100_000, Band.MEDIUM),
        (100_001, Band.LARGE),
        (None, None),
    ],
)
def test_bands_split_below_20000_and_above_100000(
    population: int | None, band: Band | None
) -> None:
    assert band_for(population) is band


def test_departements_and_regions_have_no_band(territories: Territories) -> None:
    assert territories.get("departement:59").band is None
    assert territories.get("region:32").band is None


def test_an_epci_has_a_band_from_its_population(territories: Territories) -> None:
    lens = territories.get("epci:246200364")
    assert lens.band is band_for(lens.population)
    assert lens.band is not None


def test_ajaccio_epci_lies_in_corse_du_sud_and_corsica(territories: Territories) -> None:
    ajaccio = territories.get("commune:2A004")
    epci_code = ajaccio.at_level(TerritoryLevel.EPCI)
    assert epci_code is not None
    epci = territories.get(epci_code)
    assert epci.parents == ("departement:2A", "region:94")
    assert ajaccio.parents == (epci_code, "departement:2A", "region:94")


def test_saint_denis_de_la_reunion_lies_in_departement_974_and_region_04(
    territories: Territories,
) -> None:
    saint_denis = territories.get("commune:97411")
    assert saint_denis.name == "Saint-Denis"
    assert saint_denis.parents[1:] == ("departement:974", "region:04")


def test_overseas_collectivities_are_kept_as_regions_and_departements(
    territories: Territories,
) -> None:
    assert territories.get("region:975").name == "Saint-Pierre-et-Miquelon"
    assert territories.get("departement:975").parents == ("region:975",)
    assert territories.get("commune:97502").parents == ("departement:975", "region:975")


@pytest.mark.parametrize("insee", ISLANDS_WITHOUT_EPCI)
def test_island_communes_without_epci_have_no_epci_parent(
    territories: Territories, insee: str
) -> None:
    island = territories.get(f"commune:{insee}")
    assert island.at_level(TerritoryLevel.EPCI) is None
    assert island.parents == (f"departement:{insee[:2]}", island.parents[1])
    assert island.parents[1].startswith("region:")


def test_epci_lens_lievin_has_a_name_and_lies_in_hauts_de_france(
    territories: Territories,
) -> None:
    lens = territories.get("epci:246200364")
    assert lens.name
    assert lens.level is TerritoryLevel.EPCI
    assert "region:32" in lens.parents


def test_an_epci_spanning_departements_belongs_to_the_most_populated_one(
    territories: Territories,
) -> None:
    beaune = territories.get("epci:200006682")
    members = territories.children("epci:200006682")
    population_by_departement = Counter[str]()
    for commune in members:
        population_by_departement[commune.parents[1]] += commune.population or 0
    assert len(population_by_departement) > 1
    assert beaune.parents[0] == population_by_departement.most_common(1)[0][0]


@pytest.mark.parametrize(
    "code",
    ["commune:99999", "59650", "canton:1", "", "commune:", "COMMUNE:59650", "region:32 "],
)
def test_unknown_or_malformed_codes_raise_naming_the_code(
    territories: Territories, code: str
) -> None:
    with pytest.raises(UnknownTerritoryError) as raised:
        territories.get(code)
    assert raised.value.code == code
    assert repr(code) in str(raised.value)


def test_unknown_codes_are_not_contained(territories: Territories) -> None:
    assert "commune:99999" not in territories
    assert "59650" not in territories
    assert "commune:59650" in territories


def test_only_current_communes_are_territories(territories: Territories) -> None:
    # 01039 is a commune déléguée, 01120 an associée, 13201 an arrondissement municipal.
    for code in ("commune:01039", "commune:01120", "commune:13201"):
        assert code not in territories


def test_each_level_has_the_count_the_cog_gives(territories: Territories) -> None:
    counts = Counter(t.level for t in territories)
    assert counts == {
        TerritoryLevel.REGION: 26,
        TerritoryLevel.DEPARTEMENT: 109,
        TerritoryLevel.EPCI: 1255,
        TerritoryLevel.COMMUNE: 34969,
    }
    assert len(territories) == sum(counts.values())


def test_every_parent_is_a_known_territory(territories: Territories) -> None:
    unknown = {p for t in territories for p in t.parents if p not in territories}
    assert unknown == set()


def test_search_finds_wattrelos_from_a_lowercase_fragment(territories: Territories) -> None:
    assert "commune:59650" in [t.code for t in territories.search("wattre")]


def test_search_ignores_accents_case_and_hyphens(territories: Territories) -> None:
    for query in ("ile-de-brehat", "ILE DE BREHAT", "Île-de-Bréhat"):
        assert [t.code for t in territories.search(query)][:1] == ["commune:22016"]


def test_search_matches_a_code_prefix(territories: Territories) -> None:
    found = territories.search("2A", limit=5)
    assert found[0].code == "departement:2A"
    assert all(t.local_code.startswith("2A") for t in found)


def test_search_filters_by_level_and_stops_at_the_limit(territories: Territories) -> None:
    found = territories.search("saint", level=TerritoryLevel.COMMUNE, limit=7)
    assert len(found) == 7
    assert all(t.level is TerritoryLevel.COMMUNE for t in found)


def test_search_without_a_query_lists_a_level(territories: Territories) -> None:
    regions = territories.search(None, level=TerritoryLevel.REGION, limit=100)
    assert len(regions) == 26


def test_search_puts_the_exact_name_first(territories: Territories) -> None:
    assert territories.search("lille", level=TerritoryLevel.COMMUNE)[0].code == "commune:59350"


def test_departement_population_is_the_sum_of_its_communes(territories: Territories) -> None:
    communes = [t for t in territories if t.level is TerritoryLevel.COMMUNE]
    nord = sum(c.population or 0 for c in communes if "departement:59" in c.parents)
    assert territories.get("departement:59").population == nord


def test_region_population_is_the_sum_of_its_communes(territories: Territories) -> None:
    communes = [t for t in territories if t.level is TerritoryLevel.COMMUNE]
    hauts_de_france = sum(c.population or 0 for c in communes if "region:32" in c.parents)
    assert territories.get("region:32").population == hauts_de_france


def test_a_departement_without_known_populations_has_none(territories: Territories) -> None:
    # The Terres australes have no resident population in the census.
    assert territories.get("departement:984").population is None


def test_at_level_gives_the_ancestor_at_a_coarser_level(territories: Territories) -> None:
    wattrelos = territories.get("commune:59650")
    assert wattrelos.at_level(TerritoryLevel.REGION) == "region:32"
    assert wattrelos.at_level(TerritoryLevel.DEPARTEMENT) == "departement:59"


def test_at_level_gives_its_own_code_at_its_own_level(territories: Territories) -> None:
    assert territories.get("departement:59").at_level(TerritoryLevel.DEPARTEMENT) == (
        "departement:59"
    )


def test_at_level_gives_none_at_a_finer_level(territories: Territories) -> None:
    nord = territories.get("departement:59")
    assert nord.at_level(TerritoryLevel.COMMUNE) is None
    assert nord.at_level(TerritoryLevel.EPCI) is None


def test_children_of_a_region_are_its_departements(territories: Territories) -> None:
    assert [t.code for t in territories.children("region:94")] == [
        "departement:2A",
        "departement:2B",
    ]


def test_children_of_an_unknown_code_raise(territories: Territories) -> None:
    with pytest.raises(UnknownTerritoryError):
        territories.children("region:00")


def test_as_dict_uses_plain_json_types(territories: Territories) -> None:
    wattrelos = territories.get("commune:59650").as_dict()
    assert json.loads(json.dumps(wattrelos)) == wattrelos
    assert wattrelos["level"] == "commune"
    assert wattrelos["band"] == "medium"
    assert wattrelos["parents"][1:] == ["departement:59", "region:32"]


def test_loading_is_cached() -> None:
    assert load_territories() is load_territories()
